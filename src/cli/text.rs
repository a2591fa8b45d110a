//! Text shared by the displays (progress, the result table, history, workers):
//! short human durations, counts of tasks by state. (Task output is made safe to print by
//! [`crate::engine::text::printable`].)

use crate::engine::state::TaskState;

/// Tasks counted by state, shown in the states' order: `12 success, 1 failed`.
#[derive(Clone, Debug, Default)]
pub struct StateCounts(Vec<(TaskState, usize)>);

impl StateCounts {
    /// Counts one more task in `state`.
    pub fn add(&mut self, state: TaskState) {
        match self.0.iter_mut().find(|(s, _)| *s == state) {
            Some((_, n)) => *n += 1,
            None => {
                self.0.push((state, 1));
                self.0.sort_by_key(|(s, _)| *s as u8);
            }
        }
    }

    /// How many tasks were counted.
    pub fn total(&self) -> usize {
        self.0.iter().map(|(_, n)| n).sum()
    }

    /// Whether no task was counted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Each state counted and its count, in the states' order.
    pub fn iter(&self) -> impl Iterator<Item = (TaskState, usize)> + '_ {
        self.0.iter().copied()
    }
}

impl std::fmt::Display for StateCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (s, n)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{n} {s}")?;
        }
        Ok(())
    }
}

/// A short human duration: `850ms`, `2.4s`, `3m12s`, `1h05m`.
pub fn format_ms(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms}ms"),
        1_000..=59_999 => format!("{:.1}s", ms as f64 / 1000.0),
        60_000..=3_599_999 => format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60),
        _ => format!("{}h{:02}m", ms / 3_600_000, (ms / 60_000) % 60),
    }
}

/// Escapes text for XML and HTML (text and quoted attributes), dropping terminal
/// escape sequences (a log's colours) and characters XML cannot hold, and writing
/// bidi and zero-width controls as `\u{..}`, so they cannot reorder what a viewer
/// shows.
pub fn markup_escape(s: &str) -> String {
    let s = without_ansi(s);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => push_xml_char(&mut out, c),
        }
    }
    out
}

/// `s` without terminal escape sequences (colours, cursor moves, titles,
/// hyperlinks), and nothing else: tabs, carriage returns and the text between
/// sequences stay. A sequence ends at the end of its line at the latest, so one
/// cut short (a log killed mid-write, a tail that starts inside one) cannot take
/// the lines after it with it.
fn without_ansi(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains('\u{1b}') {
        return s.into();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        match chars.peek().copied() {
            // CSI: parameters and intermediates, then a final byte.
            Some('[') => {
                chars.next();
                while let Some(&c) = chars.peek() {
                    if !(' '..='~').contains(&c) {
                        break;
                    }
                    chars.next();
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            // OSC, DCS, SOS, PM, APC: a string up to BEL or ST (`ESC \\`).
            Some(']' | 'P' | 'X' | '^' | '_') => {
                chars.next();
                while let Some(&c) = chars.peek() {
                    match c {
                        '\n' => break,
                        '\u{7}' | '\u{9c}' => {
                            chars.next();
                            break;
                        }
                        '\u{1b}' => {
                            chars.next();
                            if chars.peek() == Some(&'\\') {
                                chars.next();
                            }
                            break;
                        }
                        _ => {
                            chars.next();
                        }
                    }
                }
            }
            // Other escapes: intermediates, then a final byte (`ESC ( B`, `ESC 7`).
            Some(' '..='~') => {
                while let Some(&c) = chars.peek() {
                    if !(' '..='~').contains(&c) {
                        break;
                    }
                    chars.next();
                    if !(' '..='/').contains(&c) {
                        break;
                    }
                }
            }
            // A lone ESC.
            _ => {}
        }
    }
    out.into()
}

/// `s` as XML 1.0 text may hold it, before markup is escaped: terminal escape
/// sequences and control characters
/// other than tab and line breaks (which XML cannot hold) dropped, bidi and
/// zero-width controls (which would reorder what a report viewer shows) written
/// as `\u{...}`.
pub fn xml_safe(s: &str) -> String {
    let s = without_ansi(s);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        push_xml_char(&mut out, c);
    }
    out
}

fn push_xml_char(out: &mut String, c: char) {
    match c {
        '\t' | '\n' | '\r' => out.push(c),
        c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
        // Noncharacters for a program's own use (the JUnit writer's among them).
        c if crate::engine::text::unsafe_char(c) || ('\u{FDD0}'..='\u{FDEF}').contains(&c) => {
            out.push_str(&c.escape_unicode().to_string())
        }
        c => out.push(c),
    }
}

/// How many terminal columns `s` (one line) takes: escape sequences (colour)
/// take none, wide characters two.
pub fn columns(s: &str) -> usize {
    use unicode_width::UnicodeWidthChar;
    without_ansi(s)
        .chars()
        .map(|c| c.width().unwrap_or(0))
        .sum()
}

/// How many rows of a terminal `cols` columns wide the line `s` takes (a longer
/// line wraps; an empty one takes a row).
pub fn rows(s: &str, cols: usize) -> usize {
    columns(s).div_ceil(cols.max(1)).max(1)
}

/// `text` wrapped at spaces into lines of at most `cols` columns (a word longer
/// than that stays whole, for the terminal to wrap). Its own line breaks are kept.
pub fn wrap(text: &str, cols: usize) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let mut used = 0;
        for (j, word) in line.split(' ').enumerate() {
            let w = columns(word);
            if j > 0 {
                if used > 0 && used + 1 + w > cols {
                    out.push('\n');
                    used = 0;
                } else {
                    out.push(' ');
                    used += 1;
                }
            }
            out.push_str(word);
            used += w;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_rows_and_wrapping() {
        assert_eq!(columns("\x1b[32msuccess\x1b[0m"), 7);
        assert_eq!(columns("日本"), 4);
        assert_eq!(rows("", 10), 1);
        assert_eq!(rows("0123456789", 10), 1);
        assert_eq!(rows("0123456789a", 10), 2);
        assert_eq!(
            wrap("dag: stopping: cancelling 3 running tasks", 16),
            "dag: stopping:\ncancelling 3\nrunning tasks"
        );
        assert_eq!(wrap("short one", 80), "short one");
        assert_eq!(wrap("a averyverylongword b", 5), "a\naveryverylongword\nb");
        for line in wrap("dag: stopping: cancelling 3 running tasks (they get SIGTERM, then SIGKILL after the grace period; press Ctrl-C again to kill them now)", 40).lines() {
            assert!(columns(line) <= 40, "{line}");
        }
    }

    #[test]
    fn escape_sequences_go_and_nothing_else() {
        // Colours go; the tabs and carriage returns around them stay.
        assert_eq!(
            xml_safe("\u{1b}[31mERROR\u{1b}[0m\tcol 2\r\tcol 3"),
            "ERROR\tcol 2\r\tcol 3"
        );
        // Hyperlinks and titles (BEL or ST ended) go, their text stays.
        assert_eq!(
            xml_safe("a \u{1b}]8;;http://x\u{1b}\\link\u{1b}]8;;\u{1b}\\ \u{1b}]0;title\u{7}b"),
            "a link b"
        );
        // One cut short ends with its line: the lines after it stay.
        assert_eq!(
            xml_safe("x \u{1b}]8;;http://cut\nline 2\nline 3 \u{1b}[\nline 4\u{1b}"),
            "x \nline 2\nline 3 \nline 4"
        );
        // Charset and keypad escapes; a lone ESC before a non-ASCII character.
        assert_eq!(xml_safe("\u{1b}(Ba\u{1b}=b\u{1b}é"), "abé");
        assert_eq!(
            markup_escape("\u{1b}[1m<b>\u{1b}[0m\t&"),
            "&lt;b&gt;\t&amp;"
        );
    }
}
