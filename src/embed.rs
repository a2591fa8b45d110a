//! Running DAG files from a Rust program, through the same engine, executors, state
//! store and reporters as the `dag` command line, with functions of your own.
//!
//! ```
//! use dag::backends::function::FnRunner;
//! use dag::embed::Pipeline;
//! use dag::engine::runner::Outputs;
//! use dag::engine::state::RunState;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let file = dir.path().join("words.yaml");
//! std::fs::write(&file, "\
//! name: words
//! tasks:
//!   count: { type: fn, command: count_words the quick brown fox }
//!   show: { type: fn, command: 'echo ${{ tasks.count.outputs.words }} words', depends_on: count }
//! ")?;
//!
//! let mut functions = FnRunner::with_builtins();
//! functions.register("count_words", |ctx| async move {
//!     let words = ctx.args.split_whitespace().count();
//!     ctx.log.line(&format!("{words} words"));
//!     Ok(Outputs::from([("words".to_string(), words.to_string())]))
//! });
//! let pipeline = Pipeline::new(functions)?.state_dir(dir.path().join("state"));
//! let runtime = tokio::runtime::Runtime::new()?;
//! let record = runtime.block_on(pipeline.run_file(&file))?;
//! assert_eq!(record.state, RunState::Success);
//! assert_eq!(record.tasks[1].outputs["output"], "4 words");
//! println!("{}", dag::cli::report::table(&record));
//! # Ok(())
//! # }
//! ```
//!
//! To offer the whole command line instead (`run`, `status`, `logs`, ...) with your
//! functions, call [`crate::cli::main_with`] from `main`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::backends::bash::BashRunner;
use crate::backends::docker::DockerRunner;
use crate::backends::file_store::FileStore;
use crate::backends::function::FnRunner;
use crate::backends::http::HttpRunner;
use crate::engine::events::Event;
use crate::engine::executor::{self, ExecError, ExecOptions, ExecutorKind, Observer};
use crate::engine::graph::Dag;
use crate::engine::record::{RunRecord, new_run_id};
use crate::engine::runner::{Runners, StopSignal};
use crate::engine::store::{StateStore, StoreError};
use crate::engine::validate::{LoadError, LoadOptions, load_file};

/// Why a pipeline could not run. A task failing is not an error: it is in the
/// returned record.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The DAG file could not be read or is invalid; render an
    /// [`InvalidDag`](crate::engine::validate::InvalidDag) with
    /// [`crate::cli::output::render_invalid`].
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The run could not be driven to its end.
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// Something the runners need is unavailable (the HTTP client, a data directory).
    #[error("{0}")]
    Setup(String),
    /// A run cannot be retried as asked.
    #[error("{0}")]
    Retry(String),
}

/// The state directory when none is given: `$DAG_HOME`, else the platform data
/// directory (`~/.local/share/dag` on Linux).
pub fn default_state_dir() -> Option<PathBuf> {
    if let Some(home) = std::env::var_os("DAG_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(home));
    }
    directories::ProjectDirs::from("", "", "dag").map(|d| d.data_dir().to_path_buf())
}

/// Where compiled WebAssembly modules are kept: `$DAG_HOME/modules`, else the
/// platform cache directory (`~/.cache/dag/modules` on Linux).
pub fn default_module_cache_dir() -> Option<PathBuf> {
    if let Some(home) = std::env::var_os("DAG_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(home).join("modules"));
    }
    directories::ProjectDirs::from("", "", "dag").map(|d| d.cache_dir().join("modules"))
}

/// The runners of every task type: bash, http, docker, wasm, and `functions` for
/// fn tasks.
pub fn runners(functions: FnRunner) -> Result<Runners, Error> {
    let names = functions.names();
    let http = HttpRunner::new().map_err(Error::Setup)?;
    Ok(Runners::new()
        .with("bash", Arc::new(BashRunner::new()))
        .with("http", Arc::new(http))
        .with("docker", Arc::new(DockerRunner::new()))
        .with("fn", Arc::new(functions))
        .with(
            crate::backends::wasm::TYPE,
            Arc::new(crate::backends::wasm::WasmRunner::new()),
        )
        .with_functions(names))
}

struct Silent;

impl Observer for Silent {
    fn on_event(&self, _: &RunRecord, _: &Event) {}
}

/// Runs DAG files with a given set of runners, options and state directory.
#[derive(Clone)]
pub struct Pipeline {
    runners: Runners,
    state_dir: Option<PathBuf>,
    store: Option<Arc<dyn StateStore>>,
    options: ExecOptions,
    params: Vec<(String, String)>,
    pools: Vec<(String, u32)>,
    observer: Arc<dyn Observer>,
    docker_image_optional: bool,
    failover: bool,
}

impl Pipeline {
    /// A pipeline with the built-in runners and `functions` for fn tasks, the local
    /// executor, the default state directory and no progress output.
    pub fn new(functions: FnRunner) -> Result<Pipeline, Error> {
        Ok(Pipeline::with_runners(runners(functions)?))
    }

    /// A pipeline with exactly these runners.
    pub fn with_runners(runners: Runners) -> Pipeline {
        Pipeline {
            runners,
            state_dir: None,
            store: None,
            options: ExecOptions::default(),
            params: Vec::new(),
            pools: Vec::new(),
            observer: Arc::new(Silent),
            docker_image_optional: false,
            failover: false,
        }
    }

    /// Keeps runs under `dir` instead of the default state directory.
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Pipeline {
        self.state_dir = Some(dir.into());
        self
    }

    /// Adds a pool, or resizes one of the DAG file's, as `--pool NAME=SIZE` does.
    pub fn pool(mut self, name: impl Into<String>, size: u32) -> Pipeline {
        self.pools.push((name.into(), size));
        self
    }

    /// Overrides a param of the DAG file, as `--param KEY=VALUE` does.
    pub fn param(mut self, key: impl Into<String>, value: impl Into<String>) -> Pipeline {
        self.params.push((key.into(), value.into()));
        self
    }

    /// Lets docker tasks name no image, for runners with a default image
    /// ([`crate::backends::docker::DockerRunner::with_defaults`]) or workers that
    /// decide.
    pub fn docker_image_optional(mut self, yes: bool) -> Pipeline {
        self.docker_image_optional = yes;
        self
    }

    /// Chooses the executor.
    pub fn executor(mut self, executor: ExecutorKind) -> Pipeline {
        self.options.executor = executor;
        self
    }

    /// Runs up to `n` tasks at once (local executor).
    pub fn parallel(mut self, n: usize) -> Pipeline {
        self.options.parallel = n.max(1);
        self
    }

    /// Sets every execution option at once.
    pub fn options(mut self, options: ExecOptions) -> Pipeline {
        self.options = options;
        self
    }

    /// Reports every event to `observer`, e.g. [`crate::cli::progress::Progress`].
    pub fn observe(mut self, observer: Arc<dyn Observer>) -> Pipeline {
        self.observer = observer;
        self
    }

    /// The runners in use.
    pub fn runners(&self) -> &Runners {
        &self.runners
    }

    /// Runs tasks with `runners` from now on (after a file was loaded and checked
    /// with the previous ones, say).
    pub fn replace_runners(mut self, runners: Runners) -> Pipeline {
        self.runners = runners;
        self
    }

    /// The settings runs are driven with.
    pub fn exec_options(&self) -> &ExecOptions {
        &self.options
    }

    /// The runners a run is driven with: this pipeline's, and the runner of
    /// `dag` tasks (which drives sub-DAG runs as this pipeline drives runs: in
    /// this process, whatever runs the other tasks).
    pub fn run_runners(&self) -> Runners {
        // The runs of sub-DAGs go to the store this run's is in, opened once.
        let pipeline = match (&self.store, self.store()) {
            (None, Ok(store)) => self.clone().with_store(store),
            _ => self.clone(),
        };
        self.runners.clone().with(
            crate::backends::subdag::TYPE,
            Arc::new(crate::backends::subdag::SubDagRunner::new(pipeline)),
        )
    }

    /// The settings kept with a new run so that another process may take it
    /// over, when the pipeline allows failover.
    pub fn drive_settings(&self) -> Option<crate::engine::record::DriveSettings> {
        self.failover
            .then_some(crate::engine::record::DriveSettings {
                parallel: self.options.parallel,
                fail_fast: self.options.fail_fast,
                no_cache: self.options.no_cache,
            })
    }

    /// Validation settings matching the runners and params.
    pub fn load_options(&self) -> LoadOptions {
        LoadOptions {
            params: self.params.clone(),
            functions: Some(self.runners.functions().to_vec()),
            task_types: Some(self.runners.types()),
            docker_image_optional: self.docker_image_optional,
            pools: self.pools.clone(),
            calls: Vec::new(),
            sub_sources: None,
        }
    }

    /// Reads and validates a DAG file.
    pub fn load(&self, path: &Path) -> Result<Dag, LoadError> {
        load_file(path, &self.load_options())
    }

    /// Keeps runs in `store` (the NATS KV store, say) instead of the file store.
    pub fn with_store(mut self, store: Arc<dyn StateStore>) -> Pipeline {
        self.store = Some(store);
        self
    }

    /// Opens (creating if needed) the state store.
    /// The directory of the file store runs go to, when they go to one (no store
    /// of another kind was given).
    /// The directory of the file store's cache: `cache/` in the state directory
    /// (also when runs are kept elsewhere: the cache is this machine's).
    pub fn cache_dir(&self) -> Option<PathBuf> {
        self.state_dir
            .clone()
            .or_else(default_state_dir)
            .map(|d| d.join("cache"))
    }

    pub fn file_store_dir(&self) -> Option<PathBuf> {
        match (&self.store, &self.state_dir) {
            (Some(_), _) => None,
            (None, Some(d)) => Some(d.clone()),
            (None, None) => default_state_dir(),
        }
    }

    pub fn store(&self) -> Result<Arc<dyn StateStore>, Error> {
        if let Some(store) = &self.store {
            return Ok(store.clone());
        }
        let dir = match &self.state_dir {
            Some(d) => d.clone(),
            None => default_state_dir().ok_or_else(|| {
                Error::Setup("no data directory for the state store: set DAG_HOME".into())
            })?,
        };
        Ok(Arc::new(FileStore::open(&dir)?))
    }

    /// Keeps with each new run the settings it is driven with, so that another
    /// process (`dag scheduler`) may take it over when its driver is gone (see
    /// [`Pipeline::take_over`]). For runs whose tasks run on workers, kept in a
    /// store every process reaches.
    pub fn failover(mut self, yes: bool) -> Pipeline {
        self.failover = yes;
        self
    }

    /// A new run record of `dag`, with the settings a new driver needs when the
    /// pipeline allows failover.
    fn new_record(&self, dag: &Dag, file: &str) -> RunRecord {
        let mut record = RunRecord::new(new_run_id(), dag, file.to_string());
        record.drive = self.drive_settings();
        record
    }

    /// Creates a run of `dag` in the store and hands it to the schedulers
    /// without driving it (`dag run --detach`): a `dag scheduler` takes it over
    /// at once. Returns the new run's record, queued.
    pub async fn submit(&self, dag: Dag, file: &str) -> Result<RunRecord, Error> {
        executor::preflight(&dag, &self.run_runners()).await?;
        let this = Pipeline {
            failover: true,
            ..self.clone()
        };
        let (record, mut writer) = this.create(&dag, file)?;
        writer.release()?;
        Ok(record)
    }

    /// Takes over a run whose driver is gone (or that was submitted) and drives
    /// it to its end with the settings it was made with: ended tasks stay ended,
    /// queued ones are queued again, and attempts an earlier driver handed out
    /// are adopted, their results awaited (see
    /// [`crate::engine::runner::TaskContext::adopted`]). Fails with
    /// [`StoreError::Locked`] while another process drives it.
    pub async fn take_over(&self, run_id: &str, stop: StopSignal) -> Result<RunRecord, Error> {
        let store = self.store()?;
        let (record, mut writer) = store.open_run(run_id)?;
        let Some(drive) = record.drive.clone() else {
            let _ = writer.release();
            return Err(Error::Retry(format!(
                "run {run_id} was not made to be taken over (only distributed runs kept in NATS are); resume it with `dag retry {run_id}`"
            )));
        };
        if record.state.is_terminal() {
            writer.release()?;
            return Ok(record);
        }
        let dag = match self.definition_of(&record) {
            Ok(dag) => dag,
            Err(e) => {
                let _ = writer.release();
                return Err(e);
            }
        };
        let options = ExecOptions {
            executor: ExecutorKind::Local,
            parallel: drive.parallel.max(1),
            fail_fast: drive.fail_fast,
            no_cache: drive.no_cache,
            ..self.options.clone()
        };
        let run = executor::Run {
            record,
            writer,
            start: executor::Start::TakenOver,
        };
        Ok(executor::execute(
            Arc::new(dag),
            run,
            &self.run_runners(),
            self.observer.clone(),
            &options,
            stop,
        )
        .await?)
    }

    /// Ends a run that no process drives as cancelled, in its record (`dag
    /// cancel` of a run waiting for a scheduler): its unfinished tasks end
    /// `cancelled` (an open attempt too: the caller tells the workers), and the
    /// run `cancelled`, so that no scheduler takes it over after. Fails with
    /// [`StoreError::Locked`] when a process drives it (it is to be told).
    pub fn cancel_undriven(
        store: &dyn StateStore,
        run_id: &str,
        reason: &str,
    ) -> Result<RunRecord, Error> {
        use crate::engine::state::{RunState, TaskState};
        use crate::engine::time::Timestamp;
        let (mut record, mut writer) = store.open_run(run_id)?;
        if record.state.is_terminal() {
            writer.release()?;
            return Ok(record);
        }
        let at = Timestamp::now();
        let mut events = Vec::new();
        for (task, t) in record.tasks.iter().enumerate() {
            if t.state.is_terminal() {
                continue;
            }
            let open = t.attempts.last().filter(|a| a.ended_at.is_none());
            events.push(match (t.state, open) {
                (TaskState::Running, Some(a)) => Event::AttemptFinished {
                    task,
                    attempt: a.attempt,
                    at,
                    state: TaskState::Cancelled,
                    exit_code: None,
                    error: Some(reason.to_string()),
                    retry_in_ms: None,
                    outputs: Default::default(),
                    cached: false,
                },
                _ => Event::TaskState {
                    task,
                    state: TaskState::Cancelled,
                    at,
                    reason: Some(reason.to_string()),
                },
            });
        }
        events.push(Event::RunFinished {
            state: RunState::Cancelled,
            at,
            reason: None,
        });
        for event in &events {
            record.apply(event).map_err(ExecError::from)?;
            writer.append(event)?;
        }
        writer.commit(&record, true)?;
        Ok(record)
    }

    /// Creates a new run of `dag` in the store (drawing another id on the rare
    /// clash) and returns its record and writer.
    fn create(
        &self,
        dag: &Dag,
        file: &str,
    ) -> Result<(RunRecord, Box<dyn crate::engine::store::RunWriter>), Error> {
        let store = self.store()?;
        // Ids are time plus 16 random bits: on the rare clash, draw another.
        let mut attempt = 0;
        loop {
            let record = self.new_record(dag, file);
            match store.create_run(&record) {
                Ok(writer) => return Ok((record, writer)),
                Err(StoreError::Exists(_)) if attempt < 10 => attempt += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Loads and runs a DAG file to its end.
    pub async fn run_file(&self, path: impl AsRef<Path>) -> Result<RunRecord, Error> {
        let path = path.as_ref();
        let dag = self.load(path)?;
        self.run(dag, &path.display().to_string(), StopSignal::new())
            .await
    }

    /// Drives an earlier run again (`dag retry`), under the same run id, as new
    /// attempts: with `task`, that task (every instance, for a mapped task's id) and
    /// everything downstream of it; otherwise
    /// every task that did not succeed (failed, upstream_failed, skipped, cancelled,
    /// or cut short when the process driving it died). Succeeded tasks keep their
    /// results and outputs. The run must not be driven by another process.
    pub async fn retry(
        &self,
        run_id: &str,
        task: Option<&str>,
        stop: StopSignal,
    ) -> Result<RunRecord, Error> {
        let store = self.store()?;
        let (mut record, mut writer) = store.open_run(run_id)?;
        let dag = self.definition_of(&record)?;
        executor::preflight(&dag, &self.run_runners()).await?;
        let tasks: Vec<usize> = match task {
            Some(id) => {
                // A mapped task's id names all its instances.
                let Some(named) = dag.named(id).filter(|n| !n.is_empty()) else {
                    return Err(Error::Retry(format!("run {run_id} has no task `{id}`")));
                };
                let mut set: Vec<usize> = named
                    .iter()
                    .flat_map(|&t| dag.descendants(t))
                    .chain(named.iter().copied())
                    .collect();
                set.sort_unstable();
                set.dedup();
                set
            }
            None => (0..dag.len())
                .filter(|&t| record.tasks[t].state != crate::engine::state::TaskState::Success)
                .collect(),
        };
        if tasks.is_empty() {
            return Err(Error::Retry(format!(
                "run {run_id} has nothing to retry: every task succeeded (use --task ID to run one again)"
            )));
        }
        let event = crate::engine::events::Event::RunRetried {
            at: crate::engine::time::Timestamp::now(),
            tasks,
        };
        record.apply(&event).map_err(ExecError::from)?;
        writer.append(&event)?;
        writer.commit(&record, true)?;
        self.drive(Arc::new(dag), record, writer, stop).await
    }

    /// Drives `record` with this pipeline's runners, observer and options.
    async fn drive(
        &self,
        dag: Arc<Dag>,
        record: RunRecord,
        writer: Box<dyn crate::engine::store::RunWriter>,
        stop: StopSignal,
    ) -> Result<RunRecord, Error> {
        Ok(executor::execute(
            dag,
            executor::Run::fresh(record, writer),
            &self.run_runners(),
            self.observer.clone(),
            &self.options,
            stop,
        )
        .await?)
    }

    /// The DAG a run ran, from the definition kept with it, with the same params and
    /// the same tasks (`--only`).
    pub fn definition_of(&self, record: &RunRecord) -> Result<Dag, Error> {
        let Some(text) = &record.definition else {
            return Err(Error::Retry(format!(
                "run {} keeps no copy of its DAG file, so it cannot be retried",
                record.run_id
            )));
        };
        let options = LoadOptions {
            params: record.params.clone(),
            sub_sources: Some(std::sync::Arc::new(record.sub_dags.clone())),
            ..self.load_options()
        };
        let dag = crate::engine::validate::load_str(&record.file, text, &options)?;
        // The tasks of the file come first; the instances of mapped tasks that
        // expanded at run time, after them.
        let instances = record
            .tasks
            .iter()
            .filter_map(|t| t.instances)
            .fold(0usize, usize::saturating_add);
        let declared = record.tasks.len().checked_sub(instances).ok_or_else(|| {
            Error::Retry(format!(
                "run {}'s mapped tasks have more instances than the run has tasks",
                record.run_id
            ))
        })?;
        let ids: Vec<String> = record.tasks[..declared]
            .iter()
            .map(|t| t.id.to_string())
            .collect();
        let dag = if ids.len() == dag.len() {
            dag
        } else {
            dag.select(&ids).map_err(|unknown| {
                Error::Retry(format!(
                    "the run's tasks {unknown:?} are not in its DAG file"
                ))
            })?
        };
        let same = dag.spec.tasks.iter().map(|t| &t.id).eq(ids.iter());
        if !same {
            return Err(Error::Retry(format!(
                "run {}'s tasks do not match its DAG file",
                record.run_id
            )));
        }
        dag.resumed(record)
            .map_err(|e| Error::Retry(format!("run {}: {e}", record.run_id)))
    }

    /// Runs a loaded DAG as a new run in the store, until it ends or `stop` fires.
    /// `file` is what the run record names as its file.
    pub async fn run(&self, dag: Dag, file: &str, stop: StopSignal) -> Result<RunRecord, Error> {
        executor::preflight(&dag, &self.run_runners()).await?;
        let (record, writer) = self.create(&dag, file)?;
        self.drive(Arc::new(dag), record, writer, stop).await
    }
}
