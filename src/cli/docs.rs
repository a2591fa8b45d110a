//! Generated documentation: shell completions and man pages. The copies committed
//! under `completions/` and `man/` are checked against these by the tests.

use std::path::Path;

use clap::CommandFactory;

use super::args::Cli;
use super::exit::{self, CliError};
use super::output;
use crate::engine::store::StateStore;

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

/// Candidates for a run id: the runs in the state store (`$DAG_HOME`, else the
/// platform data directory), newest first.
pub fn run_id_candidates() -> Vec<clap_complete::CompletionCandidate> {
    let Some(dir) = crate::embed::default_state_dir() else {
        return Vec::new();
    };
    let Ok(store) = crate::backends::file_store::FileStore::open_existing(&dir) else {
        return Vec::new();
    };
    let mut ids = store.run_ids().unwrap_or_default();
    ids.reverse();
    ids.into_iter()
        .map(|id| {
            let help = store
                .load_run(&id)
                .ok()
                .map(|r| format!("{} {}", r.dag, r.state));
            clap_complete::CompletionCandidate::new(id).help(help.map(Into::into))
        })
        .collect()
}

/// Candidates for a task id: the tasks of the DAG file named on the command line
/// being completed (`dag run FILE --only <TAB>`), or of the run (`dag retry RUN
/// --task <TAB>`).
pub fn task_id_candidates() -> Vec<clap_complete::CompletionCandidate> {
    let words: Vec<String> = std::env::args().collect();
    let after = |cmd: &str| {
        words
            .iter()
            .position(|w| w == cmd)
            .and_then(|i| words[i + 1..].iter().find(|w| !w.starts_with('-')))
            .cloned()
    };
    let ids: Vec<String> = if let Some(file) = after("run") {
        let options = crate::engine::validate::LoadOptions::default();
        match crate::engine::validate::load_file(Path::new(&file), &options) {
            Ok(dag) => dag.spec.tasks.iter().map(|t| t.id.clone()).collect(),
            Err(_) => Vec::new(),
        }
    } else if let Some(run) = after("retry") {
        crate::embed::default_state_dir()
            .and_then(|d| crate::backends::file_store::FileStore::open_existing(&d).ok())
            .and_then(|s| crate::engine::store::StateStore::load_run(&s, &run).ok())
            .map(|r| r.tasks.into_iter().map(|t| t.id).collect())
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    ids.into_iter()
        .map(clap_complete::CompletionCandidate::new)
        .collect()
}
