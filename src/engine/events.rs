//! What executors report while they drive a run. The run record is the fold of these
//! events; the file store appends them to the run's event log; progress bars,
//! tables, JSON and JUnit output are consumers of them.

use serde::{Deserialize, Serialize};

use super::runner::Outputs;
use super::state::{RunState, TaskState};
use super::time::Timestamp;

/// One change of a run, in the order it happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The run began (or, for `dag retry`, began again).
    RunStarted {
        /// When.
        at: Timestamp,
        /// Host of the driving process.
        host: String,
        /// Pid of the driving process.
        pid: u32,
    },
    /// `dag retry`: these tasks start over (as `pending`, keeping their past
    /// attempts) and the run is queued to be driven again.
    RunRetried {
        /// When.
        at: Timestamp,
        /// Indexes of the tasks to run again.
        tasks: Vec<usize>,
    },
    /// A task changed state without an attempt: queued, upstream_failed, skipped,
    /// cancelled, or pending again for a retry.
    TaskState {
        /// Task index in the run's task list.
        task: usize,
        /// The new state.
        state: TaskState,
        /// When.
        at: Timestamp,
        /// Why, for states that are not self-explanatory.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A queued task waits for what its attempt needs besides a place among the
    /// `--parallel` ones (its pool's slots): `reason` says what, until the attempt
    /// starts.
    TaskWaiting {
        /// Task index.
        task: usize,
        /// When.
        at: Timestamp,
        /// What it waits for (`waiting for pool db`); empty when it waits for
        /// nothing any more.
        reason: String,
    },
    /// A mapped task whose `for_each` is read at run time expanded (during its
    /// attempt): its instances `ID.0` .. `ID.{instances - 1}` are tasks of the run
    /// from now on, pending; those it had already (a run retried) are kept.
    TaskMapped {
        /// Index of the mapped task.
        task: usize,
        /// How many instances it has now.
        instances: usize,
        /// When.
        at: Timestamp,
    },
    /// An attempt of a task started.
    AttemptStarted {
        /// Task index.
        task: usize,
        /// Attempt number, from 1.
        attempt: u32,
        /// When.
        at: Timestamp,
        /// Where it runs.
        host: String,
    },
    /// A worker picked an attempt up (for the distributed executor; `delivery` > 1
    /// when a lost worker's attempt was handed to another).
    AttemptPlaced {
        /// Task index.
        task: usize,
        /// Attempt number.
        attempt: u32,
        /// When.
        at: Timestamp,
        /// Host of the worker.
        host: String,
        /// Id of the worker.
        worker: String,
        /// Delivery count of the task message.
        delivery: u64,
    },
    /// An attempt ended; `state` is the task's new state (success, failed,
    /// up_for_retry or cancelled).
    AttemptFinished {
        /// Task index.
        task: usize,
        /// Attempt number.
        attempt: u32,
        /// When.
        at: Timestamp,
        /// The task's state after this attempt.
        state: TaskState,
        /// Exit code of the process, when there was one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_code: Option<i32>,
        /// What went wrong, for unsuccessful attempts.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// For `up_for_retry`: milliseconds until the next attempt.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_in_ms: Option<u64>,
        /// What a successful attempt published.
        #[serde(default, skip_serializing_if = "Outputs::is_empty")]
        outputs: Outputs,
        /// The result came from the cache: the task did not run.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        cached: bool,
    },
    /// A worker reported the end of an attempt already recorded, from another
    /// execution than the one recorded (a worker cut off while its task was
    /// handed to another, which finished it first): fenced, changing nothing
    /// but the task's count of duplicate executions.
    DuplicateResult {
        /// Task index.
        task: usize,
        /// Attempt number.
        attempt: u32,
        /// When the late result came.
        at: Timestamp,
        /// The worker that sent it.
        worker: String,
        /// The delivery of the task message it ran.
        delivery: u64,
    },
    /// A `dag` task's attempt started (or resumed) its child run: the run of the
    /// sub-DAG, linked to this one both ways.
    ChildRun {
        /// Task index.
        task: usize,
        /// The child run's id.
        run: String,
        /// When.
        at: Timestamp,
    },
    /// The run is over.
    RunFinished {
        /// Final state.
        state: RunState,
        /// When.
        at: Timestamp,
        /// Why it ended early, when it did (the run's `timeout` passed).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}
