//! Generated documentation: shell completions and man pages. The copies committed
//! under `completions/` and `man/` are checked against these by the tests.

use std::path::Path;

use clap::CommandFactory;

use super::args::Cli;
use super::exit::{self, CliError};
use super::output;

/// The completion script for `shell`.
pub fn completion(shell: clap_complete::Shell) -> String {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "dag", &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// File name of the committed completion script for `shell`.
pub fn completion_file(shell: clap_complete::Shell) -> &'static str {
    use clap_complete::Shell;
    match shell {
        Shell::Bash => "dag.bash",
        Shell::Zsh => "_dag",
        Shell::Fish => "dag.fish",
        Shell::PowerShell => "_dag.ps1",
        Shell::Elvish => "dag.elv",
        _ => "dag.completion",
    }
}

/// `dag completions SHELL`.
pub fn completions(shell: clap_complete::Shell) -> Result<u8, CliError> {
    output::print(&completion(shell))?;
    Ok(exit::SUCCESS)
}

/// `dag man --out DIR`: `dag.1` and `dag-<command>.1` for each command.
pub fn man(out: &Path) -> Result<u8, CliError> {
    std::fs::create_dir_all(out).map_err(CliError::Output)?;
    clap_mangen::generate_to(Cli::command(), out).map_err(CliError::Output)?;
    output::print(&format!("wrote man pages to {}\n", out.display()))?;
    Ok(exit::SUCCESS)
}
