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
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    write_pages(cmd, out).map_err(CliError::Output)?;
    output::print(&format!("wrote man pages to {}\n", out.display()))?;
    Ok(exit::SUCCESS)
}

/// The page of `cmd` and of each of its commands, each as clap_mangen renders it
/// from the same source as `--help`, then EXIT STATUS, ENVIRONMENT and FILES.
fn write_pages(cmd: clap::Command, out: &Path) -> std::io::Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned() {
        write_pages(sub, out)?;
    }
    let man = clap_mangen::Man::new(cmd);
    let mut page = Vec::new();
    man.render(&mut page)?;
    page.extend_from_slice(extra_sections().as_bytes());
    std::fs::write(out.join(man.get_filename()), page)
}

/// The variables `dag` reads (beside those each option names in OPTIONS).
const ENVIRONMENT: &[(&str, &str)] = &[
    ("DAG_HOME", "the file store's directory (--state-dir)"),
    ("DAG_CONFIG", "the config file (--config)"),
    (
        "DAG_STATE",
        "where run state is kept: file or nats (--state)",
    ),
    (
        "NATS_URL, NATS_CREDS",
        "the NATS server and credentials (--nats, --nats-creds)",
    ),
    (
        "DAG_POOLS",
        "pools to add to a DAG's or resize, NAME=SIZE,... (as --pool; the config file's pools)",
    ),
    (
        "DAG_EXECUTOR, DAG_PARALLEL",
        "how runs are executed (--executor, --parallel)",
    ),
    (
        "DAG_COLOR, NO_COLOR, CI, TERM=dumb",
        "colour and progress bars (--color)",
    ),
    (
        "DAG_DOCKER_IMAGE, DAG_DOCKER_NETWORK, DAG_DOCKER_MEMORY_MB, DAG_DOCKER_CPU_QUOTA, DAG_DOCKER_VOLUMES",
        "defaults of docker tasks",
    ),
    ("DAG_UI_TOKEN", "the token of dag ui (--token)"),
    (
        "DAG_REAP_ORPHANS=1",
        "wait for the zombies tasks leave behind, as dag does as PID 1",
    ),
];

/// The files `dag` reads and writes.
const FILES: &[(&str, &str)] = &[
    (
        "dag.yaml",
        "the DAG file dag run runs when given none (dag init writes one)",
    ),
    (
        "~/.config/dag/config.yaml",
        "defaults for the options, below flags and variables",
    ),
    (
        "~/.local/share/dag/runs/RUN_ID/",
        "a run in the file store: run.json, events.jsonl and each attempt's log ($DAG_HOME instead when set)",
    ),
];

/// EXIT STATUS, ENVIRONMENT and FILES, in roff.
fn extra_sections() -> String {
    let esc = |s: &str| s.replace('\\', "\\e").replace('-', "\\-");
    let mut out = String::from(".SH \"EXIT STATUS\"\n");
    for (code, meaning) in exit::CODES {
        out.push_str(&format!(".TP\n\\fB{code}\\fR\n{}\n", esc(meaning)));
    }
    out.push_str(".SH ENVIRONMENT\n");
    for (name, what) in ENVIRONMENT {
        out.push_str(&format!(".TP\n\\fB{}\\fR\n{}\n", esc(name), esc(what)));
    }
    out.push_str(".SH FILES\n");
    for (name, what) in FILES {
        out.push_str(&format!(".TP\n\\fI{}\\fR\n{}\n", esc(name), esc(what)));
    }
    out
}
