//! A task's `cache:` map.

use std::path::{Component, Path};

use crate::engine::format::{self, Place};
use crate::engine::spec::CacheSpec;
use crate::engine::yaml::{Node, NodeKind};

use super::Problem;
use super::checker::{Checker, value};

impl Checker<'_, '_> {
    /// `cache:`, checked: a map of the keys [`Place::Cache`] lists.
    pub(super) fn cache(&mut self, node: &Node) -> Option<CacheSpec> {
        if matches!(node.kind, NodeKind::Null) {
            return Some(CacheSpec::default());
        }
        let entries = self.entries(node, "`cache`")?;
        let before = self.problems.len();
        self.unknown_keys(&entries, &format::names(Place::Cache), "`cache`");
        let inputs = match value(&entries, "inputs") {
            Some(v) => self.patterns(v, "inputs"),
            None => Vec::new(),
        };
        let outputs = match value(&entries, "outputs") {
            Some(v) => self.patterns(v, "outputs"),
            None => Vec::new(),
        };
        let env = match value(&entries, "env") {
            Some(v) => self.env_names(v, "cache.env"),
            None => Vec::new(),
        };
        let ttl = value(&entries, "ttl").and_then(|v| self.positive_duration(v, "cache.ttl"));
        (self.problems.len() == before).then_some(CacheSpec {
            inputs,
            env,
            ttl,
            outputs,
        })
    }

    /// The paths and globs of `cache.inputs` or `cache.outputs`. Outputs are put
    /// back on a hit, so they must stay under the task's directory.
    fn patterns(&mut self, node: &Node, key: &str) -> Vec<String> {
        let list = self.string_list(node, key).unwrap_or_default();
        let mut out = Vec::with_capacity(list.len());
        for (pattern, span) in list {
            let problem = if pattern.trim().is_empty() {
                Some(("an empty path".to_string(), "empty"))
            } else if let Err(e) = glob::Pattern::new(&pattern) {
                Some((
                    format!("`{pattern}` is not a valid glob: {}", e.msg),
                    "invalid glob",
                ))
            } else if key == "outputs" && !stays_below(&pattern) {
                Some((
                    format!(
                        "`{pattern}` leaves the task's directory: outputs are put back there on a hit"
                    ),
                    "absolute or with `..`",
                ))
            } else {
                None
            };
            match problem {
                Some((message, label)) => self.report(Problem::at(
                    span,
                    format!("`cache.{key}`: {message}"),
                    label,
                )),
                None => out.push(pattern),
            }
        }
        out
    }
}

/// Whether `path` is relative and never goes up (`..`).
pub fn stays_below(path: &str) -> bool {
    Path::new(path)
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}
