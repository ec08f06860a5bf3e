//! Server-sent-events decoding over raw bytes (engine contract §2).
//!
//! WHATWG event-stream rules, reduced to what the engine needs: only `data` fields matter, so the
//! decoder yields one payload per dispatched event and nothing else. The pure-Python twin is
//! `python/codex_convert_proxy/wire/sse.py`; both yield the same payloads for the same bytes.
//!
//! Cost: each `feed` scans only its new bytes (memchr for line ends), so feeding a stream in any
//! number of reads is linear in its length. The only copies are the unterminated tail of a read
//! and the data of the event being built; both buffers keep their capacity, so a steady stream
//! allocates nothing per event.

use memchr::memchr2;

const BOM: &[u8; 3] = b"\xEF\xBB\xBF";

/// Incremental SSE decoder: `feed` every network read, `finish` at end of stream.
///
/// Payloads are handed to the callback as soon as their event is dispatched. Every payload is
/// valid UTF-8: invalid sequences are replaced by U+FFFD (maximal subparts, `from_utf8_lossy`),
/// exactly as Python's `bytes.decode("utf-8", "replace")` does.
#[derive(Debug, Default, Clone)]
pub struct SseDecoder {
    /// Bytes of the line not yet terminated at the end of the previous read.
    line: Vec<u8>,
    /// The event's data buffer: `data` values joined with `\n`.
    data: Vec<u8>,
    /// At least one `data` field since the last dispatch (the buffer may be empty even then:
    /// `data:` with an empty value still makes an event, as in WHATWG).
    has_data: bool,
    /// The previous read ended in CR: an LF starting this read belongs to that line end.
    skip_lf: bool,
    /// Leading BOM bytes matched so far (0..=2), or `BOM_DONE` once the stream start is decided.
    bom_matched: u8,
}

const BOM_DONE: u8 = u8::MAX;

impl SseDecoder {
    pub fn new() -> Self {
        SseDecoder::default()
    }

    /// Decode one read; `on_data` gets each dispatched payload (valid UTF-8 bytes).
    pub fn feed(&mut self, input: &[u8], mut on_data: impl FnMut(&[u8])) {
        self.feed_str(input, |s| on_data(s.as_bytes()));
    }

    /// End of stream (lenient): an unterminated last line is processed as a line and pending
    /// data is dispatched. The decoder is then reset, ready for a new stream.
    pub fn finish(&mut self, mut on_data: impl FnMut(&[u8])) {
        self.finish_str(|s| on_data(s.as_bytes()));
    }

    /// `feed` with payloads as `&str` (they are valid UTF-8 anyway; saves the caller a check).
    pub fn feed_str(&mut self, input: &[u8], mut on_data: impl FnMut(&str)) {
        let mut input = input;
        if self.bom_matched != BOM_DONE {
            match self.strip_bom(input) {
                Some(rest) => input = rest,
                None => return, // the whole read was a BOM prefix; wait for more
            }
        }
        if self.skip_lf && !input.is_empty() {
            self.skip_lf = false;
            if input[0] == b'\n' {
                input = &input[1..];
            }
        }
        while let Some(pos) = memchr2(b'\n', b'\r', input) {
            if self.line.is_empty() {
                self.process_line(&input[..pos], &mut on_data);
            } else {
                // The line began in an earlier read: complete it in the carry-over buffer.
                self.line.extend_from_slice(&input[..pos]);
                let line = std::mem::take(&mut self.line);
                self.process_line(&line, &mut on_data);
                self.line = line;
                self.line.clear();
            }
            let mut next = pos + 1;
            if input[pos] == b'\r' {
                match input.get(next) {
                    Some(b'\n') => next += 1,
                    Some(_) => {}
                    None => self.skip_lf = true,
                }
            }
            input = &input[next..];
        }
        self.line.extend_from_slice(input);
    }

    /// `finish` with payloads as `&str`.
    pub fn finish_str(&mut self, mut on_data: impl FnMut(&str)) {
        if self.bom_matched != BOM_DONE && self.bom_matched > 0 {
            // An incomplete BOM at the very end is just (invalid) line content.
            self.line
                .extend_from_slice(&BOM[..self.bom_matched as usize]);
        }
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, &mut on_data);
            self.line = line;
        }
        self.dispatch(&mut on_data);
        self.line.clear();
        self.data.clear();
        self.has_data = false;
        self.skip_lf = false;
        self.bom_matched = 0;
    }

    /// Match a leading BOM, possibly split across reads. Returns the input left to decode, or
    /// `None` when the whole read was consumed as a BOM prefix still undecided.
    fn strip_bom<'a>(&mut self, input: &'a [u8]) -> Option<&'a [u8]> {
        let matched = self.bom_matched as usize;
        let want = &BOM[matched..];
        let n = want.len().min(input.len());
        if input[..n] == want[..n] {
            if n == want.len() {
                self.bom_matched = BOM_DONE;
                return Some(&input[n..]);
            }
            self.bom_matched += n as u8;
            return None;
        }
        // Not a BOM: the bytes held back so far are ordinary content of the first line.
        self.bom_matched = BOM_DONE;
        self.line.extend_from_slice(&BOM[..matched]);
        Some(input)
    }

    /// One complete line (without its terminator). Comments and fields other than `data` are
    /// ignored, so only `data:<value>` and a bare `data` line matter.
    fn process_line(&mut self, line: &[u8], on_data: &mut impl FnMut(&str)) {
        if line.is_empty() {
            self.dispatch(on_data);
            return;
        }
        let value = if let Some(rest) = line.strip_prefix(b"data:") {
            rest.strip_prefix(b" ").unwrap_or(rest)
        } else if line == b"data" {
            &[][..]
        } else {
            return;
        };
        if self.has_data {
            self.data.push(b'\n');
        }
        self.data.extend_from_slice(value);
        self.has_data = true;
    }

    fn dispatch(&mut self, on_data: &mut impl FnMut(&str)) {
        if !self.has_data {
            return;
        }
        // Decoding the joined data at once equals decoding each line: `\n` always ends an
        // incomplete sequence, in the lossy decoders of both Rust and Python.
        match std::str::from_utf8(&self.data) {
            Ok(text) => on_data(text),
            Err(_) => on_data(&String::from_utf8_lossy(&self.data)),
        }
        self.data.clear();
        self.has_data = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(chunks: &[&[u8]]) -> Vec<String> {
        let mut dec = SseDecoder::new();
        let mut out = Vec::new();
        for chunk in chunks {
            dec.feed(chunk, |p| out.push(String::from_utf8(p.to_vec()).unwrap()));
        }
        dec.finish(|p| out.push(String::from_utf8(p.to_vec()).unwrap()));
        out
    }

    fn one(input: &[u8]) -> Vec<String> {
        decode(&[input])
    }

    /// Feed `input` split at every possible position pair; the result must never change.
    fn all_splits(input: &[u8]) -> Vec<String> {
        let whole = one(input);
        for i in 0..=input.len() {
            for j in i..=input.len() {
                let got = decode(&[&input[..i], &input[i..j], &input[j..]]);
                assert_eq!(got, whole, "split at {i},{j} of {:?}", input);
            }
        }
        whole
    }

    #[test]
    fn line_ends_lf_crlf_cr() {
        for text in [
            &b"data: a\n\ndata: b\n\n"[..],
            b"data: a\r\n\r\ndata: b\r\n\r\n",
            b"data: a\r\rdata: b\r\r",
            b"data: a\r\n\rdata: b\n\r\n",
        ] {
            assert_eq!(all_splits(text), ["a", "b"], "{:?}", text);
        }
    }

    #[test]
    fn cr_at_read_end_then_lf() {
        // CR ends one read, LF starts the next: one line end, so no blank line in between.
        assert_eq!(
            decode(&[b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]),
            ["a\nb"]
        );
        // A CR then an empty read then LF: still one line end.
        assert_eq!(decode(&[b"data: a\r", b"", b"\ndata: b\n\n"]), ["a\nb"]);
    }

    #[test]
    fn bom_dropped_even_split() {
        assert_eq!(all_splits(b"\xEF\xBB\xBFdata: x\n\n"), ["x"]);
        assert_eq!(decode(&[b"\xEF", b"\xBB", b"\xBF", b"data: x\n\n"]), ["x"]);
        // Only at the start of the stream.
        assert_eq!(one(b"data: x\n\n\xEF\xBB\xBFdata: y\n\n"), ["x"]);
        // A BOM prefix that is not a BOM is content (and invalid UTF-8).
        assert_eq!(all_splits(b"\xEF\xBBdata: x\n\ndata: y\n\n"), ["y"]);
        assert_eq!(all_splits(b"\xEF\xBB"), Vec::<String>::new());
        assert_eq!(
            one(b"\xEF\xBB\xBF\xEF\xBB\xBFdata: x\n\n"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn comments_fields_and_spaces() {
        let text = b": comment\nevent: x\nid: 1\nretry: 5\ndata:no-space\ndata:  two\n\n";
        assert_eq!(all_splits(text), ["no-space\n two"]);
        assert_eq!(one(b"data\n\n"), [""]);
        assert_eq!(one(b"data\ndata\n\n"), ["\n"]);
        assert_eq!(one(b"data:\n\n"), [""]);
        assert_eq!(one(b"data: \n\n"), [""]);
        assert_eq!(
            one(b"dataX: y\n\n:data: z\n\n data: w\n\nDATA: v\n\n"),
            Vec::<String>::new()
        );
        assert_eq!(one(b"data: a:b: c\n\n"), ["a:b: c"]);
    }

    #[test]
    fn dispatch_only_with_data() {
        assert_eq!(one(b"\n\n\nevent: x\n\n: c\n\n"), Vec::<String>::new());
        assert_eq!(one(b"data: a\ndata: b\n\n\n\ndata: c\n\n"), ["a\nb", "c"]);
    }

    #[test]
    fn lenient_finish() {
        assert_eq!(one(b"data: a"), ["a"]);
        assert_eq!(one(b"data: a\n"), ["a"]);
        assert_eq!(one(b"data: a\ndata: b"), ["a\nb"]);
        assert_eq!(one(b"data: a\r"), ["a"]);
        // Finish resets: the decoder starts a fresh stream (BOM check included).
        let mut dec = SseDecoder::new();
        let mut out = Vec::new();
        dec.feed(b"data: a", |p| out.push(p.to_vec()));
        dec.finish(|p| out.push(p.to_vec()));
        dec.feed(b"\xEF\xBB\xBFdata: b\n\n", |p| out.push(p.to_vec()));
        assert_eq!(out, [b"a".to_vec(), b"b".to_vec()]);
    }

    #[test]
    fn utf8_split_across_reads_and_lossy() {
        let text = "data: h\u{e9}llo \u{1F600} \u{2028}\n\n".as_bytes();
        assert_eq!(all_splits(text), ["h\u{e9}llo \u{1F600} \u{2028}"]);
        // Maximal-subpart replacement, as Python's errors="replace".
        assert_eq!(one(b"data: a\xF0\x9F\x98b\n\n"), ["a\u{FFFD}b"]);
        assert_eq!(one(b"data: \xED\xA0\x80\n\n"), ["\u{FFFD}\u{FFFD}\u{FFFD}"]);
        assert_eq!(one(b"data: \xC0\xAF\xFF\n\n"), ["\u{FFFD}\u{FFFD}\u{FFFD}"]);
        assert_eq!(
            one(b"data: \xF0\x9F\ndata: \x98\x80\n\n"),
            ["\u{FFFD}\n\u{FFFD}\u{FFFD}"]
        );
        assert_eq!(
            one(b"data: \xF4\x90\x80\x80|\xE0\x80\n\n"),
            ["\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}|\u{FFFD}\u{FFFD}"]
        );
    }

    #[test]
    fn long_line_in_tiny_reads_is_linear() {
        // 4 MB in 1-byte reads: quadratic rescans would take minutes, linear takes milliseconds.
        let mut dec = SseDecoder::new();
        let mut got = Vec::new();
        dec.feed(b"data: ", |_| unreachable!());
        for _ in 0..4_000_000 {
            dec.feed(b"x", |_| unreachable!());
        }
        dec.feed(b"\n\n", |p| got.push(p.len()));
        assert_eq!(got, [4_000_000]);
    }
}
