//! `dag scheduler`: drives the distributed runs no process drives. It follows
//! the run records in NATS KV; a run that any scheduler may take over (its
//! record keeps how it is driven) whose lease is free or lapsed is taken, by a
//! compare-and-swap on its record, so that of several schedulers exactly one
//! wins, and driven to its end as its first driver would have. On SIGTERM or
//! SIGINT it stops driving at once and gives its leases up, so that another
//! scheduler takes its runs over without waiting for them to lapse; the tasks
//! on workers go on.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::AtomicU8;
use std::time::Duration;

use super::args::{NatsArgs, SchedulerArgs};
use super::exit::{self, CliError};
use super::{output, setup};
use crate::backends::nats::kv_store::{KvStore, RunLease};
use crate::embed::Pipeline;
use crate::engine::executor::ExecOptions;
use crate::engine::runner::{Runners, StopSignal};
use crate::engine::state::RunState;
use crate::engine::store::StoreError;
use crate::engine::time::Timestamp;

/// How often leases are looked at again (a lapse is no change of the record).
const TICK: Duration = Duration::from_millis(500);

/// How long a run this scheduler stopped driving on an error is left alone
/// (another scheduler may take it meanwhile): an error that comes back is said
/// once in this time, not at every tick.
const BACKOFF: Duration = Duration::from_secs(10);

/// Whether a scheduler may take `run` over now.
pub fn may_take(run: &RunLease, now: Timestamp) -> bool {
    run.failover
        && matches!(run.state, Some(RunState::Queued | RunState::Running))
        && run.lease.as_ref().is_none_or(|(_, until)| *until <= now)
}

/// `dag scheduler`.
pub fn scheduler(args: SchedulerArgs, nats: &NatsArgs, local: Runners) -> Result<u8, CliError> {
    super::nats::check_metrics_addr(args.metrics_addr.as_deref())?;
    let runtime = setup::runtime(None)?;
    let kv = KvStore::open(&setup::nats_options(nats), true)?;
    let say = |text: &str| output::eprint(&format!("dag scheduler: {text}\n"));
    let warn = Arc::new(move |text: &str| {
        output::eprint(&format!("dag scheduler: warning: {text}\n"));
    });
    let remote = runtime.block_on(super::nats::distributed_runners(nats, &local, warn))?;
    let registry = Arc::new(crate::metrics::Registry::new());
    // Bound first: an address in use stops the scheduler before it takes a run.
    let metrics = match &args.metrics_addr {
        Some(addr) => Some(runtime.block_on(super::nats::bind_metrics(addr))?),
        None => None,
    };
    let remote = if metrics.is_some() {
        crate::metrics::counted(&remote, &registry)
    } else {
        remote
    };
    let mut runners: Vec<std::sync::Arc<dyn crate::engine::runner::TaskRunner>> = Vec::new();
    for r in remote.types().into_iter().filter_map(|t| remote.get(t)) {
        if !runners.iter().any(|u| std::sync::Arc::ptr_eq(u, r)) {
            runners.push(r.clone());
        }
    }
    let pipeline = Pipeline::with_runners(remote)
        .with_store(Arc::new(kv.clone()))
        .options(ExecOptions {
            host: setup::host_name(),
            // Workers give out their own GPUs.
            gpus: None,
            ..ExecOptions::default()
        });
    let max = args.max_runs as usize;
    let signalled = Arc::new(AtomicU8::new(0));
    runtime.block_on(async {
        let shutdown = tokio_util::sync::CancellationToken::new();
        let stopping = shutdown.clone();
        super::signals::watch(
            signalled.clone(),
            move || stopping.cancel(),
            || std::process::exit(i32::from(exit::SIGTERM)),
        );
        let serving = match metrics {
            Some((listener, at)) => {
                super::nats::serve_metrics(listener, registry.clone(), Some(kv.jetstream()));
                format!("; metrics at {at}")
            }
            None => String::new(),
        };
        say(&format!(
            "driving distributed runs from {} (at most {max} at once; holder {}){serving}",
            crate::backends::nats::redact(&nats.url),
            kv.holder()
        ));
        let mut leases = kv.watch_runs();
        let mut known: HashMap<String, RunLease> = HashMap::new();
        let mut driving: tokio::task::JoinSet<(String, Result<RunState, crate::embed::Error>)> =
            tokio::task::JoinSet::new();
        let mut driven: HashSet<String> = HashSet::new();
        // Runs that cannot be driven whatever happens (no DAG file kept, say):
        // said once, not tried again.
        let mut given_up: HashSet<String> = HashSet::new();
        let mut failed: HashMap<String, std::time::Instant> = HashMap::new();
        let mut tick = tokio::time::interval(TICK);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(view) = leases.recv() => {
                    match view.state {
                        None => { known.remove(&view.run_id); }
                        Some(state) if state.is_terminal() => { known.remove(&view.run_id); }
                        Some(_) => { known.insert(view.run_id.clone(), view); }
                    }
                    continue;
                }
                Some(joined) = driving.join_next(), if !driving.is_empty() => {
                    if let Ok((run_id, result)) = joined {
                        driven.remove(&run_id);
                        match result {
                            Ok(state) => say(&format!("run {run_id} ended: {state}")),
                            Err(crate::embed::Error::Store(StoreError::Locked(_))) => {
                                say(&format!("run {run_id}: another process took it first"));
                            }
                            Err(
                                e @ (crate::embed::Error::Retry(_)
                                | crate::embed::Error::Load(_)
                                | crate::embed::Error::Store(StoreError::Corrupt { .. })),
                            ) => {
                                say(&format!("cannot drive run {run_id}: {}", CliError::from(e)));
                                given_up.insert(run_id);
                            }
                            Err(e) => {
                                say(&format!("stopped driving run {run_id}: {}", CliError::from(e)));
                                failed.insert(run_id, std::time::Instant::now());
                            }
                        }
                    }
                }
                _ = tick.tick() => {}
            }
            let now = Timestamp::now();
            failed.retain(|_, at| at.elapsed() < BACKOFF);
            let mut due: Vec<&RunLease> = known
                .values()
                .filter(|r| {
                    !driven.contains(&r.run_id)
                        && !given_up.contains(&r.run_id)
                        && !failed.contains_key(&r.run_id)
                        && may_take(r, now)
                })
                .collect();
            // The oldest runs first.
            due.sort_by(|a, b| a.run_id.cmp(&b.run_id));
            for run in due.into_iter().take(max.saturating_sub(driven.len())) {
                let (pipeline, run_id) = (pipeline.clone(), run.run_id.clone());
                let from = run
                    .lease
                    .as_ref()
                    .map(|(holder, _)| format!(" (its lease, held by {holder}, lapsed)"))
                    .unwrap_or_default();
                driven.insert(run_id.clone());
                driving.spawn(async move {
                    let result = pipeline.take_over(&run_id, StopSignal::new()).await;
                    (run_id, result.map(|r| r.state))
                });
                say(&format!("taking run {}{from}", run.run_id));
            }
        }
        // Handed over: the runs stop being driven here (their tasks on workers
        // go on), and their leases are given up for another scheduler to take.
        // Their attempts are dropped first (so that none starts listening
        // again), then their results are listened for no more: what is left
        // unsaved comes again to the next driver.
        driving.abort_all();
        while driving.join_next().await.is_some() {}
        for run_id in &driven {
            for runner in runners.iter() {
                runner.run_left(run_id).await;
            }
        }
        for run_id in &driven {
            let _ = kv.release_run(run_id);
        }
        if !driven.is_empty() {
            say(&format!(
                "stopped; gave up {} run{} for another scheduler to take over",
                driven.len(),
                if driven.len() == 1 { "" } else { "s" }
            ));
        }
    });
    runtime.shutdown_background();
    Ok(exit::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(state: Option<RunState>, failover: bool, lease: Option<u64>) -> RunLease {
        RunLease {
            run_id: "r".into(),
            state,
            failover,
            lease: lease.map(|until| ("h-1-0000".to_string(), Timestamp(until))),
        }
    }

    #[test]
    fn only_unfinished_failover_runs_with_a_free_or_lapsed_lease_are_taken() {
        let now = Timestamp(10_000);
        assert!(may_take(&run(Some(RunState::Queued), true, None), now));
        assert!(may_take(
            &run(Some(RunState::Running), true, Some(9_999)),
            now
        ));
        assert!(may_take(
            &run(Some(RunState::Running), true, Some(10_000)),
            now
        ));
        assert!(!may_take(
            &run(Some(RunState::Running), true, Some(10_001)),
            now
        ));
        assert!(!may_take(&run(Some(RunState::Running), false, None), now));
        assert!(!may_take(&run(Some(RunState::Success), true, None), now));
        assert!(!may_take(&run(None, true, None), now));
    }
}
