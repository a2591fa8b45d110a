//! A sample run shared by the tests of the displays: the result table and JSON
//! document in `report`, the plain progress lines in `progress`.

use crate::engine::events::Event;
use crate::engine::record::RunRecord;
use crate::engine::state::{RunState, TaskState};
use crate::engine::time::Timestamp;
use crate::engine::validate::{LoadOptions, load_str};

/// The DAG of [`sample`].
pub fn sample_dag() -> crate::engine::graph::Dag {
    load_str(
        "s.yaml",
        "name: sample\nparams: {day: d1}\ntasks:\n  a: {command: x}\n  b: {command: y, retries: 1}\n  c: {command: z, depends_on: b}\n  d: {command: w}\n",
        &LoadOptions::default(),
    )
    .unwrap()
}

/// A finished run with a success, a retried failure, an upstream failure and a
/// cancelled task, at fixed times.
pub fn sample() -> (RunRecord, Vec<Event>) {
    let dag = sample_dag();
    let mut r = RunRecord::new("20261126T000000000Z-abcd".into(), &dag, "s.yaml".into());
    let t = |ms: u64| Timestamp(1_764_115_200_000 + ms);
    let h = || "host1".to_string();
    let events = vec![
        Event::RunStarted {
            at: t(0),
            host: h(),
            pid: 7,
        },
        Event::TaskState {
            task: 0,
            state: TaskState::Queued,
            at: t(1),
            reason: None,
        },
        Event::AttemptStarted {
            task: 0,
            attempt: 1,
            at: t(2),
            host: h(),
        },
        Event::AttemptFinished {
            task: 0,
            attempt: 1,
            at: t(1502),
            state: TaskState::Success,
            exit_code: Some(0),
            error: None,
            retry_in_ms: None,
            outputs: Default::default(),
            cached: false,
        },
        Event::TaskState {
            task: 1,
            state: TaskState::Queued,
            at: t(3),
            reason: None,
        },
        Event::AttemptStarted {
            task: 1,
            attempt: 1,
            at: t(4),
            host: h(),
        },
        Event::AttemptFinished {
            task: 1,
            attempt: 1,
            at: t(54),
            state: TaskState::UpForRetry,
            exit_code: Some(3),
            error: Some("exit code 3".into()),
            retry_in_ms: Some(1000),
            outputs: Default::default(),
            cached: false,
        },
        Event::TaskState {
            task: 1,
            state: TaskState::Queued,
            at: t(1054),
            reason: None,
        },
        Event::AttemptStarted {
            task: 1,
            attempt: 2,
            at: t(1055),
            host: h(),
        },
        Event::AttemptFinished {
            task: 1,
            attempt: 2,
            at: t(1100),
            state: TaskState::Failed,
            exit_code: Some(3),
            error: Some("exit code 3".into()),
            retry_in_ms: None,
            outputs: Default::default(),
            cached: false,
        },
        Event::TaskState {
            task: 2,
            state: TaskState::UpstreamFailed,
            at: t(1101),
            reason: Some("an upstream task failed (all_success)".into()),
        },
        Event::TaskState {
            task: 3,
            state: TaskState::Cancelled,
            at: t(1102),
            reason: Some("--fail-fast: task b failed".into()),
        },
        Event::RunFinished {
            state: RunState::Failed,
            at: t(1600),
            reason: None,
        },
    ];
    for e in &events {
        r.apply(e).unwrap();
    }
    (r, events)
}
