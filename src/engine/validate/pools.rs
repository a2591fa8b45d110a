//! `pools:` at the top of the file, and a task's `pool` and `pool_slots`.

use crate::engine::suggest::did_you_mean;
use crate::engine::yaml::{Node, NodeKind};

use super::checker::Checker;
use super::dag::Defaults;
use super::{Problem, is_valid_name};

/// The largest pool.
pub const MAX_POOL_SIZE: u64 = 1_000_000;

/// Whether `name` may name a pool (as a queue: letters, digits, `_`, `-`).
pub fn is_pool_name(name: &str) -> bool {
    is_valid_name(name) && !name.contains('.')
}

/// A pool given as `NAME=SIZE` (`--pool`, an item of `$DAG_POOLS`).
pub fn parse_pool(s: &str) -> Result<(String, u32), String> {
    let (name, size) = s
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=SIZE, found `{s}`"))?;
    if !is_pool_name(name) {
        return Err(format!(
            "invalid pool name `{name}`: pool names use only letters, digits, `_` and `-`"
        ));
    }
    match size.trim().parse::<u32>() {
        Ok(n) if n >= 1 && u64::from(n) <= MAX_POOL_SIZE => Ok((name.to_string(), n)),
        _ => Err(format!(
            "pool `{name}`: the size must be a whole number from 1 to {MAX_POOL_SIZE}, found `{size}`"
        )),
    }
}

/// The pools of `$DAG_POOLS` (`NAME=SIZE,...`; the config file's `pools` sets
/// it).
pub fn env_pools() -> Result<Vec<(String, u32)>, String> {
    let Some(text) = std::env::var_os("DAG_POOLS") else {
        return Ok(Vec::new());
    };
    text.to_string_lossy()
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| parse_pool(s.trim()))
        .collect()
}

impl Checker<'_, '_> {
    /// `pools:`: a map of pool name to size.
    pub(super) fn pools(&mut self, node: &Node) -> Vec<(String, u32)> {
        if matches!(node.kind, NodeKind::Null) {
            return Vec::new();
        }
        let Some(entries) = self.entries(node, "`pools`") else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(entries.len());
        for (name, knode, v) in entries {
            if !is_pool_name(name) {
                self.report(
                    Problem::at(
                        knode.span,
                        format!("invalid pool name `{name}`"),
                        "invalid name",
                    )
                    .help("pool names use only letters, digits, `_` and `-`"),
                );
                continue;
            }
            let Some(size) = self.uint(v, "pools", MAX_POOL_SIZE) else {
                continue;
            };
            if size == 0 {
                self.report(
                    Problem::at(v.span, format!("pool `{name}` has size 0"), "zero")
                        .help("a pool holds at least 1 slot; remove the pool to run its tasks without one"),
                );
                continue;
            }
            out.push((name.to_string(), size as u32));
        }
        out
    }

    /// `--pool NAME=SIZE` (and the config file's `pools`): resizes a pool of the
    /// file, or adds one.
    pub(super) fn apply_pool_overrides(&mut self) {
        for (name, size) in &self.options.pools {
            match self.pools.iter_mut().find(|(n, _)| n == name) {
                Some(slot) => slot.1 = *size,
                None => self.pools.push((name.clone(), *size)),
            }
        }
    }

    /// A task's pool and slots (its own keys, else `defaults:`), checked against
    /// the pools there are.
    pub(super) fn task_pool(
        &mut self,
        pool: Option<&Node>,
        slots: Option<&Node>,
        defaults: &Defaults,
    ) -> Option<(Option<String>, u32)> {
        let before = self.problems.len();
        let pool = match pool {
            // `pool: null` takes a task out of the pool `defaults:` gives.
            Some(v) if matches!(v.kind, NodeKind::Null) => None,
            Some(v) => self.raw_string(v, "pool").map(|p| (p, v.span)),
            None => defaults.pool.clone(),
        };
        let slots = match slots {
            Some(v) => self
                .uint(v, "pool_slots", u32::MAX as u64)
                .map(|n| (n as u32, v.span)),
            None => defaults.pool_slots,
        };
        if self.problems.len() > before {
            return None;
        }
        let Some((name, span)) = pool else {
            if let Some((_, span)) = slots {
                self.report(
                    Problem::at(span, "`pool_slots` applies to a task with a `pool`", "here")
                        .help("add `pool: NAME` or remove `pool_slots`"),
                );
                return None;
            }
            return Some((None, 1));
        };
        let Some(&(_, size)) = self.pools.iter().find(|(n, _)| *n == name) else {
            let names: Vec<&str> = self.pools.iter().map(|(n, _)| n.as_str()).collect();
            let help = match did_you_mean(&name, names.iter().copied()) {
                Some(help) => help,
                None if names.is_empty() => {
                    "define it under `pools:` at the top of the file (`pools: { NAME: SIZE }`), or with `--pool NAME=SIZE`".into()
                }
                None => format!("pools: {}", names.join(", ")),
            };
            self.report(
                Problem::at(span, format!("no pool `{name}` is defined"), "unknown pool")
                    .help(help),
            );
            return None;
        };
        let slots = match slots {
            Some((0, span)) => {
                self.report(Problem::at(span, "`pool_slots` must be at least 1", "zero"));
                return None;
            }
            Some((n, span)) if n > size => {
                self.report(
                    Problem::at(
                        span,
                        format!("`pool_slots` {n} is more than pool `{name}` holds ({size})"),
                        "more than the pool",
                    )
                    .help("the task could never start: enlarge the pool or take fewer slots"),
                );
                return None;
            }
            Some((n, _)) => n,
            None => 1,
        };
        Some((Some(name), slots))
    }
}
