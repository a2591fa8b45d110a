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
    for file in &args.files {
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
