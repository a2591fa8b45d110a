//! The top level of a DAG file (name, params, env, defaults) and the graph of its
//! tasks: dependencies, cycles and output references.

use crate::engine::{Map, Set};
use std::time::Duration;

use crate::engine::fanout::{instance_group, instance_id};
use crate::engine::format::{self, Place};
use crate::engine::graph::find_cycles;
use crate::engine::spec::{
    Backoff, DagSpec, PullPolicy, RetryPolicy, RunOutcome, TaskSpec, TriggerRule,
};
use crate::engine::suggest::did_you_mean;
use crate::engine::yaml::{Node, NodeKind, Span};

use super::checker::{Checker, Entries, OutputRef};
use super::{MAX_NAME_LEN, Problem, is_valid_name};

/// Unknown task ids get a "did you mean" only up to this many times per file.
const MAX_SUGGESTED: usize = 50;

/// Cycles reported in full; a graph can hold more cycles than tasks, and each would
/// be a screenful.
const MAX_CYCLES_SHOWN: usize = 10;

/// A cycle up to this many tasks is shown whole, one label per dependency; a longer
/// one by its length and the first and last [`CYCLE_ENDS`] tasks with their places.
const MAX_CYCLE_SHOWN_WHOLE: usize = 12;

/// Tasks shown at each end of a long cycle.
const CYCLE_ENDS: usize = 3;

/// The problem for one dependency cycle (task indexes along `depends_on` edges):
/// a short cycle in full, a long one compactly, so the report stays a few lines
/// whatever the cycle's length.
fn cycle_problem(
    cycle: &[usize],
    ids: &[&str],
    deps: &[Vec<(String, Span)>],
    id_spans: &[Span],
) -> Problem {
    let len = cycle.len();
    let edge = |pos: usize| {
        let (from, to) = (cycle[pos], cycle[(pos + 1) % len]);
        let span = deps[from]
            .iter()
            .find(|(d, _)| d == ids[to])
            .map_or(id_spans[from], |(_, s)| *s);
        (span, format!("`{}` depends on `{}`", ids[from], ids[to]))
    };
    if len <= MAX_CYCLE_SHOWN_WHOLE {
        let mut names: Vec<&str> = cycle.iter().map(|&i| ids[i]).collect();
        names.push(names[0]);
        return Problem {
            message: format!("dependency cycle: {}", names.join(" → ")),
            labels: (0..len).map(edge).collect(),
            help: Some("remove one of these dependencies".into()),
        };
    }
    let shown: Vec<usize> = (0..CYCLE_ENDS).chain(len - CYCLE_ENDS..len).collect();
    let named = |pos: usize| format!("{} ({})", ids[cycle[pos]], pos + 1);
    let head: Vec<String> = shown[..CYCLE_ENDS].iter().map(|&p| named(p)).collect();
    let tail: Vec<String> = shown[CYCLE_ENDS..].iter().map(|&p| named(p)).collect();
    Problem {
        message: format!(
            "dependency cycle of {len} tasks: {} → … → {} → {}",
            head.join(" → "),
            tail.join(" → "),
            ids[cycle[0]]
        ),
        labels: shown.into_iter().map(edge).collect(),
        help: Some(format!(
            "remove one of its {len} dependencies; (N) is a task's place along the cycle"
        )),
    }
}

/// Values from `defaults:`.
#[derive(Default)]
pub(super) struct Defaults {
    pub(super) timeout: Option<Duration>,
    pub(super) retry: RetryPolicy,
    pub(super) trigger_rule: TriggerRule,
    pub(super) queue: Option<String>,
    pub(super) workdir: Option<String>,
    pub(super) image: Option<String>,
    pub(super) network: Option<String>,
    pub(super) memory_mb: Option<u64>,
    pub(super) cpu_quota: Option<u64>,
    pub(super) pull: PullPolicy,
    pub(super) pool: Option<(String, Span)>,
    pub(super) pool_slots: Option<(u32, Span)>,
}

impl Checker<'_, '_> {
    pub(super) fn dag(&mut self, root: &Node) -> Option<DagSpec> {
        let Some(entries) = self.entries(root, "the top level of a DAG file") else {
            if let Some(p) = self.problems.last_mut() {
                p.help = Some("a DAG file is a map with at least `name:` and `tasks:`".into());
            }
            return None;
        };
        // `x-` keys are the user's own (for anchors), as in Compose files.
        let own: Entries<'_> = entries
            .iter()
            .filter(|(k, ..)| !k.starts_with("x-"))
            .copied()
            .collect();
        self.unknown_keys(&own, &format::names(Place::Top), "the top level");
        let get = |k: &str| {
            entries
                .iter()
                .find(|(key, ..)| *key == k)
                .map(|(_, kn, v)| (*kn, *v))
        };

        if let Some((_, v)) = get("version")
            && v.as_scalar() != Some("1")
        {
            self.report(
                Problem::at(v.span, "unsupported format version", "expected 1")
                    .help("this dag understands format version 1"),
            );
        }

        let name = match get("name") {
            Some((_, v)) => self.raw_string(v, "name").and_then(|n| {
                if is_valid_name(&n) {
                    Some(n)
                } else {
                    self.report(
                        Problem::at(v.span, format!("invalid DAG name `{n}`"), "invalid name")
                            .help(format!("names use only letters, digits, `_`, `.` (only between others) and `-`, at most {MAX_NAME_LEN} of them")),
                    );
                    None
                }
            }),
            None => {
                self.report(
                    Problem::at(
                        Span::at(root.span.start),
                        "missing required key `name`",
                        "in this map",
                    )
                    .help("add `name: my-pipeline` at the top of the file"),
                );
                None
            }
        };
        let description = match get("description") {
            Some((_, v)) => self.optional_string(v, "description").flatten(),
            None => None,
        };

        if let Some((_, v)) = get("params") {
            self.params = self.string_map(v, "params", false).unwrap_or_default();
        }
        self.apply_param_overrides();
        self.check_param_values();

        let env = match get("env") {
            Some((_, v)) => self.string_map(v, "env", true).unwrap_or_default(),
            None => Vec::new(),
        };
        if let Some((_, v)) = get("secret_env") {
            self.secret_env = self.env_names(v, "secret_env");
        }
        let timeout = get("timeout").and_then(|(_, v)| self.positive_duration(v, "timeout"));
        let outcome = get("outcome")
            .and_then(|(_, v)| self.choice(v, "outcome", &RunOutcome::ALL))
            .unwrap_or_default();
        if let Some((_, v)) = get("pools") {
            self.pools = self.pools(v);
        }
        self.apply_pool_overrides();
        let defaults = match get("defaults") {
            Some((_, v)) => self.defaults(v),
            None => Defaults::default(),
        };

        let tasks = match get("tasks") {
            Some((k, v)) => self.tasks(k, v, &defaults),
            None => {
                self.report(
                    Problem::at(
                        Span::at(root.span.start),
                        "missing required key `tasks`",
                        "in this map",
                    )
                    .help("add a `tasks:` map of task id to task"),
                );
                None
            }
        };
        let outputs = match (get("outputs"), &tasks) {
            (Some((_, v)), Some(tasks)) => {
                let mut ids: Vec<&str> = tasks.iter().map(|t| t.id.as_str()).collect();
                ids.extend(
                    tasks
                        .iter()
                        .filter_map(|t| t.map.as_ref().map(|m| &*m.group)),
                );
                ids.sort_unstable();
                ids.dedup();
                self.dag_outputs(v, &ids)
            }
            _ => Vec::new(),
        };
        Some(DagSpec {
            name: name?,
            description,
            params: self.params.clone(),
            env,
            tasks: tasks?,
            timeout,
            outcome,
            pools: self.pools.clone(),
            outputs,
        })
    }

    /// A list of environment variable names (`secret_env`).
    pub(super) fn env_names(&mut self, node: &Node, key: &str) -> Vec<String> {
        let names = self.string_list(node, key).unwrap_or_default();
        let mut out = Vec::with_capacity(names.len());
        for (name, span) in names {
            if name.is_empty() || name.contains('=') || name.contains('\0') {
                self.report(Problem::at(
                    span,
                    format!("invalid variable name `{name}` in `{key}`"),
                    "invalid name",
                ));
            } else {
                out.push(name);
            }
        }
        out
    }

    pub(super) fn check_param_values(&mut self) {
        // A value is inserted as it is, but the text around it is read for task
        // outputs again when the task starts: a `${{` in a value would be taken for
        // an expression there. The format has no escape for it, so say so now.
        for (key, value) in &self.params {
            if value.contains("${{") {
                self.problems.push(Problem {
                    message: format!("the value of param `{key}` contains `${{{{`"),
                    labels: vec![],
                    help: Some(
                        "dag reads `${{` as the start of an expression and has no escape \
                         for it; pass such text in a file instead"
                            .into(),
                    ),
                });
            }
        }
    }

    pub(super) fn apply_param_overrides(&mut self) {
        for (key, value) in &self.options.params {
            match self.params.iter_mut().find(|(k, _)| k == key) {
                Some(slot) => slot.1 = value.clone(),
                None => {
                    let names: Vec<&str> = self.params.iter().map(|(k, _)| k.as_str()).collect();
                    let help = match did_you_mean(key, names.iter().copied()) {
                        Some(help) => help,
                        None if names.is_empty() => "this DAG declares no params".into(),
                        None => format!("declared params: {}", names.join(", ")),
                    };
                    self.problems.push(Problem {
                        message: format!("--param `{key}` is not a param of this DAG"),
                        labels: vec![],
                        help: Some(help),
                    });
                }
            }
        }
    }

    pub(super) fn defaults(&mut self, node: &Node) -> Defaults {
        let mut d = Defaults::default();
        let Some(entries) = self.entries(node, "`defaults`") else {
            return d;
        };
        self.unknown_keys(&entries, &format::default_names(), "`defaults`");
        for (key, _, v) in entries {
            match key {
                "timeout" => d.timeout = self.positive_duration(v, key),
                "retries" => d.retry.retries = self.uint(v, key, 1000).unwrap_or(0) as u32,
                "retry_delay" => d.retry.delay = self.duration(v, key).unwrap_or(d.retry.delay),
                "max_retry_delay" => {
                    d.retry.max_delay = self.duration(v, key).unwrap_or(d.retry.max_delay)
                }
                "retry_backoff" => d.retry.backoff = self.backoff(v).unwrap_or_default(),
                "trigger_rule" => {
                    d.trigger_rule = self
                        .choice(v, "trigger_rule", &TriggerRule::ALL)
                        .unwrap_or_default()
                }
                "queue" => d.queue = self.queue(v),
                "pool" => d.pool = self.raw_string(v, key).map(|p| (p, v.span)),
                "pool_slots" => {
                    d.pool_slots = self
                        .uint(v, key, u32::MAX as u64)
                        .map(|n| (n as u32, v.span))
                }
                "workdir" => d.workdir = self.optional_string(v, key).flatten(),
                "image" => d.image = self.optional_string(v, key).flatten(),
                "network" => d.network = self.optional_string(v, key).flatten(),
                "memory_mb" => d.memory_mb = self.uint(v, key, u64::MAX / (1 << 20)),
                "cpu_quota" => d.cpu_quota = self.cpu_quota(v),
                "pull" => d.pull = self.pull(v).unwrap_or_default(),
                _ => {}
            }
        }
        d
    }

    pub(super) fn positive_duration(&mut self, node: &Node, key: &str) -> Option<Duration> {
        let d = self.duration(node, key)?;
        if d.is_zero() {
            self.report(Problem::at(
                node.span,
                format!("`{key}` must be more than zero"),
                "zero",
            ));
            return None;
        }
        Some(d)
    }

    pub(super) fn backoff(&mut self, node: &Node) -> Option<Backoff> {
        self.choice(node, "retry_backoff", &format::BACKOFFS)
    }

    pub(super) fn pull(&mut self, node: &Node) -> Option<PullPolicy> {
        self.choice(node, "pull", &format::PULLS)
    }

    pub(super) fn cpu_quota(&mut self, node: &Node) -> Option<u64> {
        let q = self.uint(node, "cpu_quota", 100_000)?;
        if q == 0 {
            self.report(Problem::at(
                node.span,
                "`cpu_quota` must be more than zero",
                "zero",
            ));
            return None;
        }
        Some(q)
    }

    pub(super) fn queue(&mut self, node: &Node) -> Option<String> {
        let q = self.string(node, "queue")?;
        if is_valid_name(&q) && !q.contains('.') {
            Some(q)
        } else {
            self.report(
                Problem::at(
                    node.span,
                    format!("invalid queue name `{q}`"),
                    "invalid queue",
                )
                .help("queue names use only letters, digits, `_` and `-`"),
            );
            None
        }
    }

    pub(super) fn tasks(
        &mut self,
        key: &Node,
        node: &Node,
        defaults: &Defaults,
    ) -> Option<Vec<TaskSpec>> {
        if !matches!(node.kind, NodeKind::Map(_)) {
            self.not_a_map(
                key,
                node,
                "`tasks` must be a map of task id to task",
                "write each task as `id: { command: ... }` under `tasks:`",
            );
            return None;
        }
        let entries = self.entries(node, "`tasks`")?;
        if entries.is_empty() {
            self.report(
                Problem::at(key.span, "`tasks` is empty", "no tasks").help("add at least one task"),
            );
            return None;
        }
        // Every task's specs (its instances', for a mapped task), moved here as they
        // are made: one list, not one per task to gather later (twice the memory).
        let mut tasks: Vec<TaskSpec> = Vec::with_capacity(entries.len());
        let mut ids: Vec<&str> = Vec::with_capacity(entries.len());
        let mut deps: Vec<Vec<(String, Span)>> = Vec::with_capacity(entries.len());
        let mut id_spans: Vec<Span> = Vec::with_capacity(entries.len());
        let mut ok = true;
        for (id, knode, v) in &entries {
            if !is_valid_name(id) {
                self.report(
                    Problem::at(knode.span, format!("invalid task id `{id}`"), "invalid id")
                        .help(format!("task ids use only letters, digits, `_`, `.` (only between others) and `-`, at most {MAX_NAME_LEN} of them")),
                );
                ok = false;
                continue;
            }
            let (made, task_deps) = self.task(id, knode, v, defaults, &mut tasks);
            ok &= made;
            ids.push(id);
            deps.push(task_deps);
            id_spans.push(knode.span);
        }
        // Dependencies and cycles are checked over every task, including those that
        // had other problems, so that every problem shows at once.
        let declared: Set<&str> = entries.iter().map(|(id, ..)| *id).collect();
        let mut unknown_deps = 0usize;
        for (i, task_deps) in deps.iter().enumerate() {
            let id = ids[i];
            let mut seen = Set::default();
            for (dep, span) in task_deps {
                if dep == id {
                    self.report(Problem::at(
                        *span,
                        format!("task `{id}` depends on itself"),
                        "self-dependency",
                    ));
                    ok = false;
                } else if !declared.contains(dep.as_str()) {
                    // Suggestions compare against every id: only for the first few.
                    unknown_deps += 1;
                    let help = (unknown_deps <= MAX_SUGGESTED)
                        .then(|| did_you_mean(dep, declared.iter().copied()))
                        .flatten();
                    self.report(
                        Problem::at(
                            *span,
                            format!("task `{id}` depends on unknown task `{dep}`"),
                            "no such task",
                        )
                        .help_opt(help),
                    );
                    ok = false;
                } else if !seen.insert(dep.as_str()) {
                    self.report(Problem::at(
                        *span,
                        format!("task `{id}` lists `{dep}` twice in `depends_on`"),
                        "listed again",
                    ));
                    ok = false;
                }
            }
        }
        let index: Map<&str, usize> = ids.iter().enumerate().map(|(i, t)| (*t, i)).collect();
        // Self-dependencies are reported above, not again as cycles of one.
        let upstream: Vec<Vec<usize>> = deps
            .iter()
            .enumerate()
            .map(|(i, d)| {
                d.iter()
                    .filter_map(|(d, _)| index.get(d.as_str()).copied())
                    .filter(|&u| u != i)
                    .collect()
            })
            .collect();
        let cycles = find_cycles(&upstream, MAX_CYCLES_SHOWN);
        for cycle in &cycles.shown {
            self.report(cycle_problem(cycle, &ids, &deps, &id_spans));
        }
        if cycles.total > cycles.shown.len() {
            self.report(Problem {
                message: format!(
                    "{} more dependency cycles not shown",
                    cycles.total - cycles.shown.len()
                ),
                labels: vec![],
                help: Some("break the cycles above first".into()),
            });
        }
        if cycles.total > 0 {
            return None;
        }
        ok &= self.check_output_refs(&ids, &upstream);
        if !ok {
            return None;
        }
        self.expand_instances(tasks, &entries)
    }

    /// The tasks with every mapped task replaced by its instances, in order, and a
    /// dependency on a mapped task by dependencies on each of its instances. An
    /// instance id that is also a declared task's is reported.
    fn expand_instances(
        &mut self,
        tasks: Vec<TaskSpec>,
        entries: &Entries<'_>,
    ) -> Option<Vec<TaskSpec>> {
        let mut groups: Map<String, Vec<String>> = Map::default();
        for t in &tasks {
            if let Some(m) = &t.map {
                groups
                    .entry(m.group.to_string())
                    .or_default()
                    .push(t.id.to_string());
            }
        }
        if groups.is_empty() {
            return Some(tasks);
        }
        let declared: Map<&str, Span> = entries.iter().map(|(id, k, _)| (*id, k.span)).collect();
        let mut ok = true;
        // Instance ids are ids like any other: unique across every task and
        // instance, and within the limits of a name.
        let mut owner: Map<&str, &str> = Map::default();
        let mut sorted: Vec<(&String, &Vec<String>)> = groups.iter().collect();
        sorted.sort();
        for (group, ids) in sorted {
            let span = declared.get(group.as_str()).copied().unwrap_or_default();
            for id in ids.iter().filter(|id| *id != group) {
                if !is_valid_name(id) {
                    let shown: String = id.chars().take(120).collect();
                    self.report(
                        Problem::at(
                            span,
                            format!("instance id `{shown}` of `{group}` is not a valid task id (at most {MAX_NAME_LEN} characters)"),
                            "here",
                        )
                        .help("shorten the task id, or the matrix values (ids use them)"),
                    );
                    ok = false;
                    break;
                }
                if let Some(other) = owner.insert(id, group) {
                    self.report(
                        Problem::at(
                            span,
                            format!("instances of `{other}` and `{group}` both have the id `{id}`"),
                            "here",
                        )
                        .help("rename one of the mapped tasks"),
                    );
                    ok = false;
                    break;
                }
            }
        }
        for (group, ids) in &groups {
            for id in ids.iter().filter(|id| *id != group) {
                if let Some(span) = declared.get(id.as_str()) {
                    self.report(
                        Problem::at(
                            *span,
                            format!("task id `{id}` is also the id of an instance of `{group}`"),
                            "declared again",
                        )
                        .help(format!("rename this task: instances of `{group}` are `{group}.0`, `{group}.1`, ... (or named by their matrix values)")),
                    );
                    ok = false;
                }
            }
        }
        // The instances of a mapped task read at run time get the ids `ID.0`, ...:
        // no other task (declared, or an instance of a list in the file) may have
        // one, and the longest must be a valid id.
        let dynamic: Map<&str, &TaskSpec> = tasks
            .iter()
            .filter(|t| t.map.as_ref().is_some_and(|m| m.dynamic()))
            .map(|t| (t.id.as_str(), t))
            .collect();
        for t in &tasks {
            let Some(group) = instance_group(&t.id) else {
                continue;
            };
            if dynamic.contains_key(group) {
                let owner = t.map.as_ref().map_or(t.id.as_str(), |m| &*m.group);
                let span = declared.get(owner).copied().unwrap_or_default();
                let what = if owner == t.id {
                    format!("task id `{}`", t.id)
                } else {
                    format!("the id `{}` of an instance of `{owner}`", t.id)
                };
                self.report(
                    Problem::at(
                        span,
                        format!("{what} is also the id of an instance of `{group}`"),
                        "declared again",
                    )
                    .help(format!("rename one of them: instances of `{group}` are `{group}.0`, `{group}.1`, ...")),
                );
                ok = false;
            }
        }
        for (id, t) in &dynamic {
            let most = t
                .map
                .as_ref()
                .and_then(|m| m.max_items)
                .unwrap_or(crate::engine::spec::DEFAULT_MAX_ITEMS);
            let longest = instance_id(id, most.saturating_sub(1) as usize);
            if !is_valid_name(&longest) {
                let span = declared.get(id).copied().unwrap_or_default();
                self.report(
                    Problem::at(
                        span,
                        format!("instance id `{longest}` of `{id}` would not be a valid task id (at most {MAX_NAME_LEN} characters)"),
                        "here",
                    )
                    .help("shorten the task id"),
                );
                ok = false;
            }
        }
        if !ok {
            return None;
        }
        Some(
            tasks
                .into_iter()
                .map(|mut t| {
                    if t.depends_on.iter().any(|d| groups.contains_key(d)) {
                        t.depends_on = t
                            .depends_on
                            .iter()
                            .flat_map(|d| match groups.get(d) {
                                Some(ids) => ids.clone(),
                                None => vec![d.clone()],
                            })
                            .collect();
                    }
                    t
                })
                .collect(),
        )
    }

    /// Every `${{ tasks.ID... }}` must name a task upstream of the one using it, so
    /// that its outputs exist when the task starts.
    pub(super) fn check_output_refs(&mut self, ids: &[&str], upstream: &[Vec<usize>]) -> bool {
        let refs = std::mem::take(&mut self.output_refs);
        let index: Map<&str, usize> = ids.iter().enumerate().map(|(i, t)| (*t, i)).collect();
        let upstream_ok = references_upstream(&refs, &index, upstream);
        let mut ok = true;
        let mut unknown = 0usize;
        for (r, upstream_ok) in refs.into_iter().zip(upstream_ok) {
            if !index.contains_key(r.task.as_str()) {
                continue;
            }
            if !index.contains_key(r.from.as_str()) {
                // Suggesting compares with every task: not for thousands of names.
                unknown += 1;
                let help = (unknown <= MAX_SUGGESTED)
                    .then(|| did_you_mean(&r.from, ids.iter().copied()))
                    .flatten();
                self.report(
                    Problem::at(
                        r.span,
                        format!("`{}` uses outputs of unknown task `{}`", r.task, r.from),
                        "no such task",
                    )
                    .help_opt(help),
                );
                ok = false;
                continue;
            };
            if !upstream_ok {
                self.report(
                    Problem::at(
                        r.span,
                        format!(
                            "`{}` uses output `{}` of `{}`, which is not upstream of it",
                            r.task, r.key, r.from
                        ),
                        "not upstream",
                    )
                    .help(format!(
                        "add `{}` to the `depends_on` of `{}`",
                        r.from, r.task
                    )),
                );
                ok = false;
            }
        }
        ok
    }
}

/// Whether `ancestor` is reachable from `task` along `depends_on` edges.
/// For each reference (in order), whether the task it reads from is upstream of the
/// task that uses it (`true` when either is unknown: that is reported apart).
///
/// One walk of the downstream edges per distinct referenced task, shared by all its
/// references, with one reachability table reused: a DAG whose 20,000 tasks all read
/// `t0` costs one walk, not one per reference.
fn references_upstream(
    refs: &[OutputRef],
    index: &Map<&str, usize>,
    upstream: &[Vec<usize>],
) -> Vec<bool> {
    let n = upstream.len();
    let mut downstream = vec![Vec::new(); n];
    for (task, ups) in upstream.iter().enumerate() {
        for &u in ups {
            downstream[u].push(task);
        }
    }
    let mut result = vec![true; refs.len()];
    let mut by_from: Map<usize, Vec<(usize, usize)>> = Map::default();
    for (i, r) in refs.iter().enumerate() {
        if let (Some(&from), Some(&user)) = (index.get(r.from.as_str()), index.get(r.task.as_str()))
        {
            by_from.entry(from).or_default().push((i, user));
        }
    }
    // Marked with the referenced task's number + 1, so the table needs no clearing.
    let mut reached = vec![0usize; n];
    let mut stack: Vec<usize> = Vec::new();
    for (from, users) in by_from {
        let stamp = from + 1;
        stack.clear();
        stack.extend(&downstream[from]);
        while let Some(t) = stack.pop() {
            if std::mem::replace(&mut reached[t], stamp) != stamp {
                stack.extend(&downstream[t]);
            }
        }
        for (i, user) in users {
            result[i] = reached[user] == stamp;
        }
    }
    result
}
