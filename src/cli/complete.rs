//! Dynamic shell completion (`COMPLETE=bash dag ...`): the run ids and task ids
//! offered at `<TAB>`, read from the state store and the DAG file on the command line.

use std::path::Path;

use crate::engine::store::StateStore;

/// Candidates for a run id: the runs in the state store (`$DAG_HOME`, else the
/// platform data directory), newest first.
pub fn run_id_candidates() -> Vec<clap_complete::CompletionCandidate> {
    let Some(dir) = crate::embed::default_state_dir() else {
        return Vec::new();
    };
    let Ok(store) = crate::backends::file_store::FileStore::open_existing(&dir) else {
        return Vec::new();
    };
    let mut ids = store.run_ids().unwrap_or_default();
    ids.reverse();
    ids.into_iter()
        .map(|id| {
            let help = store
                .load_run(&id)
                .ok()
                .map(|r| format!("{} {}", r.dag, r.state));
            clap_complete::CompletionCandidate::new(id).help(help.map(Into::into))
        })
        .collect()
}

/// Candidates for a task id: the tasks of the DAG file named on the command line
/// being completed (`dag run FILE --only <TAB>`), or of the run (`dag retry RUN
/// --task <TAB>`).
pub fn task_id_candidates() -> Vec<clap_complete::CompletionCandidate> {
    let words: Vec<String> = std::env::args().collect();
    let after = |cmd: &str| {
        words
            .iter()
            .position(|w| w == cmd)
            .and_then(|i| words[i + 1..].iter().find(|w| !w.starts_with('-')))
            .cloned()
    };
    let ids: Vec<String> = if let Some(file) = after("run") {
        let options = crate::engine::validate::LoadOptions {
            pools: crate::engine::validate::env_pools().unwrap_or_default(),
            ..Default::default()
        };
        match crate::engine::validate::load_file(Path::new(&file), &options) {
            // The tasks, and the mapped tasks whose instances the file lists
            // (`--only convert` runs them all).
            Ok(dag) => {
                let mut ids: Vec<String> =
                    dag.spec.tasks.iter().map(|t| t.id.to_string()).collect();
                let mut groups: Vec<String> = dag.groups.keys().map(|g| g.to_string()).collect();
                groups.sort();
                for g in groups {
                    if !ids.contains(&g) {
                        ids.push(g);
                    }
                }
                ids
            }
            Err(_) => Vec::new(),
        }
    } else if let Some(run) = after("retry").or_else(|| after("logs")) {
        // The run as the command will read it: `latest`, or the start of an id.
        crate::embed::default_state_dir()
            .and_then(|d| crate::backends::file_store::FileStore::open_existing(&d).ok())
            .and_then(|s| {
                let id = super::run_arg::resolve(&s, Some(&run)).ok()?;
                crate::engine::store::StateStore::load_run(&s, &id).ok()
            })
            .map(|r| r.tasks.into_iter().map(|t| t.id.into()).collect())
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    ids.into_iter()
        .map(clap_complete::CompletionCandidate::new)
        .collect()
}
