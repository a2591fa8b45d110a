//! Executors drive a run: they decide what runs when, hand attempts to runners, and
//! report every change as an `Event`. `sequential` is the plain reference; `local`
//! runs up to `--parallel` tasks at once and must reach the same final states.

mod driver;
mod local;
mod sequential;

use std::sync::Arc;
use std::time::Duration;

pub use driver::Observer;

use super::graph::Dag;
use super::record::{IllegalTransition, RunRecord};
use super::runner::{LineSink, Runners, StopSignal, TaskRunner};
use super::store::{RunWriter, StoreError};

/// Which executor drives the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecutorKind {
    /// One task at a time, in priority-then-declaration order.
    Sequential,
    /// Up to `parallel` tasks at once in this process.
    Local,
}

/// How the driving of a run begins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// A new run, or one `dag retry` reset: every task left to do is pending.
    Fresh,
    /// A run taken over from a driver that is gone (always with the local
    /// executor): its queued tasks are queued again, those waiting for a retry
    /// wait out the rest of their delay, and its running attempts are adopted (see
    /// [`super::runner::TaskContext::adopted`]).
    TakenOver,
}

/// A run to drive: its record, where its events go, and how its driving begins.
pub struct Run {
    /// The run's record as it stands.
    pub record: RunRecord,
    /// Where its events are written.
    pub writer: Box<dyn RunWriter>,
    /// How the driving begins.
    pub start: Start,
}

impl Run {
    /// A new run, or one `dag retry` reset.
    pub fn fresh(record: RunRecord, writer: Box<dyn RunWriter>) -> Run {
        Run {
            record,
            writer,
            start: Start::Fresh,
        }
    }
}

/// Settings of one run.
#[derive(Clone)]
pub struct ExecOptions {
    /// Executor to use.
    pub executor: ExecutorKind,
    /// Most tasks running at once (`local`).
    pub parallel: usize,
    /// Stop scheduling after the first task failure.
    pub fail_fast: bool,
    /// Timeout of tasks that set none, directly or through `defaults`.
    pub default_timeout: Duration,
    /// Time between SIGTERM and SIGKILL when a task is stopped.
    pub grace: Duration,
    /// Host name recorded with every attempt.
    pub host: String,
    /// Live task output, for `-v`.
    pub lines: Option<LineSink>,
    /// `--no-cache`: tasks with `cache:` run even when a saved result matches.
    pub no_cache: bool,
    /// This machine's GPUs, given to tasks with `gpus:` (`--gpus`), shared by
    /// every run made with these options (a run's sub-DAG runs too); `None` when
    /// the executor gives none out itself (distributed: each worker gives out
    /// its own).
    pub gpus: Option<Arc<crate::engine::gpu::Machine>>,
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            executor: ExecutorKind::Local,
            parallel: std::thread::available_parallelism().map_or(1, |n| n.get()),
            fail_fast: false,
            default_timeout: Duration::from_secs(30 * 60),
            grace: Duration::from_secs(5),
            host: String::from("localhost"),
            lines: None,
            no_cache: false,
            gpus: Some(Arc::default()),
        }
    }
}

/// Why a run could not be driven to its end.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// Writing state failed; the run stopped.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The engine tried a transition the state machine forbids: a bug in dag.
    #[error("internal error (a bug in dag): {0}")]
    Illegal(#[from] IllegalTransition),
    /// The executor panicked: a bug in dag.
    #[error("internal error (a bug in dag): the executor panicked: {0}")]
    Panicked(String),
    /// What the tasks of a type need is unreachable (the Docker daemon, say).
    #[error("cannot run {0} tasks: {1}")]
    Unavailable(String, String),
    /// A task has no runner for its type.
    #[error("no runner for {0} tasks in this build")]
    NoRunner(String),
}

/// Checks that every task type of `dag` has a runner and that what those runners need
/// is reachable, before a run is created.
pub async fn preflight(dag: &Dag, runners: &Runners) -> Result<(), ExecError> {
    let mut used: Vec<&'static str> = dag.spec.tasks.iter().map(|t| t.kind.type_name()).collect();
    used.sort_unstable();
    used.dedup();
    for t in used {
        let runner = runners
            .get(t)
            .ok_or_else(|| ExecError::NoRunner(t.to_string()))?;
        runner
            .check()
            .await
            .map_err(|e| ExecError::Unavailable(t.to_string(), e))?;
    }
    Ok(())
}

/// Drives `record` (a fresh run of `dag`) to its end and returns the final record.
pub async fn execute(
    dag: Arc<Dag>,
    run: Run,
    runners: &Runners,
    observer: Arc<dyn Observer>,
    options: &ExecOptions,
    stop: StopSignal,
) -> Result<RunRecord, ExecError> {
    let Run {
        record,
        writer,
        start,
    } = run;
    for task in &dag.spec.tasks {
        let t = task.kind.type_name();
        if runners.get(t).is_none() {
            return Err(ExecError::NoRunner(t.to_string()));
        }
    }
    let run_id = record.run_id.clone();
    let mut used: Vec<&Arc<dyn TaskRunner>> = Vec::new();
    for task in &dag.spec.tasks {
        if let Some(r) = runners.get(task.kind.type_name())
            && !used.iter().any(|u| Arc::ptr_eq(u, r))
        {
            used.push(r);
        }
    }
    let mut driver = driver::Driver::new(dag.clone(), record, writer, observer, options.clone());
    // The run's `timeout` stops it as a Ctrl-C would (without being one: the
    // caller's signal is untouched), and the driver then fails the run saying why.
    let user = stop.graceful.clone();
    let stop = StopSignal {
        graceful: stop.graceful.child_token(),
        hard: stop.hard.child_token(),
    };
    let timer = dag.spec.timeout.map(|limit| {
        let (graceful, timed_out) = (stop.graceful.clone(), driver.timed_out.clone());
        tokio::spawn(async move {
            tokio::time::sleep(limit).await;
            // A Ctrl-C that came first decides: the run is cancelled, not timed out.
            if !user.is_cancelled() {
                timed_out.store(true, std::sync::atomic::Ordering::SeqCst);
                graceful.cancel();
            }
        })
    });
    driver.timeout = dag.spec.timeout;
    for runner in &used {
        runner.run_begins(&run_id, stop.clone()).await;
    }
    let ended = match (options.executor, start) {
        (ExecutorKind::Sequential, Start::Fresh) => sequential::run(driver, runners, stop).await,
        (ExecutorKind::Local, _) | (_, Start::TakenOver) => {
            local::run(driver, runners, stop, start).await
        }
    };
    if let Some(timer) = timer {
        timer.abort();
    }
    // Only a run driven to its end releases what runners keep for it: one that
    // stopped on an error (its store lost, or another process took it over) may
    // be driven on elsewhere, with the same result consumer.
    let over = ended.as_ref().is_ok_and(|r| r.state.is_terminal());
    for runner in used {
        if over {
            runner.run_ended(&run_id).await;
        } else {
            runner.run_left(&run_id).await;
        }
    }
    ended
}

#[cfg(test)]
mod tests;
