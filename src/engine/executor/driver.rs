//! What both executors share: applying events to the record, writing them to the
//! store, telling observers, and preparing attempts.

use std::path::PathBuf;
use std::sync::Arc;

use super::{ExecError, ExecOptions};
use crate::engine::events::Event;
use crate::engine::expr::{self, Expr};
use crate::engine::fanout;
use crate::engine::graph::Dag;
use crate::engine::record::RunRecord;
use crate::engine::runner::{
    Acker, LogFaults, Note, NoteSink, Outcome, Status, StopSignal, TaskContext,
};
use crate::engine::secrets::Secrets;
use crate::engine::spec::{RunOutcome, TaskSpec};
use crate::engine::state::{RunState, TaskState};
use crate::engine::store::{RunWriter, StoreError};
use crate::engine::time::Timestamp;
use crate::engine::trigger::{Decision, Upstream, decide};
use crate::engine::{retry, runner::Runners};

/// Watches a run: progress bars, plain lines, anything that reacts to events.
pub trait Observer: Send + Sync {
    /// Called after `event` has been applied to `record`.
    fn on_event(&self, record: &RunRecord, event: &Event);
}

/// Why the run stopped scheduling early.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Halt {
    /// Ctrl-C or SIGTERM.
    Interrupted,
    /// `--fail-fast` and this task failed.
    FailFast(String),
}

pub(super) struct Driver {
    pub dag: Arc<Dag>,
    pub record: RunRecord,
    writer: Box<dyn RunWriter>,
    observer: Arc<dyn Observer>,
    pub options: ExecOptions,
    pub halt: Option<Halt>,
    /// Where runners' notes go, when the executor listens for them.
    pub notes: Option<tokio::sync::mpsc::UnboundedSender<(usize, u32, Note)>>,
    /// Acknowledgements to make once the events before them are committed.
    acks: Vec<Arc<Acker>>,
    /// Where task logs report a failed write: the run stops as for the store.
    pub log_faults: LogFaults,
    /// The secrets of each task's running attempt, built by `begin_attempt` from the
    /// spec it ran (outputs of upstream tasks substituted) and used again by
    /// `end_attempt` for its outputs and error (only those that mask anything:
    /// a slot for each of a million tasks would take 8 MB).
    secrets: crate::engine::Map<usize, Secrets>,
    /// The names of the run's secret params (fixed when the run was made).
    secret_params: std::sync::Arc<[String]>,
    /// The run's `timeout`, and whether it has passed (set by the executor's timer,
    /// which then stops the run as a Ctrl-C would).
    pub timeout: Option<std::time::Duration>,
    pub timed_out: Arc<std::sync::atomic::AtomicBool>,
    /// Whether the run's timeout stopped a running attempt.
    stopped_by_timeout: bool,
}

/// What to do after an attempt ended.
pub(super) enum AfterAttempt {
    /// Nothing more for this task.
    Done,
    /// Try again after this long.
    Retry(std::time::Duration),
}

impl Driver {
    pub fn new(
        dag: Arc<Dag>,
        record: RunRecord,
        writer: Box<dyn RunWriter>,
        observer: Arc<dyn Observer>,
        options: ExecOptions,
    ) -> Driver {
        Driver {
            secret_params: record.secret_params.clone().into(),
            dag,
            record,
            writer,
            observer,
            options,
            halt: None,
            notes: None,
            acks: Vec::new(),
            log_faults: LogFaults::default(),
            secrets: crate::engine::Map::default(),
            timeout: None,
            timed_out: Arc::default(),
            stopped_by_timeout: false,
        }
    }

    pub fn emit(&mut self, event: Event) -> Result<(), ExecError> {
        self.record.apply(&event)?;
        self.writer.append(&event)?;
        self.observer.on_event(&self.record, &event);
        Ok(())
    }

    pub fn commit(&mut self) -> Result<(), ExecError> {
        self.writer.commit(&self.record, false)?;
        for ack in self.acks.drain(..) {
            ack.ack();
        }
        Ok(())
    }

    /// Records what a runner noted about `attempt` of `task`: that a worker picked
    /// it up, if that attempt is the one running (a late note about an earlier
    /// attempt is dropped); or a duplicate execution of an attempt (of any task:
    /// the note names it) whose result is recorded.
    pub fn note(&mut self, task: usize, attempt: u32, note: Note) -> Result<(), ExecError> {
        match note {
            Note::Placed {
                host,
                worker,
                delivery,
            } => {
                if !self.is_current(task, attempt) {
                    return Ok(());
                }
                self.emit(Event::AttemptPlaced {
                    task,
                    attempt,
                    at: Timestamp::now(),
                    host,
                    worker,
                    delivery,
                })
            }
            Note::Waiting { reason } => {
                if !self.is_current(task, attempt) {
                    return Ok(());
                }
                self.wait(task, reason)
            }
            Note::Child { run } => {
                if !self.is_current(task, attempt) {
                    return Ok(());
                }
                self.emit(Event::ChildRun {
                    task,
                    run,
                    at: Timestamp::now(),
                })
            }
            Note::Duplicate {
                task,
                attempt,
                worker,
                delivery,
                known,
                ack,
            } => {
                // An attempt this run has not recorded ending (its earlier
                // driver handed it out and stopped before it saved so): the
                // result is left unacknowledged, to reach the attempt once this
                // driver starts it, unless the task ended otherwise.
                let Some(index) = self.dag.index_of(&task) else {
                    return Ok(());
                };
                let t = &self.record.tasks[index];
                let Some(a) = t
                    .attempts
                    .iter()
                    .find(|a| a.attempt == attempt && a.ended_at.is_some())
                else {
                    if t.state.is_terminal() {
                        self.acks.extend(ack.0);
                    }
                    return Ok(());
                };
                // Acknowledged with the next save, counted or not.
                self.acks.extend(ack.0);
                // The very result recorded, delivered again (its acknowledgement
                // was lost): not another execution.
                let recorded = a.worker.as_deref() == Some(worker.as_str())
                    && u64::from(a.deliveries.max(1)) == delivery.max(1);
                if !known && recorded {
                    return Ok(());
                }
                self.emit(Event::DuplicateResult {
                    task: index,
                    attempt,
                    at: Timestamp::now(),
                    worker,
                    delivery,
                })
            }
        }
    }

    /// Whether `attempt` is the one `task` is running now (a note about an
    /// earlier one is late).
    fn is_current(&self, task: usize, attempt: u32) -> bool {
        let t = &self.record.tasks[task];
        t.state == TaskState::Running && t.attempts.last().is_some_and(|a| a.attempt == attempt)
    }

    /// Fires when another process took the run over (see
    /// [`RunWriter::taken_over`]).
    pub fn taken_over(&self) -> Option<tokio_util::sync::CancellationToken> {
        self.writer.taken_over()
    }

    /// The error that stops a run another process took over.
    pub fn taken_over_error(&self) -> ExecError {
        ExecError::Store(StoreError::TakenOver(self.record.run_id.clone()))
    }

    pub fn start(&mut self) -> Result<(), ExecError> {
        self.writer.commit(&self.record, true)?;
        self.emit(Event::RunStarted {
            at: Timestamp::now(),
            host: self.options.host.clone(),
            pid: std::process::id(),
        })
    }

    pub fn state(&self, task: usize) -> TaskState {
        self.record.tasks[task].state
    }

    pub fn set_state(
        &mut self,
        task: usize,
        state: TaskState,
        reason: Option<String>,
    ) -> Result<(), ExecError> {
        self.emit(Event::TaskState {
            task,
            state,
            at: Timestamp::now(),
            reason,
        })
    }

    /// Records that queued `task` waits for something besides a free place
    /// (`waiting for pool db`).
    pub fn wait(&mut self, task: usize, reason: String) -> Result<(), ExecError> {
        self.emit(Event::TaskWaiting {
            task,
            at: Timestamp::now(),
            reason,
        })
    }

    /// What the trigger rule of `task` says now.
    pub fn decision(&self, task: usize) -> Decision {
        let up = Upstream::of(self.dag.upstream[task].iter().map(|&u| self.state(u)));
        match decide(self.dag.task(task).trigger_rule, up) {
            Decision::Run if !self.dag.reads_done(task, |t| self.state(t)) => Decision::Wait,
            decision => decision,
        }
    }

    /// Resolves a task whose rule can no longer hold.
    pub fn resolve(&mut self, task: usize, decision: Decision) -> Result<(), ExecError> {
        let (state, reason) = match decision {
            Decision::UpstreamFailed => (TaskState::UpstreamFailed, "an upstream task failed"),
            Decision::Skipped => (TaskState::Skipped, "trigger rule not met"),
            Decision::Run | Decision::Wait => return Ok(()),
        };
        let rule = self.dag.task(task).trigger_rule;
        let reason = format!("{reason} ({})", rule_name(rule));
        self.set_state(task, state, Some(reason))
    }

    /// Skips `task`, whose trigger rule lets it run, if its `when` condition is
    /// false (or it stands in for a mapped task without instances); says whether
    /// it did. A condition that cannot be evaluated (an output
    /// the upstream task did not publish) leaves the task to run, and its attempt
    /// fails with the reason (see `begin_attempt`).
    pub fn skip_unless_wanted(&mut self, task: usize) -> Result<bool, ExecError> {
        let map = self.dag.task(task).map.as_deref();
        // A mapped task whose list is read at run time: a `when` that reads an
        // item is its instances' (each with its own); any other is checked before
        // the list is read (and guards a list that may not be there).
        if map.is_some_and(|m| m.dynamic()) && self.guard(task).is_none() {
            return Ok(false);
        }
        // The stand-in of a mapped task without instances.
        if map.is_some_and(|m| m.empty()) {
            let reason = "no instances: its `for_each` or `matrix` is empty".to_string();
            self.set_state(task, TaskState::Skipped, Some(reason))?;
            return Ok(true);
        }
        let Some(when) = self.dag.task(task).when.clone() else {
            return Ok(false);
        };
        match self.condition_holds(task, &when) {
            Ok(false) => {
                let reason = format!("when: `{}` is false", when.trim());
                self.set_state(task, TaskState::Skipped, Some(reason))?;
                Ok(true)
            }
            Ok(true) | Err(_) => Ok(false),
        }
    }

    /// The `when` of a mapped task whose list is read at run time, when it reads
    /// no item: it is checked before the list is read.
    fn guard(&self, task: usize) -> Option<String> {
        let when = self.dag.task(task).when.as_deref()?;
        let reads_item = crate::engine::condition::parse(when).is_ok_and(|c| !c.items().is_empty());
        (!reads_item).then(|| when.to_string())
    }

    /// Evaluates a `when` condition against the run's params, env and outputs.
    fn condition_holds(&self, task: usize, when: &str) -> Result<bool, String> {
        let cond = crate::engine::condition::parse(when)?;
        cond.eval(&RunValues {
            dag: &self.dag,
            record: &self.record,
            task,
        })
    }

    /// Records that the next attempt of `task` started, and gives its number.
    fn attempt_started(&mut self, task: usize) -> Result<u32, ExecError> {
        // A driver whose run another process took over hands out nothing more.
        self.writer.check_driving()?;
        let attempt = self.record.tasks[task].attempts.len() as u32 + 1;
        self.emit(Event::AttemptStarted {
            task,
            attempt,
            at: Timestamp::now(),
            host: self.options.host.clone(),
        })?;
        Ok(attempt)
    }

    /// Records the start of an attempt and prepares its context.
    pub fn begin_attempt(
        &mut self,
        task: usize,
        stop: &StopSignal,
    ) -> Result<TaskContext, ExecError> {
        let attempt = self.attempt_started(task)?;
        self.attempt_context(task, attempt, stop, None)
    }

    /// The context of `task`'s open attempt, which an earlier driver of the run
    /// handed out (the run was taken over): the runner waits for its result.
    /// None when the task has no open attempt.
    pub fn adopt_attempt(
        &mut self,
        task: usize,
        stop: &StopSignal,
    ) -> Result<Option<TaskContext>, ExecError> {
        let Some(open) = self.record.tasks[task]
            .attempts
            .last()
            .filter(|a| a.ended_at.is_none())
        else {
            return Ok(None);
        };
        let attempt = open.attempt;
        let adopted = crate::engine::runner::Adopted {
            worker: open.worker.as_ref().map(|w| w.to_string()),
            waiting: self.record.tasks[task].waiting().is_some(),
        };
        self.attempt_context(task, attempt, stop, Some(adopted))
            .map(Some)
    }

    /// Prepares the context of `attempt` of `task`.
    fn attempt_context(
        &mut self,
        task: usize,
        attempt: u32,
        stop: &StopSignal,
        adopted: Option<crate::engine::runner::Adopted>,
    ) -> Result<TaskContext, ExecError> {
        let (resolved, mut unrunnable) = match self.resolve_outputs(task) {
            Ok(resolved) => (resolved, None),
            Err(e) => (None, Some(e)),
        };
        // A condition that could not be evaluated when the task was let through
        // fails every attempt, as a missing output in a command does.
        if let Some(when) = &self.dag.task(task).when
            && unrunnable.is_none()
            && let Err(e) = self.condition_holds(task, when)
        {
            unrunnable = Some(format!("when: {e}"));
        }
        let spec = resolved.as_ref().unwrap_or_else(|| self.dag.task(task));
        let log = self.writer.task_log(&spec.id, attempt)?;
        let mut env = Vec::with_capacity(self.dag.spec.env.len() + spec.env.len() + 4);
        env.extend(self.dag.spec.env.iter().cloned());
        env.extend(spec.env.iter().cloned());
        env.push(("DAG_NAME".into(), self.dag.spec.name.clone()));
        env.push(("DAG_RUN_ID".into(), self.record.run_id.clone()));
        env.push(("DAG_TASK_ID".into(), spec.id.to_string()));
        env.push(("DAG_ATTEMPT".into(), attempt.to_string()));
        // Params that are part of a secret are secret too (as a worker decides).
        let secrets = Secrets::new(&crate::engine::secrets::attempt_secrets(
            spec.secret_values(&env),
            &self.dag.spec.params,
            &self.record.secret_params,
        ));
        if secrets.is_empty() {
            self.secrets.remove(&task);
        } else {
            self.secrets.insert(task, secrets.clone());
        }
        let log = log
            .with_secrets(secrets)
            .reporting_faults_to(self.log_faults.clone());
        let workdir = spec.workdir.as_ref().map(PathBuf::from);
        let timeout = spec.timeout.unwrap_or(self.options.default_timeout);
        // Only functions read their upstream tasks' outputs whole (other tasks
        // have theirs substituted in their strings): thirty tasks after a list of
        // 30 MB must not carry a copy each, here or in their task messages.
        let upstream = match self.dag.task(task).kind {
            crate::engine::spec::TaskKind::Fn { .. } => self.dag.upstream[task]
                .iter()
                .map(|&u| {
                    (
                        self.record.tasks[u].id.to_string(),
                        self.record.tasks[u].outputs.clone(),
                    )
                })
                .collect(),
            _ => Default::default(),
        };
        Ok(TaskContext {
            dag: self.dag.clone(),
            index: task,
            run_id: self.record.run_id.clone(),
            attempt,
            env,
            workdir,
            timeout,
            grace: self.options.grace,
            log,
            lines: self.options.lines.clone(),
            stop: stop.clone(),
            resolved,
            upstream,
            output_cap: self.dag.output_cap(task),
            unrunnable,
            notes: self.notes.clone().map(|tx| {
                Arc::new(move |note: Note| {
                    let _ = tx.send((task, attempt, note));
                }) as NoteSink
            }),
            secret_params: self.secret_params.clone(),
            adopted,
            no_cache: self.options.no_cache,
            rerun: self.record.tasks[task]
                .attempts
                .iter()
                .rev()
                .find(|a| a.attempt < attempt)
                .is_some_and(|a| a.outcome == Some(TaskState::Success)),
            gpus: Vec::new(),
        })
    }

    /// The task with `${{ tasks.ID.outputs.KEY }}` replaced by what those tasks
    /// published; `None` when it uses no outputs. Validation has made sure every
    /// named task is upstream, so it has finished; a key it did not publish is an
    /// error of this attempt.
    fn resolve_outputs(&self, task: usize) -> Result<Option<TaskSpec>, String> {
        let spec = self.dag.task(task);
        if !spec.has_expressions() {
            return Ok(None);
        }
        let lookup = |e: &Expr<'_>| match e {
            Expr::Output { task: from, key } => fanout::output(&self.dag, &self.record, from, key)
                .map(Some)
                .map_err(|e| (e, None)),
            // Params, items and matrix values were substituted when the file was
            // loaded.
            Expr::Param(name) => Err((format!("param `{name}` was not substituted"), None)),
            Expr::Item(_) | Expr::Matrix(_) => {
                Err(("an item or matrix value was not substituted".into(), None))
            }
        };
        spec.map_strings(&mut |s: &str| expr::substitute(s, lookup).map_err(expr::joined))
            .map(Some)
    }

    /// Whether `task` is a mapped task whose list is read at run time: when its
    /// trigger rule lets it run, it expands ([`Driver::expand`]) instead.
    pub fn expands(&self, task: usize) -> bool {
        self.dag
            .task(task)
            .map
            .as_ref()
            .is_some_and(|m| m.dynamic())
    }

    /// Expands the mapped tasks `tasks` (see [`Driver::expands`]), each as one
    /// attempt of it: it reads its list, and its instances become tasks of the run
    /// (pending, each waiting for it), in `self.dag` from then on; it ends
    /// `success`, or `skipped` for an empty list, or `failed` saying what is wrong
    /// with the list. The graph is rebuilt once for all of them.
    pub fn expand(&mut self, tasks: &[usize]) -> Result<(), ExecError> {
        let mut made: Vec<TaskSpec> = Vec::new();
        // What the lists read before take; those made in this batch are added as
        // they are made (the graph gets them after it).
        let dag = self.dag.clone();
        let by_task = fanout::instance_bytes(&dag);
        let before: usize = by_task.values().sum();
        let mut made_bytes = 0;
        for &task in tasks {
            // `--fail-fast` after one of them failed: the rest are left queued
            // (and cancelled when the run ends), as if started one by one.
            if self.halt.is_some() {
                break;
            }
            if self.state(task) == TaskState::Pending {
                self.set_state(task, TaskState::Queued, None)?;
            }
            let attempt = self.attempt_started(task)?;
            let had = self.record.tasks[task].instances.unwrap_or(0);
            // This task's own instances are made again.
            let others = before - by_task.get(self.dag.task(task).id.as_str()).unwrap_or(&0);
            // A guard that could not be evaluated fails the task, as for any task.
            let guard = match self.guard(task) {
                Some(when) => self
                    .condition_holds(task, &when)
                    .map(|_| ())
                    .map_err(|e| format!("when: {e}")),
                None => Ok(()),
            };
            let result = guard.and_then(|()| fanout::expand(&self.dag, &self.record, self.dag.task(task), Some(others + made_bytes))).and_then(|specs| {
                if specs.len() < had {
                    Err(format!(
                        "for_each: the list now holds {} items, fewer than the {had} instances this run made of it; start a new run for a shorter list",
                        specs.len()
                    ))
                } else {
                    Ok(specs)
                }
            });
            let (state, error) = match result {
                Err(e) => (TaskState::Failed, Some(e)),
                Ok(specs) if specs.is_empty() => (
                    TaskState::Skipped,
                    Some("no instances: its `for_each` list is empty".to_string()),
                ),
                Ok(specs) => {
                    self.emit(Event::TaskMapped {
                        task,
                        instances: specs.len(),
                        at: Timestamp::now(),
                    })?;
                    made_bytes += specs.iter().map(fanout::approx_bytes).sum::<usize>();
                    if made.is_empty() {
                        made = specs;
                    } else {
                        made.extend(specs);
                    }
                    (TaskState::Success, None)
                }
            };
            self.emit(Event::AttemptFinished {
                task,
                attempt,
                at: Timestamp::now(),
                state,
                exit_code: None,
                error,
                retry_in_ms: None,
                outputs: Default::default(),
                cached: false,
            })?;
            if state == TaskState::Failed && self.options.fail_fast && self.halt.is_none() {
                self.halt = Some(Halt::FailFast(self.dag.task(task).id.to_string()));
            }
        }
        if !made.is_empty() {
            self.dag = Arc::new(self.dag.with_instances(made));
        }
        Ok(())
    }

    /// Records the end of an attempt and says whether to retry.
    pub fn end_attempt(
        &mut self,
        task: usize,
        attempt: u32,
        mut outcome: Outcome,
    ) -> Result<AfterAttempt, ExecError> {
        // A log that could not be written is a fault of this host, not of the task:
        // the run stops as for any failed store write, the attempt left running.
        self.check_logs()?;
        if let Some(ack) = outcome.ack.take() {
            self.acks.push(ack);
        }
        // Errors and outputs end up in tables, JSON, reports, run records and
        // downstream tasks: no secret goes with them (an output holding one is
        // stored masked, so a downstream task gets `***`). The matcher is the one
        // the attempt's log used: built once, from the spec the attempt ran, and
        // linear in what it masks.
        let secrets = self.secrets.remove(&task).unwrap_or_default();
        if !secrets.is_empty() {
            outcome.error = outcome.error.map(|e| secrets.mask(&e));
            outcome.outputs = secrets.mask_outputs(outcome.outputs);
        }
        let spec = self.dag.task(task);
        let policy = spec.retry;
        if outcome.status == Status::Failed
            && let Some(code) = outcome
                .exit_code
                .filter(|c| spec.skip_exit_codes.contains(c))
        {
            outcome.status = Status::Skipped;
            outcome.error = Some(format!(
                "{} (listed in skip_exit_code)",
                outcome
                    .error
                    .as_deref()
                    .unwrap_or(&format!("ended with {code}"))
            ));
        }
        if outcome.status == Status::Cancelled
            && self.timed_out.load(std::sync::atomic::Ordering::SeqCst)
        {
            self.stopped_by_timeout = true;
            outcome.error = Some(format!("stopped: {}", self.timeout_reason()));
        }
        let (state, after) = match outcome.status {
            Status::Success => (TaskState::Success, AfterAttempt::Done),
            Status::Cancelled => (TaskState::Cancelled, AfterAttempt::Done),
            Status::Skipped => (TaskState::Skipped, AfterAttempt::Done),
            Status::Failed if self.halt.is_none() && retry::may_retry(&policy, attempt) => {
                let wait = retry::delay(&policy, attempt, fastrand::f64());
                (TaskState::UpForRetry, AfterAttempt::Retry(wait))
            }
            Status::Failed => (TaskState::Failed, AfterAttempt::Done),
        };
        self.emit(Event::AttemptFinished {
            task,
            attempt,
            at: Timestamp::now(),
            state,
            exit_code: outcome.exit_code,
            error: outcome.error,
            retry_in_ms: match after {
                AfterAttempt::Retry(d) => Some(d.as_millis() as u64),
                AfterAttempt::Done => None,
            },
            outputs: outcome.outputs,
            cached: outcome.cached,
        })?;
        if state == TaskState::Failed && self.options.fail_fast && self.halt.is_none() {
            self.halt = Some(Halt::FailFast(self.dag.task(task).id.to_string()));
        }
        Ok(after)
    }

    /// Why the run's timeout stopped it.
    fn timeout_reason(&self) -> String {
        format!(
            "the run's timeout of {} passed",
            humantime::format_duration(self.timeout.unwrap_or_default())
        )
    }

    /// Marks every unfinished task cancelled, then finishes the run.
    pub fn finish(mut self) -> Result<RunRecord, ExecError> {
        // The timeout stopped the run (or, with `--fail-fast`, a task of it); one
        // that fired as the last task ended changed nothing.
        let timed_out = self.timed_out.load(std::sync::atomic::Ordering::SeqCst)
            && (self.halt == Some(Halt::Interrupted) || self.stopped_by_timeout);
        let run_reason = timed_out.then(|| self.timeout_reason());
        let reason = match &self.halt {
            Some(Halt::Interrupted) if let Some(why) = &run_reason => why.clone(),
            Some(Halt::Interrupted) => "run interrupted".to_string(),
            Some(Halt::FailFast(t)) => format!("--fail-fast: task {t} failed"),
            None => "run ended before the task could run".to_string(),
        };
        for task in 0..self.dag.len() {
            match self.state(task) {
                TaskState::Pending | TaskState::Queued | TaskState::UpForRetry => {
                    self.set_state(task, TaskState::Cancelled, Some(reason.clone()))?;
                }
                _ => {}
            }
        }
        let state = if timed_out {
            RunState::Failed
        } else if self.halt == Some(Halt::Interrupted) {
            RunState::Cancelled
        } else {
            match self.dag.spec.outcome {
                RunOutcome::AllTasks => self.record.outcome(None),
                RunOutcome::Leaves => {
                    let leaves: Vec<usize> = (0..self.dag.len())
                        .filter(|&t| self.dag.downstream[t].is_empty())
                        .collect();
                    self.record.outcome(Some(&leaves))
                }
            }
        };
        self.emit(Event::RunFinished {
            state,
            at: Timestamp::now(),
            reason: run_reason,
        })?;
        self.writer.commit(&self.record, true)?;
        // The results saved last are acknowledged too.
        for ack in self.acks.drain(..) {
            ack.ack();
        }
        Ok(self.record)
    }
}

impl Driver {
    /// Fails once a task log could not be written.
    pub fn check_logs(&self) -> Result<(), ExecError> {
        match self.log_faults.first() {
            Some((path, source)) => Err(ExecError::Store(StoreError::Io {
                action: "write",
                path: path.display().to_string(),
                source,
            })),
            None => Ok(()),
        }
    }

    /// The error that stops the run once [`LogFaults::reported`] resolved.
    pub fn log_failure(&self) -> ExecError {
        self.check_logs().err().unwrap_or_else(|| {
            ExecError::Panicked("a task log fault was signalled but not recorded".into())
        })
    }
}

/// What a `when` condition of `task` reads, from a run in progress.
struct RunValues<'a> {
    dag: &'a Dag,
    record: &'a RunRecord,
    task: usize,
}

impl crate::engine::condition::Lookup for RunValues<'_> {
    fn param(&self, name: &str) -> Option<String> {
        self.dag
            .spec
            .params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    fn env(&self, name: &str) -> Option<String> {
        self.dag
            .spec
            .env
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(name).ok())
    }

    fn output(&self, task: &str, key: &str) -> Option<String> {
        if let Some(members) = self.dag.groups.get(task) {
            return Some(fanout::group_output(self.record, members, key));
        }
        let t = &self.record.tasks[self.dag.index_of(task)?];
        t.outputs.get(key).cloned()
    }

    fn item(&self, key: Option<&str>) -> Option<String> {
        let item = self.dag.task(self.task).map.as_ref()?.item.as_ref()?;
        fanout::item_text(item, key).ok()
    }

    fn matrix(&self, axis: &str) -> Option<String> {
        let map = self.dag.task(self.task).map.as_ref()?;
        map.matrix
            .iter()
            .find(|(k, _)| k == axis)
            .map(|(_, v)| v.clone())
    }
}

pub(super) fn run_attempt(
    runners: &Runners,
    ctx: TaskContext,
) -> crate::engine::runner::BoxFuture<'static, Outcome> {
    if let Some(error) = ctx.unrunnable {
        ctx.log.line(&format!("dag: {error}"));
        return Box::pin(async move { Outcome::failed(None, error) });
    }
    let t = ctx.task().kind.type_name();
    match runners.get(t) {
        Some(r) => r.run(ctx),
        // `execute` checked every type up front.
        None => Box::pin(async move { Outcome::failed(None, format!("no runner for {t} tasks")) }),
    }
}

fn rule_name(rule: crate::engine::spec::TriggerRule) -> &'static str {
    crate::engine::spec::TriggerRule::ALL
        .iter()
        .find(|(_, r)| *r == rule)
        .map_or("all_success", |(n, _)| n)
}
