//! `dag wait RUN_ID`: follows a run that another process drives (a detached run,
//! say) with the progress `dag run` shows, prints its result as `dag run` does,
//! and exits with the run's code.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::args::{NatsArgs, OutputArg, StateArg, WaitArgs};
use super::exit::{self, CliError};
use super::follow::{before_start, events_between};
use super::output::Style;
use super::progress::Progress;
use super::run_arg;
use super::setup::{self, Store};
use crate::engine::executor::Observer;
use crate::engine::store::StoreError;

/// How often the run's record is read again: twice a second, and less often
/// for a large run (its whole record is read each time), down to every 3 s for
/// 15,000 tasks or more.
fn poll(tasks: usize) -> Duration {
    Duration::from_millis((tasks as u64 / 5).clamp(500, 3000))
}

/// `dag wait`.
pub fn wait(
    args: WaitArgs,
    state: Option<StateArg>,
    state_dir: Option<&std::path::Path>,
    nats: &NatsArgs,
) -> Result<u8, CliError> {
    let (store, run_id) = find(&args.run_id, state, state_dir, nats)?;
    let mut record = store.state().load_run(&run_id)?;
    let style = Style::detect();
    let progress: Arc<Progress> = Arc::new(
        match (args.output, style.progress(super::args::ProgressArg::Auto)) {
            (OutputArg::Quiet, _) | (_, None) => Progress::Silent,
            (_, Some(bars)) => {
                let dag = crate::embed::Pipeline::with_runners(Default::default())
                    .definition_of(&record)
                    .ok();
                let groups = dag
                    .as_ref()
                    .map(super::progress::Groups::of)
                    .unwrap_or_default();
                Progress::new(bars, groups)
            }
        },
    );
    progress.learn_from(store_handle(&store), Some(record.dag.clone()), None);
    let mut shown = before_start(&record);
    // When the run was last seen driven by a live process.
    let mut driven_at = Instant::now();
    let mut said_undriven = false;
    loop {
        for event in events_between(&shown, &record) {
            progress.on_event(&record, &event);
        }
        shown = record.clone();
        if record.state.is_terminal() {
            break;
        }
        if store.is_driven(&record.run_id) {
            driven_at = Instant::now();
            said_undriven = false;
        } else if !said_undriven && driven_at.elapsed() >= Duration::from_secs(2) {
            // A run between drivers (its driver died; a scheduler takes it over
            // once its lease lapses) or submitted with no scheduler running.
            progress.say(&format!(
                "dag wait: no process drives run {} now; waiting for a `dag scheduler` to take it over",
                record.run_id
            ));
            said_undriven = true;
        }
        std::thread::sleep(poll(record.tasks.len()));
        record = match store.state().load_run(&run_id) {
            Ok(r) => r,
            // The server is away for a moment: read again.
            Err(StoreError::Io { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
    }
    progress.finish();
    super::run::print_result(&record, store.state(), args.output)?;
    Ok(exit::of_run(record.state))
}

/// The store that holds `arg`'s run and its whole id: `--state` when given;
/// else both the file store and the NATS KV store (where detached runs are):
/// `latest` is the newer of their latest runs, and the start of an id must name
/// one run of either.
fn find(
    arg: &str,
    state: Option<StateArg>,
    state_dir: Option<&std::path::Path>,
    nats: &NatsArgs,
) -> Result<(Store, String), CliError> {
    if let Some(state) = state {
        let store = setup::history_store(Some(state), state_dir, nats)?;
        let id = run_arg::resolve(store.state(), Some(arg))?;
        return Ok((store, id));
    }
    let file = setup::history_store(Some(StateArg::File), state_dir, nats).ok();
    // A whole id the file store holds: NATS is not asked.
    if let Some(f) = file.as_ref()
        && crate::engine::record::valid_run_id(arg)
        && f.state().run_version(arg).is_ok()
    {
        return Ok((file.expect("checked above"), arg.to_string()));
    }
    let kv = setup::history_store(Some(StateArg::Nats), state_dir, nats);
    let mut found: Vec<(String, Store)> = Vec::new();
    let mut unreachable = None;
    for store in [file.map(Ok), Some(kv)].into_iter().flatten() {
        let store = match store {
            Ok(s) => s,
            Err(e) => {
                unreachable = Some(e);
                continue;
            }
        };
        match run_arg::resolve(store.state(), Some(arg)) {
            Ok(id) => found.push((id, store)),
            Err(CliError::Store(StoreError::NotFound(_) | StoreError::Empty)) => {}
            Err(e) => return Err(e),
        }
    }
    if arg == run_arg::LATEST {
        found.sort_by(|a, b| a.0.cmp(&b.0));
    } else if found.len() > 1 {
        return Err(CliError::usage(
            format!(
                "`{arg}` names a run in the file store ({}) and one in NATS KV ({})",
                found[0].0, found[1].0
            ),
            Some("give more of the id, or --state file|nats".into()),
        ));
    }
    match found.pop() {
        Some((id, store)) => Ok((store, id)),
        None => match unreachable {
            Some(e) => Err(e),
            None => Err(CliError::Store(StoreError::NotFound(arg.to_string()))),
        },
    }
}

/// The store as a shared handle, for reading history on another thread.
fn store_handle(store: &Store) -> Arc<dyn crate::engine::store::StateStore> {
    match store {
        Store::File(s) => Arc::new(s.clone()),
        Store::Nats(s) => Arc::new(s.clone()),
    }
}
