//! The record of one run: what every task did, attempt by attempt. It changes only by
//! applying [`Event`]s, and that is where illegal transitions are caught.

use serde::{Deserialize, Serialize};
use std::sync::Arc;

use super::events::Event;
use super::fanout::instance_id;
use super::graph::Dag;
use super::runner::Outputs;
use super::spec::TaskId;
use super::state::{RunState, TaskState};
use super::time::Timestamp;

/// The state of a run and its tasks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Format version of this record.
    pub version: u32,
    /// Time-sortable id, e.g. `20261126T044802123Z-3f9a`.
    pub run_id: String,
    /// The DAG's `name`.
    pub dag: String,
    /// The DAG file, as given to `dag run`.
    pub file: String,
    /// Run state.
    pub state: RunState,
    /// When the run was created.
    pub created_at: Timestamp,
    /// When it (last) started running.
    #[serde(default)]
    pub started_at: Option<Timestamp>,
    /// When it finished.
    #[serde(default)]
    pub ended_at: Option<Timestamp>,
    /// Parameter values used (in clear: `dag retry` runs with them).
    pub params: Vec<(String, String)>,
    /// The names of the parameters whose value holds a secret (`secret_env`):
    /// shown as `***`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_params: Vec<String>,
    /// Host of the process driving the run.
    #[serde(default)]
    pub host: Text,
    /// Pid of the process driving the run.
    #[serde(default)]
    pub pid: u32,
    /// Number of events applied to this record.
    pub seq: u64,
    /// Why the run ended early, when it did (the run's `timeout` passed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The DAG file's text as it was run, for `dag retry`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definition: Option<Arc<str>>,
    /// The texts of the sub-DAG files its DAG file calls (theirs too), by path
    /// as read: `dag retry` and a scheduler taking the run over read them here,
    /// not from a disk that may have changed or be another machine's.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub sub_dags: super::graph::SubSources,
    /// For the run of a sub-DAG, the run and task that started it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<RunLink>,
    /// The runs of sub-DAGs this run's `dag` tasks started, in the order they
    /// started.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<RunLink>,
    /// How a run that any scheduler may drive is to be driven (a distributed run
    /// kept in NATS KV): a `dag scheduler` takes it over with these settings when
    /// its driver is gone. None for a run only its own process drives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drive: Option<DriveSettings>,
    /// One entry per task, in declaration order (stored with runs of like
    /// instances as blocks: see [`super::compact`]).
    #[serde(with = "super::compact")]
    pub tasks: Vec<TaskRecord>,
    /// The strings last applied (an error, a worker, its host): the next attempt
    /// that has the same one shares it (a million instances failing alike, or run
    /// by a few workers, hold a few strings, not a million).
    #[serde(skip)]
    pub(crate) recent: Recent,
}

/// One end of the link between a run and the run of a sub-DAG one of its tasks
/// started: the other run's id, and the `dag` task (of the parent run).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunLink {
    /// The other run's id.
    pub run: String,
    /// The id of the `dag` task in the parent run.
    pub task: String,
}

/// The settings a run is driven with, kept so that another process can take the
/// run over (see [`RunRecord::drive`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriveSettings {
    /// Most tasks in flight at once (`--parallel`).
    pub parallel: usize,
    /// Stop scheduling after the first task failure (`--fail-fast`).
    #[serde(default)]
    pub fail_fast: bool,
    /// Run tasks with `cache:` even when a saved result matches (`--no-cache`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_cache: bool,
}

/// See [`RunRecord::recent`]: never part of what a record is or compares equal by.
#[derive(Clone, Debug, Default)]
pub(crate) struct Recent {
    error: Option<Text>,
    worker: Option<Text>,
    host: Option<Text>,
    /// The ids of [`RunRecord::children`], built when a `ChildRun` event is
    /// applied to a record holding others than it has: each such event is
    /// looked up here, not in the whole list (a run of many child runs,
    /// resumed again and again, is read in linear time).
    children: std::collections::HashSet<String>,
}

impl PartialEq for Recent {
    fn eq(&self, _: &Recent) -> bool {
        true
    }
}

impl Recent {
    /// `s` as a [`Text`]: the one in `slot` when it is the same, else a new one
    /// kept there.
    fn share(slot: &mut Option<Text>, s: &str) -> Text {
        match slot {
            Some(t) if **t == *s => t.clone(),
            _ => {
                let t = Text::from(s);
                *slot = Some(t.clone());
                t
            }
        }
    }
}

/// What one task did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// Task id.
    pub id: TaskId,
    /// Current state.
    pub state: TaskState,
    /// Every attempt, in order.
    #[serde(default, skip_serializing_if = "Attempts::is_empty")]
    pub attempts: Attempts,
    /// Why the task is in its state, when that is not an attempt's error
    /// (upstream_failed, skipped, cancelled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Text>,
    /// What the task published when it succeeded.
    #[serde(default, skip_serializing_if = "Outputs::is_empty")]
    pub outputs: Outputs,
    /// For a mapped task whose `for_each` is read at run time, once it expanded:
    /// how many instances it has (`ID.0`, ...; later in the task list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances: Option<usize>,
    /// Results of its attempts that came from a second execution of an attempt
    /// already recorded (see [`Event::DuplicateResult`]): fenced, and counted.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub duplicates: u32,
}

impl TaskRecord {
    /// A task that has not run.
    pub fn pending(id: impl Into<TaskId>) -> TaskRecord {
        TaskRecord {
            id: id.into(),
            state: TaskState::Pending,
            attempts: Attempts::new(),
            reason: None,
            outputs: Outputs::new(),
            instances: None,
            duplicates: 0,
        }
    }

    /// Milliseconds the task waited for workers over all its attempts (each
    /// attempt's [`Attempt::queued_ms`]); None when it never ran.
    pub fn queued_ms(&self) -> Option<u64> {
        if self.attempts.is_empty() {
            return None;
        }
        Some(self.attempts.iter().map(Attempt::queued_ms).sum())
    }

    /// Whether the task ended `success` with a result restored from the cache.
    pub fn cached(&self) -> bool {
        self.state == TaskState::Success && self.attempts.last().is_some_and(|a| a.cached)
    }

    /// The task's state as tables and reports show it: `success (cached)` for a
    /// result restored from the cache.
    pub fn state_label(&self) -> String {
        if self.cached() {
            format!("{} (cached)", self.state)
        } else if let Some(why) = self.waiting() {
            format!("{} ({why})", self.state)
        } else {
            self.state.to_string()
        }
    }

    /// What a queued task waits for besides a free place (`waiting for pool db`).
    pub fn waiting(&self) -> Option<&str> {
        self.reason
            .as_deref()
            .filter(|_| matches!(self.state, TaskState::Queued | TaskState::Running))
    }

    /// Milliseconds the task ran: the sum of its attempts' run times (each
    /// [`Attempt::run_ms`]), without the time they waited for a worker and without
    /// the retry delays between them. None until its last attempt ended.
    pub fn run_ms(&self) -> Option<u64> {
        self.attempts.last()?.ended_at?;
        Some(self.attempts.iter().filter_map(Attempt::run_ms).sum())
    }
}

/// A task's attempts: most tasks have one, held in the record itself (a record
/// and an allocation of its own for each of a million instances' attempts took 16
/// bytes more each, and as much again for the allocator).
pub type Attempts = smallvec::SmallVec<[Attempt; 1]>;

/// A string shared by many records (a host, an error, a worker, a reason): one
/// pointer wide, so a million attempts that share their run's host take 8 bytes
/// each for it, not 16 as an `Arc<str>` would.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Text(Arc<String>);

impl std::ops::Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.0.as_str()
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self.0.as_str()
    }
}

impl std::borrow::Borrow<str> for Text {
    fn borrow(&self) -> &str {
        self.0.as_str()
    }
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.0.as_str(), f)
    }
}

impl std::fmt::Display for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.as_str())
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        Text(Arc::new(s))
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        Text(Arc::new(s.to_string()))
    }
}

impl From<&String> for Text {
    fn from(s: &String) -> Text {
        Text(Arc::new(s.clone()))
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.0.as_str() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.0.as_str() == *other
    }
}

/// One attempt of a task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// Attempt number, from 1.
    pub attempt: u32,
    /// When it started.
    pub started_at: Timestamp,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
    /// Host it ran on (shared with the run's host and other attempts': see
    /// [`RunRecord::apply`]).
    pub host: Text,
    /// The task state it ended in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<TaskState>,
    /// Exit code, when a process ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Error, for unsuccessful attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Text>,
    /// The worker that ran it (distributed executor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<Text>,
    /// Times a worker picked it up: more than 1 when a worker was lost mid-attempt
    /// and another ran the attempt again (without spending a retry).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub deliveries: u32,
    /// For an attempt run by a worker: milliseconds from its start (when it was
    /// queued for the workers) to when a worker took it (the last one that did);
    /// 0 for an attempt run in the driving process.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub placed_ms: u32,
    /// The attempt's result was restored from the cache (`cache:`): the task did
    /// not run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cached: bool,
}

#[cfg(test)]
impl Attempt {
    /// A first attempt on host `h` that succeeded, from `started` to `ended`
    /// (milliseconds since the epoch), for tests.
    pub(crate) fn succeeded(started: u64, ended: u64) -> Attempt {
        Attempt {
            attempt: 1,
            started_at: Timestamp(started),
            ended_at: Some(Timestamp(ended)),
            host: "h".into(),
            outcome: Some(TaskState::Success),
            exit_code: Some(0),
            error: None,
            worker: None,
            deliveries: 0,
            placed_ms: 0,
            cached: false,
        }
    }
}

impl Attempt {
    /// Milliseconds the attempt waited for a worker: from when it was queued to
    /// when the worker that ran it took it ([`Attempt::placed_ms`]). After a lost
    /// worker this holds the lost worker's time and the wait for the redelivery
    /// too: that worker's run did not count. 0 for an attempt run in the driving
    /// process. Never more than the attempt's span once it ended, whatever the
    /// record says (`queued_ms + run_ms` is the time from its start to its end).
    pub fn queued_ms(&self) -> u64 {
        let placed = u64::from(self.placed_ms);
        match self.ended_at {
            Some(end) => placed.min(self.started_at.until(end).as_millis() as u64),
            None => placed,
        }
    }

    /// Milliseconds the attempt ran: from when the worker that ran it took it (or
    /// from its start, when it ran in the driving process) to its end. None until
    /// it ended. An attempt that ended before any worker took it (cancelled in
    /// the queue) counts as having run for all its time: the record cannot tell it
    /// apart from one run in the driving process.
    pub fn run_ms(&self) -> Option<u64> {
        let whole = self.started_at.until(self.ended_at?).as_millis() as u64;
        Some(whole.saturating_sub(self.queued_ms()))
    }
}

pub(crate) fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// An event that does not fit the record: an engine bug, or a corrupt event log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("illegal transition in run {run_id}: {detail}")]
pub struct IllegalTransition {
    /// The run.
    pub run_id: String,
    /// What was attempted.
    pub detail: String,
}

/// Format version of a new [`RunRecord`]. 2: in the NATS store, a task's record
/// is created by its first change, and a missing one reads as pending (version 1
/// wrote every task record when the run was created). 3: in the NATS store, a run
/// record too large for one message keeps its DAG file text and task ids in an
/// object (`body_object`). 4: the file store's `run.json` keeps runs of like
/// instance records as blocks (see [`super::compact`]); the NATS store writes 2
/// or 3. An older dag refuses a newer record by name instead of misreading it.
pub const RECORD_VERSION: u32 = 4;

/// The newest record format this dag reads.
pub const RECORD_VERSION_READ: u32 = RECORD_VERSION;

impl RunRecord {
    /// A new run of `dag`, every task pending.
    pub fn new(run_id: String, dag: &Dag, file: String) -> RunRecord {
        RunRecord {
            version: RECORD_VERSION,
            run_id,
            dag: dag.spec.name.clone(),
            file,
            state: RunState::Queued,
            created_at: Timestamp::now(),
            started_at: None,
            ended_at: None,
            params: dag.spec.params.clone(),
            secret_params: dag.spec.secret_params(),
            host: Text::default(),
            pid: 0,
            seq: 0,
            reason: None,
            definition: dag.source.clone(),
            sub_dags: (*dag.sub_sources).clone(),
            parent: None,
            children: Vec::new(),
            drive: None,
            tasks: dag
                .spec
                .tasks
                .iter()
                .map(|t| TaskRecord::pending(t.id.clone()))
                .collect(),
            recent: Recent::default(),
        }
    }

    /// Duplicate executions fenced over all its tasks (see
    /// [`TaskRecord::duplicates`]).
    pub fn duplicates(&self) -> u64 {
        self.tasks.iter().map(|t| u64::from(t.duplicates)).sum()
    }

    /// Applies one event, refusing transitions the state machine forbids.
    pub fn apply(&mut self, event: &Event) -> Result<(), IllegalTransition> {
        if self.seq == u64::MAX {
            return Err(IllegalTransition {
                run_id: self.run_id.clone(),
                detail: "the record counts no more events".into(),
            });
        }
        match event {
            Event::RunStarted { at, host, pid } => {
                // A run taken over by another driver keeps its start.
                let taken_over = self.state == RunState::Running;
                self.run_to(RunState::Running)?;
                if !taken_over || self.started_at.is_none() {
                    self.started_at = Some(*at);
                }
                self.ended_at = None;
                self.reason = None;
                self.host = Text::from(host.as_str());
                self.pid = *pid;
            }
            Event::RunRetried { tasks, .. } => {
                // Any run may be retried, a finished one or one whose driver died;
                // any task may start over. That is the only way back to `pending`
                // from `running`, and it is taken only by `dag retry`.
                for &task in tasks {
                    let t = self.task_mut(task)?;
                    t.state = TaskState::Pending;
                    t.reason = None;
                    t.outputs.clear();
                    if let Some(a) = t.attempts.last_mut().filter(|a| a.ended_at.is_none()) {
                        a.outcome = Some(TaskState::Cancelled);
                        a.error =
                            Some("interrupted: the dag process driving the run stopped".into());
                    }
                }
                self.state = RunState::Queued;
                self.ended_at = None;
            }
            Event::TaskState {
                task,
                state,
                reason,
                ..
            } => {
                let t = self.task_to(*task, *state)?;
                t.reason = reason.as_deref().map(Text::from);
            }
            Event::TaskWaiting { task, reason, .. } => {
                let run_id = self.run_id.clone();
                let t = self.task_mut(*task)?;
                if !matches!(t.state, TaskState::Queued | TaskState::Running) {
                    return Err(IllegalTransition {
                        run_id,
                        detail: format!("task {}: waiting while {}", t.id, t.state),
                    });
                }
                // An empty reason: it waits for nothing any more.
                t.reason = (!reason.is_empty()).then(|| Text::from(reason.as_str()));
            }
            Event::ChildRun { task, run, .. } => {
                let id = self.task_mut(*task)?.id.to_string();
                // The run of a sub-DAG has this run's id, a dash and more (see
                // `child_run_id`): anything else is no run this one started.
                if !is_child_run_id(run, &self.run_id) {
                    return Err(IllegalTransition {
                        run_id: self.run_id.clone(),
                        detail: format!(
                            "task `{id}` started run `{}`, whose id is not this run's and more",
                            super::text::printable(run)
                        ),
                    });
                }
                if self.recent.children.len() != self.children.len() {
                    self.recent.children = self.children.iter().map(|c| c.run.clone()).collect();
                }
                if self.recent.children.insert(run.clone()) {
                    self.children.push(RunLink {
                        run: run.clone(),
                        task: id,
                    });
                }
            }
            Event::TaskMapped {
                task, instances, ..
            } => {
                let run_id = self.run_id.clone();
                let held = self.tasks.len();
                let t = self.task_mut(*task)?;
                let had = t.instances.unwrap_or(0);
                if t.state != TaskState::Running
                    || *instances < had
                    || *instances > crate::engine::fanout::MAX_INSTANCES
                    || held + (*instances - had) > crate::engine::fanout::MAX_RUN_TASKS
                {
                    return Err(IllegalTransition {
                        run_id,
                        detail: format!(
                            "task {}: {instances} instances, where it had {had} (state {})",
                            t.id, t.state
                        ),
                    });
                }
                t.instances = Some(*instances);
                let group = t.id.clone();
                self.tasks
                    .extend((had..*instances).map(|i| TaskRecord::pending(instance_id(&group, i))));
            }
            Event::AttemptStarted {
                task,
                attempt,
                at,
                host,
            } => {
                // A run's attempts mostly run where it does: they share its host.
                let host = if *self.host == **host {
                    self.host.clone()
                } else {
                    Text::from(host.as_str())
                };
                let t = self.task_to(*task, TaskState::Running)?;
                t.reason = None;
                // Most tasks have one attempt: room for exactly one, not the four a
                // first push reserves (a quarter of the record's memory at 100k tasks).
                if t.attempts.capacity() == 0 {
                    t.attempts.reserve_exact(1);
                }
                t.attempts.push(Attempt {
                    attempt: *attempt,
                    started_at: *at,
                    ended_at: None,
                    host,
                    outcome: None,
                    exit_code: None,
                    error: None,
                    worker: None,
                    deliveries: 0,
                    placed_ms: 0,
                    cached: false,
                });
            }
            Event::DuplicateResult { task, .. } => {
                let t = self.task_mut(*task)?;
                t.duplicates = t.duplicates.saturating_add(1);
            }
            Event::AttemptPlaced {
                task,
                attempt,
                at,
                host,
                worker,
                delivery,
            } => {
                let run_id = self.run_id.clone();
                let host = if *self.host == **host {
                    self.host.clone()
                } else {
                    Recent::share(&mut self.recent.host, host)
                };
                let worker = Recent::share(&mut self.recent.worker, worker);
                let t = self.task_mut(*task)?;
                let current = t.state == TaskState::Running;
                // A worker took it: it waits for nothing any more.
                if current {
                    t.reason = None;
                }
                match t
                    .attempts
                    .last_mut()
                    .filter(|a| a.attempt == *attempt && current)
                {
                    Some(a) => {
                        a.host = host;
                        a.worker = Some(worker);
                        let delivery = u32::try_from(*delivery).unwrap_or(u32::MAX);
                        a.deliveries = a.deliveries.max(delivery);
                        a.placed_ms =
                            u32::try_from(a.started_at.until(*at).as_millis()).unwrap_or(u32::MAX);
                    }
                    None => {
                        return Err(IllegalTransition {
                            run_id,
                            detail: format!(
                                "task {}: attempt {attempt} placed but not running",
                                t.id
                            ),
                        });
                    }
                }
            }
            Event::AttemptFinished {
                task,
                attempt,
                at,
                state,
                exit_code,
                error,
                outputs,
                cached,
                ..
            } => {
                let run_id = self.run_id.clone();
                let error_text = error
                    .as_deref()
                    .map(|e| Recent::share(&mut self.recent.error, e));
                let t = self.task_to(*task, *state)?;
                if *state == TaskState::Success {
                    t.outputs.clone_from(outputs);
                }
                let Some(a) = t.attempts.last_mut().filter(|a| a.attempt == *attempt) else {
                    return Err(IllegalTransition {
                        run_id,
                        detail: format!(
                            "task {}: attempt {attempt} finished but was never started",
                            t.id
                        ),
                    });
                };
                a.ended_at = Some(*at);
                a.outcome = Some(*state);
                // What it waited for is over (its error says how it ended).
                if t.state != TaskState::Queued {
                    t.reason = None;
                }
                a.exit_code = *exit_code;
                a.error = error_text;
                a.cached = *cached;
            }
            Event::RunFinished { state, at, reason } => {
                self.run_to(*state)?;
                self.ended_at = Some(*at);
                self.reason.clone_from(reason);
            }
        }
        self.seq += 1;
        Ok(())
    }

    /// The record of task `index`, which must exist.
    fn task_mut(&mut self, index: usize) -> Result<&mut TaskRecord, IllegalTransition> {
        let run_id = &self.run_id;
        self.tasks.get_mut(index).ok_or_else(|| IllegalTransition {
            run_id: run_id.clone(),
            detail: format!("no task #{index}"),
        })
    }

    fn run_to(&mut self, to: RunState) -> Result<(), IllegalTransition> {
        if !self.state.can_become(to) {
            return Err(IllegalTransition {
                run_id: self.run_id.clone(),
                detail: format!("run {} -> {to}", self.state),
            });
        }
        self.state = to;
        Ok(())
    }

    fn task_to(
        &mut self,
        index: usize,
        to: TaskState,
    ) -> Result<&mut TaskRecord, IllegalTransition> {
        let run_id = &self.run_id;
        let Some(task) = self.tasks.get_mut(index) else {
            return Err(IllegalTransition {
                run_id: run_id.clone(),
                detail: format!("no task #{index}"),
            });
        };
        if !task.state.can_become(to) {
            return Err(IllegalTransition {
                run_id: run_id.clone(),
                detail: format!("task {}: {} -> {to}", task.id, task.state),
            });
        }
        task.state = to;
        Ok(task)
    }

    /// Task indexes in the order to show them: the tasks of the file, each mapped
    /// task that expanded at run time followed by its instances (which come last
    /// in the record).
    pub fn in_order(&self) -> Vec<usize> {
        let instances = self
            .tasks
            .iter()
            .filter_map(|t| t.instances)
            .fold(0usize, usize::saturating_add);
        let declared = self.tasks.len().saturating_sub(instances);
        if declared == self.tasks.len() {
            return (0..self.tasks.len()).collect();
        }
        let at: std::collections::HashMap<&str, usize> = self.tasks[declared..]
            .iter()
            .enumerate()
            .map(|(i, t)| (t.id.as_str(), declared + i))
            .collect();
        let mut order = Vec::with_capacity(self.tasks.len());
        let mut shown = vec![false; self.tasks.len()];
        for (i, t) in self.tasks[..declared].iter().enumerate() {
            order.push(i);
            shown[i] = true;
            for n in 0..t.instances.unwrap_or(0) {
                if let Some(&j) = at.get(instance_id(&t.id, n).as_str())
                    && !std::mem::replace(&mut shown[j], true)
                {
                    order.push(j);
                }
            }
        }
        // Whatever a damaged record holds besides, at the end.
        order.extend((0..self.tasks.len()).filter(|&i| !shown[i]));
        order
    }

    /// The run's final state given its tasks: failed if any task failed or was
    /// upstream_failed (any of `deciding` only, when given: the leaves of a run whose
    /// `outcome` is `leaves`), cancelled if any was cancelled, success otherwise.
    pub fn outcome(&self, deciding: Option<&[usize]>) -> RunState {
        let any = |s: TaskState| self.tasks.iter().any(|t| t.state == s);
        let failed =
            |t: &TaskRecord| matches!(t.state, TaskState::Failed | TaskState::UpstreamFailed);
        let failure = match deciding {
            Some(tasks) => tasks.iter().any(|&i| failed(&self.tasks[i])),
            None => self.tasks.iter().any(failed),
        };
        if failure {
            RunState::Failed
        } else if any(TaskState::Cancelled) {
            RunState::Cancelled
        } else {
            RunState::Success
        }
    }

    /// The last error of a task: its last attempt's error, else its reason.
    pub fn task_error(&self, index: usize) -> Option<&str> {
        let t = &self.tasks[index];
        match t.state {
            TaskState::Success => None,
            // What a queued task waits for is no error of it.
            TaskState::Queued => t.attempts.last().and_then(|a| a.error.as_deref()),
            _ => t
                .reason
                .as_deref()
                .or_else(|| t.attempts.last().and_then(|a| a.error.as_deref())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::validate::{LoadOptions, load_str};

    fn record() -> RunRecord {
        let dag = load_str(
            "t.yaml",
            "name: t\ntasks:\n  a: {command: 'true'}\n  b: {command: 'true', depends_on: a}\n",
            &LoadOptions::default(),
        )
        .unwrap();
        RunRecord::new("r1".into(), &dag, "t.yaml".into())
    }

    /// Attack pass on sub-DAG views: a `child_run` event naming a run that is
    /// not this one's id and more (itself, another run, escapes) is refused;
    /// the same child run started again is linked once; and a long log of
    /// them (a mapped dag task resumed, or a forged log) is looked up in an
    /// index, not in every link before it.
    #[test]
    fn child_run_events_link_only_runs_below_this_one_and_read_in_linear_time() {
        let mut r = record();
        let at = Timestamp(1);
        let child = |run: String| Event::ChildRun { task: 0, run, at };
        for bad in [
            "r1".to_string(),
            "r2-a".into(),
            "r1-\x1b[31m".into(),
            "r1-".into(),
        ] {
            let why = r.apply(&child(bad.clone())).unwrap_err().detail;
            assert!(why.contains("is not this run's"), "{bad}: {why}");
        }
        r.apply(&child("r1-a".into())).unwrap();
        r.apply(&child("r1-a".into())).unwrap();
        assert_eq!(r.children.len(), 1);
        for i in 0..100_000 {
            r.apply(&child(format!("r1-a{i}"))).unwrap();
            r.apply(&child("r1-a".into())).unwrap();
        }
        assert_eq!(r.children.len(), 100_001);
        // Each event was looked up in the index, kept whole, not in the list.
        assert_eq!(r.recent.children.len(), r.children.len());
    }

    /// Attack pass on issue 17: a hand-edited `placed_ms` larger than its attempt's
    /// span (up to u32::MAX), or an end before the start, counts no more queued
    /// time than the attempt lasted: `queued_ms + run_ms` stays its span.
    #[test]
    fn queued_time_never_exceeds_the_attempts_span() {
        let mut a = Attempt::succeeded(1_000, 1_003);
        a.placed_ms = u32::MAX;
        assert_eq!((a.queued_ms(), a.run_ms()), (3, Some(0)));
        a.placed_ms = 2;
        assert_eq!((a.queued_ms(), a.run_ms()), (2, Some(1)));
        let mut back = Attempt::succeeded(1_000, 500);
        back.placed_ms = 100;
        assert_eq!((back.queued_ms(), back.run_ms()), (0, Some(0)));
        // Still running: the time it waited so far, as recorded.
        let mut running = Attempt::succeeded(1_000, 1_003);
        running.ended_at = None;
        running.placed_ms = 10_000;
        assert_eq!((running.queued_ms(), running.run_ms()), (10_000, None));
        let mut t = TaskRecord::pending("t");
        t.attempts = smallvec::smallvec![a, back];
        assert_eq!((t.queued_ms(), t.run_ms()), (Some(2), Some(1)));
    }

    /// Attack pass on issue 14: a record whose count of events cannot go up (a
    /// hand-edited `seq`) takes no event, so nothing is written that reading
    /// would refuse.
    #[test]
    fn a_record_that_counts_no_more_events_takes_none() {
        let mut r = record();
        r.seq = u64::MAX;
        let started = Event::RunStarted {
            at: Timestamp(1),
            host: "h".into(),
            pid: 1,
        };
        let err = r.apply(&started).unwrap_err();
        assert!(err.detail.contains("counts no more events"), "{err}");
        assert_eq!(r.state, RunState::Queued);
    }

    #[test]
    fn attempts_are_recorded() {
        let mut r = record();
        let at = Timestamp(1);
        r.apply(&Event::RunStarted {
            at,
            host: "h".into(),
            pid: 1,
        })
        .unwrap();
        r.apply(&Event::TaskState {
            task: 0,
            state: TaskState::Queued,
            at,
            reason: None,
        })
        .unwrap();
        r.apply(&Event::AttemptStarted {
            task: 0,
            attempt: 1,
            at,
            host: "h".into(),
        })
        .unwrap();
        r.apply(&Event::AttemptFinished {
            task: 0,
            attempt: 1,
            at: Timestamp(5),
            state: TaskState::Success,
            exit_code: Some(0),
            error: None,
            retry_in_ms: None,
            outputs: Outputs::new(),
            cached: false,
        })
        .unwrap();
        assert_eq!(r.tasks[0].state, TaskState::Success);
        assert_eq!(r.tasks[0].attempts[0].ended_at, Some(Timestamp(5)));
        assert_eq!(r.seq, 4);
    }

    #[test]
    fn illegal_transitions_are_refused() {
        let mut r = record();
        let at = Timestamp(1);
        let err = r
            .apply(&Event::AttemptStarted {
                task: 1,
                attempt: 1,
                at,
                host: "h".into(),
            })
            .unwrap_err();
        assert!(err.detail.contains("pending -> running"), "{err}");
        assert_eq!(r.seq, 0);
    }
}

/// Whether `s` can be a run id: letters, digits, `_` and `-`, at most 100 characters
/// (what [`new_run_id`] makes; a run id is a NATS subject token and a file name).
/// Anything else names no run, in any store.
pub fn valid_run_id(s: &str) -> bool {
    super::validate::is_valid_name(s) && !s.contains('.')
}

/// Whether `child` could be the id of the run of a sub-DAG that run `parent`
/// started: a run id that is `parent`, a dash and more (see
/// [`crate::backends::subdag::child_run_id`]). Never true of `parent` itself,
/// nor both ways: links that pass never loop.
pub fn is_child_run_id(child: &str, parent: &str) -> bool {
    valid_run_id(child)
        && child
            .strip_prefix(parent)
            .is_some_and(|rest| rest.len() > 1 && rest.starts_with('-'))
}

/// A new run id: the UTC time to the millisecond, then four random hex digits, e.g.
/// `20261126T044802123Z-3f9a`. Ids sort by creation time.
pub fn new_run_id() -> String {
    let stamp: String = Timestamp::now()
        .rfc3339()
        .chars()
        .filter(|c| !matches!(c, '-' | ':' | '.'))
        .collect();
    format!("{stamp}-{:04x}", fastrand::u16(..))
}

#[cfg(test)]
mod id_tests {
    #[test]
    fn run_ids_sort_by_time() {
        let a = super::new_run_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = super::new_run_id();
        assert_eq!(a.len(), "20261126T044802123Z-3f9a".len(), "{a}");
        assert!(a < b, "{a} {b}");
    }
}
