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

/// `s` without terminal escape sequences (colours, cursor moves).
fn without_ansi(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains('\u{1b}') {
        strip_ansi_escapes::strip_str(s).into()
    } else {
        s.into()
    }
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
        c if crate::engine::text::unsafe_char(c) => out.push_str(&c.escape_unicode().to_string()),
        c => out.push(c),
    }
}

/// How many terminal columns `s` (one line) takes: ANSI escape sequences (colour)
/// take none, wide characters two.
pub fn columns(s: &str) -> usize {
    use unicode_width::UnicodeWidthChar;
    let mut n = 0;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: `ESC [`, parameters, then a final byte in `@`..=`~`.
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            continue;
        }
        n += c.width().unwrap_or(0);
    }
    n
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
}
