//! From arguments to ready-made objects: the state directory, the store, the runners,
//! and the runtime tasks run on.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::args::{DockerArgs, NatsArgs, StateArg};
use super::exit::CliError;
use crate::backends::docker::{DockerDefaults, DockerRunner, check_volume};
use crate::backends::file_store::FileStore;
use crate::backends::function::FnRunner;
use crate::backends::nats::NatsOptions;
use crate::backends::nats::kv_store::KvStore;
use crate::engine::runner::Runners;
use crate::engine::store::StateStore;
use crate::engine::store::StoreError;
use crate::engine::validate::LoadOptions;

/// The state directory: `--state-dir`, else `$DAG_HOME`, else the platform data
/// directory (`~/.local/share/dag` on Linux).
pub fn state_dir(flag: Option<&Path>) -> Result<PathBuf, CliError> {
    match flag {
        Some(dir) => Ok(dir.to_path_buf()),
        None => crate::embed::default_state_dir().ok_or_else(|| {
            CliError::usage(
                "cannot find a data directory for the state store",
                Some("set DAG_HOME or pass --state-dir".into()),
            )
        }),
    }
}

/// A state store chosen by `--state`.
pub enum Store {
    /// Files under the state directory.
    File(FileStore),
    /// The NATS KV bucket `dag_runs`.
    Nats(KvStore),
}

impl Store {
    /// The store as the engine sees it.
    pub fn state(&self) -> &dyn StateStore {
        match self {
            Store::File(s) => s,
            Store::Nats(s) => s,
        }
    }

    /// Whether a live process drives the run now.
    pub fn is_driven(&self, run_id: &str) -> bool {
        match self {
            Store::File(s) => s.is_driven(run_id),
            Store::Nats(s) => s.is_driven(run_id),
        }
    }

    /// Deletes a run.
    pub fn delete_run(&self, run_id: &str) -> Result<(), StoreError> {
        match self {
            Store::File(s) => s.delete_run(run_id),
            Store::Nats(s) => s.delete_run(run_id),
        }
    }
}

/// The NATS connection options of the command line.
pub fn nats_options(args: &NatsArgs) -> NatsOptions {
    NatsOptions {
        url: args.url.clone(),
        creds: args.creds.clone(),
        ca: args.ca.clone(),
        replicas: crate::backends::nats::Replicas {
            asked: args.replicas,
        },
    }
}

/// The store of history commands (`status`, `runs`, `logs`, `retry`, `cancel`).
pub fn history_store(
    state: Option<StateArg>,
    state_dir: Option<&Path>,
    nats: &NatsArgs,
) -> Result<Store, CliError> {
    match state.unwrap_or(StateArg::File) {
        StateArg::File => existing_store(state_dir).map(Store::File),
        StateArg::Nats => KvStore::open(&nats_options(nats), false)
            .map(Store::Nats)
            .map_err(CliError::from),
    }
}

/// The file store for history commands; a missing store means there are no runs.
pub fn existing_store(flag: Option<&Path>) -> Result<FileStore, CliError> {
    let dir = state_dir(flag)?;
    FileStore::open_existing(&dir).map_err(|e| match e {
        StoreError::Empty => CliError::usage(
            format!("no runs in {}", dir.display()),
            Some(
                "start one with `dag run FILE`, or point --state-dir/DAG_HOME at another store"
                    .into(),
            ),
        ),
        other => other.into(),
    })
}

/// The runners of a `dag` command line: bash, http, and `functions` for fn tasks
/// (the built-ins, plus whatever an embedding program registered).
pub fn runners(functions: FnRunner) -> Result<Runners, CliError> {
    crate::embed::runners(functions).map_err(|e| CliError::Infrastructure(e.to_string()))
}

/// Validation options that match `runners`, for commands that run nothing: docker
/// tasks may name no image when a default image is configured (`DAG_DOCKER_IMAGE`,
/// or `docker_image` in the config file).
pub fn load_options(runners: &Runners, params: Vec<(String, String)>) -> LoadOptions {
    LoadOptions {
        pools: env_pools().unwrap_or_default(),
        params,
        functions: Some(runners.functions().to_vec()),
        task_types: Some(runners.types()),
        docker_image_optional: std::env::var_os("DAG_DOCKER_IMAGE").is_some_and(|v| !v.is_empty()),
        calls: Vec::new(),
        sub_sources: None,
    }
}

/// The pools of `$DAG_POOLS` (`NAME=SIZE,...`; the config file's `pools` sets it).
pub fn env_pools() -> Result<Vec<(String, u32)>, CliError> {
    crate::engine::validate::env_pools()
        .map_err(|e| CliError::usage(format!("DAG_POOLS: {e}"), None))
}

/// `pools` of `$DAG_POOLS` and then `flags` (`--pool`), later ones resizing earlier.
pub fn pools(flags: &[(String, u32)]) -> Result<Vec<(String, u32)>, CliError> {
    let mut out = env_pools()?;
    out.extend(flags.iter().cloned());
    Ok(out)
}

/// `runners` with a docker runner that gives tasks what the `--docker-*` flags say
/// (unchanged when they say nothing). A malformed `--docker-volume` is a usage error.
pub fn with_docker_defaults(runners: Runners, args: &DockerArgs) -> Result<Runners, CliError> {
    let defaults = docker_defaults(args)?;
    if defaults == DockerDefaults::default() {
        return Ok(runners);
    }
    Ok(runners.with(
        "docker",
        Arc::new(DockerRunner::new().with_defaults(defaults)),
    ))
}

/// What the `--docker-*` flags (and their variables) give docker tasks. A malformed
/// `--docker-volume` is a usage error.
pub fn docker_defaults(args: &DockerArgs) -> Result<DockerDefaults, CliError> {
    let defaults = DockerDefaults {
        image: args.default_image().map(str::to_string),
        network: args.docker_network.clone(),
        memory_mb: args.docker_memory_mb,
        cpu_quota: args.docker_cpu_quota,
        // Flags beat the variable (which the config file's `docker_volumes` sets).
        volumes: if args.docker_volumes.is_empty() {
            std::env::var("DAG_DOCKER_VOLUMES")
                .unwrap_or_default()
                .split(';')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
                .collect()
        } else {
            args.docker_volumes.clone()
        },
    };
    for v in &defaults.volumes {
        check_volume(v).map_err(|e| CliError::usage(format!("--docker-volume: {e}"), None))?;
    }
    Ok(defaults)
}

/// Name of the runtime's threads, where tasks (and their panics) run.
pub const WORKER_THREAD: &str = "dag-worker";

/// The runtime that runs tasks, with `worker_threads` threads (else one per CPU),
/// named [`WORKER_THREAD`].
pub fn runtime(worker_threads: Option<usize>) -> Result<tokio::runtime::Runtime, CliError> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = worker_threads {
        builder.worker_threads(n);
    }
    builder
        .thread_name(WORKER_THREAD)
        .enable_all()
        .build()
        .map_err(CliError::Output)
}

/// This machine's host name.
pub fn host_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".to_string())
}

/// `wanted` tasks at once, lowered (with a warning) to what the limit on open files
/// allows once raised as far as it goes: starting more would fail the extra tasks
/// with "too many open files", a fault of the host rather than of the tasks.
pub fn within_open_files(wanted: usize, flag: &str) -> usize {
    use crate::backends::process::{raise_open_file_limit, tasks_within};
    let Some(files) = raise_open_file_limit() else {
        return wanted;
    };
    let most = tasks_within(files);
    if wanted <= most {
        return wanted;
    }
    super::output::eprint(&format!(
        "dag: warning: {flag} {wanted} lowered to {most}: the limit of {files} open files \
         (ulimit -n) allows no more tasks at once\n"
    ));
    most
}

/// The DAG file `dag run` uses when given none (in the current directory).
pub const DEFAULT_FILE: &str = "dag.yaml";

/// What a command reads as its DAG file: `-` is standard input; none is
/// [`DEFAULT_FILE`], which must exist.
pub fn dag_file(arg: Option<&Path>) -> Result<PathBuf, CliError> {
    match arg {
        Some(p) if p == Path::new("-") => Ok(PathBuf::from("/dev/stdin")),
        Some(p) => Ok(p.to_path_buf()),
        None if Path::new(DEFAULT_FILE).exists() => Ok(PathBuf::from(DEFAULT_FILE)),
        None => Err(CliError::usage(
            format!("no DAG file given, and no {DEFAULT_FILE} in this directory"),
            Some(format!(
                "name one (`dag run etl.yaml`), write a starter {DEFAULT_FILE} with `dag init`, or pipe one in with `dag run -`"
            )),
        )),
    }
}
