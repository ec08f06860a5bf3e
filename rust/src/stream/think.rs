//! The think-tag splitter (contract §3.7): separates `<think>`/`<thought>` blocks inside
//! `content` into reasoning text, even when tags are split across chunks.
//!
//! This follows `Translator._split_think` in engine/stream.py step by step, because where the
//! text is cut decides the deltas, and both engines must send the same deltas: every stretch
//! between two tags is one piece, a suffix that may start a tag is held back, whitespace is
//! dropped right after every tag (also a dropped one), and in `implicit` mode everything is held
//! until the first non-whitespace text decides.
use crate::profiles::ThinkTags;

const OPEN_TAGS: [&str; 2] = ["<think>", "<thought>"];
const CLOSE_TAGS: [&str; 2] = ["</think>", "</thought>"];
const ALL_TAGS: [&str; 4] = ["<think>", "<thought>", "</think>", "</thought>"];

/// What the splitter hands back to the translator, in order.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    Text(&'a str),
    Reasoning(&'a str),
    /// A degradation to report (`think:close_without_open`).
    Report(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Text,
    Think,
    /// `implicit`: only whitespace so far; everything is held.
    Undecided,
    /// `implicit`: the first text was not an opening tag: everything is held until a closing
    /// tag (it was reasoning) or a flush (it was text).
    Held,
}

pub struct ThinkSplitter {
    tags: ThinkTags,
    mode: Mode,
    /// Held back: a possible tag prefix (Text/Think) or everything (Undecided/Held).
    pending: String,
    /// Drop whitespace at the start of what comes next (set after every tag).
    skip_ws: bool,
    /// Held: `pending[..held_scanned]` cannot hold the start of a closing tag (keeps the scan of
    /// a long held text linear across feeds).
    held_scanned: usize,
    /// Work buffer (pending + new text), kept to avoid allocating per call.
    work: String,
}

/// The whitespace the Python engine strips (`_ASCII_WS`).
#[inline]
fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0c')
}

#[inline]
fn lstrip(s: &str) -> &str {
    s.trim_start_matches(is_ws)
}

/// Earliest position of any of `tags` in `s` (and the tag's length).
fn find_tag(s: &str, tags: &[&str], from: usize) -> Option<(usize, usize)> {
    let bytes = s.as_bytes();
    let mut at = from;
    while let Some(off) = memchr::memchr(b'<', &bytes[at..]) {
        let p = at + off;
        let rest = &bytes[p..];
        if let Some(tag) = tags.iter().find(|t| rest.starts_with(t.as_bytes())) {
            return Some((p, tag.len()));
        }
        at = p + 1;
    }
    None
}

/// Length of the longest suffix of `s` that is a proper prefix of one of `tags` (tags hold one
/// `<`, at their start, so only the suffix from the last `<` can qualify).
fn held_prefix_len(s: &str, tags: &[&str]) -> usize {
    let bytes = s.as_bytes();
    let window = bytes.len().saturating_sub(9);
    let Some(off) = memchr::memrchr(b'<', &bytes[window..]) else {
        return 0;
    };
    let tail = &bytes[window + off..];
    if tags
        .iter()
        .any(|t| tail.len() < t.len() && t.as_bytes().starts_with(tail))
    {
        tail.len()
    } else {
        0
    }
}

impl ThinkSplitter {
    pub fn new(tags: ThinkTags) -> Self {
        ThinkSplitter {
            tags,
            mode: if tags == ThinkTags::Implicit {
                Mode::Undecided
            } else {
                Mode::Text
            },
            pending: String::new(),
            skip_ws: false,
            held_scanned: 0,
            work: String::new(),
        }
    }

    /// Feed one non-empty `content` string; `sink` gets the pieces decided so far.
    pub fn feed(&mut self, content: &str, sink: &mut impl FnMut(Piece<'_>)) {
        if self.tags == ThinkTags::Off {
            sink(Piece::Text(content));
            return;
        }
        // Fast path: nothing held, no tag can start here, no whitespace to drop.
        if self.pending.is_empty()
            && !self.skip_ws
            && matches!(self.mode, Mode::Text | Mode::Think)
            && memchr::memchr(b'<', content.as_bytes()).is_none()
        {
            sink(if self.mode == Mode::Think {
                Piece::Reasoning(content)
            } else {
                Piece::Text(content)
            });
            return;
        }
        if self.mode == Mode::Held && !self.skip_ws {
            // Everything is held: append in place and scan only what is new.
            self.pending.push_str(content);
            match find_tag(&self.pending, &CLOSE_TAGS, self.held_scanned) {
                None => {
                    self.held_scanned = self.held_scan_resume();
                    return;
                }
                Some(_) => {
                    self.held_scanned = 0;
                    let mut work = std::mem::take(&mut self.work);
                    work.clear();
                    work.push_str(&self.pending);
                    self.pending.clear();
                    self.split(&work, sink);
                    self.work = work;
                    return;
                }
            }
        }
        let mut work = std::mem::take(&mut self.work);
        work.clear();
        work.push_str(&self.pending);
        work.push_str(content);
        self.pending.clear();
        self.split(&work, sink);
        self.work = work;
    }

    /// Where the next scan of the held text must start: at a `<` near the end that may yet
    /// become a closing tag, else at the end.
    fn held_scan_resume(&self) -> usize {
        let len = self.pending.len();
        len - held_prefix_len(&self.pending, &CLOSE_TAGS)
    }

    /// `_split_think`'s loop over `pending + content`.
    fn split(&mut self, mut s: &str, sink: &mut impl FnMut(Piece<'_>)) {
        while !s.is_empty() {
            if self.skip_ws {
                s = lstrip(s);
                if s.is_empty() {
                    return;
                }
                self.skip_ws = false;
            }
            match self.mode {
                Mode::Undecided => {
                    let lead = lstrip(s);
                    if lead.is_empty() {
                        self.pending.push_str(s);
                        return;
                    }
                    if let Some(tag) = OPEN_TAGS.iter().find(|t| lead.starts_with(**t)) {
                        s = &lead[tag.len()..];
                        self.mode = Mode::Think;
                        self.skip_ws = true;
                        continue;
                    }
                    if OPEN_TAGS.iter().any(|t| t.starts_with(lead)) {
                        self.pending.push_str(s);
                        return;
                    }
                    self.mode = Mode::Held;
                }
                Mode::Held => {
                    let Some((at, len)) = find_tag(s, &CLOSE_TAGS, 0) else {
                        self.pending.push_str(s);
                        self.held_scanned = self.held_scan_resume();
                        return;
                    };
                    if at > 0 {
                        sink(Piece::Reasoning(&s[..at]));
                    }
                    s = &s[at + len..];
                    self.mode = Mode::Text;
                    self.skip_ws = true;
                }
                Mode::Text | Mode::Think => {
                    let tags: &[&str] = if self.mode == Mode::Text {
                        &ALL_TAGS
                    } else {
                        &CLOSE_TAGS
                    };
                    let Some((at, len)) = find_tag(s, tags, 0) else {
                        let keep = held_prefix_len(s, tags);
                        let visible = &s[..s.len() - keep];
                        if !visible.is_empty() {
                            sink(self.piece(visible));
                        }
                        self.pending.push_str(&s[s.len() - keep..]);
                        return;
                    };
                    if at > 0 {
                        sink(self.piece(&s[..at]));
                    }
                    let opening = !s[at..].starts_with("</");
                    s = &s[at + len..];
                    if self.mode == Mode::Think {
                        self.mode = Mode::Text;
                    } else if opening {
                        self.mode = Mode::Think;
                    } else {
                        // A closing tag in text mode (never opened): dropped.
                        sink(Piece::Report("think:close_without_open"));
                    }
                    self.skip_ws = true;
                }
            }
        }
    }

    fn piece<'a>(&self, s: &'a str) -> Piece<'a> {
        if self.mode == Mode::Think {
            Piece::Reasoning(s)
        } else {
            Piece::Text(s)
        }
    }

    /// Send held content in the current mode (end of stream, a tool call, a finish_reason);
    /// an undecided/held `implicit` start was text.
    pub fn flush(&mut self, sink: &mut impl FnMut(Piece<'_>)) {
        if matches!(self.mode, Mode::Held | Mode::Undecided) {
            self.mode = Mode::Text;
        }
        self.held_scanned = 0;
        if self.pending.is_empty() {
            return;
        }
        let held = std::mem::take(&mut self.pending);
        sink(self.piece(&held));
        // Keep the buffer's capacity for later holds.
        self.pending = held;
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `parts` (each one chunk's content), then flush; the pieces as (kind, text).
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
            out.push((k, s.to_string()));
        };
        for p in parts {
            sp.feed(p, &mut sink);
        }
        sp.flush(&mut sink);
        out
    }

    fn v(items: &[(char, &str)]) -> Vec<(char, String)> {
        items.iter().map(|(k, s)| (*k, s.to_string())).collect()
    }

    /// Merge adjacent pieces of the same kind: what a client sees as text.
    fn merged(pieces: Vec<(char, String)>) -> Vec<(char, String)> {
        let mut out: Vec<(char, String)> = Vec::new();
        for (k, s) in pieces {
            match out.last_mut() {
                Some((lk, ls)) if *lk == k && k != '!' => ls.push_str(&s),
                _ => out.push((k, s)),
            }
        }
        out
    }

    #[test]
    fn on_mode() {
        assert_eq!(
            run(ThinkTags::On, &["<think>\n plan</think>\n\nanswer"]),
            v(&[('R', "plan"), ('T', "answer")])
        );
        assert_eq!(run(ThinkTags::On, &["a<b>c"]), v(&[('T', "a<b>c")]));
        // A closing tag never opened is dropped, reported, and whitespace after it dropped too.
        assert_eq!(
            run(ThinkTags::On, &["x</think> y"]),
            v(&[('T', "x"), ('!', "think:close_without_open"), ('T', "y")])
        );
        // An unclosed block ends as reasoning; a held tag prefix goes out at the end.
        assert_eq!(
            run(ThinkTags::On, &["<thought>unclosed"]),
            v(&[('R', "unclosed")])
        );
        assert_eq!(
            run(ThinkTags::On, &["hi <th"]),
            v(&[('T', "hi "), ('T', "<th")])
        );
        // An opening tag inside reasoning is literal.
        assert_eq!(
            run(ThinkTags::On, &["<think>a<think>b"]),
            v(&[('R', "a<think>b")])
        );
        // Tag split across chunks: held, then decided.
        assert_eq!(
            run(ThinkTags::On, &["a<thi", "nk>b</th", "ought>c"]),
            v(&[('T', "a"), ('R', "b"), ('T', "c")])
        );
        // Whitespace after a switch is dropped across chunks too.
        assert_eq!(
            run(ThinkTags::On, &["<think>", "  ", "\n r"]),
            v(&[('R', "r")])
        );
    }

    #[test]
    fn content_split_at_every_position_gives_same_text() {
        let text = "pre <think> a<b </thought>x</think>  post<thought>r2</thought>end</think>";
        for tags in [ThinkTags::On, ThinkTags::Implicit] {
            let whole = merged(run(tags, &[text]));
            for i in 0..=text.len() {
                for j in i..=text.len() {
                    let parts = [&text[..i], &text[i..j], &text[j..]];
                    let parts: Vec<&str> = parts.into_iter().filter(|p| !p.is_empty()).collect();
                    assert_eq!(merged(run(tags, &parts)), whole, "{tags:?} split {i} {j}");
                }
            }
        }
    }

    #[test]
    fn implicit_mode() {
        assert_eq!(
            run(ThinkTags::Implicit, &["  <think>r</think>t"]),
            v(&[('R', "r"), ('T', "t")])
        );
        assert_eq!(
            run(ThinkTags::Implicit, &["reason", "ing</think>\n", "text"]),
            v(&[('R', "reasoning"), ('T', "text")])
        );
        assert_eq!(
            run(ThinkTags::Implicit, &["just ", "text"]),
            v(&[('T', "just text")])
        );
        // Only whitespace, then the end: it was text.
        assert_eq!(run(ThinkTags::Implicit, &["\n\n"]), v(&[('T', "\n\n")]));
        // Held text with a partial closing tag at a chunk end.
        assert_eq!(
            run(ThinkTags::Implicit, &["abc</thi", "nk>def"]),
            v(&[('R', "abc"), ('T', "def")])
        );
        assert_eq!(
            run(ThinkTags::Implicit, &["abc</thi", "s"]),
            v(&[('T', "abc</this")])
        );
        let mut sp = ThinkSplitter::new(ThinkTags::Implicit);
        let mut got = Vec::new();
        sp.feed("abc", &mut |p| got.push(format!("{p:?}")));
        assert!(got.is_empty());
        sp.flush(&mut |p| got.push(format!("{p:?}")));
        assert_eq!(got, vec!["Text(\"abc\")"]);
        // After a flush, implicit behaves as text mode.
        sp.feed("x<think>y", &mut |p| got.push(format!("{p:?}")));
        assert_eq!(
            got[1..],
            ["Text(\"x\")".to_string(), "Reasoning(\"y\")".to_string()]
        );
    }

    #[test]
    fn held_text_scan_is_linear_and_exact() {
        // A long held text fed in small pieces, a closing tag split at the end of one piece.
        let mut sp = ThinkSplitter::new(ThinkTags::Implicit);
        let mut got = Vec::new();
        for _ in 0..1000 {
            sp.feed("word <b> ", &mut |p| got.push(format!("{p:?}")));
        }
        sp.feed("</tho", &mut |p| got.push(format!("{p:?}")));
        assert!(got.is_empty());
        sp.feed("ught> after", &mut |p| got.push(format!("{p:?}")));
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], format!("Reasoning({:?})", "word <b> ".repeat(1000)));
        assert_eq!(got[1], "Text(\"after\")");
    }
}
