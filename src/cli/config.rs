//! The optional config file: defaults for the command line, below flags and
//! environment variables (flags > environment > config file > built-in defaults).
//!
//! ```yaml
//! # ~/.config/dag/config.yaml (or --config FILE, or $DAG_CONFIG)
//! state_dir: /srv/dag         # as $DAG_HOME
//! nats: nats://nats:4222      # as $NATS_URL
//! nats_replicas: 3            # as $DAG_NATS_REPLICAS (--replicas)
//! executor: local             # as $DAG_EXECUTOR
//! parallel: 8                 # as $DAG_PARALLEL
//! color: auto                 # as $DAG_COLOR
//! docker_image: python:3.12    # as $DAG_DOCKER_IMAGE (also docker_network,
//!                              # docker_memory_mb, docker_cpu_quota)
//! docker_volumes: [/data:/data:ro]  # as $DAG_DOCKER_VOLUMES, `;`-separated
//! pools: { db: 2, gpu: 1 }     # as $DAG_POOLS (`db=2,gpu=1`; `--pool` adds to them)
//! ```

use std::ffi::OsString;
use std::path::PathBuf;

use super::exit::CliError;
use crate::engine::capped_read::{ReadError, STREAM_IDLE, read_capped};
use crate::engine::validate::{InvalidDag, Problem};
use crate::engine::yaml::{self, NodeKind, Span};

/// The largest config file read: a handful of settings fit in far less.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// Config keys and the environment variables they stand for.
const KEYS: &[(&str, &str)] = &[
    ("state_dir", "DAG_HOME"),
    ("nats", "NATS_URL"),
    ("nats_replicas", "DAG_NATS_REPLICAS"),
    ("executor", "DAG_EXECUTOR"),
    ("parallel", "DAG_PARALLEL"),
    ("color", "DAG_COLOR"),
    ("docker_image", "DAG_DOCKER_IMAGE"),
    ("docker_network", "DAG_DOCKER_NETWORK"),
    ("docker_memory_mb", "DAG_DOCKER_MEMORY_MB"),
    ("docker_cpu_quota", "DAG_DOCKER_CPU_QUOTA"),
    ("docker_volumes", "DAG_DOCKER_VOLUMES"),
    ("pools", "DAG_POOLS"),
];

/// The config file named by `--config FILE` in `args`, else `$DAG_CONFIG`, else the
/// platform config directory's `dag/config.yaml` (when it exists).
fn path(args: &[OsString]) -> (Option<PathBuf>, bool) {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let a = a.to_string_lossy();
        if a == "--config" {
            return (it.next().map(PathBuf::from), true);
        }
        if let Some(p) = a.strip_prefix("--config=") {
            return (Some(PathBuf::from(p)), true);
        }
    }
    if let Some(p) = std::env::var_os("DAG_CONFIG").filter(|p| !p.is_empty()) {
        return (Some(PathBuf::from(p)), true);
    }
    let default =
        directories::ProjectDirs::from("", "", "dag").map(|d| d.config_dir().join("config.yaml"));
    (default, false)
}

/// A setting the config file gave (and no flag or variable overrode): where it
/// is, for errors about its value.
#[derive(Clone, Debug)]
pub struct Given {
    pub key: &'static str,
    /// Where its value is in the file.
    pub span: Span,
    pub var: &'static str,
    pub value: String,
}

/// The settings [`apply`] took from the config file.
static GIVEN: std::sync::OnceLock<Vec<Given>> = std::sync::OnceLock::new();

/// The config file [`apply`] read: its name and text.
static FILE: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();

/// The problems of the config file `path` whose text is `text`, as the error
/// that shows them (the way a DAG file's are shown, with its lines).
fn invalid(path: &str, text: &str, problems: Vec<Problem>) -> CliError {
    CliError::Invalid(vec![InvalidDag {
        path: path.to_string(),
        source: text.to_string(),
        problems,
        also: Vec::new(),
    }])
}

/// A problem at `span` of the config file.
fn problem(span: Span, message: String, label: &str, help: Option<String>) -> Problem {
    Problem {
        message,
        labels: vec![(span, label.to_string())],
        help,
    }
}

/// A command-line error about a value the config file gave (clap reads it from
/// the variable the file set) told as the file's: its name, line and key, and
/// what is wrong with the value; `None` when the value came from elsewhere.
pub fn explain(err: &clap::Error, args: &[OsString]) -> Option<CliError> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if !matches!(
        err.kind(),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation
    ) {
        return None;
    }
    let value = match err.get(ContextKind::InvalidValue)? {
        ContextValue::String(v) => v.clone(),
        _ => return None,
    };
    let arg = match err.get(ContextKind::InvalidArg)? {
        ContextValue::String(a) => a.clone(),
        _ => return None,
    };
    let given = GIVEN.get()?.iter().find(|g| {
        g.value == value && std::env::var(g.var).is_ok_and(|v| v == g.value) && {
            // `--parallel <N>` for `parallel`, `--state-dir <DIR>` for
            // `state_dir`, `--docker-volume` for `docker_volumes`, `--replica`
            // for `nats_replicas`.
            let flag = format!("--{}", g.key.trim_start_matches("nats_").replace('_', "-"));
            let flag = flag.trim_end_matches('s');
            // ...and not given on the command line too.
            arg.starts_with(flag) && !args.iter().any(|a| a.to_string_lossy().starts_with(flag))
        }
    })?;
    // What clap says of the value, without its own framing.
    let rendered = err.render().to_string();
    let why = rendered
        .lines()
        .next()
        .and_then(|l| l.split_once("': ").map(|(_, w)| w.to_string()))
        .filter(|w| !w.is_empty());
    let possible = match err.get(ContextKind::ValidValue) {
        Some(ContextValue::Strings(v)) => Some(format!("one of: {}", v.join(", "))),
        _ => None,
    };
    let (path, text) = FILE.get()?;
    Some(invalid(
        path,
        text,
        vec![problem(
            given.span,
            format!(
                "`{}`: invalid value `{}`",
                given.key,
                crate::engine::text::printable(&shortened(&value)),
            ),
            why.as_deref().unwrap_or("invalid value"),
            possible,
        )],
    ))
}

/// The most characters of a bad value an error message repeats (the file's line
/// is shown under it).
const MAX_SHOWN_VALUE: usize = 80;

/// `value`, cut to its first [`MAX_SHOWN_VALUE`] characters and `…` when longer.
fn shortened(value: &str) -> String {
    match value.char_indices().nth(MAX_SHOWN_VALUE) {
        Some((at, _)) => format!("{}…", &value[..at]),
        None => value.to_string(),
    }
}

/// Reads the config file and sets, for each key it has, the environment variable
/// that stands for it, unless that variable is already set: clap's `env` fallback
/// then gives the precedence flags > environment > config file.
pub fn apply(args: &[OsString]) -> Result<(), CliError> {
    let (path, explicit) = path(args);
    let Some(path) = path else { return Ok(()) };
    let cannot = |why: String| {
        CliError::usage(
            format!("cannot read config file {}: {why}", path.display()),
            None,
        )
    };
    // Capped and bounded in time like the DAG file: `DAG_CONFIG=/dev/zero` or a FIFO
    // must not grow or wait without end.
    let bytes = match read_capped(&path, MAX_CONFIG_BYTES, STREAM_IDLE) {
        Ok(b) => b,
        Err(ReadError::Io(e)) if !explicit && e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(());
        }
        Err(e) => return Err(cannot(e.to_string())),
    };
    let text = String::from_utf8(bytes).map_err(|_| cannot("not UTF-8 text".into()))?;
    let name = path.display().to_string();
    let root = yaml::parse(&text).map_err(|e| {
        let message = format!("not a YAML map of settings: {}", e.message);
        invalid(
            &name,
            &text,
            vec![problem(Span::at(e.pos), message, "here", None)],
        )
    })?;
    let Some(root) = root else { return Ok(()) };
    let NodeKind::Map(entries) = &root.kind else {
        let message = "expected a map of settings (`key: value` lines)".to_string();
        return Err(invalid(
            &name,
            &text,
            vec![problem(root.span, message, "not a map", None)],
        ));
    };
    let mut given = Vec::new();
    let mut problems = Vec::new();
    for (k, v) in entries {
        let key = k.as_scalar().unwrap_or("");
        let Some(&(name, var)) = KEYS.iter().find(|(name, _)| *name == key) else {
            let names: Vec<&str> = KEYS.iter().map(|(n, _)| *n).collect();
            let help = match crate::engine::suggest::suggest(key, names.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("known settings: {}", names.join(", ")),
            };
            let message = format!("unknown setting `{}`", crate::engine::text::printable(key));
            problems.push(problem(k.span, message, "unknown", Some(help)));
            continue;
        };
        // `docker_volumes` may be a list; the variable holds it `;`-separated (a
        // volume's own options are separated by `,`).
        let list = match &v.kind {
            NodeKind::Map(entries) if key == "pools" => entries
                .iter()
                .map(|(k, v)| Some(format!("{}={}", k.as_scalar()?, v.as_scalar()?)))
                .collect::<Option<Vec<String>>>()
                .map(|items| items.join(",")),
            NodeKind::Seq(items) if key == "docker_volumes" => items
                .iter()
                .map(|i| i.as_scalar())
                .collect::<Option<Vec<&str>>>()
                .map(|items| items.join(";")),
            _ => None,
        };
        let Some(value) = list.as_deref().or(v.as_scalar()) else {
            let message = format!("`{key}` must be a single value");
            problems.push(problem(v.span, message, "not a single value", None));
            continue;
        };
        if std::env::var_os(var).is_none() {
            // SAFETY: called first thing in `main`, before any thread exists.
            unsafe { std::env::set_var(var, value) };
            given.push(Given {
                key: name,
                span: v.span,
                var,
                value: value.to_string(),
            });
        }
    }
    if !problems.is_empty() {
        return Err(invalid(&name, &text, problems));
    }
    let _ = GIVEN.set(given);
    let _ = FILE.set((name, text));
    Ok(())
}
