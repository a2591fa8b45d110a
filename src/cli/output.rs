//! Where output goes and how it looks: stdout for results, stderr for progress and
//! diagnostics; colour and bars only on a terminal without `NO_COLOR` or `CI`.

use std::io::{IsTerminal, Write};

use miette::{GraphicalReportHandler, GraphicalTheme};

use super::args::ColorArg;
use super::exit::CliError;
use crate::engine::validate::InvalidDag;

/// How stderr may be decorated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Style {
    /// Live progress bars (else one plain line per state change).
    pub bars: bool,
    /// ANSI colour.
    pub color: bool,
}

/// `--color`, set once by `main`.
static CHOICE: std::sync::OnceLock<ColorArg> = std::sync::OnceLock::new();

/// Records `--color` for every later [`Style::detect`].
pub fn set_color(choice: ColorArg) {
    let _ = CHOICE.set(choice);
}

impl Style {
    /// Decides from `--color` and the environment: a pure function of (stderr is a
    /// terminal, `NO_COLOR`, `CI`, `TERM=dumb`) unless `--color` says otherwise.
    pub fn detect() -> Style {
        Style::for_stream(std::io::stderr().is_terminal())
    }

    /// [`Style::detect`] for a stream that is a terminal or not.
    fn for_stream(terminal: bool) -> Style {
        let var = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
        let ci = var("CI");
        let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
        let decided = Style::decide(terminal, var("NO_COLOR"), ci, dumb);
        Style {
            color: match CHOICE.get().copied().unwrap_or(ColorArg::Auto) {
                ColorArg::Always => true,
                ColorArg::Never => false,
                ColorArg::Auto => decided.color,
            },
            ..decided
        }
    }

    /// The decision itself, `--color auto` and `--progress auto`: bars on a
    /// terminal that is neither CI's nor dumb; colour there too unless
    /// `NO_COLOR` (which is about colour only).
    pub fn decide(terminal: bool, no_color: bool, ci: bool, dumb: bool) -> Style {
        let fancy = terminal && !ci && !dumb;
        Style {
            bars: fancy,
            color: fancy && !no_color,
        }
    }

    /// How progress is shown under `--progress`: bars (`auto`: as
    /// [`Style::decide`]; `always`: whenever stderr is a terminal), else plain
    /// timestamped lines; `None` for `never`.
    pub fn progress(self, choice: super::args::ProgressArg) -> Option<bool> {
        use super::args::ProgressArg;
        match choice {
            ProgressArg::Auto => Some(self.bars),
            ProgressArg::Always => Some(std::io::stderr().is_terminal()),
            ProgressArg::Never => None,
        }
    }
}

/// Whether results on stdout may be coloured: as [`Style::detect`] decides for
/// stderr, but for stdout (`dag graph RUN | less` gets no escapes).
pub fn stdout_color() -> bool {
    Style::for_stream(std::io::stdout().is_terminal()).color
}

/// Whether output on stdout may be redrawn in place (`dag status --watch`): as
/// bars are decided for stderr, on a terminal that is neither CI's nor dumb.
/// `--color` and `NO_COLOR` are about colour only.
pub fn stdout_live() -> bool {
    Style::for_stream(std::io::stdout().is_terminal()).bars
}

/// Writes `text` to stdout. A closed pipe (`dag runs | head -1`) is not an error.
pub fn print(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(CliError::Output(e)),
        _ => Ok(()),
    }
}

/// Writes `doc` to stdout as pretty JSON and a newline, like `print`: what
/// `--output json` (and `--format json`) of the listing commands prints.
pub fn print_json(doc: &impl serde::Serialize) -> Result<(), CliError> {
    print(&format!(
        "{}\n",
        serde_json::to_string_pretty(doc).unwrap_or_default()
    ))
}

/// Writes raw bytes to stdout, like `print`.
pub fn print_bytes(bytes: &[u8]) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(CliError::Output(e)),
        _ => Ok(()),
    }
}

/// Writes `text` to stderr. A closed stderr must never stop dag (or its signal
/// handling), so write errors are ignored.
pub fn eprint(text: &str) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// The one renderer of errors: every error dag reports on stderr (a DAG or
/// config file's problems with their lines, a run that cannot be found, a store
/// that cannot be opened) is a miette diagnostic drawn by this handler.
fn handler(color: bool) -> GraphicalReportHandler {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    // Words are never cut: a path, a URL or a run id stays whole, to copy.
    GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_break_words(false)
}

/// Renders a file's problems (a DAG file's, or the config file's) with their
/// source lines and carets, then a line that counts them.
pub fn render_invalid(invalid: &InvalidDag, color: bool) -> String {
    let handler = handler(color);
    let mut out = String::new();
    for report in invalid.reports() {
        let _ = handler.render_report(&mut out, report.as_ref());
    }
    let n = invalid.problems.len();
    out.push_str(&format!(
        "error: {} is invalid: {n} problem{}\n",
        invalid.path,
        if n == 1 { "" } else { "s" }
    ));
    out
}

/// A command error as a diagnostic: its message, the errors that caused it, and
/// what to do.
#[derive(Debug)]
struct Failure<'a> {
    err: &'a CliError,
    help: Option<String>,
}

impl std::fmt::Display for Failure<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.err.fmt(f)
    }
}

impl std::error::Error for Failure<'_> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(self.err)
    }
}

impl miette::Diagnostic for Failure<'_> {
    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }
}

/// Renders any command error for stderr, with `handler`: the message, its
/// causes, and a hint.
pub fn render_error(err: &CliError, color: bool) -> String {
    if let CliError::Invalid(files) = err {
        return files.iter().map(|f| render_invalid(f, color)).collect();
    }
    let mut help = match err {
        CliError::Usage { help, .. } => help.clone(),
        CliError::Store(crate::engine::store::StoreError::NotFound(_)) => {
            Some("`dag runs` lists the runs of this state store".into())
        }
        _ => None,
    };
    // A refused permission makes NATS operations time out: name the cause.
    if let Some(refusal) = crate::backends::nats::last_refusal() {
        use crate::backends::nats::{REFUSAL_HELP, refusal_cause};
        let said = format!("{}; {REFUSAL_HELP}", refusal_cause(&refusal));
        help = Some(match help {
            Some(h) => format!("{h}\n{said}"),
            None => said,
        });
    }
    let mut out = String::new();
    // Unwrapped: what went wrong stays one line, as logs and `grep` read it (a
    // terminal wraps it where it is narrow).
    let _ = handler(color)
        .with_wrap_lines(false)
        .render_report(&mut out, &Failure { err, help });
    out
}

#[cfg(test)]
mod tests {
    use super::Style;

    #[test]
    fn an_error_is_one_line_with_its_path_whole() {
        let path = format!("/tmp/{}/x.yaml", "a-long-directory-name/".repeat(8));
        let message = format!("cannot write the report {path}: No space left on device");
        let err = super::CliError::Infrastructure(message.clone());
        let shown = super::render_error(&err, false);
        assert!(shown.contains(&message), "{shown}");
        let help = format!("see {path} and try again with a far longer explanation than fits");
        let err = super::CliError::usage("bad".to_string(), Some(help.clone()));
        let shown = super::render_error(&err, false);
        assert!(shown.contains(&help), "{shown}");
    }

    #[test]
    fn bars_only_on_a_plain_terminal_and_no_color_is_about_colour() {
        assert!(Style::decide(true, false, false, false).bars);
        assert!(!Style::decide(false, false, false, false).bars);
        // NO_COLOR: bars still, colour not.
        assert!(Style::decide(true, true, false, false).bars);
        assert!(!Style::decide(true, true, false, false).color);
        assert!(!Style::decide(true, false, true, false).bars);
        assert!(!Style::decide(true, false, false, true).color);
    }
}
