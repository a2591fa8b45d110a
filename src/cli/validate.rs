//! `dag validate FILE...`: check every file, report every problem, exit 0 or 2.

use super::args::ValidateArgs;
use super::exit::{self, CliError};
use super::output::{self, Style};
use super::setup;
use crate::engine::validate::{LoadError, load_file};

/// Runs `dag validate` and returns the exit code.
pub fn validate(
    args: ValidateArgs,
    runners: &crate::engine::runner::Runners,
) -> Result<u8, CliError> {
    let mut options = setup::load_options(runners, Vec::new());
    // `validate` checks the file format; whether this build can run every task type
    // is for `dag run` to say.
    options.task_types = None;
    let style = Style::detect();
    let mut ok = true;
    let mut files = Vec::new();
    for f in &args.files {
        if f == std::path::Path::new("-") {
            files.push(setup::dag_file(Some(f))?);
            continue;
        }
        match expand(f) {
            Some(found) if found.is_empty() => {
                ok = false;
                output::eprint(&format!("error: no file matches {}\n", f.display()));
            }
            Some(found) => files.extend(found),
            None => files.push(f.clone()),
        }
    }
    for file in &files {
        match load_file(file, &options) {
            Ok(dag) => output::print(&format!(
                "{}: ok ({}, {} task{})\n",
                file.display(),
                dag.spec.name,
                dag.len(),
                if dag.len() == 1 { "" } else { "s" }
            ))?,
            Err(LoadError::Invalid(invalid)) => {
                ok = false;
                output::eprint(&output::render_invalid(&invalid, style.color));
            }
            Err(e) => {
                ok = false;
                output::eprint(&output::render_error(&CliError::Load(e), style.color));
            }
        }
    }
    Ok(if ok { exit::SUCCESS } else { exit::USAGE })
}

/// Files matching a `*`/`?` pattern in the last part of `path`, sorted; `None` when
/// `path` is no pattern.
fn expand(path: &std::path::Path) -> Option<Vec<std::path::PathBuf>> {
    let name = path.file_name()?.to_str()?;
    if !name.contains(['*', '?']) {
        return None;
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let mut found: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| {
                    e.file_name()
                        .to_str()
                        .is_some_and(|n| matches(name.as_bytes(), n.as_bytes()))
                })
                .map(|e| dir.join(e.file_name()))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    Some(found)
}

/// Glob matching of `*` (any run) and `?` (one character) on bytes.
fn matches(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            matches(&pattern[1..], name) || (!name.is_empty() && matches(pattern, &name[1..]))
        }
        (Some(b'?'), Some(_)) => matches(&pattern[1..], &name[1..]),
        (Some(p), Some(n)) if p == n => matches(&pattern[1..], &name[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn globs() {
        assert!(matches(b"*.yaml", b"etl.yaml"));
        assert!(matches(b"e?l.y*", b"etl.yaml"));
        assert!(!matches(b"*.yaml", b"etl.yml"));
        assert!(matches(b"*", b""));
    }
}
