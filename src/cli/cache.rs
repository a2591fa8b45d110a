//! `dag cache ls|rm|prune`: the saved results of tasks with `cache:`, in this
//! machine's cache (beside the file store) or, with `--state nats`, in the
//! workers' object store.

use std::path::Path;
use std::sync::Arc;

use super::args::{
    CacheAction, CacheArgs, CacheFilter, CachePruneArgs, CacheRmArgs, NatsArgs, OutputArg, StateArg,
};
use super::exit::{self, CliError};
use super::{output, setup};
use crate::engine::cache::{CacheStore, Listed, short};
use crate::engine::time::Timestamp;

/// Runs `dag cache` and returns the exit code.
pub fn cache(
    args: CacheArgs,
    state: Option<StateArg>,
    state_dir: Option<&Path>,
    nats: &NatsArgs,
) -> Result<u8, CliError> {
    let runtime = setup::runtime(None)?;
    runtime.block_on(async {
        let store: Arc<dyn CacheStore> = match state.unwrap_or(StateArg::File) {
            StateArg::File => Arc::new(crate::backends::cache_dir::DirCache::new(
                setup::state_dir(state_dir)?.join("cache"),
            )),
            StateArg::Nats => {
                let options = setup::nats_options(nats);
                let client = crate::backends::nats::connect(&options, "dag cache").await?;
                Arc::new(crate::backends::nats::cache::ObjectCache::new(
                    async_nats::jetstream::new(client),
                    options.replicas,
                    std::env::temp_dir(),
                ))
            }
        };
        let listed = store
            .list()
            .await
            .map_err(|e| CliError::Infrastructure(format!("{}: {e}", store.describe())))?;
        match args.action {
            CacheAction::Ls(a) => ls(&listed, &a.filter, a.output),
            CacheAction::Rm(a) => rm(store.as_ref(), &listed, a).await,
            CacheAction::Prune(a) => prune(store.as_ref(), &listed, a).await,
        }
    })
}

/// Whether `l` is one `filter` picks.
fn picked(l: &Listed, filter: &CacheFilter) -> bool {
    let task = |t: &str| {
        l.task == t
            || l.task
                .strip_prefix(t)
                .is_some_and(|rest| rest.starts_with('.'))
    };
    filter.dag.as_deref().is_none_or(|d| l.dag == d) && filter.task.as_deref().is_none_or(task)
}

/// Bytes as `12.3 MiB`.
fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

fn ls(listed: &[Listed], filter: &CacheFilter, format: OutputArg) -> Result<u8, CliError> {
    let shown: Vec<&Listed> = listed.iter().filter(|l| picked(l, filter)).collect();
    match format {
        OutputArg::Quiet => {}
        OutputArg::Json => {
            let doc: Vec<serde_json::Value> = shown
                .iter()
                .map(|l| {
                    serde_json::json!({
                        "key": l.key,
                        "dag": l.dag,
                        "task": l.task,
                        "run_id": l.run_id,
                        "created_at": Timestamp(l.created_ms).rfc3339(),
                        "bytes": l.bytes,
                    })
                })
                .collect();
            output::print_json(&doc)?;
        }
        OutputArg::Table => {
            let now = Timestamp::now();
            let mut t = comfy_table::Table::new();
            t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
            t.set_header(["key", "dag", "task", "saved", "size", "run"]);
            for l in &shown {
                let saved = if l.created_ms == 0 {
                    "damaged".to_string()
                } else {
                    super::history::ago(Timestamp(l.created_ms), now)
                };
                t.add_row([
                    short(&l.key).to_string(),
                    l.dag.clone(),
                    l.task.clone(),
                    saved,
                    size(l.bytes),
                    l.run_id.clone(),
                ]);
            }
            let total: u64 = shown.iter().map(|l| l.bytes).sum();
            output::print(&format!(
                "{t}\n{} saved result{}, {}\n",
                shown.len(),
                if shown.len() == 1 { "" } else { "s" },
                size(total)
            ))?;
        }
    }
    Ok(exit::SUCCESS)
}

/// Removes `doomed`, saying how many went.
async fn remove(store: &dyn CacheStore, doomed: &[&Listed]) -> Result<u8, CliError> {
    let mut removed = 0;
    for l in doomed {
        if store
            .remove(&l.key)
            .await
            .map_err(|e| CliError::Infrastructure(format!("{}: {e}", store.describe())))?
        {
            removed += 1;
        }
    }
    output::print(&format!(
        "removed {removed} saved result{} from {}\n",
        if removed == 1 { "" } else { "s" },
        store.describe()
    ))?;
    Ok(exit::SUCCESS)
}

async fn rm(store: &dyn CacheStore, listed: &[Listed], args: CacheRmArgs) -> Result<u8, CliError> {
    let by_filter = args.filter.dag.is_some() || args.filter.task.is_some();
    if !args.all && !by_filter && args.keys.is_empty() {
        return Err(CliError::usage(
            "dag cache rm: name keys, --dag, --task or --all",
            Some("`dag cache ls` lists the saved results and their keys".into()),
        ));
    }
    let mut doomed: Vec<&Listed> = Vec::new();
    for key in &args.keys {
        // The empty prefix starts every key: it names none.
        if key.is_empty() {
            return Err(CliError::usage(
                "dag cache rm: an empty key",
                Some("`dag cache ls` lists the saved results and their keys".into()),
            ));
        }
        let matches: Vec<&Listed> = listed
            .iter()
            .filter(|l| l.key.starts_with(key.as_str()))
            .collect();
        match matches.as_slice() {
            [] => {
                return Err(CliError::usage(
                    format!("dag cache rm: no saved result has a key starting `{key}`"),
                    Some("`dag cache ls` lists the saved results and their keys".into()),
                ));
            }
            [one] => doomed.push(one),
            many => {
                return Err(CliError::usage(
                    format!(
                        "dag cache rm: `{key}` starts {} keys: {}",
                        many.len(),
                        many.iter()
                            .take(5)
                            .map(|l| short(&l.key))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    Some("give more of the key".into()),
                ));
            }
        }
    }
    if args.all || by_filter {
        doomed.extend(
            listed
                .iter()
                .filter(|l| args.all || picked(l, &args.filter)),
        );
    }
    doomed.sort_by(|a, b| a.key.cmp(&b.key));
    doomed.dedup_by(|a, b| a.key == b.key);
    remove(store, &doomed).await
}

async fn prune(
    store: &dyn CacheStore,
    listed: &[Listed],
    args: CachePruneArgs,
) -> Result<u8, CliError> {
    let now = Timestamp::now().0;
    let age = args.older_than.as_millis() as u64;
    // A damaged entry (no time) is old.
    let doomed: Vec<&Listed> = listed
        .iter()
        .filter(|l| {
            now.saturating_sub(l.created_ms) > age
                || l.created_ms > now.saturating_add(crate::engine::cache::FUTURE_SLACK_MS)
        })
        .collect();
    if args.dry_run {
        for l in &doomed {
            output::print(&format!("{} {} {}\n", short(&l.key), l.dag, l.task))?;
        }
        output::print(&format!(
            "would remove {} saved result{}\n",
            doomed.len(),
            if doomed.len() == 1 { "" } else { "s" }
        ))?;
        return Ok(exit::SUCCESS);
    }
    remove(store, &doomed).await
}
