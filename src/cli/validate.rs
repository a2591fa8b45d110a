//! `dag validate FILE...`: check every file, report every problem, exit 0 or 2.

use super::args::{ValidateArgs, ValidateFormat};
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
    options.pools = setup::pools(&args.pools)?;
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
                let none = CliError::usage(format!("no file matches {}", f.display()), None);
                output::eprint(&output::render_error(&none, style.color));
            }
            Some(found) => files.extend(found),
            None => files.push(f.clone()),
        }
    }
    let mut docs = Vec::new();
    for file in &files {
        let shown = file.display().to_string();
        let result = load_file(file, &options);
        ok &= result.is_ok();
        match args.format {
            ValidateFormat::Text => match result {
                Ok(dag) => output::print(&format!(
                    "{shown}: ok ({}, {} task{})\n",
                    dag.spec.name,
                    dag.len(),
                    if dag.len() == 1 { "" } else { "s" }
                ))?,
                Err(LoadError::Invalid(invalid)) => {
                    for one in invalid.flatten() {
                        output::eprint(&output::render_invalid(&one, style.color));
                    }
                }
                Err(e) => output::eprint(&output::render_error(&CliError::Load(e), style.color)),
            },
            ValidateFormat::Json => docs.extend(file_json(&shown, result)),
            ValidateFormat::Github => output::print(&annotations(&shown, result))?,
        }
    }
    if args.format == ValidateFormat::Json {
        let doc = serde_json::json!({ "version": 1, "ok": ok, "files": docs });
        output::print_json(&doc)?;
    }
    Ok(if ok { exit::SUCCESS } else { exit::USAGE })
}

/// One problem's place: line and column (from 1) of its first label's start and
/// end, when it has one.
fn place(p: &crate::engine::validate::Problem) -> Option<(u32, u32, u32, u32)> {
    p.labels
        .first()
        .map(|(s, _)| (s.start.line, s.start.col + 1, s.end.line, s.end.col + 1))
}

/// What `dag validate --format json` says of one file (and of each invalid
/// sub-DAG file it calls, apart).
fn file_json(
    shown: &str,
    result: Result<crate::engine::graph::Dag, LoadError>,
) -> Vec<serde_json::Value> {
    match result {
        Ok(dag) => vec![serde_json::json!({
            "file": shown, "ok": true, "name": dag.spec.name, "tasks": dag.len(), "problems": [],
        })],
        Err(LoadError::Invalid(invalid)) => invalid
            .flatten()
            .into_iter()
            .map(|invalid| {
                let problems: Vec<serde_json::Value> = invalid
                    .problems
                    .iter()
                    .map(|p| {
                        let at = place(p);
                        serde_json::json!({
                            "message": p.message,
                            "line": at.map(|a| a.0),
                            "column": at.map(|a| a.1),
                            "end_line": at.map(|a| a.2),
                            "end_column": at.map(|a| a.3),
                            "label": p.labels.first().map(|(_, l)| l),
                            "help": p.help,
                        })
                    })
                    .collect();
                serde_json::json!({ "file": invalid.path, "ok": false, "problems": problems })
            })
            .collect(),
        Err(e) => vec![serde_json::json!({
            "file": shown, "ok": false,
            "problems": [{ "message": CliError::Load(e).to_string(), "line": null, "column": null,
                           "end_line": null, "end_column": null, "label": null, "help": null }],
        })],
    }
}

/// GitHub Actions annotations for one file: an `::error` per problem, with its
/// place when it has one (nothing for a valid file).
fn annotations(shown: &str, result: Result<crate::engine::graph::Dag, LoadError>) -> String {
    // As GitHub's workflow commands escape: data `%`, CR and LF; property values
    // also `:` and `,`.
    let data = |s: &str| {
        s.replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    };
    let prop = |s: &str| data(s).replace(':', "%3A").replace(',', "%2C");
    let mut out = String::new();
    let mut say = |file: &str, at: Option<(u32, u32, u32, u32)>, message: String| {
        let mut props = format!("file={}", prop(file));
        if let Some((l, c, el, ec)) = at {
            props.push_str(&format!(",line={l},col={c},endLine={el},endColumn={ec}"));
        }
        out.push_str(&format!(
            "::error {props},title={}::{}\n",
            prop("dag validate"),
            data(&message)
        ));
    };
    match result {
        Ok(_) => {}
        Err(LoadError::Invalid(invalid)) => {
            for invalid in invalid.flatten() {
                for p in &invalid.problems {
                    let message = match &p.help {
                        Some(h) => format!("{}\nhelp: {h}", p.message),
                        None => p.message.clone(),
                    };
                    say(&invalid.path, place(p), message);
                }
            }
        }
        Err(e) => say(shown, None, CliError::Load(e).to_string()),
    }
    out
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
