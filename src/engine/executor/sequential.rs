//! The reference executor: one task at a time, chosen by scanning every task's
//! trigger rule afresh before each step. Slow on huge DAGs by design: it is the
//! obviously-correct model the other executors are tested against.

use super::ExecError;
use super::driver::{AfterAttempt, Driver, Halt, run_attempt};
use crate::engine::record::RunRecord;
use crate::engine::runner::{Runners, StopSignal};
use crate::engine::state::TaskState;
use crate::engine::trigger::Decision;

pub(super) async fn run(
    mut d: Driver,
    runners: &Runners,
    stop: StopSignal,
) -> Result<RunRecord, ExecError> {
    d.start()?;
    loop {
        // Mapped tasks that read their list at run time add tasks as they expand.
        let n = d.dag.len();
        if d.halt.is_none() && stop.graceful.is_cancelled() {
            d.halt = Some(Halt::Interrupted);
        }
        if d.halt.is_some() {
            break;
        }
        // Resolve pending tasks whose rule can no longer hold, until nothing changes.
        let mut changed = true;
        while changed {
            changed = false;
            for t in 0..n {
                if d.state(t) != TaskState::Pending {
                    continue;
                }
                let decision = d.decision(t);
                if matches!(decision, Decision::UpstreamFailed | Decision::Skipped) {
                    d.resolve(t, decision)?;
                    changed = true;
                } else if decision == Decision::Run && d.skip_unless_wanted(t)? {
                    changed = true;
                }
            }
        }
        // The ready task with the highest priority, then the earliest declared.
        let mut best: Option<usize> = None;
        for t in 0..n {
            if d.state(t) == TaskState::Pending && d.decision(t) == Decision::Run {
                let better = match best {
                    None => true,
                    Some(b) => d.dag.task(t).priority > d.dag.task(b).priority,
                };
                if better {
                    best = Some(t);
                }
            }
        }
        let Some(task) = best else { break };
        if d.expands(task) {
            d.expand(&[task])?;
            d.commit()?;
            continue;
        }
        d.set_state(task, TaskState::Queued, None)?;
        loop {
            let mut ctx = d.begin_attempt(task, &stop)?;
            // One attempt at a time here; other runs of this process (sub-DAG
            // runs) may hold some of the machine's GPUs: it waits for them.
            let wants = d.dag.task(task).gpus;
            let machine = d.options.gpus.clone().filter(|_| wants > 0);
            if let Some(m) = &machine {
                if wants as usize > m.total() {
                    let why = crate::engine::gpu::too_few(&d.dag.task(task).id, wants, m.total());
                    ctx.unrunnable = ctx.unrunnable.or(Some(why));
                } else {
                    match m.take_when_free(wants, &stop.graceful).await {
                        Some(held) => ctx.gpus = held,
                        // Never without the devices it asked for.
                        None => {
                            ctx.unrunnable = ctx
                                .unrunnable
                                .or(Some("stopped while waiting for GPUs".into()));
                        }
                    }
                }
            }
            let attempt = ctx.attempt;
            d.commit()?;
            let faults = d.log_faults.clone();
            let held = ctx.gpus.clone();
            let outcome = tokio::select! {
                outcome = run_attempt(runners, ctx) => outcome,
                // A task log that cannot be written stops the run, as the store does.
                _ = faults.reported() => return Err(d.log_failure()),
            };
            if let Some(m) = &machine {
                m.give_back(&held);
            }
            match d.end_attempt(task, attempt, outcome)? {
                AfterAttempt::Done => break,
                AfterAttempt::Retry(wait) => {
                    d.commit()?;
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = stop.graceful.cancelled() => break,
                    }
                    d.set_state(task, TaskState::Queued, None)?;
                }
            }
        }
        d.commit()?;
    }
    d.finish()
}
