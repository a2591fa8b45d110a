//! The run a command names on its command line: `latest` (or nothing) for the
//! newest run `dag run` started (not the run of a sub-DAG), a whole run id, or
//! the start of exactly one.
//!
//! Shell completion resolves run ids too, and completion is called from the
//! argument definitions, so this module must not depend on `args` (nor on a module
//! that does, such as `setup`): it imports only the error type and the engine.

use super::exit::CliError;
use crate::engine::store::{StateStore, StoreError};

/// The word for the newest run wherever a run id is taken.
pub const LATEST: &str = "latest";

/// The run a command names: none or `latest` for the newest run that is not the
/// run of a sub-DAG (after `dag run parent.yaml`, the parent), else a run id or
/// the start of exactly one (`dag status 20261130T1142`). Several runs starting
/// so is exit 2, listing them; none is "no run" (exit 2).
pub fn resolve(store: &dyn StateStore, arg: Option<&str>) -> Result<String, CliError> {
    let arg = arg.unwrap_or(LATEST);
    // A whole id is the common case: no listing.
    if crate::engine::record::valid_run_id(arg) && store.run_version(arg).is_ok() {
        return Ok(arg.to_string());
    }
    let ids = store.run_ids()?;
    if arg == LATEST {
        return latest(store, &ids).ok_or(CliError::Store(StoreError::Empty));
    }
    let matching: Vec<String> = ids
        .into_iter()
        .filter(|id| !arg.is_empty() && id.starts_with(arg))
        .collect();
    match matching.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(CliError::Store(StoreError::NotFound(arg.to_string()))),
        many => {
            const SHOWN: usize = 10;
            let mut list: Vec<&str> = many.iter().rev().take(SHOWN).map(String::as_str).collect();
            if many.len() > SHOWN {
                list.push("…");
            }
            Err(CliError::usage(
                format!(
                    "`{}` is the start of {} runs' ids",
                    crate::engine::text::printable(arg),
                    many.len()
                ),
                Some(format!(
                    "give more of the id; the newest: {}",
                    list.join(", ")
                )),
            ))
        }
    }
}

/// The newest of `ids` (sorted) that is not the run of a sub-DAG. A child run's
/// id is its parent's, a dash and more (see
/// [`crate::backends::subdag::child_run_id`]): only an id that starts so is
/// read to be sure.
fn latest(store: &dyn StateStore, ids: &[String]) -> Option<String> {
    let child = |id: &str| {
        let parent_listed = id
            .match_indices('-')
            .any(|(at, _)| ids.binary_search_by(|x| x.as_str().cmp(&id[..at])).is_ok());
        parent_listed && store.load_run(id).is_ok_and(|r| r.parent.is_some())
    };
    ids.iter()
        .rev()
        .find(|id| !child(id))
        .or(ids.last())
        .cloned()
}
