//! The think-tag splitter (contract §3.7): separates `<think>`/`<thought>` blocks inside
//! `content` into reasoning text, even when tags are split across chunks.
//!
//! Output is a sequence of runs; consecutive output in the same mode within one call is one run
//! (so one delta), which is what makes the output independent of where the tags fell.
use crate::profiles::ThinkTags;

const OPEN_TAGS: [&str; 2] = ["<think>", "<thought>"];
const CLOSE_TAGS: [&str; 2] = ["</think>", "</thought>"];
const ALL_TAGS: [&str; 4] = ["<think>", "<thought>", "</think>", "</thought>"];

/// What the splitter hands back to the translator.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    Text(&'a str),
    Reasoning(&'a str),
    /// A degradation to report (`think:close_without_open`).
    Report(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// `implicit`: only whitespace so far; everything is held.
    Undecided,
    /// `implicit`: the first text was not an opening tag; everything is held until a closing
    /// tag (it was reasoning) or the end (it was text).
    HeldAll,
    /// Normal tag scanning.
    Decided,
}

pub struct ThinkSplitter {
    tags: ThinkTags,
    phase: Phase,
    reasoning: bool,
    /// Drop whitespace at the start of what follows a tag switch.
    strip_ws: bool,
    /// Held back: a possible tag prefix (Decided) or everything (Undecided/HeldAll).
    pending: String,
    /// In HeldAll: `pending[..scanned]` holds no closing tag start (keeps the scan linear).
    scanned: usize,
    /// The run being built.
    run: String,
    run_reasoning: bool,
    /// Work buffer (pending + new text), kept to avoid allocating per call.
    work: String,
}

/// Whitespace as Python's `str.isspace` (what `str.lstrip()` drops).
pub fn py_isspace(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\x0b' | '\x0c' | '\r' | '\x1c'..='\x1f' | ' ' | '\u{85}' | '\u{a0}' | '\u{1680}'
            | '\u{2000}'..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}'
    )
}

fn lstrip(s: &str) -> &str {
    s.trim_start_matches(py_isspace)
}

impl ThinkSplitter {
    pub fn new(tags: ThinkTags) -> Self {
        ThinkSplitter {
            tags,
            phase: if tags == ThinkTags::Implicit { Phase::Undecided } else { Phase::Decided },
            reasoning: false,
            strip_ws: false,
            pending: String::new(),
            scanned: 0,
            run: String::new(),
            run_reasoning: false,
            work: String::new(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.tags != ThinkTags::Off
    }

    /// Whether anything is held back.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Feed `content` text; `sink` gets the runs decided so far.
    pub fn feed(&mut self, text: &str, sink: &mut impl FnMut(Piece<'_>)) {
        if self.tags == ThinkTags::Off {
            if !text.is_empty() {
                sink(Piece::Text(text));
            }
            return;
        }
        // Fast path: nothing held, no tag can start here, no whitespace to drop.
        if self.phase == Phase::Decided
            && self.pending.is_empty()
            && !self.strip_ws
            && memchr::memchr(b'<', text.as_bytes()).is_none()
        {
            if !text.is_empty() {
                sink(if self.reasoning { Piece::Reasoning(text) } else { Piece::Text(text) });
            }
            return;
        }
        if self.phase == Phase::HeldAll {
            // Everything is held: append in place (no re-copy of what is held, so linear).
            self.pending.push_str(text);
            if self.scan_held(sink) {
                let after = std::mem::take(&mut self.pending);
                self.scan_decided(&after, sink);
            }
            self.flush_run(sink);
            return;
        }
        let mut work = std::mem::take(&mut self.work);
        work.clear();
        work.push_str(&self.pending);
        work.push_str(text);
        self.pending.clear();
        self.process(&work, sink);
        self.work = work;
        self.flush_run(sink);
    }

    /// `implicit` mode: a tool call or finish_reason decides that everything held was text.
    pub fn resolve_held(&mut self, sink: &mut impl FnMut(Piece<'_>)) {
        if matches!(self.phase, Phase::Undecided | Phase::HeldAll) {
            self.phase = Phase::Decided;
            self.reasoning = false;
            let held = std::mem::take(&mut self.pending);
            self.scanned = 0;
            self.emit(&held, false);
            self.flush_run(sink);
        }
    }

    /// End of stream: held text goes out in the current mode.
    pub fn finish(&mut self, sink: &mut impl FnMut(Piece<'_>)) {
        if self.tags == ThinkTags::Off {
            return;
        }
        self.resolve_held(sink);
        let held = std::mem::take(&mut self.pending);
        self.emit(&held, self.reasoning);
        self.flush_run(sink);
    }

    fn process(&mut self, buf: &str, sink: &mut impl FnMut(Piece<'_>)) {
        let mut rest = buf;
        loop {
            match self.phase {
                Phase::Undecided => {
                    let t = lstrip(rest);
                    if t.is_empty() {
                        self.pending.push_str(rest);
                        return;
                    }
                    if let Some(tag) = OPEN_TAGS.iter().find(|tag| t.starts_with(**tag)) {
                        self.phase = Phase::Decided;
                        self.switch(true, sink);
                        rest = &t[tag.len()..];
                        continue;
                    }
                    if OPEN_TAGS.iter().any(|tag| tag.starts_with(t)) {
                        self.pending.push_str(rest);
                        return;
                    }
                    self.phase = Phase::HeldAll;
                    self.scanned = 0;
                }
                Phase::HeldAll => {
                    self.pending.push_str(rest);
                    if self.scan_held(sink) {
                        // scan_held left only the text after the closing tag in pending.
                        let after = std::mem::take(&mut self.pending);
                        self.scan_decided(&after, sink);
                    }
                    return;
                }
                Phase::Decided => {
                    self.scan_decided(rest, sink);
                    return;
                }
            }
        }
    }

    /// HeldAll: look for a closing tag in `pending`. When found, what precedes it is emitted as
    /// reasoning, the mode becomes text, and `pending` keeps only what follows the tag (to be
    /// processed in Decided mode). Returns whether a tag was found.
    fn scan_held(&mut self, sink: &mut impl FnMut(Piece<'_>)) -> bool {
        let bytes = self.pending.as_bytes();
        let mut from = self.scanned;
        while let Some(off) = memchr::memchr(b'<', &bytes[from..]) {
            let p = from + off;
            let rest = &self.pending[p..];
            if let Some(tag) = CLOSE_TAGS.iter().find(|tag| rest.starts_with(**tag)) {
                let held = std::mem::take(&mut self.pending);
                self.emit(&held[..p], true);
                self.phase = Phase::Decided;
                self.reasoning = true;
                self.switch(false, sink);
                self.pending.push_str(&held[p + tag.len()..]);
                self.scanned = 0;
                return true;
            }
            if CLOSE_TAGS.iter().any(|tag| tag.starts_with(rest)) {
                // A possible tag at the very end: rescan from here next time.
                self.scanned = p;
                return false;
            }
            from = p + 1;
        }
        self.scanned = self.pending.len();
        false
    }

    fn scan_decided(&mut self, buf: &str, sink: &mut impl FnMut(Piece<'_>)) {
        let bytes = buf.as_bytes();
        let mut start = 0;
        let mut from = 0;
        while let Some(off) = memchr::memchr(b'<', &bytes[from..]) {
            let p = from + off;
            let rest = &buf[p..];
            let tags: &[&str] = if self.reasoning { &CLOSE_TAGS } else { &ALL_TAGS };
            if let Some(tag) = tags.iter().find(|tag| rest.starts_with(**tag)) {
                self.emit(&buf[start..p], self.reasoning);
                let opening = !tag.starts_with("</");
                if opening {
                    self.switch(true, sink);
                } else if self.reasoning {
                    self.switch(false, sink);
                } else {
                    // A closing tag in text mode: never opened, dropped.
                    sink(Piece::Report("think:close_without_open"));
                }
                start = p + tag.len();
                from = start;
                continue;
            }
            if tags.iter().any(|tag| tag.starts_with(rest)) {
                self.emit(&buf[start..p], self.reasoning);
                self.pending.push_str(rest);
                return;
            }
            from = p + 1;
        }
        self.emit(&buf[start..], self.reasoning);
    }

    /// Switch mode (after a tag): the current run goes out first.
    fn switch(&mut self, reasoning: bool, sink: &mut impl FnMut(Piece<'_>)) {
        self.flush_run(sink);
        self.reasoning = reasoning;
        self.strip_ws = true;
    }

    /// Add text to the current run (after dropping whitespace that follows a switch).
    fn emit(&mut self, mut s: &str, reasoning: bool) {
        if self.strip_ws {
            s = lstrip(s);
            if s.is_empty() {
                return;
            }
            self.strip_ws = false;
        }
        if s.is_empty() {
            return;
        }
        if !self.run.is_empty() && self.run_reasoning != reasoning {
            // Cannot happen: runs are flushed on every switch. Kept as a guard.
            debug_assert!(false, "mode change without flush");
        }
        self.run_reasoning = reasoning;
        self.run.push_str(s);
    }

    fn flush_run(&mut self, sink: &mut impl FnMut(Piece<'_>)) {
        if !self.run.is_empty() {
            if self.run_reasoning {
                sink(Piece::Reasoning(&self.run));
            } else {
                sink(Piece::Text(&self.run));
            }
            self.run.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `parts`, then finish; return the pieces as (kind, text) with adjacent same-kind
    /// pieces merged (feed boundaries legitimately split runs).
    fn run(tags: ThinkTags, parts: &[&str]) -> Vec<(char, String)> {
        let mut sp = ThinkSplitter::new(tags);
        let mut out: Vec<(char, String)> = Vec::new();
        let mut sink = |p: Piece<'_>| {
            let (k, s) = match p {
                Piece::Text(s) => ('T', s),
                Piece::Reasoning(s) => ('R', s),
                Piece::Report(r) => ('!', r),
            };
            assert!(!s.is_empty());
            // Reports go last: only their set matters, not where they fall between runs.
            let pos = out.iter().position(|(k, _)| *k == '!').unwrap_or(out.len());
            if k == '!' {
                out.push((k, s.to_string()));
            } else if pos > 0 && out[pos - 1].0 == k {
                out[pos - 1].1.push_str(s);
            } else {
                out.insert(pos, (k, s.to_string()));
            }
        };
        for p in parts {
            sp.feed(p, &mut sink);
        }
        sp.finish(&mut sink);
        out
    }

    fn v(items: &[(char, &str)]) -> Vec<(char, String)> {
        items.iter().map(|(k, s)| (*k, s.to_string())).collect()
    }

    #[test]
    fn on_mode_basic() {
        assert_eq!(
            run(ThinkTags::On, &["<think>\n plan</think>\n\nanswer"]),
            v(&[('R', "plan"), ('T', "answer")])
        );
        assert_eq!(run(ThinkTags::On, &["a<b>c"]), v(&[('T', "a<b>c")]));
        assert_eq!(
            run(ThinkTags::On, &["x</think>y"]),
            v(&[('T', "xy"), ('!', "think:close_without_open")])
        );
        assert_eq!(run(ThinkTags::On, &["<thought>unclosed"]), v(&[('R', "unclosed")]));
        assert_eq!(run(ThinkTags::On, &["hi <th"]), v(&[('T', "hi <th")]));
    }

    #[test]
    fn split_at_every_position_gives_same_result() {
        let text = "pre <think> a<b </thought>x</think>  post<thought>r2</thought>end</think>";
        for tags in [ThinkTags::On, ThinkTags::Implicit] {
            let whole = run(tags, &[text]);
            for i in 0..=text.len() {
                for j in i..=text.len() {
                    let parts = [&text[..i], &text[i..j], &text[j..]];
                    assert_eq!(run(tags, &parts), whole, "{tags:?} split {i} {j}");
                }
            }
        }
    }

    #[test]
    fn implicit_mode() {
        assert_eq!(run(ThinkTags::Implicit, &["  <think>r</think>t"]), v(&[('R', "r"), ('T', "t")]));
        assert_eq!(run(ThinkTags::Implicit, &["reason", "ing</think>\n", "text"]), v(&[('R', "reasoning"), ('T', "text")]));
        assert_eq!(run(ThinkTags::Implicit, &["just ", "text"]), v(&[('T', "just text")]));
        let mut sp = ThinkSplitter::new(ThinkTags::Implicit);
        let mut got = Vec::new();
        sp.feed("abc", &mut |p| got.push(format!("{p:?}")));
        assert!(got.is_empty());
        sp.resolve_held(&mut |p| got.push(format!("{p:?}")));
        assert_eq!(got, vec!["Text(\"abc\")"]);
    }

    #[test]
    fn python_whitespace() {
        assert!(py_isspace('\x1c') && py_isspace('\u{3000}') && !py_isspace('\u{200b}'));
    }
}
