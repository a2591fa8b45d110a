//! What the user typed: clap definitions of every command and flag.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Run YAML DAG workflows: shell, HTTP, Docker and Rust tasks, locally or across
/// machines.
#[derive(Debug, Parser)]
#[command(name = "dag", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,

    /// Directory of the file state store [default: $DAG_HOME, else the platform
    /// data directory, e.g. ~/.local/share/dag]
    #[arg(long, global = true, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a DAG file.
    Run(RunArgs),
    /// Check DAG files and report every problem.
    Validate(ValidateArgs),
    /// Show the state of a run (the latest one by default).
    Status(StatusArgs),
    /// List past runs, newest first.
    Runs(RunsArgs),
    /// Print the logs of a run's tasks.
    Logs(LogsArgs),
}

/// `dag run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The DAG file.
    pub file: PathBuf,

    /// How tasks are executed.
    #[arg(long, value_enum, default_value_t = ExecutorArg::Local)]
    pub executor: ExecutorArg,

    /// Most tasks running at once [default: number of CPUs].
    #[arg(long, short = 'p', value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub parallel: Option<u32>,

    /// Override a param: KEY=VALUE (repeatable).
    #[arg(long = "param", value_name = "KEY=VALUE", value_parser = parse_param)]
    pub params: Vec<(String, String)>,

    /// Run only this task and everything upstream of it (repeatable).
    #[arg(long = "only", value_name = "TASK")]
    pub only: Vec<String>,

    /// Stop scheduling new tasks after the first task failure.
    #[arg(long)]
    pub fail_fast: bool,

    /// Where run state is kept.
    #[arg(long, value_enum, default_value_t = StateArg::File)]
    pub state: StateArg,

    /// What to print on stdout when the run ends.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputArg::Table)]
    pub output: OutputArg,

    /// Stream task output live, each line prefixed with its task id.
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

/// `--executor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExecutorArg {
    /// One task at a time, in a fixed order.
    Sequential,
    /// Up to --parallel tasks at once on this machine.
    Local,
}

/// `--state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StateArg {
    /// Files under the state directory.
    File,
}

/// `--output`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputArg {
    /// A result table.
    Table,
    /// One JSON document.
    Json,
    /// Nothing; the exit code tells.
    Quiet,
}

/// `dag validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// DAG files to check.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// `dag status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The run [default: the latest run].
    pub run_id: Option<String>,

    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputArg::Table)]
    pub output: OutputArg,
}

/// `dag runs`.
#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Only runs of this DAG.
    #[arg(long, value_name = "NAME")]
    pub dag: Option<String>,

    /// At most this many runs.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub limit: usize,

    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputArg::Table)]
    pub output: OutputArg,
}

/// `dag logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The run.
    pub run_id: String,

    /// Only this task [default: every task].
    pub task: Option<String>,

    /// Only this attempt [default: every attempt].
    #[arg(long, value_name = "N")]
    pub attempt: Option<u32>,

    /// Keep printing new output until the run ends.
    #[arg(long, short = 'f')]
    pub follow: bool,
}

fn parse_param(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, found `{s}`")),
    }
}
