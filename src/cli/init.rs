//! `dag init [NAME]`: a commented starter DAG file that validates and runs as
//! written (it needs only a shell), showing the keys a first pipeline uses.

use std::path::Path;

use super::args::InitArgs;
use super::exit::{self, CliError};
use super::output;

/// The starter file; `{name}` is the DAG's name.
const STARTER: &str = r#"# A DAG for dag: run it with `dag run`, check it with `dag validate`, see its
# graph with `dag graph dag.yaml`. The README describes every key.
name: {name}
description: A starter pipeline - fetch, process each region in parallel, report.

# Values a run can change: dag run -p greeting=hi
params:
  greeting: hello

# Defaults for every task (each task may set its own).
defaults:
  timeout: 5m
  retries: 1
  retry_delay: 2s

tasks:
  fetch:
    # A shell command. What a task appends to $DAG_OUTPUT as KEY=VALUE lines
    # are its outputs, which later tasks read as ${{ tasks.ID.outputs.KEY }}.
    command: |
      echo "${{ params.greeting }} from fetch"
      echo 'regions=["north", "south", "east"]' >> "$DAG_OUTPUT"

  process:
    # One instance per item of the list (process.0, process.1, ...), run in
    # parallel, each retried on its own.
    depends_on: [fetch]
    for_each: ${{ tasks.fetch.outputs.regions }}
    command: echo "processing ${{ item }}"

  report:
    # Runs once every instance has succeeded (the trigger rule all_success).
    depends_on: [process]
    command: echo "all regions processed"

  cleanup:
    # Runs whatever happened upstream.
    depends_on: [report]
    trigger_rule: all_done
    command: echo "cleaning up"
"#;

/// `dag init`.
pub fn init(args: InitArgs) -> Result<u8, CliError> {
    let name = match args.name {
        Some(n) => n,
        None => default_name(),
    };
    if !crate::engine::validate::is_valid_name(&name) {
        return Err(CliError::usage(
            format!("`{}` cannot name a DAG", crate::engine::text::printable(&name)),
            Some("a DAG's name is made of letters, digits, `_`, `-` and `.`: give one, e.g. `dag init etl`".into()),
        ));
    }
    let text = STARTER.replace("{name}", &name);
    write_new(&args.file, &text)?;
    output::print(&format!(
        "wrote {}: run it with `dag run{}`\n",
        args.file.display(),
        if args.file == Path::new(super::setup::DEFAULT_FILE) {
            String::new()
        } else {
            format!(" {}", args.file.display())
        }
    ))?;
    Ok(exit::SUCCESS)
}

/// The current directory's name made a DAG name (`my app` → `my-app`), else
/// `pipeline`.
fn default_name() -> String {
    let dir = std::env::current_dir().ok();
    let base = dir
        .as_deref()
        .and_then(Path::file_name)
        .and_then(|n| n.to_str())
        .unwrap_or("");
    let name: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let name = name.trim_matches('-').to_string();
    if crate::engine::validate::is_valid_name(&name) {
        name
    } else {
        "pipeline".to_string()
    }
}

/// Writes a file that must not exist yet (never overwriting one, nor following a
/// link planted there).
fn write_new(path: &Path, text: &str) -> Result<(), CliError> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => CliError::usage(
                format!("{} exists already", path.display()),
                Some(
                    "dag init writes a new file only: remove it, or give another with --file"
                        .into(),
                ),
            ),
            _ => CliError::usage(format!("cannot write {}: {e}", path.display()), None),
        })?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| CliError::Infrastructure(format!("cannot write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_starter_file_is_a_valid_dag() {
        let text = STARTER.replace("{name}", "starter");
        let dag = crate::engine::validate::load_str(
            "dag.yaml",
            &text,
            &crate::engine::validate::LoadOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(dag.spec.name, "starter");
    }
}
