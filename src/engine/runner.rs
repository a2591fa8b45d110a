//! How the engine runs one attempt of one task. Runners for each task type live in
//! `backends`; the engine only knows this trait.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::graph::Dag;
use super::spec::TaskSpec;

/// Values a task publishes for its downstream tasks, by key.
pub type Outputs = BTreeMap<String, String>;

/// The most a task may publish, keys and values together ...
pub const MAX_OUTPUT_BYTES: usize = 1024 * 1024;

/// ... unless a `for_each` reads its outputs: a list of a million items fits.
pub const MAX_LIST_OUTPUT_BYTES: usize = 32 * 1024 * 1024;

/// Checks the output cap (`cap`: [`MAX_OUTPUT_BYTES`], or
/// [`MAX_LIST_OUTPUT_BYTES`] for a task a `for_each` reads), naming the total size
/// when it is exceeded.
pub fn check_output_size(outputs: &Outputs, cap: usize) -> Result<(), String> {
    let size: usize = outputs.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > cap {
        Err(format!(
            "outputs total {size} bytes, over the cap of {}",
            describe_cap(cap)
        ))
    } else {
        Ok(())
    }
}

/// How an output cap is told in errors: `1048576 bytes (1 MiB) per task`.
pub fn describe_cap(cap: usize) -> String {
    const LISTED: &str = "for a task whose outputs a `for_each` reads";
    if cap > MAX_OUTPUT_BYTES {
        format!("{cap} bytes ({} MiB) {LISTED}", cap >> 20)
    } else {
        format!(
            "{cap} bytes ({} MiB) per task ({} MiB {LISTED})",
            cap >> 20,
            MAX_LIST_OUTPUT_BYTES >> 20
        )
    }
}

/// A boxed, sendable future, as runners return them.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a runner learns about an attempt that runs elsewhere (on a worker).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Note {
    /// A worker picked the attempt up (again, when `delivery` > 1: the worker that
    /// had it was lost, and the attempt runs anew without spending a retry).
    Placed {
        /// Host of the worker.
        host: String,
        /// Id of the worker.
        worker: String,
        /// How many times the task message has been delivered.
        delivery: u64,
    },
    /// The attempt waits for what it needs before it can go to the workers (its
    /// pool's slots, taken by other runs).
    Waiting {
        /// What it waits for (`waiting for pool db`); empty: nothing any more.
        reason: String,
    },
    /// The attempt (of a `dag` task) runs the child run `run`, the run of its
    /// sub-DAG.
    Child {
        /// The child run's id.
        run: String,
    },
    /// A worker reported the end of an attempt whose result is recorded already
    /// (this one, or any other of the run: the note names its own), from
    /// another execution of it. Counted as a duplicate execution; it changes
    /// nothing else.
    Duplicate {
        /// Id of the task.
        task: String,
        /// Attempt number.
        attempt: u32,
        /// Id of the worker that sent it.
        worker: String,
        /// The delivery of the task message it ran.
        delivery: u64,
        /// Whether the runner knows it is another execution than the one whose
        /// result it accepted; otherwise the executor compares it with the
        /// worker and delivery the record holds (an attempt ended under an
        /// earlier driver of the run).
        known: bool,
        /// Acknowledges the result's message once the count is saved.
        ack: NoteAck,
    },
}

/// What acknowledges the message a note came from, once what the note says is
/// saved (None: nothing to acknowledge). Not part of what the note says: any
/// two are equal.
#[derive(Clone, Debug, Default)]
pub struct NoteAck(pub Option<Arc<Acker>>);

impl PartialEq for NoteAck {
    fn eq(&self, _: &NoteAck) -> bool {
        true
    }
}

impl Eq for NoteAck {}

/// Where a runner reports [`Note`]s about the attempt it runs.
pub type NoteSink = Arc<dyn Fn(Note) + Send + Sync>;

/// Acknowledges the source of a result (a queue message) once the result is saved in
/// the state store, so that a crash in between makes the result come again rather
/// than vanish.
pub struct Acker {
    ack: std::sync::Mutex<Option<Box<dyn FnOnce() + Send>>>,
    /// Runs instead when the acknowledger is dropped without acknowledging.
    unacked: std::sync::Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl Acker {
    /// An acknowledgement that runs `f`.
    pub fn new(f: impl FnOnce() + Send + 'static) -> Acker {
        Acker {
            ack: std::sync::Mutex::new(Some(Box::new(f))),
            unacked: std::sync::Mutex::new(None),
        }
    }

    /// The same, running `f` if it is dropped without acknowledging (the
    /// result was not saved: its source may be handed back at once).
    pub fn or_when_dropped(self, f: impl FnOnce() + Send + 'static) -> Acker {
        if let Ok(mut u) = self.unacked.lock() {
            *u = Some(Box::new(f));
        }
        self
    }

    /// Runs the acknowledgement (once).
    pub fn ack(&self) {
        if let Ok(mut u) = self.unacked.lock() {
            u.take();
        }
        if let Some(f) = self.ack.lock().ok().and_then(|mut g| g.take()) {
            f();
        }
    }
}

impl Drop for Acker {
    fn drop(&mut self) {
        if let Some(f) = self.unacked.lock().ok().and_then(|mut u| u.take()) {
            f();
        }
    }
}

impl std::fmt::Debug for Acker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Acker")
    }
}

/// Receives task output lines live (for `-v`): task id, line without newline.
pub type LineSink = Arc<dyn Fn(&str, &str) + Send + Sync>;

/// The two ways a run is stopped from outside: gracefully (first Ctrl-C: SIGTERM,
/// grace period, SIGKILL) and at once (second Ctrl-C: SIGKILL).
#[derive(Clone, Debug, Default)]
pub struct StopSignal {
    /// Stop scheduling and stop running tasks gracefully.
    pub graceful: CancellationToken,
    /// Kill running tasks now.
    pub hard: CancellationToken,
}

impl StopSignal {
    /// A fresh signal, not yet triggered.
    pub fn new() -> StopSignal {
        StopSignal::default()
    }
}

/// Everything a runner needs for one attempt.
pub struct TaskContext {
    /// The DAG the task belongs to.
    pub dag: Arc<Dag>,
    /// Index of the task in `dag`.
    pub index: usize,
    /// The run's id.
    pub run_id: String,
    /// Attempt number, from 1.
    pub attempt: u32,
    /// Variables to set on top of the inherited environment: DAG `env`, task `env`,
    /// then `DAG_NAME`, `DAG_RUN_ID`, `DAG_TASK_ID`, `DAG_ATTEMPT`.
    pub env: Vec<(String, String)>,
    /// Working directory, if the task sets one.
    pub workdir: Option<PathBuf>,
    /// Time limit of this attempt.
    pub timeout: Duration,
    /// How long a stopped task gets between SIGTERM and SIGKILL.
    pub grace: Duration,
    /// Where the attempt's output goes.
    pub log: TaskLog,
    /// Live output consumer, when output is streamed (`-v`).
    pub lines: Option<LineSink>,
    /// Stops the attempt from outside.
    pub stop: StopSignal,
    /// The task with `${{ tasks.ID... }}` expressions replaced, when it had any.
    pub resolved: Option<TaskSpec>,
    /// For an fn task, the outputs of its direct upstream tasks, by task id
    /// (empty for other tasks: theirs are substituted in their strings).
    pub upstream: BTreeMap<String, Outputs>,
    /// The most the attempt may publish (see [`Dag::output_cap`]).
    pub output_cap: usize,
    /// Why the attempt cannot start (an output it uses is missing); the attempt
    /// fails with this error without running.
    pub unrunnable: Option<String>,
    /// Where to report notes about the attempt, when the executor listens.
    pub notes: Option<NoteSink>,
    /// The names of the run's secret params (its record's `secret_params`):
    /// masked in every task's output, and sent to workers so they mask them too.
    pub secret_params: Arc<[String]>,
    /// Set when an earlier driver of the run handed this attempt out (the run
    /// was taken over): the runner waits for its result rather than starting it
    /// anew. A runner that cannot (one that runs tasks in its own process) starts
    /// it again under the same number.
    pub adopted: Option<Adopted>,
    /// `--no-cache`: a task with `cache:` runs even when a saved result
    /// matches; its result replaces the saved one.
    pub no_cache: bool,
    /// An earlier attempt of this task succeeded: it runs again on purpose
    /// (`dag retry --task`), not to finish what an earlier attempt left.
    pub rerun: bool,
    /// The ids of the GPUs this attempt holds (`gpus:`), given by the executor
    /// or the worker that runs it; no other attempt holds them meanwhile.
    pub gpus: Vec<String>,
}

/// An attempt an earlier driver of the run handed out (see
/// [`TaskContext::adopted`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Adopted {
    /// The worker the run's record says took it, if one did.
    pub worker: Option<String>,
    /// The earlier driver was still waiting for the attempt's pool: it handed
    /// nothing out.
    pub waiting: bool,
}

impl TaskContext {
    /// The task being run, with its upstream outputs substituted.
    pub fn task(&self) -> &TaskSpec {
        self.resolved
            .as_ref()
            .unwrap_or_else(|| self.dag.task(self.index))
    }
}

/// The log file of one attempt, created on first use: a task that prints nothing
/// (a `noop` function) costs no file.
#[derive(Clone, Debug)]
pub struct TaskLog {
    path: Arc<PathBuf>,
    file: Arc<std::sync::OnceLock<std::fs::File>>,
    secrets: crate::engine::secrets::Secrets,
    /// Where a failure to open or write the log is reported: a host fault (a full
    /// disk), which stops the run like any failed store write.
    faults: Option<LogFaults>,
}

/// Where the logs of a run report their first failure to open or write; the
/// executor waits on it alongside the attempts and stops the run.
#[derive(Clone, Debug, Default)]
pub struct LogFaults {
    token: CancellationToken,
    first: Arc<std::sync::OnceLock<(PathBuf, std::io::ErrorKind, String)>>,
}

impl LogFaults {
    /// Records a failure on the log at `path` (the first one is kept).
    pub fn report(&self, path: &std::path::Path, e: &std::io::Error) {
        let _ = self
            .first
            .set((path.to_path_buf(), e.kind(), e.to_string()));
        self.token.cancel();
    }

    /// The first failure: the log's path and the error.
    pub fn first(&self) -> Option<(PathBuf, std::io::Error)> {
        self.first.get().map(|(path, kind, message)| {
            (path.clone(), std::io::Error::new(*kind, message.clone()))
        })
    }

    /// Resolves once a failure is reported.
    pub async fn reported(&self) {
        self.token.cancelled().await
    }
}

impl TaskLog {
    /// The log at `path` (not created yet).
    pub fn at(path: PathBuf) -> TaskLog {
        TaskLog {
            path: Arc::new(path),
            file: Arc::default(),
            secrets: crate::engine::secrets::Secrets::default(),
            faults: None,
        }
    }

    /// The same log, reporting a failure to open or write it to `faults`.
    pub fn reporting_faults_to(mut self, faults: LogFaults) -> TaskLog {
        self.faults = Some(faults);
        self
    }

    fn note_fault(&self, e: &std::io::Error) {
        if let Some(faults) = &self.faults {
            faults.report(&self.path, e);
        }
    }

    /// Appends `bytes` (already masked); a failure is reported as a fault of the host.
    pub fn write(&self, bytes: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        self.file()?
            .write_all(bytes)
            .inspect_err(|e| self.note_fault(e))
    }

    /// The same log, masking `secrets` in what is written through [`line`] and
    /// [`masker`].
    ///
    /// [`line`]: TaskLog::line
    /// [`masker`]: TaskLog::masker
    pub fn with_secrets(mut self, secrets: crate::engine::secrets::Secrets) -> TaskLog {
        self.secrets = secrets;
        self
    }

    /// The secrets to mask, built once for the attempt.
    pub fn secrets(&self) -> &crate::engine::secrets::Secrets {
        &self.secrets
    }

    /// A masker for streamed output (see [`crate::engine::secrets::Masker`]).
    pub fn masker(&self) -> crate::engine::secrets::Masker {
        self.secrets.masker()
    }

    /// Where the log is.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The open log file, created (in append mode) on first use.
    pub fn file(&self) -> std::io::Result<&std::fs::File> {
        if let Some(f) = self.file.get() {
            return Ok(f);
        }
        // A FIFO put at the log's path must not block the task's output copier.
        let f = crate::engine::capped_read::open_regular(
            &self.path,
            std::fs::OpenOptions::new().create(true).append(true),
        )
        .inspect_err(|e| self.note_fault(e))?;
        Ok(self.file.get_or_init(|| f))
    }

    /// A new handle to the log file, for a child process's stdout or stderr.
    pub fn handle(&self) -> std::io::Result<std::fs::File> {
        self.file()?.try_clone()
    }

    /// Appends one line, secrets masked. A failure is not the task's: it is recorded
    /// as a fault of the host, which stops the run (see [`LogFaults`]).
    pub fn line(&self, text: &str) {
        let mut line = self.secrets.mask(text);
        line.push('\n');
        let _ = self.write(line.as_bytes());
    }
}

/// How an attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// The task did its job.
    Success,
    /// The task failed (non-zero exit, error, timeout); it may be retried.
    Failed,
    /// The task was stopped from outside; it is not retried.
    Cancelled,
    /// The task decided it has nothing to do (a `skip_exit_code`, or an fn task
    /// that called `FnContext::skip`); it ends `skipped`, not retried.
    Skipped,
}

impl Status {
    /// Every status, with its spelling on the wire.
    pub const ALL: [(&'static str, Status); 4] = [
        ("success", Status::Success),
        ("failed", Status::Failed),
        ("cancelled", Status::Cancelled),
        ("skipped", Status::Skipped),
    ];

    /// The spelling on the wire.
    pub fn as_str(self) -> &'static str {
        Status::ALL
            .iter()
            .find(|(_, s)| *s == self)
            .map_or("failed", |(n, _)| n)
    }

    /// The status spelled `name`, if any.
    pub fn from_name(name: &str) -> Option<Status> {
        Status::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| *s)
    }
}

/// The result of one attempt.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// How it ended.
    pub status: Status,
    /// Exit code, when a process ran to an exit.
    pub exit_code: Option<i32>,
    /// What went wrong.
    pub error: Option<String>,
    /// What the attempt published (kept only when it succeeds).
    pub outputs: Outputs,
    /// To run once the outcome is saved (see [`Acker`]).
    pub ack: Option<Arc<Acker>>,
    /// The result was restored from the cache: the task did not run.
    pub cached: bool,
}

impl Outcome {
    /// A successful attempt.
    pub fn success(exit_code: Option<i32>) -> Outcome {
        Outcome {
            status: Status::Success,
            exit_code,
            error: None,
            outputs: Outputs::new(),
            ack: None,
            cached: false,
        }
    }

    /// A failed attempt.
    pub fn failed(exit_code: Option<i32>, error: impl Into<String>) -> Outcome {
        Outcome {
            status: Status::Failed,
            exit_code,
            error: Some(error.into()),
            outputs: Outputs::new(),
            ack: None,
            cached: false,
        }
    }

    /// A cancelled attempt.
    pub fn cancelled(error: impl Into<String>) -> Outcome {
        Outcome {
            status: Status::Cancelled,
            exit_code: None,
            error: Some(error.into()),
            outputs: Outputs::new(),
            ack: None,
            cached: false,
        }
    }

    /// An attempt that decided there is nothing to do.
    pub fn skipped(reason: impl Into<String>) -> Outcome {
        Outcome {
            status: Status::Skipped,
            exit_code: None,
            error: Some(reason.into()),
            outputs: Outputs::new(),
            ack: None,
            cached: false,
        }
    }

    /// The same outcome, publishing `outputs`.
    pub fn with_outputs(mut self, outputs: Outputs) -> Outcome {
        self.outputs = outputs;
        self
    }
}

/// Runs attempts of one task type.
pub trait TaskRunner: Send + Sync {
    /// Runs one attempt. The runner enforces `ctx.timeout` and obeys `ctx.stop`;
    /// it reports every failure as an [`Outcome`], never by panicking.
    fn run(&self, ctx: TaskContext) -> BoxFuture<'static, Outcome>;

    /// Checks, before a run starts, that what this runner needs is reachable (the
    /// Docker daemon, say); an error stops the run before any task starts.
    fn check(&self) -> BoxFuture<'static, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }

    /// Called once a run this runner served has ended, whatever its outcome, to
    /// release what the runner keeps for it (a distributed run's result consumer).
    fn run_ended(&self, _run_id: &str) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }

    /// Called before the run's first attempt, with the run's stop signal: what
    /// the runner must hear from the start (a distributed run's cancel).
    fn run_begins(&self, _run_id: &str, _stop: StopSignal) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }

    /// Called when this process stops driving a run that has not ended (it
    /// stopped on an error, or another process took it over): stop listening
    /// for it, keeping what another driver of the run needs.
    fn run_left(&self, _run_id: &str) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

/// The runners available to a run, by task type (`bash`, `http`, `docker`, `fn`).
#[derive(Clone, Default)]
pub struct Runners {
    by_type: HashMap<&'static str, Arc<dyn TaskRunner>>,
    functions: Vec<String>,
}

impl Runners {
    /// No runners.
    pub fn new() -> Runners {
        Runners::default()
    }

    /// Adds the runner of `task_type`.
    pub fn with(mut self, task_type: &'static str, runner: Arc<dyn TaskRunner>) -> Runners {
        self.by_type.insert(task_type, runner);
        self
    }

    /// Records the function names the `fn` runner knows, for validation.
    pub fn with_functions(mut self, names: Vec<String>) -> Runners {
        self.functions = names;
        self
    }

    /// The same runners, each replaced by what `f` makes of it.
    pub fn map(&self, f: impl Fn(Arc<dyn TaskRunner>) -> Arc<dyn TaskRunner>) -> Runners {
        Runners {
            by_type: self
                .by_type
                .iter()
                .map(|(t, r)| (*t, f(r.clone())))
                .collect(),
            functions: self.functions.clone(),
        }
    }

    /// The runner of `task_type`.
    pub fn get(&self, task_type: &str) -> Option<&Arc<dyn TaskRunner>> {
        self.by_type.get(task_type)
    }

    /// Every runner, once (one runner may serve several types).
    pub fn distinct(&self) -> Vec<Arc<dyn TaskRunner>> {
        let mut out: Vec<Arc<dyn TaskRunner>> = Vec::new();
        for r in self.by_type.values() {
            if !out.iter().any(|o| Arc::ptr_eq(o, r)) {
                out.push(r.clone());
            }
        }
        out
    }

    /// Task types with a runner, sorted.
    pub fn types(&self) -> Vec<&'static str> {
        let mut t: Vec<&'static str> = self.by_type.keys().copied().collect();
        t.sort_unstable();
        t
    }

    /// Function names known to the `fn` runner, sorted.
    pub fn functions(&self) -> &[String] {
        &self.functions
    }
}
