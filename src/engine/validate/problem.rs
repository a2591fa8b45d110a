//! Problems found in a DAG file, and how they are shown: each with its place in
//! the file, rendered with miette.

use miette::{
    LabeledSpan, MietteDiagnostic, MietteError, MietteSpanContents, Report, Severity, SourceCode,
    SourceSpan, SpanContents,
};

use crate::engine::yaml::Span;

/// One problem found in a DAG file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// What is wrong, as a lowercase sentence fragment.
    pub message: String,
    /// The places involved, each with a short label. Empty for problems that have no
    /// place in the file (a bad `--param`).
    pub labels: Vec<(Span, String)>,
    /// How to fix it, when there is something useful to say.
    pub help: Option<String>,
}

impl Problem {
    pub(super) fn at(span: Span, message: impl Into<String>, label: impl Into<String>) -> Problem {
        Problem {
            message: message.into(),
            labels: vec![(span, label.into())],
            help: None,
        }
    }

    pub(super) fn help(mut self, help: impl Into<String>) -> Problem {
        self.help = Some(help.into());
        self
    }

    pub(super) fn help_opt(mut self, help: Option<String>) -> Problem {
        self.help = help;
        self
    }
}

/// A DAG file that failed validation: the file's text and every problem found in it.
#[derive(Clone, Debug)]
pub struct InvalidDag {
    /// The file name as given by the user.
    pub path: String,
    /// The file's text (invalid UTF-8 replaced), for rendering source lines.
    pub source: String,
    /// Every problem, in file order where they have a place.
    pub problems: Vec<Problem>,
    /// The invalid sub-DAG files this one calls, each with its own problems.
    pub also: Vec<InvalidDag>,
}

impl InvalidDag {
    /// How many problems it and the sub-DAG files it calls hold.
    pub fn count(&self) -> usize {
        self.problems.len() + self.also.iter().map(InvalidDag::count).sum::<usize>()
    }

    /// It and the invalid sub-DAG files it calls (theirs too), each apart.
    pub fn flatten(mut self) -> Vec<InvalidDag> {
        let also = std::mem::take(&mut self.also);
        let mut out = vec![self];
        for a in also {
            out.extend(a.flatten());
        }
        out
    }
}

/// A named source whose positions count characters, like every other position dag
/// reports (miette's own count bytes, so `file:3:40` would name the wrong column on a
/// line with non-ASCII text before the problem).
struct CharColumns {
    name: String,
    text: String,
}

impl SourceCode for CharColumns {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let inner = self.text.read_span(span, before, after)?;
        // Counted back from the start to the line's start; a start that is not on a
        // character boundary (never made here) keeps miette's count.
        let column = self
            .text
            .get(..inner.span().offset())
            .map_or(inner.column(), |head| {
                head[head.rfind('\n').map_or(0, |i| i + 1)..]
                    .chars()
                    .count()
            });
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            *inner.span(),
            inner.line(),
            column,
            inner.line_count(),
        )))
    }
}

/// Source lines longer than this are not echoed in diagnostics.
const MAX_SHOWN_LINE: usize = 1000;

/// At most this many problems are listed; a file with more is summarised.
const MAX_PROBLEMS: usize = 50;

impl InvalidDag {
    /// One miette report per problem, carrying the file's text, ready to render.
    pub fn reports(&self) -> Vec<Report> {
        let offsets = CharOffsets::new(&self.source);
        // miette echoes the labelled line and its neighbours; in a file with a huge
        // line, say where each problem is instead of showing the source.
        let has_huge_line = self.source.lines().any(|l| l.len() > MAX_SHOWN_LINE);
        let shown = showable(&self.source);
        let mut reports: Vec<Report> = self
            .problems
            .iter()
            .take(MAX_PROBLEMS)
            .map(|p| {
                let mut d =
                    MietteDiagnostic::new(showable(&p.message)).with_severity(Severity::Error);
                let mut labels = Vec::with_capacity(p.labels.len());
                for (span, label) in &p.labels {
                    let start = offsets.byte(span.start.index as usize);
                    let end = offsets.byte(span.end.index as usize).max(start);
                    let end = self.line_end_if_multiline(start, end);
                    if has_huge_line {
                        // Echoing a huge line would bury the message; say where instead.
                        d.message.push_str(&format!(
                            " (at {}:{}:{}; the file has lines too long to show)",
                            self.path,
                            span.start.line,
                            span.start.col + 1
                        ));
                    } else {
                        labels.push(LabeledSpan::new(Some(label.clone()), start, end - start));
                    }
                }
                d = d.with_labels(labels);
                if let Some(help) = &p.help {
                    d = d.with_help(help.clone());
                }
                Report::new(d).with_source_code(CharColumns {
                    name: self.path.clone(),
                    text: shown.clone(),
                })
            })
            .collect();
        if self.problems.len() > MAX_PROBLEMS {
            reports.push(Report::new(MietteDiagnostic::new(format!(
                "{} more problems not shown",
                self.problems.len() - MAX_PROBLEMS
            ))));
        }
        reports
    }

    /// Labels over several lines render as a long bracket; show the first line only.
    fn line_end_if_multiline(&self, start: usize, end: usize) -> usize {
        match self.source.get(start..end).and_then(|s| s.find('\n')) {
            Some(nl) => start + nl,
            None => end,
        }
    }
}

impl std::fmt::Display for InvalidDag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.problems.len();
        write!(
            f,
            "{}: {n} problem{}",
            self.path,
            if n == 1 { "" } else { "s" }
        )
    }
}

/// `text` as it may be echoed to a terminal: every character that would rewrite
/// it or hide what it says ([`crate::engine::text::unsafe_char`]: escape
/// sequences, bidi overrides) but line breaks replaced by a visible one of the
/// same length in bytes (`?`, `¿`, `�`), so that spans and columns still hold. A
/// lone carriage return, which YAML counts as a line break, becomes a line feed,
/// so that the lines shown are the lines the positions count.
fn showable(text: &str) -> String {
    let bytes = text.as_bytes();
    let lone_cr = |i: usize| bytes[i] == b'\r' && bytes.get(i + 1) != Some(&b'\n');
    if !text.char_indices().any(|(i, c)| {
        (crate::engine::text::unsafe_char(c) && !matches!(c, '\n' | '\r'))
            || (c == '\r' && lone_cr(i))
    }) {
        return text.to_string();
    }
    text.char_indices()
        .map(|(i, c)| match c {
            '\r' if lone_cr(i) => '\n',
            '\n' | '\r' => c,
            c if crate::engine::text::unsafe_char(c) => match c.len_utf8() {
                1 => '?',
                2 => '¿',
                _ => '\u{FFFD}',
            },
            c => c,
        })
        .collect()
}

/// Maps the scanner's character offsets to byte offsets.
struct CharOffsets {
    bytes: Option<Vec<usize>>,
    len: usize,
}

impl CharOffsets {
    fn new(text: &str) -> CharOffsets {
        let bytes = (!text.is_ascii()).then(|| {
            let mut v: Vec<usize> = text.char_indices().map(|(b, _)| b).collect();
            v.push(text.len());
            v
        });
        CharOffsets {
            bytes,
            len: text.len(),
        }
    }

    fn byte(&self, char_index: usize) -> usize {
        match &self.bytes {
            None => char_index.min(self.len),
            Some(v) => v.get(char_index).copied().unwrap_or(self.len),
        }
    }
}

/// Why a DAG file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read DAG file {path}")]
    Read {
        /// The path as given.
        path: String,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The file was read and is not a valid DAG.
    #[error("invalid DAG file {0}")]
    Invalid(Box<InvalidDag>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lone_carriage_returns_show_as_the_line_breaks_yaml_counts() {
        assert_eq!(showable("a\rb\r\nc\n"), "a\nb\r\nc\n");
        assert_eq!(showable("x\u{1b}[2J\ry"), "x?[2J\ny");
        let invalid = InvalidDag {
            path: "cr.yaml".into(),
            source: "name: x\rtasks:\r  a: 1\r".into(),
            problems: vec![Problem {
                message: "bad".into(),
                labels: vec![(
                    Span {
                        start: crate::engine::yaml::Pos::new(20, 3, 5),
                        end: crate::engine::yaml::Pos::new(21, 3, 6),
                    },
                    "here".into(),
                )],
                help: None,
            }],
            also: Vec::new(),
        };
        let mut out = String::new();
        let handler =
            miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor());
        handler
            .render_report(&mut out, invalid.reports()[0].as_ref())
            .unwrap();
        assert!(out.contains("[cr.yaml:3:6]"), "{out}");
        assert!(out.contains(" 3 │   a: 1"), "{out}");
    }
}
