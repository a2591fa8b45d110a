//! The run a command names on its command line: `latest` (or nothing) for the
//! newest run, a whole run id, or the start of exactly one.
//!
//! Shell completion resolves run ids too, and completion is called from the
//! argument definitions, so this module must not depend on `args` (nor on a module
//! that does, such as `setup`): it imports only the error type and the engine.

use super::exit::CliError;
use crate::engine::store::{StateStore, StoreError};

/// The word for the newest run wherever a run id is taken.
pub const LATEST: &str = "latest";

/// The run a command names: none or `latest` for the newest run, else a run id or
/// the start of exactly one (`dag status 20261130T1142`). Several runs starting
/// so is exit 2, listing them; none is "no run" (exit 2).
pub fn resolve(store: &dyn StateStore, arg: Option<&str>) -> Result<String, CliError> {
    let arg = arg.unwrap_or(LATEST);
    // A whole id is the common case: no listing.
    if crate::engine::record::valid_run_id(arg) && store.run_version(arg).is_ok() {
        return Ok(arg.to_string());
    }
    let mut ids = store.run_ids()?;
    if arg == LATEST {
        return ids.pop().ok_or(CliError::Store(StoreError::Empty));
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
