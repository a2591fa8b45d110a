//! Output that replaces itself on a terminal (`dag status --watch`): each view is
//! drawn over the one before, as cargo and indicatif draw their progress. (Off a
//! terminal each view is appended instead, as a log wants.)

use super::text::{columns, rows};

/// What the last view took on the terminal.
#[derive(Debug, Default)]
pub struct Redraw {
    /// The rows it took (0 before the first).
    rows: usize,
    /// The terminal's size (columns, rows) it was drawn for.
    size: Option<(usize, usize)>,
}

impl Redraw {
    /// What to write so that `view` (lines, each ended by `\n`) replaces the
    /// view before on a terminal of `size` (columns, rows): the cursor goes up
    /// over the rows that one took, clearing each, and back to the first. (Rows
    /// are cleared one by one rather than all below the cursor at once: tmux keeps
    /// in its history what is cleared that way from the top of the screen.)
    ///
    /// The cursor cannot go back over rows that scrolled off the top, so a view
    /// taller than the terminal is cut to fit it (see [`fit`]); the `last` view,
    /// which is not redrawn, is written whole. After a resize the terminal has
    /// rewrapped what was on it, so the screen is cleared instead.
    pub fn frame(&mut self, view: &str, size: (usize, usize), last: bool) -> String {
        let mut out = String::new();
        match self.size {
            Some(before) if before != size => out.push_str("\x1b[H\x1b[2J"),
            Some(_) if self.rows > 0 => {
                let n = self.rows;
                out.push_str(&format!("\x1b[{n}A\r"));
                out.push_str(&"\x1b[2K\x1b[1B".repeat(n - 1));
                out.push_str("\x1b[2K");
                if n > 1 {
                    out.push_str(&format!("\x1b[{}A", n - 1));
                }
            }
            _ => {}
        }
        let shown = if last {
            view.to_string()
        } else {
            fit(view, size)
        };
        self.rows = shown.lines().map(|l| rows(l, size.0)).sum();
        self.size = Some(size);
        out.push_str(&shown);
        out
    }
}

/// `view` as it fits a terminal of `size` (columns, rows) with a row to spare
/// for the cursor after it: all of it when it does, else its first lines, a line
/// that says how many are left out, and its last line (the run's summary).
pub fn fit(view: &str, (cols, height): (usize, usize)) -> String {
    let room = height.saturating_sub(1);
    let lines: Vec<&str> = view.lines().collect();
    if lines.iter().map(|l| rows(l, cols)).sum::<usize>() <= room {
        return view.to_string();
    }
    let Some((last, rest)) = lines.split_last() else {
        return String::new();
    };
    // The last line and the note.
    let mut used = rows(last, cols) + 1;
    let mut kept = 0;
    for l in rest {
        let r = rows(l, cols);
        if used + r > room {
            break;
        }
        used += r;
        kept += 1;
    }
    if used > room {
        // Not even that: the last line alone, cut to a row.
        return format!("{}\n", cut(last, cols));
    }
    let mut out = String::new();
    for l in &rest[..kept] {
        out.push_str(l);
        out.push('\n');
    }
    let left = rest.len() - kept;
    let note = format!(
        "… {left} more line{} (all of them once the run ends)",
        if left == 1 { "" } else { "s" }
    );
    out.push_str(&cut(&note, cols));
    out.push('\n');
    out.push_str(last);
    out.push('\n');
    out
}

/// `s` (no escape sequences) cut to at most `cols` columns.
fn cut(s: &str, cols: usize) -> String {
    use unicode_width::UnicodeWidthChar;
    if columns(s) <= cols {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > cols {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(n: usize) -> String {
        let mut v: String = (1..=n).map(|i| format!("row {i}\n")).collect();
        v.push_str("run r1 running: 3 running\n");
        v
    }

    #[test]
    fn a_view_replaces_the_one_before() {
        let mut r = Redraw::default();
        assert_eq!(r.frame("a\nb\n", (80, 24), false), "a\nb\n");
        // Up over the two rows, clearing them, and back to the first.
        let two = "\x1b[2A\r\x1b[2K\x1b[1B\x1b[2K\x1b[1A";
        assert_eq!(r.frame("c\n", (80, 24), false), format!("{two}c\n"));
        // A line wider than the terminal took two rows.
        let wide = format!("{}\n", "x".repeat(100));
        r.frame(&wide, (80, 24), false);
        assert!(r.frame("d\n", (80, 24), false).starts_with(two));
        // Colour takes no columns: exactly the width is one row.
        let coloured = format!("\x1b[32m{}\x1b[0m\n", "y".repeat(80));
        r.frame(&coloured, (80, 24), false);
        assert_eq!(r.frame("e\n", (80, 24), false), "\x1b[1A\r\x1b[2Ke\n");
        // Resized: the screen is cleared.
        assert_eq!(r.frame("f\n", (100, 24), false), "\x1b[H\x1b[2Jf\n");
    }

    #[test]
    fn a_view_taller_than_the_terminal_is_cut_until_the_last() {
        let tall = view(30);
        let shown = fit(&tall, (80, 10));
        assert_eq!(
            shown,
            "row 1\nrow 2\nrow 3\nrow 4\nrow 5\nrow 6\nrow 7\n… 23 more lines (all of them once the run ends)\nrun r1 running: 3 running\n"
        );
        assert_eq!(shown.lines().count(), 9);
        // What fits is left alone.
        assert_eq!(fit(&view(8), (80, 10)), view(8));
        // On a narrow terminal the summary wraps (and counts as the rows it
        // takes), the note is cut to a row; a tiny terminal shows the summary
        // alone, cut to a row.
        let narrow = fit(&tall, (12, 10));
        assert_eq!(narrow.lines().map(|l| rows(l, 12)).sum::<usize>(), 9);
        assert!(narrow.contains("\n… 25 more l…\n"), "{narrow}");
        assert_eq!(fit(&tall, (12, 2)), "run r1 runn…\n");
        let mut r = Redraw::default();
        assert_eq!(r.frame(&tall, (80, 10), false), shown);
        assert!(r.frame(&tall, (80, 10), true).starts_with("\x1b[9A\r"));
        assert!(r.frame(&tall, (80, 10), true).ends_with(&tall));
    }
}
