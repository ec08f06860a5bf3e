//! STAND-IN (branch rstream): the real `sse.rs` comes from branch `wire`; take theirs on merge.
//! WHATWG event-stream decoding, `data` field only (contract §2).

#[derive(Default)]
pub struct SseDecoder {
    line: Vec<u8>,
    data: Vec<u8>,
    has_data: bool,
    after_cr: bool,
    bom_checked: bool,
}

impl SseDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn feed(&mut self, mut input: &[u8], mut on_data: impl FnMut(&[u8])) {
        if !self.bom_checked {
            // The BOM may be split across reads: keep it in `line` until decided.
            let need = 3 - self.line.len().min(3);
            let take = need.min(input.len());
            self.line.extend_from_slice(&input[..take]);
            input = &input[take..];
            if self.line.len() < 3 && b"\xEF\xBB\xBF".starts_with(&self.line) {
                return;
            }
            self.bom_checked = true;
            let pending = std::mem::take(&mut self.line);
            let pending = pending.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&pending).to_vec();
            self.scan(&pending, &mut on_data);
        }
        self.scan(input, &mut on_data);
    }

    fn scan(&mut self, mut input: &[u8], on_data: &mut impl FnMut(&[u8])) {
        if self.after_cr && !input.is_empty() {
            if input[0] == b'\n' {
                input = &input[1..];
            }
            self.after_cr = false;
        }
        while let Some(pos) = memchr::memchr2(b'\n', b'\r', input) {
            if self.line.is_empty() {
                self.process_line_slice(&input[..pos], on_data);
            } else {
                self.line.extend_from_slice(&input[..pos]);
                let line = std::mem::take(&mut self.line);
                self.process_line_slice(&line, on_data);
                self.line = line;
                self.line.clear();
            }
            if input[pos] == b'\r' {
                if pos + 1 < input.len() {
                    if input[pos + 1] == b'\n' {
                        input = &input[pos + 2..];
                        continue;
                    }
                } else {
                    self.after_cr = true;
                }
            }
            input = &input[pos + 1..];
        }
        self.line.extend_from_slice(input);
    }

    fn process_line_slice(&mut self, line: &[u8], on_data: &mut impl FnMut(&[u8])) {
        if line.is_empty() {
            if self.has_data {
                on_data(&self.data);
            }
            self.data.clear();
            self.has_data = false;
            return;
        }
        if line[0] == b':' {
            return;
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        if field == b"data" {
            if self.has_data {
                self.data.push(b'\n');
            }
            self.has_data = true;
            match std::str::from_utf8(value) {
                Ok(_) => self.data.extend_from_slice(value),
                Err(_) => self.data.extend_from_slice(String::from_utf8_lossy(value).as_bytes()),
            }
        }
    }

    pub fn finish(&mut self, mut on_data: impl FnMut(&[u8])) {
        if !self.bom_checked {
            self.bom_checked = true;
            let pending = std::mem::take(&mut self.line);
            self.scan(&pending, &mut on_data);
        }
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.process_line_slice(&line, &mut on_data);
        }
        if self.has_data && !self.data.is_empty() {
            on_data(&self.data);
        }
        self.data.clear();
        self.has_data = false;
    }
}
