//! Loading a DAG file: YAML → node tree → checked [`Dag`], collecting every problem
//! with the place it comes from, so that one run of `dag validate` reports them all.
//!
//! The YAML tree is [`super::yaml`]; the keys and their types are described once in
//! [`super::format`]. Here: `checker` reads values of any kind from the tree and
//! reports problems, `dag` checks the top level and the graph, `task` the keys
//! every task has, `kinds` what each task type adds; `problem` renders problems.

mod cache;
mod pools;
mod subdag;

pub use subdag::{Caller, MAX_DEPTH, resolve as resolve_sub_dag};

pub use pools::{MAX_POOL_SIZE, env_pools, is_pool_name, parse_pool};
mod checker;
mod dag;
mod kinds;
mod map;
mod problem;
mod task;
#[cfg(test)]
mod tests;

use std::path::Path;

use super::capped_read::{self, ReadError};
use super::graph::Dag;
use super::yaml::{self, Pos, Span};
use checker::Checker;
pub use problem::{InvalidDag, LoadError, Problem};

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
    /// `--pool NAME=SIZE` and the config file's `pools`: pools added to (or
    /// resized in) the file's.
    pub pools: Vec<(String, u32)>,
    /// The files calling this one as a sub-DAG, outermost first (empty for a
    /// file run or validated itself): a file among them is a cycle.
    pub calls: Vec<Caller>,
    /// The texts of sub-DAG files by path (a run's record keeps them): read
    /// there instead of from the disk; `None` reads the disk.
    pub sub_sources: Option<std::sync::Arc<crate::engine::graph::SubSources>>,
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
                also: Vec::new(),
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
        file: name,
        sub_dags: Default::default(),
        sub_sources: Default::default(),
        also: Vec::new(),
        char_marks: std::cell::OnceCell::new(),
        options,
        problems: Vec::new(),
        params: Vec::new(),
        current_task: None,
        instance: None,
        output_refs: Vec::new(),
        secret_env: Vec::new(),
        pools: Vec::new(),
    };
    match checker.dag(&root) {
        Some(spec) if checker.problems.is_empty() => {
            let mut dag = Dag::new(spec);
            dag.source = Some(text.into());
            dag.sub_sources = std::sync::Arc::new(checker.sub_sources);
            Ok(dag)
        }
        _ => {
            let mut problems = checker.problems;
            problems.sort_by_key(|p| p.labels.first().map_or(0, |(s, _)| s.start.index));
            let mut invalid = InvalidDag {
                path: name.to_string(),
                source: text.to_string(),
                problems,
                also: checker.also,
            };
            invalid.also.dedup_by(|a, b| a.path == b.path);
            Err(LoadError::Invalid(Box::new(invalid)))
        }
    }
}

fn invalid(name: &str, source: String, problems: Vec<Problem>) -> LoadError {
    LoadError::Invalid(Box::new(InvalidDag {
        path: name.to_string(),
        source,
        problems,
        also: Vec::new(),
    }))
}
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
