//! `dag pools`: the pools of the runs going on now, with their sizes, the tasks
//! that hold their slots and the tasks waiting for them (file store: this
//! machine's runs; `--state nats`: the deployment's).

use super::args::{OutputArg, PoolsArgs};
use super::exit::{self, CliError};
use super::output;
use super::setup::Store;
use crate::engine::record::RunRecord;
use crate::engine::state::{RunState, TaskState};
use crate::engine::validate::{LoadOptions, load_str};

/// A task holding or waiting for a pool's slots.
#[derive(Debug, serde::Serialize)]
struct Taker {
    run_id: String,
    task: String,
    slots: u32,
}

/// One pool, across the runs going on.
#[derive(Debug, Default, serde::Serialize)]
struct PoolView {
    pool: String,
    /// The sizes the runs give it (one, unless runs disagree).
    sizes: Vec<u32>,
    held: u32,
    holders: Vec<Taker>,
    waiters: Vec<Taker>,
}

/// The pools of `record`'s DAG, each with the tasks of the run holding or
/// waiting for it; None when the run's file does not validate here any more (a
/// pool it got from `--pool` only).
fn pools_of(record: &RunRecord) -> Option<Vec<PoolView>> {
    let text = record.definition.as_deref()?;
    let options = LoadOptions {
        params: record.params.clone(),
        pools: super::setup::env_pools().unwrap_or_default(),
        docker_image_optional: true,
        sub_sources: Some(std::sync::Arc::new(record.sub_dags.clone())),
        ..LoadOptions::default()
    };
    let dag = load_str(&record.file, text, &options).ok()?;
    let mut views: Vec<PoolView> = dag
        .spec
        .pools
        .iter()
        .map(|(name, size)| PoolView {
            pool: name.clone(),
            sizes: vec![*size],
            ..PoolView::default()
        })
        .collect();
    for t in &record.tasks {
        // Instances made at run time are not in the file's DAG: they are found
        // by their mapped task's id.
        let spec = dag
            .named(&t.id)
            .and_then(|i| i.first().copied())
            .or_else(|| {
                crate::engine::fanout::instance_group(&t.id)
                    .and_then(|g| dag.named(g))
                    .and_then(|i| i.first().copied())
            })
            .map(|i| dag.task(i));
        let Some(spec) = spec else { continue };
        let Some(pool) = spec.pool.as_deref() else {
            continue;
        };
        let Some(view) = views.iter_mut().find(|v| v.pool == pool) else {
            continue;
        };
        let taker = Taker {
            run_id: record.run_id.clone(),
            task: t.id.to_string(),
            slots: spec.pool_slots,
        };
        match t.state {
            // A distributed attempt may wait for the pool while it runs (other
            // runs hold the slots).
            TaskState::Queued | TaskState::Running if t.waiting().is_some() => {
                view.waiters.push(taker)
            }
            TaskState::Running => {
                view.held = view.held.saturating_add(taker.slots);
                view.holders.push(taker);
            }
            _ => {}
        }
    }
    Some(views)
}

/// `dag pools --state nats`: the deployment's pools as the `dag_pools` bucket
/// holds them (every run's holders and waiters whose lease is current).
pub fn nats_pools(args: PoolsArgs, nats: &super::args::NatsArgs) -> Result<u8, CliError> {
    let runtime = super::setup::runtime(None)?;
    let (values, damaged) = runtime.block_on(async {
        let options = super::setup::nats_options(nats);
        let client = crate::backends::nats::connect(&options, "dag pools").await?;
        let js = async_nats::jetstream::new(client);
        crate::backends::nats::pools::all(&js)
            .await
            .map_err(|e| CliError::Infrastructure(format!("the dag_pools bucket: {e}")))
    })?;
    for key in damaged {
        output::eprint(&format!(
            "warning: pool {key}: its value in the dag_pools bucket is damaged (not a pool's); the next run that takes the pool writes it anew\n"
        ));
    }
    let taker = |s: &crate::backends::nats::pools::Slot| Taker {
        run_id: s.run.clone(),
        task: s.task.clone(),
        slots: s.slots,
    };
    let views = values
        .into_iter()
        .map(|(pool, v)| PoolView {
            pool,
            sizes: vec![v.size],
            held: v
                .holders
                .iter()
                .fold(0u32, |n, h| n.saturating_add(h.slots)),
            holders: v.holders.iter().map(taker).collect(),
            waiters: v.waiters.iter().map(taker).collect(),
        })
        .collect();
    show(views, args.output)
}

/// Runs `dag pools` and returns the exit code.
pub fn pools(args: PoolsArgs, store: &Store) -> Result<u8, CliError> {
    let mut all: Vec<PoolView> = Vec::new();
    for id in store.state().run_ids()?.iter().rev() {
        let Ok(record) = store.state().load_run(id) else {
            continue;
        };
        if !matches!(record.state, RunState::Running) || !store.is_driven(id) {
            continue;
        }
        let Some(views) = pools_of(&record) else {
            output::eprint(&format!(
                "warning: run {id}: its DAG file does not validate here (a pool given only with --pool?): its pools are not shown\n"
            ));
            continue;
        };
        for v in views {
            match all.iter_mut().find(|a| a.pool == v.pool) {
                Some(a) => {
                    for s in v.sizes {
                        if !a.sizes.contains(&s) {
                            a.sizes.push(s);
                        }
                    }
                    a.held += v.held;
                    a.holders.extend(v.holders);
                    a.waiters.extend(v.waiters);
                }
                None => all.push(v),
            }
        }
    }
    all.sort_by(|a, b| a.pool.cmp(&b.pool));
    show(all, args.output)
}

/// Prints the pools as `format` says.
fn show(all: Vec<PoolView>, format: OutputArg) -> Result<u8, CliError> {
    match format {
        OutputArg::Quiet => {}
        OutputArg::Json => output::print(&format!(
            "{}\n",
            serde_json::to_string_pretty(&all).unwrap_or_default()
        ))?,
        OutputArg::Table => {
            let mut t = comfy_table::Table::new();
            t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
            t.set_header(["pool", "size", "held", "holders", "waiting"]);
            let list = |takers: &[Taker]| {
                takers
                    .iter()
                    .map(|k| format!("{} {} ({})", k.run_id, k.task, k.slots))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            for p in &all {
                let sizes: Vec<String> = p.sizes.iter().map(u32::to_string).collect();
                t.add_row([
                    p.pool.clone(),
                    sizes.join(", "),
                    p.held.to_string(),
                    list(&p.holders),
                    list(&p.waiters),
                ]);
            }
            let note = if all.is_empty() {
                "no run going on uses a pool\n"
            } else {
                ""
            };
            output::print(&format!("{t}\n{note}"))?;
        }
    }
    Ok(exit::SUCCESS)
}
