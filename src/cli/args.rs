//! What the user typed: clap definitions of every command and flag.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::ArgValueCandidates;

use super::complete::{run_id_candidates, task_id_candidates};

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
    #[arg(long, global = true, value_name = "DIR", help_heading = GLOBAL)]
    pub state_dir: Option<PathBuf>,

    /// When to use colour (`NO_COLOR` turns it off; progress is `--progress`'s).
    #[arg(long, global = true, value_enum, env = "DAG_COLOR", hide_env_values = true, default_value_t = ColorArg::Auto, help_heading = GLOBAL)]
    pub color: ColorArg,

    /// A config file of defaults [default: $DAG_CONFIG, else e.g.
    /// ~/.config/dag/config.yaml]
    #[arg(long, global = true, value_name = "FILE", help_heading = GLOBAL)]
    pub config: Option<PathBuf>,

    /// Where run state is kept [default: nats for `--executor distributed`, else
    /// file].
    #[arg(
        long,
        global = true,
        value_enum,
        env = "DAG_STATE",
        hide_env_values = true,
        help_heading = GLOBAL
    )]
    pub state: Option<StateArg>,

    /// NATS connection (distributed runs, workers, `--state nats`).
    #[command(flatten)]
    pub nats: NatsArgs,
}

/// The heading of the options every command takes.
const GLOBAL: &str = "Global options";
/// The heading of the NATS connection options (every command takes them; the
/// distributed ones use them).
const NATS: &str = "NATS options";

/// `--progress`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProgressArg {
    /// Bars on a terminal, lines elsewhere.
    Auto,
    /// Bars on any terminal (CI or not), lines elsewhere.
    Always,
    /// No progress.
    Never,
}

/// `--color`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorArg {
    /// On a terminal, unless `NO_COLOR` or `CI` is set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a DAG file.
    #[command(
        after_long_help = "Examples:\n  dag run etl.yaml --parallel 8\n  dag run --param day=2026-11-30 --only transform   # dag.yaml of this directory\n  dag run etl.yaml --executor distributed --nats nats://nats:4222\n  dag run etl.yaml --dry-run -o json"
    )]
    Run(RunArgs),
    /// Check DAG files and report every problem.
    #[command(
        after_long_help = "Examples:\n  dag validate etl.yaml\n  dag validate 'dags/*.yaml' --format github"
    )]
    Validate(ValidateArgs),
    /// Show the state of a run (the latest one by default).
    #[command(after_long_help = "Examples:\n  dag status\n  dag status 20261130T1231 --watch")]
    Status(StatusArgs),
    /// List past runs, newest first, each run of a sub-DAG under its parent.
    #[command(
        after_long_help = "Examples:\n  dag runs --since 2h --status failed\n  dag runs prune --older-than 30d --dry-run"
    )]
    Runs(RunsArgs),
    /// Print the logs of a run's tasks.
    #[command(
        after_long_help = "Examples:\n  dag logs latest transform\n  dag logs 20261130T1231 build --attempt 2 --follow"
    )]
    Logs(LogsArgs),
    /// Write a run's report: counts, failed tasks with their log tails, the graph
    /// coloured by state, the task table.
    #[command(
        after_long_help = "Examples:\n  dag report >> \"$GITHUB_STEP_SUMMARY\"\n  dag report latest --format html -o run.html\n  dag report latest --format junit -o junit.xml"
    )]
    Report(ReportArgs),
    /// Run again what did not succeed in a run, under the same run id.
    #[command(
        after_long_help = "Examples:\n  dag retry latest\n  dag retry 20261130T1231 --task transform"
    )]
    Retry(RetryArgs),
    /// Run tasks of distributed runs, taken from NATS JetStream.
    #[command(
        after_long_help = "Examples:\n  dag worker --nats nats://nats:4222 --workers 8\n  dag worker --queue gpu --docker --allow-types docker"
    )]
    Worker(WorkerArgs),
    /// List the workers and the depth of each queue.
    Workers(WorkersArgs),
    /// Per queue: tasks waiting, running, the live workers serving it, and the
    /// tasks waiting where none does (what an autoscaler watches).
    Queues(WorkersArgs),
    /// Drive distributed runs that no process drives: runs submitted with `dag
    /// run --detach`, and runs whose driver died (taken over once its lease
    /// lapses). Any number of schedulers may share a deployment.
    #[command(
        after_long_help = "Examples:\n  dag scheduler --nats nats://nats:4222\n  dag run etl.yaml --executor distributed --detach && dag wait latest"
    )]
    Scheduler(SchedulerArgs),
    /// Wait for a run to end, showing its tasks as they change, and exit with the
    /// run's code (0 success, 1 failed, 130 cancelled).
    #[command(
        after_long_help = "Examples:\n  dag wait \"$(dag run etl.yaml --executor distributed --detach)\""
    )]
    Wait(WaitArgs),
    /// Stop a run: its `dag run` process and its tasks on every worker.
    #[command(after_long_help = "Examples:\n  dag cancel latest")]
    Cancel(CancelArgs),
    /// Show a DAG file's graph, or a run's with each task's state, as text,
    /// Graphviz DOT or Mermaid.
    #[command(
        after_long_help = "Examples:\n  dag graph etl.yaml --format dot | dot -Tsvg > etl.svg\n  dag graph latest"
    )]
    Graph(GraphArgs),
    /// Serve a web view of the runs in the state store: runs, each run's graph,
    /// timeline, tasks and logs (live), each DAG's history, the workers, and
    /// retry/cancel buttons.
    #[command(
        after_long_help = "Examples:\n  dag ui\n  dag ui --state nats --nats nats://nats:4222 --bind 0.0.0.0:8080 --token \"$(openssl rand -hex 16)\""
    )]
    Ui(UiArgs),
    /// Write a commented starter DAG file, dag.yaml, in the current directory.
    #[command(after_long_help = "Examples:\n  dag init etl && dag run")]
    Init(InitArgs),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
    /// Write man pages for dag and each command.
    Man(ManArgs),
    /// Print the JSON Schema of the DAG file format, for editors.
    Schema,
    /// List the pools of the runs going on, with their sizes, the tasks holding
    /// their slots and the tasks waiting for them (this machine's runs, or with
    /// `--state nats` the deployment's).
    Pools(PoolsArgs),
    /// List and remove the saved results of tasks with `cache:`: this machine's
    /// (beside the file store), or with `--state nats` the workers' (the NATS
    /// object store `dag_cache`).
    Cache(CacheArgs),
}

/// `dag graph`.
#[derive(Debug, Args)]
pub struct GraphArgs {
    /// The DAG file, or a run id (or `latest`) when no such file exists: then each
    /// task shows its state (coloured), and a mapped task's instances are one node.
    pub file: PathBuf,

    /// Output format.
    #[arg(long, value_enum, default_value_t = GraphFormat::Text)]
    pub format: GraphFormat,
}

/// `dag graph --format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// A readable tree of the tasks in order, with their dependencies.
    Text,
    /// Graphviz DOT (`dag graph f.yaml --format dot | dot -Tsvg > f.svg`).
    Dot,
    /// A Mermaid flowchart (for Markdown).
    Mermaid,
    /// JSON: the tasks (or, for a run, the nodes with their states) and what
    /// each waits for.
    Json,
}

/// `dag completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `dag man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Directory to write the pages to.
    #[arg(long, value_name = "DIR", default_value = "man")]
    pub out: PathBuf,
}

/// How to reach NATS.
#[derive(Debug, Clone, Args)]
pub struct NatsArgs {
    /// NATS server URL(s), comma-separated; `user:password@` or `token@` may come
    /// before the host; `tls://` requires TLS.
    #[arg(
        long = "nats",
        global = true,
        help_heading = NATS,
        value_name = "URL",
        env = "NATS_URL",
        hide_env_values = true,
        default_value = "nats://127.0.0.1:4222"
    )]
    pub url: String,

    /// A NATS credentials file (JWT and NKey seed).
    #[arg(
        long = "nats-creds",
        global = true,
        help_heading = NATS,
        value_name = "FILE",
        env = "NATS_CREDS",
        hide_env_values = true
    )]
    pub creds: Option<PathBuf>,

    /// A CA certificate (PEM) to trust for TLS to NATS.
    #[arg(long = "nats-ca", global = true,
        help_heading = NATS, value_name = "FILE")]
    pub ca: Option<PathBuf>,

    /// Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to
    /// 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1].
    #[arg(
        long = "replicas",
        global = true,
        help_heading = NATS,
        value_name = "N",
        env = "DAG_NATS_REPLICAS",
        hide_env_values = true,
        value_parser = crate::backends::nats::parse_replicas
    )]
    pub replicas: Option<usize>,
}

/// `dag worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Tasks run at once.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=i64::from(crate::backends::nats::worker::MAX_SLOTS)))]
    pub workers: u32,

    /// Timeout of tasks that set none.
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = parse_duration)]
    pub timeout: std::time::Duration,

    /// GPUs this worker gives to tasks with `gpus:`: a count (devices 0..N-1), or
    /// `auto` (those `nvidia-smi -L` lists, by UUID; none without nvidia-smi).
    /// A task needing more than are free waits in the queue [default: 0].
    #[arg(long, value_name = "N|auto", default_value = "0", allow_negative_numbers = true, value_parser = parse_gpus)]
    pub gpus: crate::backends::gpu::GpuArg,

    /// Run docker tasks (off by default: only workers started with --docker get them).
    #[arg(long)]
    pub docker: bool,

    /// A queue to serve (repeatable) [default: default].
    #[arg(long = "queue", value_name = "QUEUE")]
    pub queues: Vec<String>,

    /// Worker id [default: HOST-PID-RANDOM].
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// Task types this worker runs (comma-separated) [default: bash,http,fn,wasm,
    /// and docker with --docker]. Other tasks fail with the reason.
    #[arg(long, value_name = "TYPES", value_delimiter = ',')]
    pub allow_types: Vec<String>,

    /// Host paths docker tasks may bind-mount and wasm tasks may be granted (`dirs`):
    /// a volume or dir whose host path is not under one of these prefixes fails its
    /// task (repeatable; each an existing directory, resolved at start) [default: any].
    #[arg(long = "allow-volume", value_name = "PREFIX")]
    pub allow_volumes: Vec<PathBuf>,

    /// Networks docker tasks may name in `network:` (repeatable) [default: bridge,
    /// default, none, and the --docker-network]. `host` and `container:NAME` must be
    /// named to be allowed. Other tasks fail with the reason.
    #[arg(long = "allow-network", value_name = "NAME")]
    pub allow_networks: Vec<String>,

    /// On SIGTERM, how long running tasks may take to finish before they are
    /// stopped and handed back to the queue.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub shutdown_timeout: std::time::Duration,

    /// Exit (0) once no task has run here for this long, as after SIGTERM: for
    /// autoscalers that scale workers to zero [default: never].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub exit_when_idle: Option<std::time::Duration>,

    /// Serve Prometheus metrics (tasks by type, queue and state, durations,
    /// queue waits, running tasks, free slots, queue depths) at
    /// http://ADDR/metrics, e.g. 127.0.0.1:9090.
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<String>,

    /// What docker tasks run here leave open.
    #[command(flatten)]
    pub docker_defaults: DockerArgs,
}

/// `dag workers`.
#[derive(Debug, Args)]
pub struct WorkersArgs {
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputArg::Table)]
    pub output: OutputArg,
}

/// `dag pools`.
#[derive(Debug, Args)]
pub struct PoolsArgs {
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputArg::Table)]
    pub output: OutputArg,
}

/// `dag wait`.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// The run: its id, the start of one run's id, or `latest`.
    #[arg(add = ArgValueCandidates::new(run_id_candidates))]
    pub run_id: String,

    /// Output format: the task table as it changes, then the result as `dag run`
    /// prints it (`table`); the final record (`json`); nothing (`quiet`).
    #[arg(long, short = 'o', value_enum, default_value_t = OutputArg::Table)]
    pub output: OutputArg,
}

/// `dag scheduler`.
#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// Most runs this scheduler drives at once; further runs wait for another
    /// scheduler or a free place here.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_runs: u32,

    /// Serve Prometheus metrics of the attempts this scheduler hands out
    /// (started, retried, redelivered and finished by type, queue and state,
    /// durations, queue waits, running) and the deployment's queue depths, at
    /// http://ADDR/metrics, e.g. 127.0.0.1:9091.
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<String>,
}

/// `dag cancel`.
#[derive(Debug, Args)]
pub struct CancelArgs {
    /// The run: its id, the start of one run's id, or `latest`.
    #[arg(add = ArgValueCandidates::new(run_id_candidates))]
    pub run_id: String,
}

/// `dag init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The DAG's name [default: the current directory's name].
    pub name: Option<String>,

    /// Write it here instead.
    #[arg(long, value_name = "FILE", default_value = "dag.yaml")]
    pub file: PathBuf,
}

/// `dag ui`.
#[derive(Debug, Args)]
pub struct UiArgs {
    /// The address to listen on. Any address but a loopback one needs a token.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    pub bind: std::net::SocketAddr,

    /// A secret every request must carry (at least 16 letters, digits, `-`, `.`,
    /// `_` or `~`; required when binding an address other than loopback). Open the page once as
    /// `http://HOST:PORT/?token=TOKEN`: the browser then keeps it in a cookie.
    /// Programs send `Authorization: Bearer TOKEN`.
    #[arg(
        long,
        env = "DAG_UI_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,

    /// Show runs, but offer no retry or cancel.
    #[arg(long)]
    pub read_only: bool,
}

/// `dag run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The DAG file; `-` reads it from standard input [default: dag.yaml in the
    /// current directory].
    pub file: Option<PathBuf>,

    /// Override a param: KEY=VALUE (repeatable).
    #[arg(long = "param", value_name = "KEY=VALUE", value_parser = parse_param)]
    pub params: Vec<(String, String)>,

    /// Run only this task and everything upstream of it (repeatable).
    #[arg(long = "only", value_name = "TASK", add = ArgValueCandidates::new(task_id_candidates))]
    pub only: Vec<String>,

    /// Print the execution plan (order, parallel waves, commands after parameter
    /// substitution) and run nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Submit the run and exit 0 at once, printing its id: a `dag scheduler`
    /// drives it (with `--executor distributed` and the NATS state store only).
    /// Follow it with `dag wait RUN_ID`, `dag status RUN_ID --watch` or `dag logs
    /// RUN_ID TASK --follow`, from any machine.
    #[arg(long, conflicts_with = "dry_run")]
    pub detach: bool,

    /// How to execute.
    #[command(flatten)]
    pub exec: ExecArgs,
}

/// `dag retry`.
#[derive(Debug, Args)]
pub struct RetryArgs {
    /// The run: its id, the start of one run's id, or `latest`.
    #[arg(add = ArgValueCandidates::new(run_id_candidates))]
    pub run_id: String,

    /// Re-run this task and everything downstream of it, even if it succeeded
    /// [default: every task that did not succeed].
    #[arg(long, value_name = "ID", add = ArgValueCandidates::new(task_id_candidates))]
    pub task: Option<String>,

    /// How to execute.
    #[command(flatten)]
    pub exec: ExecArgs,
}

/// How a run is driven: shared by `dag run` and `dag retry`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// How progress is shown on stderr: `auto` draws bars on a terminal (not
    /// under CI or TERM=dumb) and prints a timestamped line per change
    /// elsewhere; `always` draws bars whenever stderr is a terminal; `never`
    /// prints none.
    #[arg(long, value_enum, env = "DAG_PROGRESS", hide_env_values = true, default_value_t = ProgressArg::Auto)]
    pub progress: ProgressArg,

    /// How tasks are executed.
    #[arg(long, value_enum, env = "DAG_EXECUTOR", hide_env_values = true, default_value_t = ExecutorArg::Local)]
    pub executor: ExecutorArg,

    /// Serve Prometheus metrics of the attempts this run hands out (started,
    /// retried, redelivered and finished by type, queue and state, durations,
    /// queue waits, running) and, for a distributed run, the deployment's queue
    /// depths, at http://ADDR/metrics while it runs, e.g. 127.0.0.1:9091.
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<String>,

    /// Most tasks running at once [default: number of CPUs; 1000 in flight for
    /// distributed runs].
    #[arg(long, short = 'p', value_name = "N", env = "DAG_PARALLEL", hide_env_values = true, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub parallel: Option<u32>,

    /// Stop scheduling new tasks after the first task failure.
    #[arg(long)]
    pub fail_fast: bool,

    /// Add a pool, or resize one of the file's: NAME=SIZE (repeatable; also
    /// `$DAG_POOLS`, `NAME=SIZE,...`, and the config file's `pools`).
    #[arg(long = "pool", value_name = "NAME=SIZE", value_parser = parse_pool)]
    pub pools: Vec<(String, u32)>,

    /// GPUs the local and sequential executors give to tasks with `gpus:`: a count
    /// (devices 0..N-1), or `auto` (those `nvidia-smi -L` lists, by UUID; none
    /// without nvidia-smi). A task needing more than there are is exit 2; one
    /// needing more than are free waits. Distributed runs: each worker's --gpus
    /// [default: 0].
    #[arg(long, value_name = "N|auto", env = "DAG_GPUS", hide_env_values = true, default_value = "0", allow_negative_numbers = true, value_parser = parse_gpus)]
    pub gpus: crate::backends::gpu::GpuArg,

    /// Run tasks with `cache:` even when a saved result matches; their new
    /// results replace the saved ones.
    #[arg(long)]
    pub no_cache: bool,

    /// What to print on stdout when the run ends.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputArg::Table)]
    pub output: OutputArg,

    /// Stream task output live, each line prefixed with its task id.
    #[arg(long, short = 'v')]
    pub verbose: bool,

    /// Print nothing (same as `--output quiet`): the exit code tells.
    #[arg(long, short = 'q', conflicts_with = "verbose")]
    pub quiet: bool,

    /// Write a JUnit XML report of the run to FILE when it ends (one test case per
    /// task; `dag report --format junit` writes the same later).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// Write the run's Markdown report (`dag report`) to FILE when it ends, e.g.
    /// `$GITHUB_STEP_SUMMARY`.
    #[arg(long, value_name = "FILE")]
    pub report_markdown: Option<PathBuf>,

    /// Write the run's HTML report (`dag report --format html`) to FILE when it
    /// ends.
    #[arg(long, value_name = "FILE")]
    pub report_html: Option<PathBuf>,

    /// What docker tasks run here leave open.
    #[command(flatten)]
    pub docker: DockerArgs,
}

impl DockerArgs {
    /// The default image, if one is given (an empty value gives none).
    pub fn default_image(&self) -> Option<&str> {
        self.docker_image
            .as_deref()
            .filter(|i| !i.trim().is_empty())
    }
}

/// Defaults for docker tasks that leave a setting open: a task's own key, then the
/// file's `defaults:`, come first. Shared by `dag run`, `dag retry` and `dag worker`.
#[derive(Debug, Args)]
pub struct DockerArgs {
    /// Image of docker tasks that name none.
    #[arg(
        long,
        value_name = "IMAGE",
        env = "DAG_DOCKER_IMAGE",
        hide_env_values = true
    )]
    pub docker_image: Option<String>,

    /// Network of docker tasks that name none.
    #[arg(
        long,
        value_name = "NAME",
        env = "DAG_DOCKER_NETWORK",
        hide_env_values = true
    )]
    pub docker_network: Option<String>,

    /// Memory limit (MiB) of docker tasks that set none.
    #[arg(long, value_name = "MIB", env = "DAG_DOCKER_MEMORY_MB", hide_env_values = true, value_parser = clap::value_parser!(u64).range(1..=(u64::MAX >> 20)))]
    pub docker_memory_mb: Option<u64>,

    /// CPU limit of docker tasks that set none, in percent of one CPU (1-100000).
    #[arg(long, value_name = "PERCENT", env = "DAG_DOCKER_CPU_QUOTA", hide_env_values = true, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub docker_cpu_quota: Option<u64>,

    /// A bind mount every docker container gets, HOST:CONTAINER or HOST:CONTAINER:OPTIONS
    /// (repeatable; $DAG_DOCKER_VOLUMES holds several separated by `;`, since the
    /// options themselves are separated by `,`).
    #[arg(long = "docker-volume", value_name = "HOST:CONTAINER[:ro]")]
    pub docker_volumes: Vec<String>,
}

/// `--executor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExecutorArg {
    /// One task at a time, in a fixed order.
    Sequential,
    /// Up to --parallel tasks at once on this machine.
    Local,
    /// On `dag worker` processes, through NATS JetStream.
    Distributed,
}

/// `--state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StateArg {
    /// Files under the state directory.
    File,
    /// The NATS KV bucket `dag_runs`.
    Nats,
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
    /// DAG files to check (`-` reads one from standard input); `*` and `?`
    /// patterns are expanded (quoted, so the shell leaves them alone).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,

    /// How problems are told: rendered for people (on stderr), as one JSON
    /// document, or as GitHub Actions annotations (`::error file=…,line=…::…`),
    /// both on stdout.
    #[arg(long, value_enum, default_value_t = ValidateFormat::Text)]
    pub format: ValidateFormat,

    /// Check against this pool too, as `dag run --pool` gives it: NAME=SIZE
    /// (repeatable; also `$DAG_POOLS`).
    #[arg(long = "pool", value_name = "NAME=SIZE", value_parser = parse_pool)]
    pub pools: Vec<(String, u32)>,
}

/// `dag validate --format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ValidateFormat {
    /// Each problem with its source lines.
    Text,
    /// `{"files": [{"file", "ok", "problems": [{"message", "line", ...}]}]}`.
    Json,
    /// GitHub Actions workflow commands: an annotation per problem.
    Github,
}

/// `dag status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The run: its id, the start of one run's id, or `latest` [default: the
    /// latest run].
    #[arg(add = ArgValueCandidates::new(run_id_candidates))]
    pub run_id: Option<String>,

    /// Keep showing the run as it changes, until it ends.
    ///
    /// On a terminal the table is redrawn in place: each change replaces it
    /// (while the run goes on, a table taller than the terminal shows its first
    /// rows, how many more there are and the summary; once the run ends, all of
    /// it). Off a terminal (a pipe, a file), or when `CI` is set or `TERM=dumb`,
    /// each change appends the whole table, as a log wants. Colour follows
    /// `--color` and `NO_COLOR` as everywhere.
    #[arg(long, short = 'w')]
    pub watch: bool,

    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputArg::Table)]
    pub output: OutputArg,
}

/// `dag runs`.
#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Prune old runs instead of listing.
    #[command(subcommand)]
    pub action: Option<RunsAction>,

    /// Only runs of this DAG.
    #[arg(long, value_name = "NAME")]
    pub dag: Option<String>,

    /// Only runs in this state.
    #[arg(long, value_enum, value_name = "STATE")]
    pub status: Option<RunStateArg>,

    /// At most this many runs (the runs of sub-DAGs are listed with their
    /// parent, not counted).
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub limit: usize,

    /// Only runs created since then: a duration back from now (`2h`, `7d`), a
    /// date (`2026-11-01`, UTC) or a time (`2026-11-01T12:00:00Z`).
    #[arg(long, value_name = "WHEN", value_parser = parse_since)]
    pub since: Option<crate::engine::time::Timestamp>,

    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputArg::Table)]
    pub output: OutputArg,
}

/// `dag cache`.
#[derive(Debug, Args)]
pub struct CacheArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: CacheAction,
}

/// `dag cache` subcommands.
#[derive(Debug, Subcommand)]
pub enum CacheAction {
    /// List saved results, oldest first.
    Ls(CacheLsArgs),
    /// Remove saved results: by key (or a unique prefix of one), or every one of
    /// a DAG or a task.
    Rm(CacheRmArgs),
    /// Remove saved results older than a given age.
    Prune(CachePruneArgs),
}

/// Which saved results (`dag cache ls`, `dag cache rm`).
#[derive(Debug, Args)]
pub struct CacheFilter {
    /// Only results saved by tasks of this DAG.
    #[arg(long, value_name = "NAME")]
    pub dag: Option<String>,

    /// Only results of this task (or, for a mapped task's id, of its instances).
    #[arg(long, value_name = "ID")]
    pub task: Option<String>,
}

/// `dag cache ls`.
#[derive(Debug, Args)]
pub struct CacheLsArgs {
    #[command(flatten)]
    pub filter: CacheFilter,

    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputArg::Table)]
    pub output: OutputArg,
}

/// `dag cache rm`.
#[derive(Debug, Args)]
pub struct CacheRmArgs {
    /// Keys of the results to remove, or unique prefixes of them (as `dag cache
    /// ls` shows).
    #[arg(value_name = "KEY")]
    pub keys: Vec<String>,

    #[command(flatten)]
    pub filter: CacheFilter,

    /// Remove every saved result.
    #[arg(long, conflicts_with_all = ["keys", "dag", "task"])]
    pub all: bool,
}

/// `dag cache prune`.
#[derive(Debug, Args)]
pub struct CachePruneArgs {
    /// Remove results saved more than this long ago (e.g. 7d, 12h).
    #[arg(long, value_name = "AGE", value_parser = parse_duration)]
    pub older_than: std::time::Duration,

    /// Only list what would be removed.
    #[arg(long)]
    pub dry_run: bool,
}

/// `dag runs` subcommands.
#[derive(Debug, Subcommand)]
pub enum RunsAction {
    /// Delete runs that ended longer ago than a given age.
    Prune(PruneArgs),
}

/// `dag runs prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Delete runs that ended more than this long ago (e.g. 30d, 12h).
    #[arg(long, value_name = "AGE", value_parser = parse_duration)]
    pub older_than: std::time::Duration,

    /// Only list what would be deleted.
    #[arg(long)]
    pub dry_run: bool,
}

/// Run states for `--status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RunStateArg {
    /// Created, not started.
    Queued,
    /// Being driven (or interrupted).
    Running,
    /// Succeeded.
    Success,
    /// A task failed.
    Failed,
    /// Stopped by the user.
    Cancelled,
}

/// `dag report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run: its id, the start of one run's id, or `latest` [default: the
    /// latest run].
    #[arg(add = ArgValueCandidates::new(run_id_candidates))]
    pub run_id: Option<String>,

    /// Report format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Markdown)]
    pub format: ReportFormat,

    /// Write the report to FILE instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// `dag report --format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// GitHub-flavoured Markdown with a Mermaid graph (for `$GITHUB_STEP_SUMMARY`
    /// and merge-request comments).
    Markdown,
    /// One self-contained HTML page (graph, timeline, failed tasks' logs, task
    /// table) that loads nothing from anywhere, for CI artifacts.
    Html,
    /// JUnit XML, as `dag run --report` writes it (Jenkins, GitLab and other CI
    /// systems read it).
    Junit,
}

/// `dag logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The run: its id, the start of one run's id, or `latest`.
    #[arg(add = ArgValueCandidates::new(run_id_candidates))]
    pub run_id: String,

    /// Only this task [default: every task].
    #[arg(add = ArgValueCandidates::new(task_id_candidates))]
    pub task: Option<String>,

    /// Only this attempt [default: every attempt].
    #[arg(long, value_name = "N")]
    pub attempt: Option<u32>,

    /// Keep printing new output until the run ends.
    #[arg(long, short = 'f')]
    pub follow: bool,
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    crate::engine::text::parse_duration(s)
        .map_err(|e| format!("invalid duration `{s}`: {e} (write e.g. 30s, 10m, 1h)"))
}

/// `--since`: a duration back from now, a date, or a time.
fn parse_since(s: &str) -> Result<crate::engine::time::Timestamp, String> {
    use crate::engine::time::Timestamp;
    if let Ok(d) = crate::engine::text::parse_duration(s) {
        let now = Timestamp::now();
        return Ok(Timestamp(
            now.0
                .saturating_sub(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        ));
    }
    let text = if s.len() == 10 {
        format!("{s}T00:00:00Z")
    } else {
        s.to_string()
    };
    humantime::parse_rfc3339_weak(&text)
        .map(Timestamp::from_system)
        .map_err(|_| {
            format!(
                "`{s}` is neither a duration back from now (2h, 7d), a date (2026-11-01) nor a time (2026-11-01T12:00:00Z)"
            )
        })
}

/// `--gpus N|auto`.
fn parse_gpus(s: &str) -> Result<crate::backends::gpu::GpuArg, String> {
    s.parse()
}

/// `--pool NAME=SIZE`.
fn parse_pool(s: &str) -> Result<(String, u32), String> {
    crate::engine::validate::parse_pool(s)
}

fn parse_param(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, found `{s}`")),
    }
}
