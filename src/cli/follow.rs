//! Following a run another process drives (`dag wait`): its record is read again
//! and again, and what changed between two reads is told as the events that
//! made the change, so that progress shows it as `dag run` shows its own run.

use crate::engine::events::Event;
use crate::engine::record::{Attempt, RunRecord, TaskRecord};
use crate::engine::state::{RunState, TaskState};
use crate::engine::time::Timestamp;

/// The record of `run` before anything happened to it: queued, every task
/// pending, no attempt. What [`events_between`] starts from.
pub fn before_start(run: &RunRecord) -> RunRecord {
    let mut record = run.clone();
    record.state = RunState::Queued;
    record.started_at = None;
    record.ended_at = None;
    record.tasks = run
        .tasks
        .iter()
        .map(|t| TaskRecord::pending(t.id.clone()))
        .collect();
    record
}

/// The events that turn `old` into `new` (two reads of one run's record), in the
/// order they happened: the run's start, each attempt's start, placing and end,
/// each task's other state changes, the expansion of mapped tasks, the run's
/// end. What happened between the two reads and was undone before the second
/// (a task queued and started) is told by its result only.
pub fn events_between(old: &RunRecord, new: &RunRecord) -> Vec<Event> {
    let mut events: Vec<Event> = Vec::new();
    if old.state == RunState::Queued && new.state != RunState::Queued {
        events.push(Event::RunStarted {
            at: new.started_at.unwrap_or_else(Timestamp::now),
            host: new.host.to_string(),
            pid: new.pid,
        });
    }
    let pending = TaskRecord::pending("");
    for (task, now) in new.tasks.iter().enumerate() {
        let was = old.tasks.get(task).unwrap_or(&pending);
        if let Some(n) = now.instances
            && was.instances != Some(n)
        {
            events.push(Event::TaskMapped {
                task,
                instances: n,
                at: last_change(now).unwrap_or_else(Timestamp::now),
            });
        }
        for a in now.attempts.iter() {
            let before = was.attempts.iter().find(|b| b.attempt == a.attempt);
            attempt_events(task, now, a, before, &mut events);
        }
        let told = now.attempts.iter().any(|a| {
            a.ended_at.is_some()
                && was
                    .attempts
                    .iter()
                    .find(|b| b.attempt == a.attempt)
                    .is_none_or(|b| b.ended_at.is_none())
        });
        // A queued task that now waits for its pool.
        if matches!(now.state, TaskState::Queued | TaskState::Running)
            && let Some(reason) = &now.reason
            && (was.state != now.state || was.reason != now.reason)
        {
            events.push(Event::TaskWaiting {
                task,
                at: Timestamp::now(),
                reason: reason.to_string(),
            });
        }
        // A change no attempt tells: skipped, upstream_failed, cancelled without
        // running, or a retried task pending again.
        if now.state != was.state && !told && !matches!(now.state, TaskState::Running) {
            events.push(Event::TaskState {
                task,
                state: now.state,
                at: new.ended_at.unwrap_or_else(Timestamp::now),
                reason: now.reason.as_ref().map(|r| r.to_string()),
            });
        }
    }
    // In the order things happened; the run's start first and its end last.
    events.sort_by_key(|e| match e {
        Event::RunStarted { .. } => Timestamp(0),
        Event::AttemptStarted { at, .. }
        | Event::AttemptPlaced { at, .. }
        | Event::AttemptFinished { at, .. }
        | Event::TaskMapped { at, .. }
        | Event::DuplicateResult { at, .. }
        | Event::TaskWaiting { at, .. }
        | Event::ChildRun { at, .. }
        | Event::TaskState { at, .. } => *at,
        Event::RunRetried { at, .. } | Event::RunFinished { at, .. } => *at,
    });
    if new.state.is_terminal() && !old.state.is_terminal() {
        events.push(Event::RunFinished {
            state: new.state,
            at: new.ended_at.unwrap_or_else(Timestamp::now),
            reason: new.reason.clone(),
        });
    }
    events
}

/// When a task last changed, as its attempts tell.
fn last_change(task: &TaskRecord) -> Option<Timestamp> {
    task.attempts
        .iter()
        .filter_map(|a| a.ended_at.or(Some(a.started_at)))
        .max()
}

/// The events of one attempt since `before` (its earlier read, if any).
fn attempt_events(
    task: usize,
    record: &TaskRecord,
    a: &Attempt,
    before: Option<&Attempt>,
    events: &mut Vec<Event>,
) {
    if before.is_none() {
        // Every attempt starts from the queue.
        events.push(Event::TaskState {
            task,
            state: TaskState::Queued,
            at: a.started_at,
            reason: None,
        });
        events.push(Event::AttemptStarted {
            task,
            attempt: a.attempt,
            at: a.started_at,
            host: a.host.to_string(),
        });
    }
    if let Some(worker) = &a.worker
        && before.is_none_or(|b| b.worker.as_ref() != Some(worker) || b.deliveries != a.deliveries)
    {
        events.push(Event::AttemptPlaced {
            task,
            attempt: a.attempt,
            at: Timestamp(a.started_at.0 + u64::from(a.placed_ms)),
            host: a.host.to_string(),
            worker: worker.to_string(),
            delivery: u64::from(a.deliveries.max(1)),
        });
    }
    if let Some(ended) = a.ended_at
        && before.is_none_or(|b| b.ended_at.is_none())
    {
        // The task's state after this attempt: its state now for the last one,
        // up for retry (or failed, when the run stopped) for an earlier one.
        let last = record.attempts.last().map(|l| l.attempt) == Some(a.attempt);
        let state = if last {
            a.outcome.unwrap_or(record.state)
        } else {
            a.outcome.unwrap_or(TaskState::UpForRetry)
        };
        events.push(Event::AttemptFinished {
            task,
            attempt: a.attempt,
            at: ended,
            state,
            exit_code: a.exit_code,
            error: a.error.as_ref().map(|e| e.to_string()),
            retry_in_ms: None,
            cached: a.cached,
            outputs: if last {
                record.outputs.clone()
            } else {
                Default::default()
            },
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(tasks: Vec<TaskRecord>, state: RunState) -> RunRecord {
        let dag = crate::engine::validate::load_str(
            "t.yaml",
            "name: t\ntasks:\n  a: {command: 'true'}\n  b: {command: 'true', depends_on: [a]}\n",
            &Default::default(),
        )
        .unwrap();
        let mut r = RunRecord::new("r1".into(), &dag, "t.yaml".into());
        r.state = state;
        r.started_at = Some(Timestamp(1_000));
        if state.is_terminal() {
            r.ended_at = Some(Timestamp(9_000));
        }
        r.tasks = tasks;
        r
    }

    fn task(id: &str, state: TaskState, attempts: Vec<Attempt>) -> TaskRecord {
        let mut t = TaskRecord::pending(id);
        t.state = state;
        t.attempts = attempts.into_iter().collect();
        t
    }

    fn names(events: &[Event]) -> Vec<String> {
        events
            .iter()
            .map(|e| match e {
                Event::RunStarted { .. } => "run started".to_string(),
                Event::RunFinished { state, .. } => format!("run {state}"),
                Event::AttemptStarted { task, attempt, .. } => format!("{task}#{attempt} started"),
                Event::AttemptPlaced { task, worker, .. } => format!("{task} placed on {worker}"),
                Event::AttemptFinished { task, state, .. } => format!("{task} {state}"),
                Event::TaskState { task, state, .. } => format!("{task} -> {state}"),
                Event::TaskMapped {
                    task, instances, ..
                } => format!("{task} mapped {instances}"),
                Event::RunRetried { .. } => "retried".to_string(),
                Event::DuplicateResult { task, .. } => format!("{task} duplicate"),
                Event::TaskWaiting { task, reason, .. } => format!("{task} {reason}"),
                Event::ChildRun { task, run, .. } => format!("{task} child {run}"),
            })
            .collect()
    }

    #[test]
    fn a_finished_run_read_once_tells_its_whole_story_in_order() {
        let mut placed = Attempt::succeeded(2_000, 3_000);
        placed.worker = Some("w1".into());
        placed.deliveries = 1;
        let mut failed = Attempt::succeeded(4_000, 5_000);
        failed.outcome = Some(TaskState::Failed);
        let new = run(
            vec![
                task("a", TaskState::Success, vec![placed]),
                task("b", TaskState::Failed, vec![failed]),
            ],
            RunState::Failed,
        );
        let events = events_between(&before_start(&new), &new);
        assert_eq!(
            names(&events),
            [
                "run started",
                "0 -> queued",
                "0#1 started",
                "0 placed on w1",
                "0 success",
                "1 -> queued",
                "1#1 started",
                "1 failed",
                "run failed"
            ]
        );
        // Applied to the empty record, they give the same states.
        let mut replay = before_start(&new);
        for e in &events {
            replay.apply(e).unwrap();
        }
        assert_eq!(replay.state, RunState::Failed);
        assert_eq!(replay.tasks[0].state, TaskState::Success);
        assert_eq!(replay.tasks[1].state, TaskState::Failed);
    }

    #[test]
    fn only_what_changed_since_the_last_read_is_told() {
        let mut open = Attempt::succeeded(2_000, 3_000);
        open.ended_at = None;
        open.outcome = None;
        let old = run(
            vec![
                task("a", TaskState::Running, vec![open]),
                task("b", TaskState::Pending, vec![]),
            ],
            RunState::Running,
        );
        let new = run(
            vec![
                task(
                    "a",
                    TaskState::Success,
                    vec![Attempt::succeeded(2_000, 3_000)],
                ),
                task("b", TaskState::UpstreamFailed, vec![]),
            ],
            RunState::Running,
        );
        assert_eq!(
            names(&events_between(&old, &new)),
            ["0 success", "1 -> upstream_failed"]
        );
        assert!(events_between(&new, &new).is_empty());
    }
}
