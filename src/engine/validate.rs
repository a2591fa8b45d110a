//! Loading a DAG file: YAML → node tree → checked [`Dag`], collecting every problem
//! with the place it comes from, so that one run of `dag validate` reports them all.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use miette::{
    LabeledSpan, MietteDiagnostic, MietteError, MietteSpanContents, Report, Severity, SourceCode,
    SourceSpan, SpanContents,
};

use super::capped_read::{self, ReadError};
use super::expr::{self, Expr};
use super::graph::{Dag, find_cycles};
use super::spec::{
    Backoff, DagSpec, DockerSpec, HttpSpec, PullPolicy, RetryPolicy, TaskKind, TaskSpec,
    TriggerRule,
};
use super::suggest::suggest;
use super::yaml::{self, Node, NodeKind, Pos, Span};

/// What a DAG file is checked against besides its own text.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// `--param KEY=VALUE` overrides, in command-line order.
    pub params: Vec<(String, String)>,
    /// Names of the functions `fn` tasks may call; `None` skips the check.
    pub functions: Option<Vec<String>>,
    /// Task types that have a runner; `None` allows all four.
    pub task_types: Option<Vec<&'static str>>,
    /// Docker tasks may name no image: their runner has a default one
    /// (`--docker-image`), or workers decide (distributed runs).
    pub docker_image_optional: bool,
}

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
    fn at(span: Span, message: impl Into<String>, label: impl Into<String>) -> Problem {
        Problem {
            message: message.into(),
            labels: vec![(span, label.into())],
            help: None,
        }
    }

    fn help(mut self, help: impl Into<String>) -> Problem {
        self.help = Some(help.into());
        self
    }

    fn help_opt(mut self, help: Option<String>) -> Problem {
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

/// Unknown task ids get a "did you mean" only up to this many times per file.
const MAX_SUGGESTED: usize = 50;

/// Cycles reported in full; a graph can hold more cycles than tasks, and each would
/// be a screenful.
const MAX_CYCLES_SHOWN: usize = 10;

/// A cycle up to this many tasks is shown whole, one label per dependency; a longer
/// one by its length and the first and last [`CYCLE_ENDS`] tasks with their places.
const MAX_CYCLE_SHOWN_WHOLE: usize = 12;

/// Tasks shown at each end of a long cycle.
const CYCLE_ENDS: usize = 3;

/// The problem for one dependency cycle (task indexes along `depends_on` edges):
/// a short cycle in full, a long one compactly, so the report stays a few lines
/// whatever the cycle's length.
fn cycle_problem(
    cycle: &[usize],
    ids: &[&str],
    deps: &[Vec<(String, Span)>],
    id_spans: &[Span],
) -> Problem {
    let len = cycle.len();
    let edge = |pos: usize| {
        let (from, to) = (cycle[pos], cycle[(pos + 1) % len]);
        let span = deps[from]
            .iter()
            .find(|(d, _)| d == ids[to])
            .map_or(id_spans[from], |(_, s)| *s);
        (span, format!("`{}` depends on `{}`", ids[from], ids[to]))
    };
    if len <= MAX_CYCLE_SHOWN_WHOLE {
        let mut names: Vec<&str> = cycle.iter().map(|&i| ids[i]).collect();
        names.push(names[0]);
        return Problem {
            message: format!("dependency cycle: {}", names.join(" → ")),
            labels: (0..len).map(edge).collect(),
            help: Some("remove one of these dependencies".into()),
        };
    }
    let shown: Vec<usize> = (0..CYCLE_ENDS).chain(len - CYCLE_ENDS..len).collect();
    let named = |pos: usize| format!("{} ({})", ids[cycle[pos]], pos + 1);
    let head: Vec<String> = shown[..CYCLE_ENDS].iter().map(|&p| named(p)).collect();
    let tail: Vec<String> = shown[CYCLE_ENDS..].iter().map(|&p| named(p)).collect();
    Problem {
        message: format!(
            "dependency cycle of {len} tasks: {} → … → {} → {}",
            head.join(" → "),
            tail.join(" → "),
            ids[cycle[0]]
        ),
        labels: shown.into_iter().map(edge).collect(),
        help: Some(format!(
            "remove one of its {len} dependencies; (N) is a task's place along the cycle"
        )),
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
        let mut reports: Vec<Report> = self
            .problems
            .iter()
            .take(MAX_PROBLEMS)
            .map(|p| {
                let mut d = MietteDiagnostic::new(p.message.clone()).with_severity(Severity::Error);
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
                    text: self.source.clone(),
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

/// The largest DAG file accepted, far beyond any hand-written one.
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// Reads and validates the DAG file at `path`.
pub fn load_file(path: &Path, options: &LoadOptions) -> Result<Dag, LoadError> {
    let shown = path.display().to_string();
    let read_err = |source| LoadError::Read {
        path: shown.clone(),
        source,
    };
    // The read itself is capped: `metadata().len()` is 0 for `/dev/zero`, a FIFO or
    // `/dev/stdin`, which are read to their end (or the cap) like any file.
    let bytes = match capped_read::read_capped(path, MAX_FILE_BYTES, capped_read::STREAM_IDLE) {
        Ok(bytes) => bytes,
        Err(ReadError::Io(e)) => return Err(read_err(e)),
        Err(ReadError::NotRegular(what)) => {
            return Err(read_err(std::io::Error::other(format!("is {what}"))));
        }
        Err(e @ ReadError::Idle(_)) => return Err(read_err(std::io::Error::other(e.to_string()))),
        Err(ReadError::TooBig { .. }) => {
            return Err(LoadError::Invalid(Box::new(InvalidDag {
                path: shown.clone(),
                source: String::new(),
                problems: vec![Problem {
                    message: format!(
                        "file holds more than {MAX_FILE_BYTES} bytes, the limit for DAG files"
                    ),
                    labels: vec![],
                    help: None,
                }],
            })));
        }
    };
    load_bytes(&shown, &bytes, options)
}

/// Validates DAG file contents; `name` is used in messages.
pub fn load_bytes(name: &str, bytes: &[u8], options: &LoadOptions) -> Result<Dag, LoadError> {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let source = String::from_utf8_lossy(bytes).into_owned();
            let valid = &source[..e.valid_up_to()];
            let index = valid.chars().count();
            let line = valid.matches('\n').count() + 1;
            let col = valid.rsplit('\n').next().map_or(0, |l| l.chars().count());
            let pos = Pos::new(index, line, col);
            return Err(invalid(
                name,
                source,
                vec![
                    Problem::at(
                        Span::at(pos),
                        "file is not valid UTF-8 text",
                        "invalid byte here",
                    )
                    .help("DAG files are UTF-8 encoded YAML"),
                ],
            ));
        }
    };
    load_str(name, text, options)
}

/// Validates DAG file text; `name` is used in messages.
pub fn load_str(name: &str, text: &str, options: &LoadOptions) -> Result<Dag, LoadError> {
    let root = match yaml::parse(text) {
        Ok(Some(root)) => root,
        Ok(None) => {
            return Err(invalid(
                name,
                text.to_string(),
                vec![Problem {
                    message: "file is empty".into(),
                    labels: vec![],
                    help: Some("a DAG file needs at least `name:` and `tasks:`".into()),
                }],
            ));
        }
        Err(e) => {
            return Err(invalid(
                name,
                text.to_string(),
                vec![Problem::at(
                    Span::at(e.pos),
                    format!("invalid YAML: {}", e.message),
                    "here",
                )],
            ));
        }
    };
    let mut checker = Checker {
        src: text,
        char_marks: std::cell::OnceCell::new(),
        options,
        problems: Vec::new(),
        params: Vec::new(),
        current_task: None,
        output_refs: Vec::new(),
        secret_env: Vec::new(),
    };
    match checker.dag(&root) {
        Some(spec) if checker.problems.is_empty() => {
            let mut dag = Dag::new(spec);
            dag.source = Some(text.into());
            Ok(dag)
        }
        _ => {
            let mut problems = checker.problems;
            problems.sort_by_key(|p| p.labels.first().map_or(0, |(s, _)| s.start.index));
            Err(invalid(name, text.to_string(), problems))
        }
    }
}

fn invalid(name: &str, source: String, problems: Vec<Problem>) -> LoadError {
    LoadError::Invalid(Box::new(InvalidDag {
        path: name.to_string(),
        source,
        problems,
    }))
}

const TOP_KEYS: &[&str] = &[
    "name",
    "description",
    "params",
    "env",
    "defaults",
    "tasks",
    "version",
    "secret_env",
];

const COMMON_TASK_KEYS: &[&str] = &[
    "type",
    "command",
    "depends_on",
    "env",
    "workdir",
    "timeout",
    "retries",
    "retry_delay",
    "max_retry_delay",
    "retry_backoff",
    "trigger_rule",
    "queue",
    "priority",
    "description",
    "secret_env",
];
const HTTP_KEYS: &[&str] = &["method", "url", "body", "headers"];
const DOCKER_KEYS: &[&str] = &[
    "image",
    "volumes",
    "memory_mb",
    "cpu_quota",
    "network",
    "pull",
];

const DEFAULT_KEYS: &[&str] = &[
    "timeout",
    "retries",
    "retry_delay",
    "max_retry_delay",
    "retry_backoff",
    "trigger_rule",
    "queue",
    "workdir",
    "image",
    "network",
    "memory_mb",
    "cpu_quota",
    "pull",
];

/// The task types of format version 1.
pub const TASK_TYPES: &[&str] = &["bash", "http", "docker", "fn"];

const HTTP_METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];

/// Longest `name:` or task id: they become file names, container names and NATS
/// subjects, which all have limits.
pub const MAX_NAME_LEN: usize = 100;

/// A `name:` or task id: what may appear in file names and NATS subjects (where a
/// leading, trailing or doubled `.` would make an empty token).
pub fn is_valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        && !s.split('.').any(str::is_empty)
}

/// Values from `defaults:`.
#[derive(Default)]
struct Defaults {
    timeout: Option<Duration>,
    retry: RetryPolicy,
    trigger_rule: TriggerRule,
    queue: Option<String>,
    workdir: Option<String>,
    image: Option<String>,
    network: Option<String>,
    memory_mb: Option<u64>,
    cpu_quota: Option<u64>,
    pull: PullPolicy,
}

/// How many characters apart [`Checker::char_marks`] are.
const CHAR_MARK_STEP: usize = 256;

type Entries<'n> = Vec<(&'n str, &'n Node, &'n Node)>;

/// The value of `key` among a map's entries.
fn value<'n>(entries: &Entries<'n>, key: &str) -> Option<&'n Node> {
    entries.iter().find(|(k, ..)| *k == key).map(|(_, _, v)| *v)
}

struct Checker<'s, 'o> {
    src: &'s str,
    /// Where every [`CHAR_MARK_STEP`]th character of `src` starts (`None`: `src` is
    /// ASCII, characters are bytes), computed once: finding a span's text must not
    /// scan the whole document for each of thousands of expressions.
    char_marks: std::cell::OnceCell<Option<Vec<usize>>>,
    options: &'o LoadOptions,
    problems: Vec<Problem>,
    params: Vec<(String, String)>,
    /// The task whose keys are being read, if any.
    current_task: Option<String>,
    /// `${{ tasks.ID... }}` references, checked once the graph is known.
    output_refs: Vec<OutputRef>,
    /// The top-level `secret_env`, added to every task's.
    secret_env: Vec<String>,
}

/// A task's use of another task's output.
struct OutputRef {
    task: String,
    from: String,
    key: String,
    span: Span,
}

impl Checker<'_, '_> {
    fn report(&mut self, problem: Problem) {
        self.problems.push(problem);
    }

    /// The entries of a map node, with duplicate and non-string keys reported.
    fn entries<'n>(&mut self, node: &'n Node, what: &str) -> Option<Entries<'n>> {
        let NodeKind::Map(pairs) = &node.kind else {
            self.report(Problem::at(
                node.span,
                format!("{what} must be a map, found {}", node.type_name()),
                "expected a map",
            ));
            return None;
        };
        let mut out: Entries<'n> = Vec::with_capacity(pairs.len());
        let mut seen: HashMap<&str, Span> = HashMap::with_capacity(pairs.len());
        for (k, v) in pairs {
            let Some(key) = k.as_scalar() else {
                self.report(Problem::at(
                    k.span,
                    format!("keys of {what} must be strings, found {}", k.type_name()),
                    "this key",
                ));
                continue;
            };
            if let Some(first) = seen.insert(key, k.span) {
                let message = if what == "`tasks`" {
                    format!("duplicate task id `{key}`")
                } else {
                    format!("duplicate key `{key}` in {what}")
                };
                self.report(Problem {
                    message,
                    labels: vec![
                        (first, "first defined here".into()),
                        (k.span, "defined again here".into()),
                    ],
                    help: None,
                });
                continue;
            }
            out.push((key, k, v));
        }
        Some(out)
    }

    /// Reports keys not in `allowed`, suggesting the nearest valid one.
    fn unknown_keys(&mut self, entries: &Entries<'_>, allowed: &[&str], what: &str) {
        for (key, k, _) in entries {
            if !allowed.contains(key) {
                let help = match suggest(key, allowed.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("valid keys in {what}: {}", allowed.join(", ")),
                };
                self.report(
                    Problem::at(
                        k.span,
                        format!("unknown key `{key}` in {what}"),
                        "unknown key",
                    )
                    .help(help),
                );
            }
        }
    }

    fn type_error(&mut self, node: &Node, key: &str, expected: &str) {
        self.report(Problem::at(
            node.span,
            format!("`{key}` must be {expected}, found {}", node.type_name()),
            format!("expected {expected}"),
        ));
    }

    /// A scalar value as a string, without substitution.
    fn raw_string(&mut self, node: &Node, key: &str) -> Option<String> {
        match &node.kind {
            NodeKind::Scalar { value, .. } if value.contains('\0') => {
                self.report(nul_problem(node.span, key));
                None
            }
            NodeKind::Scalar { value, .. } => Some(value.clone()),
            _ => {
                self.type_error(node, key, "a string");
                None
            }
        }
    }

    /// A scalar value as a string, with `${{ params.NAME }}` substituted.
    fn string(&mut self, node: &Node, key: &str) -> Option<String> {
        let raw = self.raw_string(node, key)?;
        self.substitute(node, &raw)
    }

    fn optional_string(&mut self, node: &Node, key: &str) -> Option<Option<String>> {
        if matches!(node.kind, NodeKind::Null) {
            return Some(None);
        }
        self.string(node, key).map(Some)
    }

    fn substitute(&mut self, node: &Node, raw: &str) -> Option<String> {
        let params = &self.params;
        let task = self.current_task.clone();
        let mut refs = Vec::new();
        let result = expr::substitute(raw, |e| match e {
            Expr::Param(name) => match params.iter().find(|(k, _)| k == name) {
                Some((_, v)) => Ok(Some(v.clone())),
                None => {
                    let names: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
                    let help = match suggest(name, names.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None if names.is_empty() => {
                            "declare it under `params:` at the top of the file".into()
                        }
                        None => format!("declared params: {}", names.join(", ")),
                    };
                    Err((format!("unknown param `{name}`"), Some(help)))
                }
            },
            Expr::Output { task: from, key } => match &task {
                Some(_) => {
                    refs.push((from.to_string(), key.to_string()));
                    Ok(None)
                }
                None => Err((
                    "task outputs can only be used in a task's own keys".to_string(),
                    Some("move this value into the task that needs it".to_string()),
                )),
            },
        });
        match result {
            Ok(value) => {
                if let Some(task) = task {
                    for (from, key) in refs {
                        let span = self.narrow(node, &format!("tasks.{from}."));
                        self.output_refs.push(OutputRef {
                            task: task.clone(),
                            from,
                            key,
                            span,
                        });
                    }
                }
                Some(value)
            }
            Err(errors) => {
                for e in errors {
                    let span = self.narrow(node, &e.text);
                    let (message, help) = (e.message, e.help);
                    let label = if message.starts_with("unknown param") {
                        "not declared in `params`"
                    } else {
                        "invalid expression"
                    };
                    let help = help.unwrap_or_else(|| {
                        "expressions are `${{ params.NAME }}`, `${{ tasks.ID.outputs.KEY }}` and `${{ tasks.ID.output }}`".into()
                    });
                    self.report(Problem::at(span, message, label).help(help));
                }
                None
            }
        }
    }

    /// The span of `needle` inside `node`'s source text, or the node's span when it
    /// cannot be found verbatim (escapes, folded block scalars).
    fn narrow(&self, node: &Node, needle: &str) -> Span {
        let text = self.node_text(node);
        let Some((text, base)) = text else {
            return node.span;
        };
        match text.find(needle) {
            Some(byte) => {
                let before = text[..byte].chars().count();
                let len = needle.chars().count();
                let mut span = node.span;
                span.start.index = (base + before) as u32;
                span.start.col += before as u32;
                span.end = span.start;
                span.end.index += len as u32;
                span.end.col += len as u32;
                span
            }
            None => node.span,
        }
    }

    fn node_text(&self, node: &Node) -> Option<(&str, usize)> {
        let (start, end) = (node.span.start.index as usize, node.span.end.index as usize);
        let marks = self.char_marks.get_or_init(|| {
            (!self.src.is_ascii()).then(|| {
                self.src
                    .char_indices()
                    .step_by(CHAR_MARK_STEP)
                    .map(|(b, _)| b)
                    .collect()
            })
        });
        let Some(marks) = marks else {
            return self.src.get(start..end).map(|t| (t, start));
        };
        // The byte where character `c` starts: from the nearest mark, at most
        // CHAR_MARK_STEP characters on.
        let byte = |c: usize| -> Option<usize> {
            let from = *marks.get(c / CHAR_MARK_STEP)?;
            let skip = c % CHAR_MARK_STEP;
            self.src[from..]
                .char_indices()
                .map(|(b, _)| from + b)
                .chain([self.src.len()])
                .nth(skip)
        };
        let b_start = byte(start)
            .or_else(|| (start == self.src.chars().count()).then_some(self.src.len()))?;
        let b_end =
            byte(end).or_else(|| (end == self.src.chars().count()).then_some(self.src.len()))?;
        self.src.get(b_start..b_end).map(|t| (t, start))
    }

    fn duration(&mut self, node: &Node, key: &str) -> Option<Duration> {
        let raw = self.string(node, key)?;
        match humantime::parse_duration(raw.trim()) {
            Ok(d) => Some(d),
            Err(e) => {
                self.report(
                    Problem::at(
                        node.span,
                        format!("`{key}`: invalid duration `{raw}`: {e}"),
                        "invalid duration",
                    )
                    .help("write a duration such as 500ms, 30s, 10m or 1h30m"),
                );
                None
            }
        }
    }

    fn uint(&mut self, node: &Node, key: &str, max: u64) -> Option<u64> {
        let parsed = match &node.kind {
            NodeKind::Scalar {
                value,
                quoted: false,
            } => value.parse::<u64>().ok(),
            _ => None,
        };
        match parsed {
            Some(n) if n <= max => Some(n),
            Some(_) => {
                self.report(Problem::at(
                    node.span,
                    format!("`{key}` must be at most {max}"),
                    "too large",
                ));
                None
            }
            None => {
                self.type_error(node, key, "a whole number ≥ 0");
                None
            }
        }
    }

    fn int(&mut self, node: &Node, key: &str) -> Option<i64> {
        let parsed = match &node.kind {
            NodeKind::Scalar {
                value,
                quoted: false,
            } => value.parse::<i64>().ok(),
            _ => None,
        };
        if parsed.is_none() {
            self.type_error(node, key, "a whole number");
        }
        parsed
    }

    fn choice<T: Copy>(&mut self, node: &Node, key: &str, choices: &[(&str, T)]) -> Option<T> {
        let raw = self.string(node, key)?;
        if let Some((_, v)) = choices.iter().find(|(n, _)| *n == raw) {
            return Some(*v);
        }
        let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
        let help = match suggest(&raw, names.iter().copied()) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("one of: {}", names.join(", ")),
        };
        self.report(
            Problem::at(
                node.span,
                format!("unknown {key} `{raw}`"),
                format!("not a valid {key}"),
            )
            .help(help),
        );
        None
    }

    /// A list of strings; a single string counts as a list of one.
    fn string_list(&mut self, node: &Node, key: &str) -> Option<Vec<(String, Span)>> {
        match &node.kind {
            NodeKind::Scalar { .. } => self.string(node, key).map(|s| vec![(s, node.span)]),
            NodeKind::Null => Some(Vec::new()),
            NodeKind::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut ok = true;
                for item in items {
                    match self.string(item, key) {
                        Some(s) => out.push((s, item.span)),
                        None => ok = false,
                    }
                }
                ok.then_some(out)
            }
            NodeKind::Map(_) => {
                self.type_error(node, key, "a list of strings");
                None
            }
        }
    }

    /// A map of strings to scalars (numbers and booleans become their text; an empty
    /// value is the empty string).
    fn string_map(
        &mut self,
        node: &Node,
        key: &str,
        substitute: bool,
    ) -> Option<Vec<(String, String)>> {
        if matches!(node.kind, NodeKind::Null) {
            return Some(Vec::new());
        }
        let entries = self.entries(node, &format!("`{key}`"))?;
        let mut out = Vec::with_capacity(entries.len());
        let mut ok = true;
        for (k, knode, v) in entries {
            if k.is_empty() || k.contains('=') || k.contains('\0') {
                self.report(Problem::at(
                    knode.span,
                    format!("invalid name `{k}` in `{key}`"),
                    "names must be non-empty, without `=`",
                ));
                ok = false;
                continue;
            }
            let value = match &v.kind {
                NodeKind::Null => Some(String::new()),
                _ if substitute => self.string(v, k),
                _ => self.raw_string(v, k),
            };
            match value {
                Some(value) => out.push((k.to_string(), value)),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn dag(&mut self, root: &Node) -> Option<DagSpec> {
        let Some(entries) = self.entries(root, "the top level of a DAG file") else {
            if let Some(p) = self.problems.last_mut() {
                p.help = Some("a DAG file is a map with at least `name:` and `tasks:`".into());
            }
            return None;
        };
        // `x-` keys are the user's own (for anchors), as in Compose files.
        let own: Entries<'_> = entries
            .iter()
            .filter(|(k, ..)| !k.starts_with("x-"))
            .copied()
            .collect();
        self.unknown_keys(&own, TOP_KEYS, "the top level");
        let get = |k: &str| {
            entries
                .iter()
                .find(|(key, ..)| *key == k)
                .map(|(_, kn, v)| (*kn, *v))
        };

        if let Some((_, v)) = get("version")
            && v.as_scalar() != Some("1")
        {
            self.report(
                Problem::at(v.span, "unsupported format version", "expected 1")
                    .help("this dag understands format version 1"),
            );
        }

        let name = match get("name") {
            Some((_, v)) => self.raw_string(v, "name").and_then(|n| {
                if is_valid_name(&n) {
                    Some(n)
                } else {
                    self.report(
                        Problem::at(v.span, format!("invalid DAG name `{n}`"), "invalid name")
                            .help(format!("names use only letters, digits, `_`, `.` (only between others) and `-`, at most {MAX_NAME_LEN} of them")),
                    );
                    None
                }
            }),
            None => {
                self.report(
                    Problem::at(
                        Span::at(root.span.start),
                        "missing required key `name`",
                        "in this map",
                    )
                    .help("add `name: my-pipeline` at the top of the file"),
                );
                None
            }
        };
        let description = match get("description") {
            Some((_, v)) => self.optional_string(v, "description").flatten(),
            None => None,
        };

        if let Some((_, v)) = get("params") {
            self.params = self.string_map(v, "params", false).unwrap_or_default();
        }
        self.apply_param_overrides();
        self.check_param_values();

        let env = match get("env") {
            Some((_, v)) => self.string_map(v, "env", true).unwrap_or_default(),
            None => Vec::new(),
        };
        if let Some((_, v)) = get("secret_env") {
            self.secret_env = self.env_names(v);
        }
        let defaults = match get("defaults") {
            Some((_, v)) => self.defaults(v),
            None => Defaults::default(),
        };

        let tasks = match get("tasks") {
            Some((k, v)) => self.tasks(k, v, &defaults),
            None => {
                self.report(
                    Problem::at(
                        Span::at(root.span.start),
                        "missing required key `tasks`",
                        "in this map",
                    )
                    .help("add a `tasks:` map of task id to task"),
                );
                None
            }
        };
        Some(DagSpec {
            name: name?,
            description,
            params: self.params.clone(),
            env,
            tasks: tasks?,
        })
    }

    /// A list of environment variable names (`secret_env`).
    fn env_names(&mut self, node: &Node) -> Vec<String> {
        let names = self.string_list(node, "secret_env").unwrap_or_default();
        let mut out = Vec::with_capacity(names.len());
        for (name, span) in names {
            if name.is_empty() || name.contains('=') || name.contains('\0') {
                self.report(Problem::at(
                    span,
                    format!("invalid variable name `{name}` in `secret_env`"),
                    "invalid name",
                ));
            } else {
                out.push(name);
            }
        }
        out
    }

    fn check_param_values(&mut self) {
        // A value is inserted as it is, but the text around it is read for task
        // outputs again when the task starts: a `${{` in a value would be taken for
        // an expression there. The format has no escape for it, so say so now.
        for (key, value) in &self.params {
            if value.contains("${{") {
                self.problems.push(Problem {
                    message: format!("the value of param `{key}` contains `${{{{`"),
                    labels: vec![],
                    help: Some(
                        "dag reads `${{` as the start of an expression and has no escape \
                         for it; pass such text in a file instead"
                            .into(),
                    ),
                });
            }
        }
    }

    fn apply_param_overrides(&mut self) {
        for (key, value) in &self.options.params {
            match self.params.iter_mut().find(|(k, _)| k == key) {
                Some(slot) => slot.1 = value.clone(),
                None => {
                    let names: Vec<&str> = self.params.iter().map(|(k, _)| k.as_str()).collect();
                    let help = match suggest(key, names.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None if names.is_empty() => "this DAG declares no params".into(),
                        None => format!("declared params: {}", names.join(", ")),
                    };
                    self.problems.push(Problem {
                        message: format!("--param `{key}` is not a param of this DAG"),
                        labels: vec![],
                        help: Some(help),
                    });
                }
            }
        }
    }

    fn defaults(&mut self, node: &Node) -> Defaults {
        let mut d = Defaults::default();
        let Some(entries) = self.entries(node, "`defaults`") else {
            return d;
        };
        self.unknown_keys(&entries, DEFAULT_KEYS, "`defaults`");
        for (key, _, v) in entries {
            match key {
                "timeout" => d.timeout = self.positive_duration(v, key),
                "retries" => d.retry.retries = self.uint(v, key, 1000).unwrap_or(0) as u32,
                "retry_delay" => d.retry.delay = self.duration(v, key).unwrap_or(d.retry.delay),
                "max_retry_delay" => {
                    d.retry.max_delay = self.duration(v, key).unwrap_or(d.retry.max_delay)
                }
                "retry_backoff" => d.retry.backoff = self.backoff(v).unwrap_or_default(),
                "trigger_rule" => {
                    d.trigger_rule = self
                        .choice(v, "trigger_rule", &TriggerRule::ALL)
                        .unwrap_or_default()
                }
                "queue" => d.queue = self.queue(v),
                "workdir" => d.workdir = self.optional_string(v, key).flatten(),
                "image" => d.image = self.optional_string(v, key).flatten(),
                "network" => d.network = self.optional_string(v, key).flatten(),
                "memory_mb" => d.memory_mb = self.uint(v, key, u64::MAX / (1 << 20)),
                "cpu_quota" => d.cpu_quota = self.cpu_quota(v),
                "pull" => d.pull = self.pull(v).unwrap_or_default(),
                _ => {}
            }
        }
        d
    }

    fn positive_duration(&mut self, node: &Node, key: &str) -> Option<Duration> {
        let d = self.duration(node, key)?;
        if d.is_zero() {
            self.report(Problem::at(
                node.span,
                format!("`{key}` must be more than zero"),
                "zero",
            ));
            return None;
        }
        Some(d)
    }

    fn backoff(&mut self, node: &Node) -> Option<Backoff> {
        self.choice(
            node,
            "retry_backoff",
            &[
                ("exponential", Backoff::Exponential),
                ("fixed", Backoff::Fixed),
            ],
        )
    }

    fn pull(&mut self, node: &Node) -> Option<PullPolicy> {
        self.choice(
            node,
            "pull",
            &[
                ("missing", PullPolicy::Missing),
                ("always", PullPolicy::Always),
                ("never", PullPolicy::Never),
            ],
        )
    }

    fn cpu_quota(&mut self, node: &Node) -> Option<u64> {
        let q = self.uint(node, "cpu_quota", 100_000)?;
        if q == 0 {
            self.report(Problem::at(
                node.span,
                "`cpu_quota` must be more than zero",
                "zero",
            ));
            return None;
        }
        Some(q)
    }

    fn queue(&mut self, node: &Node) -> Option<String> {
        let q = self.string(node, "queue")?;
        if is_valid_name(&q) && !q.contains('.') {
            Some(q)
        } else {
            self.report(
                Problem::at(
                    node.span,
                    format!("invalid queue name `{q}`"),
                    "invalid queue",
                )
                .help("queue names use only letters, digits, `_` and `-`"),
            );
            None
        }
    }

    fn tasks(&mut self, key: &Node, node: &Node, defaults: &Defaults) -> Option<Vec<TaskSpec>> {
        let NodeKind::Map(_) = &node.kind else {
            let span = if matches!(node.kind, NodeKind::Null) {
                key.span
            } else {
                node.span
            };
            self.report(
                Problem::at(
                    span,
                    format!(
                        "`tasks` must be a map of task id to task, found {}",
                        node.type_name()
                    ),
                    "expected a map",
                )
                .help("write each task as `id: { command: ... }` under `tasks:`"),
            );
            return None;
        };
        let entries = self.entries(node, "`tasks`")?;
        if entries.is_empty() {
            self.report(
                Problem::at(key.span, "`tasks` is empty", "no tasks").help("add at least one task"),
            );
            return None;
        }
        let mut tasks: Vec<Option<TaskSpec>> = Vec::with_capacity(entries.len());
        let mut ids: Vec<&str> = Vec::with_capacity(entries.len());
        let mut deps: Vec<Vec<(String, Span)>> = Vec::with_capacity(entries.len());
        let mut id_spans: Vec<Span> = Vec::with_capacity(entries.len());
        let mut ok = true;
        for (id, knode, v) in &entries {
            if !is_valid_name(id) {
                self.report(
                    Problem::at(knode.span, format!("invalid task id `{id}`"), "invalid id")
                        .help(format!("task ids use only letters, digits, `_`, `.` (only between others) and `-`, at most {MAX_NAME_LEN} of them")),
                );
                ok = false;
                continue;
            }
            let (task, task_deps) = self.task(id, knode, v, defaults);
            ok &= task.is_some();
            tasks.push(task);
            ids.push(id);
            deps.push(task_deps);
            id_spans.push(knode.span);
        }
        // Dependencies and cycles are checked over every task, including those that
        // had other problems, so that every problem shows at once.
        let declared: HashSet<&str> = entries.iter().map(|(id, ..)| *id).collect();
        let mut unknown_deps = 0usize;
        for (i, task_deps) in deps.iter().enumerate() {
            let id = ids[i];
            let mut seen = HashSet::new();
            for (dep, span) in task_deps {
                if dep == id {
                    self.report(Problem::at(
                        *span,
                        format!("task `{id}` depends on itself"),
                        "self-dependency",
                    ));
                    ok = false;
                } else if !declared.contains(dep.as_str()) {
                    // Suggestions compare against every id: only for the first few.
                    unknown_deps += 1;
                    let help = (unknown_deps <= MAX_SUGGESTED)
                        .then(|| suggest(dep, declared.iter().copied()))
                        .flatten()
                        .map(|s| format!("did you mean `{s}`?"));
                    self.report(
                        Problem::at(
                            *span,
                            format!("task `{id}` depends on unknown task `{dep}`"),
                            "no such task",
                        )
                        .help_opt(help),
                    );
                    ok = false;
                } else if !seen.insert(dep.as_str()) {
                    self.report(Problem::at(
                        *span,
                        format!("task `{id}` lists `{dep}` twice in `depends_on`"),
                        "listed again",
                    ));
                    ok = false;
                }
            }
        }
        let index: HashMap<&str, usize> = ids.iter().enumerate().map(|(i, t)| (*t, i)).collect();
        // Self-dependencies are reported above, not again as cycles of one.
        let upstream: Vec<Vec<usize>> = deps
            .iter()
            .enumerate()
            .map(|(i, d)| {
                d.iter()
                    .filter_map(|(d, _)| index.get(d.as_str()).copied())
                    .filter(|&u| u != i)
                    .collect()
            })
            .collect();
        let cycles = find_cycles(&upstream, MAX_CYCLES_SHOWN);
        for cycle in &cycles.shown {
            self.report(cycle_problem(cycle, &ids, &deps, &id_spans));
        }
        if cycles.total > cycles.shown.len() {
            self.report(Problem {
                message: format!(
                    "{} more dependency cycles not shown",
                    cycles.total - cycles.shown.len()
                ),
                labels: vec![],
                help: Some("break the cycles above first".into()),
            });
        }
        if cycles.total > 0 {
            return None;
        }
        ok &= self.check_output_refs(&ids, &upstream);
        if !ok {
            return None;
        }
        tasks.into_iter().collect()
    }

    /// Every `${{ tasks.ID... }}` must name a task upstream of the one using it, so
    /// that its outputs exist when the task starts.
    fn check_output_refs(&mut self, ids: &[&str], upstream: &[Vec<usize>]) -> bool {
        let refs = std::mem::take(&mut self.output_refs);
        let index: HashMap<&str, usize> = ids.iter().enumerate().map(|(i, t)| (*t, i)).collect();
        let upstream_ok = references_upstream(&refs, &index, upstream);
        let mut ok = true;
        let mut unknown = 0usize;
        for (r, upstream_ok) in refs.into_iter().zip(upstream_ok) {
            if !index.contains_key(r.task.as_str()) {
                continue;
            }
            if !index.contains_key(r.from.as_str()) {
                // Suggesting compares with every task: not for thousands of names.
                unknown += 1;
                let help = (unknown <= MAX_SUGGESTED)
                    .then(|| suggest(&r.from, ids.iter().copied()))
                    .flatten()
                    .map(|s| format!("did you mean `{s}`?"));
                self.report(
                    Problem::at(
                        r.span,
                        format!("`{}` uses outputs of unknown task `{}`", r.task, r.from),
                        "no such task",
                    )
                    .help_opt(help),
                );
                ok = false;
                continue;
            };
            if !upstream_ok {
                self.report(
                    Problem::at(
                        r.span,
                        format!(
                            "`{}` uses output `{}` of `{}`, which is not upstream of it",
                            r.task, r.key, r.from
                        ),
                        "not upstream",
                    )
                    .help(format!(
                        "add `{}` to the `depends_on` of `{}`",
                        r.from, r.task
                    )),
                );
                ok = false;
            }
        }
        ok
    }

    fn task(
        &mut self,
        id: &str,
        key: &Node,
        node: &Node,
        defaults: &Defaults,
    ) -> (Option<TaskSpec>, Vec<(String, Span)>) {
        let what = format!("task `{id}`");
        if !matches!(node.kind, NodeKind::Map(_)) {
            let span = if matches!(node.kind, NodeKind::Null) {
                key.span
            } else {
                node.span
            };
            self.report(
                Problem::at(
                    span,
                    format!(
                        "{what} must be a map of task keys, found {}",
                        node.type_name()
                    ),
                    "expected a map",
                )
                .help(format!("write `{id}: {{ command: ... }}`")),
            );
            return (None, Vec::new());
        }
        let Some(entries) = self.entries(node, &what) else {
            return (None, Vec::new());
        };
        let deps = match entries.iter().find(|(k, ..)| *k == "depends_on") {
            Some((_, _, v)) => self.string_list(v, "depends_on").unwrap_or_default(),
            None => Vec::new(),
        };
        self.current_task = Some(id.to_string());
        let spec = self.task_spec(id, key, &entries, defaults, &what);
        self.current_task = None;
        (spec, deps)
    }

    fn task_spec(
        &mut self,
        id: &str,
        key: &Node,
        entries: &Entries<'_>,
        defaults: &Defaults,
        what: &str,
    ) -> Option<TaskSpec> {
        let all_keys: Vec<&str> = COMMON_TASK_KEYS
            .iter()
            .chain(HTTP_KEYS)
            .chain(DOCKER_KEYS)
            .copied()
            .collect();
        self.unknown_keys(entries, &all_keys, what);
        let get = |k: &str| value(entries, k);
        let before = self.problems.len();

        let type_name = match get("type") {
            Some(v) => {
                let choices: Vec<(&str, &str)> = TASK_TYPES.iter().map(|t| (*t, *t)).collect();
                self.choice(v, "type", &choices)?
            }
            None => "bash",
        };
        let what = what.to_string();
        if let (Some(allowed), Some(v)) = (&self.options.task_types, get("type"))
            && !allowed.contains(&type_name)
        {
            self.report(
                Problem::at(
                    v.span,
                    format!("{type_name} tasks cannot run in this build of dag"),
                    "unsupported type",
                )
                .help(format!("supported task types: {}", allowed.join(", "))),
            );
        }
        for (key, knode, _) in entries {
            let owner = if HTTP_KEYS.contains(key) {
                "http"
            } else if DOCKER_KEYS.contains(key) {
                "docker"
            } else {
                continue;
            };
            if owner != type_name {
                self.report(
                    Problem::at(
                        knode.span,
                        format!(
                            "`{key}` applies to {owner} tasks, but {what} is a {type_name} task"
                        ),
                        format!("{owner} only"),
                    )
                    .help(format!("add `type: {owner}` or remove `{key}`")),
                );
            }
        }

        let description =
            get("description").and_then(|v| self.optional_string(v, "description").flatten());
        let depends_on: Vec<String> = match get("depends_on") {
            // Already checked by `task`; read again without reporting.
            Some(v) => collect_strings(v),
            None => Vec::new(),
        };
        let mut env = match get("env") {
            Some(v) => self.string_map(v, "env", true).unwrap_or_default(),
            None => Vec::new(),
        };
        let mut workdir = match get("workdir") {
            Some(v) => self.optional_string(v, "workdir").flatten(),
            None => defaults.workdir.clone(),
        };
        let timeout = match get("timeout") {
            Some(v) => self.positive_duration(v, "timeout"),
            None => defaults.timeout,
        };
        let mut retry = defaults.retry;
        if let Some(v) = get("retries") {
            retry.retries = self.uint(v, "retries", 1000).unwrap_or(0) as u32;
        }
        if let Some(v) = get("retry_delay") {
            retry.delay = self.duration(v, "retry_delay").unwrap_or(retry.delay);
        }
        if let Some(v) = get("max_retry_delay") {
            retry.max_delay = self
                .duration(v, "max_retry_delay")
                .unwrap_or(retry.max_delay);
        }
        if let Some(v) = get("retry_backoff") {
            retry.backoff = self.backoff(v).unwrap_or_default();
        }
        let trigger_rule = match get("trigger_rule") {
            Some(v) => self
                .choice(v, "trigger_rule", &TriggerRule::ALL)
                .unwrap_or_default(),
            None => defaults.trigger_rule,
        };
        let queue = match get("queue") {
            Some(v) => self.queue(v).unwrap_or_default(),
            None => defaults.queue.clone().unwrap_or_else(|| "default".into()),
        };
        let priority = get("priority")
            .and_then(|v| self.int(v, "priority"))
            .unwrap_or(0);
        let mut secret_env = self.secret_env.clone();
        if let Some(v) = get("secret_env") {
            for name in self.env_names(v) {
                if !secret_env.contains(&name) {
                    secret_env.push(name);
                }
            }
        }
        let before_command = self.problems.len();
        let command = get("command").and_then(|v| self.optional_string(v, "command").flatten());
        let command_failed = self.problems.len() > before_command;

        let kind = match type_name {
            "bash" => match command {
                Some(c) if !c.trim().is_empty() => Some(TaskKind::Bash { command: c }),
                _ if command_failed => None,
                _ => {
                    self.missing(
                        key,
                        get("command"),
                        &format!("`command` is required for bash {what}"),
                    );
                    None
                }
            },
            "fn" if command_failed => None,
            "fn" => self.fn_kind(key, get("command"), command, &what),
            "http" | "docker" if command_failed => None,
            "http" => self.http_kind(key, entries, command, &what),
            "docker" => self.docker_kind(
                key,
                entries,
                command,
                &mut env,
                &mut workdir,
                defaults,
                &what,
            ),
            _ => None,
        };
        if self.problems.len() > before {
            return None;
        }
        Some(TaskSpec {
            id: id.to_string(),
            description,
            kind: kind?,
            depends_on,
            env,
            workdir,
            timeout,
            retry,
            trigger_rule,
            queue,
            priority,
            secret_env,
        })
    }

    fn missing(&mut self, key: &Node, value: Option<&Node>, message: &str) {
        let span = value.map_or(key.span, |v| v.span);
        self.report(Problem::at(span, message.to_string(), "here"));
    }

    fn fn_kind(
        &mut self,
        key: &Node,
        cmd_node: Option<&Node>,
        command: Option<String>,
        what: &str,
    ) -> Option<TaskKind> {
        let Some(command) = command.filter(|c| !c.trim().is_empty()) else {
            self.missing(
                key,
                cmd_node,
                &format!(
                    "`command` is required for fn {what}: the function name and its arguments"
                ),
            );
            return None;
        };
        let command = command.trim();
        let (name, args) = match command.split_once(char::is_whitespace) {
            Some((n, a)) => (n.to_string(), a.trim().to_string()),
            None => (command.to_string(), String::new()),
        };
        if let (Some(known), Some(node)) = (&self.options.functions, cmd_node)
            && !known.contains(&name)
        {
            let help = match suggest(&name, known.iter().map(String::as_str)) {
                Some(s) => format!(
                    "did you mean `{s}`? registered functions: {}",
                    known.join(", ")
                ),
                None => format!("registered functions: {}", known.join(", ")),
            };
            let span = self.narrow(node, &name);
            self.report(
                Problem::at(span, format!("unknown function `{name}`"), "not registered")
                    .help(help),
            );
            return None;
        }
        Some(TaskKind::Fn { name, args })
    }

    fn http_kind(
        &mut self,
        key: &Node,
        entries: &Entries<'_>,
        command: Option<String>,
        what: &str,
    ) -> Option<TaskKind> {
        let get = |k: &str| value(entries, k);
        let cmd_node = get("command");
        let mut headers = match get("headers") {
            Some(v) => self.string_map(v, "headers", true)?,
            None => Vec::new(),
        };
        headers.shrink_to_fit();
        let (method, url, body, span) = match (command, get("url")) {
            (Some(_), Some(url_node)) => {
                self.report(
                    Problem::at(
                        url_node.span,
                        format!("{what} has both `command` and `url`"),
                        "second request",
                    )
                    .help(
                        "use either `command: METHOD URL [BODY]` or the `method`/`url`/`body` keys",
                    ),
                );
                return None;
            }
            (Some(c), None) => {
                let node = cmd_node?;
                let c = c.trim();
                let (method, rest) = c.split_once(char::is_whitespace).unwrap_or((c, ""));
                let rest = rest.trim_start();
                let (url, body) = match rest.split_once(char::is_whitespace) {
                    Some((u, b)) => (
                        u.to_string(),
                        Some(b.trim().to_string()).filter(|b| !b.is_empty()),
                    ),
                    None => (rest.to_string(), None),
                };
                (method.to_uppercase(), url, body, node.span)
            }
            (None, Some(url_node)) => {
                let url = self.string(url_node, "url")?;
                let method = match get("method") {
                    Some(m) => self.string(m, "method")?.to_uppercase(),
                    None => "GET".into(),
                };
                let body = match get("body") {
                    Some(b) => self.optional_string(b, "body")?,
                    None => None,
                };
                (method, url, body, url_node.span)
            }
            (None, None) => {
                self.missing(
                    key,
                    None,
                    &format!("{what} needs `command: METHOD URL [BODY]` or `url:`"),
                );
                return None;
            }
        };
        if !HTTP_METHODS.contains(&method.as_str()) {
            self.report(
                Problem::at(
                    span,
                    format!("unknown HTTP method `{method}`"),
                    "unknown method",
                )
                .help(format!("one of: {}", HTTP_METHODS.join(", "))),
            );
            return None;
        }
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            self.report(Problem::at(
                span,
                format!(
                    "`{}` is not an http:// or https:// URL",
                    crate::engine::secrets::redact_url(&url)
                ),
                "invalid URL",
            ));
            return None;
        }
        Some(TaskKind::Http(Box::new(HttpSpec {
            method,
            url,
            body,
            headers,
        })))
    }

    #[allow(clippy::too_many_arguments)]
    fn docker_kind(
        &mut self,
        key: &Node,
        entries: &Entries<'_>,
        command: Option<String>,
        env: &mut Vec<(String, String)>,
        workdir: &mut Option<String>,
        defaults: &Defaults,
        what: &str,
    ) -> Option<TaskKind> {
        let get = |k: &str| value(entries, k);
        let mut spec = DockerSpec {
            image: defaults.image.clone().unwrap_or_default(),
            command: command.clone(),
            volumes: Vec::new(),
            memory_mb: defaults.memory_mb,
            cpu_quota: defaults.cpu_quota,
            network: defaults.network.clone(),
            pull: defaults.pull,
        };
        // The seed system's form: the whole container spec as a JSON object in
        // `command`.
        if let Some(c) = command
            .as_deref()
            .filter(|c| c.trim_start().starts_with('{'))
        {
            let node = get("command")?;
            match serde_json::from_str::<JsonDocker>(c) {
                Ok(j) if j.has_nul() => {
                    self.report(nul_problem(node.span, "command"));
                    return None;
                }
                Ok(j) => {
                    if let Some(i) = j.image {
                        spec.image = i;
                    }
                    spec.command = j.command;
                    spec.volumes = j.volumes.unwrap_or_default();
                    spec.memory_mb = j.memory_mb.or(spec.memory_mb);
                    spec.cpu_quota = j.cpu_quota.or(spec.cpu_quota);
                    spec.network = j.network.or(spec.network.take());
                    if let Some(p) = j.pull {
                        spec.pull = p;
                    }
                    if let Some(w) = j.workdir {
                        *workdir = Some(w);
                    }
                    env.extend(j.env.unwrap_or_default());
                }
                Err(e) => {
                    self.report(
                        Problem::at(node.span, format!("invalid JSON container spec in `command`: {e}"), "invalid JSON")
                            .help("keys: image, command, env, volumes, memory_mb, cpu_quota, network, workdir, pull"),
                    );
                    return None;
                }
            }
        }
        if let Some(v) = get("image") {
            spec.image = self.string(v, "image")?;
        }
        if let Some(v) = get("volumes") {
            spec.volumes = self
                .string_list(v, "volumes")?
                .into_iter()
                .map(|(s, _)| s)
                .collect();
        }
        if let Some(v) = get("memory_mb") {
            spec.memory_mb = Some(self.uint(v, "memory_mb", u64::MAX / (1 << 20))?);
        }
        if let Some(v) = get("cpu_quota") {
            spec.cpu_quota = Some(self.cpu_quota(v)?);
        }
        if let Some(v) = get("network") {
            spec.network = self.optional_string(v, "network")?;
        }
        if let Some(v) = get("pull") {
            spec.pull = self.pull(v)?;
        }
        if spec.image.trim().is_empty() && !self.options.docker_image_optional {
            self.missing(key, None, &format!("`image` is required for docker {what}"));
            return None;
        }
        Some(TaskKind::Docker(Box::new(spec)))
    }
}

/// Whether `ancestor` is reachable from `task` along `depends_on` edges.
/// For each reference (in order), whether the task it reads from is upstream of the
/// task that uses it (`true` when either is unknown: that is reported apart).
///
/// One walk of the downstream edges per distinct referenced task, shared by all its
/// references, with one reachability table reused: a DAG whose 20,000 tasks all read
/// `t0` costs one walk, not one per reference.
fn references_upstream(
    refs: &[OutputRef],
    index: &HashMap<&str, usize>,
    upstream: &[Vec<usize>],
) -> Vec<bool> {
    let n = upstream.len();
    let mut downstream = vec![Vec::new(); n];
    for (task, ups) in upstream.iter().enumerate() {
        for &u in ups {
            downstream[u].push(task);
        }
    }
    let mut result = vec![true; refs.len()];
    let mut by_from: HashMap<usize, Vec<(usize, usize)>> = HashMap::new();
    for (i, r) in refs.iter().enumerate() {
        if let (Some(&from), Some(&user)) = (index.get(r.from.as_str()), index.get(r.task.as_str()))
        {
            by_from.entry(from).or_default().push((i, user));
        }
    }
    // Marked with the referenced task's number + 1, so the table needs no clearing.
    let mut reached = vec![0usize; n];
    let mut stack: Vec<usize> = Vec::new();
    for (from, users) in by_from {
        let stamp = from + 1;
        stack.clear();
        stack.extend(&downstream[from]);
        while let Some(t) = stack.pop() {
            if std::mem::replace(&mut reached[t], stamp) != stamp {
                stack.extend(&downstream[t]);
            }
        }
        for (i, user) in users {
            result[i] = reached[user] == stamp;
        }
    }
    result
}

/// The strings of a scalar or a list of scalars, without checks.
fn collect_strings(node: &Node) -> Vec<String> {
    match &node.kind {
        NodeKind::Scalar { value, .. } => vec![value.clone()],
        NodeKind::Seq(items) => items
            .iter()
            .filter_map(|i| i.as_scalar().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// A string holding a NUL character: no process can be given it (in its command
/// line, environment or working directory), so it is refused where it is written.
fn nul_problem(span: Span, key: &str) -> Problem {
    Problem::at(
        span,
        format!("`{key}` contains a NUL character (`\\0`)"),
        "NUL character",
    )
    .help("a NUL byte cannot be passed to a task; remove it")
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonDocker {
    image: Option<String>,
    command: Option<String>,
    env: Option<std::collections::BTreeMap<String, String>>,
    volumes: Option<Vec<String>>,
    memory_mb: Option<u64>,
    cpu_quota: Option<u64>,
    network: Option<String>,
    workdir: Option<String>,
    pull: Option<PullPolicy>,
}

impl JsonDocker {
    /// Whether any string of the spec holds a NUL character.
    fn has_nul(&self) -> bool {
        let strings = [&self.image, &self.command, &self.network, &self.workdir];
        strings
            .iter()
            .any(|s| s.as_deref().is_some_and(|s| s.contains('\0')))
            || self
                .env
                .iter()
                .flatten()
                .any(|(k, v)| k.contains('\0') || v.contains('\0'))
            || self.volumes.iter().flatten().any(|v| v.contains('\0'))
    }
}

#[cfg(test)]
mod fuzz_tests {
    //! The loader never panics, whatever it is given: random bytes, and random
    //! documents made of the pieces DAG files are made of.

    use proptest::prelude::*;

    use super::{LoadOptions, load_bytes};

    fn piece() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "name: ",
            "tasks:",
            "\n",
            "  ",
            "    ",
            "a",
            "b",
            ": ",
            "- ",
            "[",
            "]",
            "{",
            "}",
            ", ",
            "command: ",
            "depends_on: ",
            "type: fn",
            "type: http",
            "type: docker",
            "${{ params.x }}",
            "${{ tasks.a.output }}",
            "${{",
            "}}",
            "&x ",
            "*x",
            "<<: ",
            "'",
            "\"",
            "#",
            "retries: 3",
            "timeout: 1s",
            "trigger_rule: one_failed",
            "params: {x: 1}",
            "env:",
            "~",
            "null",
            "true",
            "1.5",
            "-3",
            "\t",
            "\\",
            "é",
            "secret_env: [A]",
            "---",
            "...",
            "? ",
            "!tag ",
            "|",
            ">",
        ])
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = load_bytes("fuzz.yaml", &bytes, &LoadOptions::default());
        }

        #[test]
        fn random_dag_like_documents_never_panic(pieces in proptest::collection::vec(piece(), 0..80)) {
            let text = pieces.concat();
            if let Err(super::LoadError::Invalid(invalid)) = load_bytes("fuzz.yaml", text.as_bytes(), &LoadOptions::default()) {
                // Rendering the problems must not panic either.
                let _ = invalid.reports();
            }
        }
    }
}

#[cfg(test)]
mod scale_tests {
    //! Checks that must stay near-linear in the number of tasks (attack pass on
    //! issue 13: both took tens of seconds on 10,000–20,000 tasks).

    use std::fmt::Write;
    use std::time::{Duration, Instant};

    use super::{LoadError, LoadOptions, load_str};

    const TASKS: usize = 10_000;
    /// Generous, even for a debug build on a busy machine: the quadratic versions
    /// took 10 s and more.
    const BOUND: Duration = Duration::from_secs(3);

    #[test]
    fn many_references_to_one_upstream_task_are_checked_with_one_walk() {
        let mut text = String::from("name: c\ntasks:\n  t0: {command: 'true'}\n");
        for i in 1..TASKS {
            writeln!(
                text,
                "  t{i}: {{command: 'echo ${{{{ tasks.t0.outputs.k }}}}', depends_on: [t{}]}}",
                i - 1
            )
            .unwrap();
        }
        let start = Instant::now();
        let dag = load_str("c.yaml", &text, &LoadOptions::default());
        assert!(dag.is_ok(), "{:?}", dag.err().map(|e| e.to_string()));
        assert!(start.elapsed() < BOUND, "took {:?}", start.elapsed());
    }

    #[test]
    fn many_references_to_unknown_tasks_are_reported_quickly() {
        // Not ASCII: spans are then counted in characters, not bytes.
        let mut text = String::from("name: c # é\ntasks:\n");
        for i in 0..TASKS {
            writeln!(
                text,
                "  task_number_{i}: {{command: 'echo ${{{{ tasks.zzz_{i}.outputs.k }}}}'}}"
            )
            .unwrap();
        }
        let start = Instant::now();
        let err = load_str("c.yaml", &text, &LoadOptions::default());
        assert!(matches!(err, Err(LoadError::Invalid(_))));
        assert!(start.elapsed() < BOUND, "took {:?}", start.elapsed());
    }
}
