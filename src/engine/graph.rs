//! The dependency graph of a validated DAG: tasks by index, edges both ways.

use crate::engine::Map;
use std::sync::Arc;

use super::fanout::instance_parts;
use super::spec::{DagSpec, TaskSpec};
use super::state::TaskState;

/// The texts of sub-DAG files, by their path as read (`sub/region.yaml`).
pub type SubSources = std::collections::BTreeMap<String, std::sync::Arc<str>>;

/// A validated DAG with its edges resolved to task indexes (declaration order).
#[derive(Clone, Debug)]
pub struct Dag {
    /// The pipeline as written (after substitution).
    pub spec: DagSpec,
    /// `upstream[i]`: the tasks task `i` depends on.
    pub upstream: Edges,
    /// `downstream[i]`: the tasks that depend on task `i`.
    pub downstream: Edges,
    /// `reads[i]`: the tasks whose outputs task `i` reads (in its strings or its
    /// `when`). Validation made sure each is upstream of it; a trigger rule that
    /// fires early (`one_success`, `one_failed`) still waits for them to end.
    pub reads: Edges,
    /// `readers[i]`: the tasks that read task `i`'s outputs.
    pub readers: Edges,
    /// The mapped tasks (`for_each`, `matrix`) by id, each with its instances
    /// (none for a mapped task without instances: its stand-in is not one).
    pub groups: Map<String, Vec<usize>>,
    /// Task index by id, but for instances that are where their id says in
    /// `groups` (`convert.3` is `groups["convert"][3]`): a million of those would
    /// take 70 MB here.
    index: Map<String, usize>,
    /// A mapped task that expanded at run time and its instances, by its id (what
    /// the id names: `dag retry --task` runs the expansion and every instance
    /// again; a task reading its outputs waits for all).
    expanded: Map<String, Vec<usize>>,
    /// The DAG file's text, when it was loaded from one: kept with each run so that
    /// `dag retry` runs exactly what ran before.
    pub source: Option<std::sync::Arc<str>>,
    /// The texts of the sub-DAG files the DAG file calls (theirs too), by path
    /// as read: kept with each run beside `source`.
    pub sub_sources: Arc<SubSources>,
    /// When mapped tasks have expanded at run time: the DAG as loaded, before any
    /// did (its tasks are the first of this one's, its dependencies as written).
    declared: Option<Arc<Dag>>,
}

impl Dag {
    /// Builds the graph. The caller has already checked that every dependency exists
    /// and that there is no cycle (see [`find_cycles`]).
    pub fn new(spec: DagSpec) -> Dag {
        let mut groups: Map<String, Vec<usize>> = Map::default();
        for (i, t) in spec.tasks.iter().enumerate() {
            if let Some(m) = &t.map {
                let members = groups.entry(m.group.to_string()).or_default();
                if m.index.is_some() {
                    members.push(i);
                }
            }
        }
        let placed = |i: usize, id: &str| {
            instance_parts(id)
                .is_some_and(|(g, k)| groups.get(g).and_then(|m| m.get(k)) == Some(&i))
        };
        let index: Map<String, usize> = spec
            .tasks
            .iter()
            .enumerate()
            .filter(|(i, t)| !placed(*i, &t.id))
            .map(|(i, t)| (t.id.to_string(), i))
            .collect();
        let mut dag = Dag {
            spec,
            upstream: Edges::default(),
            downstream: Edges::default(),
            reads: Edges::default(),
            readers: Edges::default(),
            groups,
            index,
            expanded: Map::default(),
            source: None,
            sub_sources: Arc::default(),
            declared: None,
        };
        let mut upstream = Edges::default();
        for t in &dag.spec.tasks {
            upstream.push(t.depends_on.iter().filter_map(|d| dag.index_of(d)));
        }
        dag.downstream = upstream.inverse();
        dag.upstream = upstream;
        for (i, t) in dag.spec.tasks.iter().enumerate() {
            if t.map.as_ref().is_some_and(|m| m.dynamic())
                && let Some(members) = dag.groups.get(t.id.as_str()).filter(|m| !m.is_empty())
            {
                let all = std::iter::once(i).chain(members.iter().copied()).collect();
                dag.expanded.insert(t.id.to_string(), all);
            }
        }
        let mut reads = Edges::default();
        for t in &dag.spec.tasks {
            let mut r: Vec<usize> = t
                .output_sources()
                .iter()
                .filter_map(|d| dag.named(d))
                .flatten()
                .copied()
                .collect();
            r.sort_unstable();
            r.dedup();
            reads.push(r);
        }
        dag.readers = reads.inverse();
        dag.reads = reads;
        dag
    }

    /// The most task `index` may publish: [`MAX_LIST_OUTPUT_BYTES`] when a
    /// `for_each` reads its outputs, else [`MAX_OUTPUT_BYTES`].
    ///
    /// [`MAX_LIST_OUTPUT_BYTES`]: super::runner::MAX_LIST_OUTPUT_BYTES
    /// [`MAX_OUTPUT_BYTES`]: super::runner::MAX_OUTPUT_BYTES
    pub fn output_cap(&self, index: usize) -> usize {
        let id = &self.spec.tasks[index].id;
        let listed = self.readers[index].iter().any(|&r| {
            let map = self.spec.tasks[r].map.as_ref();
            map.and_then(|m| m.source())
                .is_some_and(|(task, _)| task == id)
        });
        if listed {
            super::runner::MAX_LIST_OUTPUT_BYTES
        } else {
            super::runner::MAX_OUTPUT_BYTES
        }
    }

    /// The tasks an id names: the task of that id, or every instance of the mapped
    /// task of that id; `None` for an unknown id.
    pub fn named(&self, id: &str) -> Option<&[usize]> {
        if let Some(all) = self.expanded.get(id) {
            return Some(all);
        }
        if let Some(i) = self.index.get(id) {
            return Some(std::slice::from_ref(i));
        }
        if let Some(at) = self.placed(id) {
            return Some(at);
        }
        self.groups.get(id).map(Vec::as_slice)
    }

    /// An instance found where its id says in `groups` (see `index`).
    fn placed(&self, id: &str) -> Option<&[usize]> {
        let (group, k) = instance_parts(id)?;
        let members = self.groups.get(group)?;
        members
            .get(k..=k)
            .filter(|m| self.spec.tasks[m[0]].id == id)
    }

    /// This DAG with `instances` (of mapped tasks read at run time) made tasks of
    /// it: each replaces the task of its id, or comes after the last task; a task
    /// that depends on a mapped task with instances depends on every instance.
    pub fn with_instances(&self, instances: Vec<TaskSpec>) -> Dag {
        let declared = self
            .declared
            .clone()
            .unwrap_or_else(|| Arc::new(self.clone()));
        if self.len() == declared.len() {
            // The first instances: taken as they are (a million of them is 40 MB).
            return Dag::expanded(declared, instances);
        }
        let mut tasks = Vec::with_capacity(self.len() - declared.len() + instances.len());
        tasks.extend_from_slice(&self.spec.tasks[declared.len()..]);
        for spec in instances {
            // (An id of a task of the file is refused before: see `fanout::expand`.)
            match self.index_of(&spec.id) {
                Some(i) if i >= declared.len() => tasks[i - declared.len()] = spec,
                _ => tasks.push(spec),
            }
        }
        Dag::expanded(declared, tasks)
    }

    /// `declared` followed by `instances`, with the dependencies on mapped tasks
    /// made dependencies on their instances.
    fn expanded(declared: Arc<Dag>, mut instances: Vec<TaskSpec>) -> Dag {
        if instances.is_empty() {
            return Dag::clone(&declared);
        }
        // Only the mapped tasks that a task of the file depends on need their
        // instances listed.
        let depended: crate::engine::Set<&str> = declared
            .spec
            .tasks
            .iter()
            .flat_map(|t| t.depends_on.iter().map(String::as_str))
            .collect();
        let mut members: Map<&str, Vec<(usize, &str)>> = Map::default();
        for t in &instances {
            if let Some(m) = &t.map
                && let Some(i) = m.index
                && depended.contains(m.group.as_ref())
            {
                members
                    .entry(&m.group)
                    .or_default()
                    .push((i as usize, &t.id));
            }
        }
        for ids in members.values_mut() {
            ids.sort_unstable();
        }
        let mut spec = declared.spec.clone();
        for t in &mut spec.tasks {
            if t.depends_on
                .iter()
                .any(|d| members.contains_key(d.as_str()))
            {
                t.depends_on = t
                    .depends_on
                    .iter()
                    .flat_map(|d| match members.get(d.as_str()) {
                        Some(ids) => ids.iter().map(|(_, id)| id.to_string()).collect(),
                        None => vec![d.clone()],
                    })
                    .collect();
            }
        }
        drop(members);
        // The file's tasks go in front of the instances, in the instances' own
        // buffer: a million instances are not copied into a second one.
        let declared_len = spec.tasks.len();
        instances.reserve_exact(declared_len);
        instances.append(&mut spec.tasks);
        instances.rotate_right(declared_len);
        spec.tasks = instances;
        let mut dag = Dag::new(spec);
        dag.source = declared.source.clone();
        dag.sub_sources = declared.sub_sources.clone();
        dag.declared = Some(declared);
        dag
    }

    /// The DAG of a run that `record` keeps, given the DAG it was loaded from:
    /// the instances its mapped tasks expanded into at run time made tasks again,
    /// from the same lists (an instance whose mapped task is to expand again gets
    /// its item then).
    pub fn resumed(self, record: &crate::engine::record::RunRecord) -> Result<Dag, String> {
        if record.tasks.len() <= self.len() {
            return Ok(self);
        }
        // First every instance in the run's order (each mapped task's first
        // instances, then those a retried run's longer list added), waiting for
        // its mapped task; then, for each mapped task that has expanded, the
        // instances its list gives, read from this DAG (a list may be the outputs
        // of another mapped task's instances).
        let declared_len = self.len();
        let mut at: Map<super::spec::TaskId, (usize, usize)> = Map::default();
        for (t, r) in record.tasks.iter().enumerate().take(declared_len) {
            let Some(n) = r.instances else { continue };
            if !self.task(t).map.as_ref().is_some_and(|m| m.dynamic()) {
                return Err(format!(
                    "task `{}` has instances in the run but reads no list",
                    r.id
                ));
            }
            at.extend((0..n).map(|i| (super::fanout::instance_id(&r.id, i), (t, i))));
        }
        if at.len() != record.tasks.len() - declared_len {
            return Err(format!(
                "its mapped tasks say they have {} instances, but it holds {}",
                at.len(),
                record.tasks.len() - declared_len
            ));
        }
        let mut seen = crate::engine::Set::default();
        if let Some(twice) = record.tasks[declared_len..]
            .iter()
            .find(|r| !seen.insert(r.id.as_str()))
        {
            return Err(format!("task `{}` is in the run twice", twice.id));
        }
        let mut body = None;
        let placeholders = record.tasks[declared_len..]
            .iter()
            .map(|r| match at.get(r.id.as_str()) {
                Some(&(t, i)) => {
                    let mut spec = super::fanout::placeholder(self.task(t), i);
                    spec.share_body(&mut body);
                    Ok(spec)
                }
                None => Err(format!(
                    "task `{}` of the run is not an instance of its mapped tasks",
                    r.id
                )),
            })
            .collect::<Result<Vec<_>, String>>()?;
        let dag = Dag::expanded(Arc::new(self), placeholders);
        let mut instances = Vec::new();
        for (t, r) in record.tasks.iter().enumerate().take(declared_len) {
            let Some(n) = r.instances.filter(|_| r.state == TaskState::Success) else {
                continue;
            };
            let specs = super::fanout::expand(&dag, record, dag.task(t), None)
                .map_err(|e| format!("task `{}`: {e}", r.id))?;
            if specs.len() != n {
                return Err(format!(
                    "task `{}` expanded into {n} instances, but its list now holds {}",
                    r.id,
                    specs.len()
                ));
            }
            instances.extend(specs);
        }
        Ok(dag.with_instances(instances))
    }

    /// Whether every task whose outputs `task` reads has ended, given each task's
    /// state: until then the task may not start, whatever its trigger rule says.
    pub fn reads_done(&self, task: usize, state: impl Fn(usize) -> TaskState) -> bool {
        self.reads[task].iter().all(|&r| state(r).is_terminal())
    }

    /// Number of tasks of the DAG as loaded: those after them are instances of
    /// mapped tasks that expanded at run time.
    pub fn declared_len(&self) -> usize {
        self.declared.as_ref().map_or(self.len(), |d| d.len())
    }

    /// Number of tasks.
    pub fn len(&self) -> usize {
        self.spec.tasks.len()
    }

    /// True when the DAG has no task (never true for a validated file).
    pub fn is_empty(&self) -> bool {
        self.spec.tasks.is_empty()
    }

    /// The task at `index`.
    pub fn task(&self, index: usize) -> &TaskSpec {
        &self.spec.tasks[index]
    }

    /// Index of the task with this id.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        match self.index.get(id) {
            Some(&i) => Some(i),
            None => self.placed(id).map(|at| at[0]),
        }
    }

    /// The sub-DAG of `ids` and everything upstream of them (`--only`), in
    /// declaration order. Unknown ids are returned as the error.
    pub fn select(&self, ids: &[String]) -> Result<Dag, Vec<String>> {
        // A mapped task's id names all its instances.
        let unknown: Vec<String> = ids
            .iter()
            .filter(|id| self.named(id).is_none())
            .cloned()
            .collect();
        if !unknown.is_empty() {
            return Err(unknown);
        }
        let mut keep = vec![false; self.len()];
        let mut stack: Vec<usize> = ids
            .iter()
            .filter_map(|id| self.named(id))
            .flatten()
            .copied()
            .collect();
        while let Some(i) = stack.pop() {
            if !keep[i] {
                keep[i] = true;
                stack.extend(&self.upstream[i]);
            }
        }
        let mut spec = self.spec.clone();
        spec.tasks = self
            .spec
            .tasks
            .iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .map(|(t, _)| t.clone())
            .collect();
        let mut dag = Dag::new(spec);
        dag.source = self.source.clone();
        dag.sub_sources = self.sub_sources.clone();
        Ok(dag)
    }

    /// Every task downstream of `task` (not `task` itself), in no order.
    pub fn descendants(&self, task: usize) -> Vec<usize> {
        let mut seen = vec![false; self.len()];
        let mut stack = self.downstream[task].to_vec();
        let mut out = Vec::new();
        while let Some(t) = stack.pop() {
            if !std::mem::replace(&mut seen[t], true) {
                out.push(t);
                stack.extend(&self.downstream[t]);
            }
        }
        out
    }

    /// Tasks in the order the sequential executor would start them if every task
    /// succeeded: ready tasks by priority (higher first), then declaration order.
    pub fn topological_order(&self) -> Vec<usize> {
        let mut remaining: Vec<usize> = self.upstream.iter().map(<[usize]>::len).collect();
        let mut ready = std::collections::BinaryHeap::new();
        for (i, r) in remaining.iter().enumerate() {
            if *r == 0 {
                ready.push(ReadyKey::new(self.task(i).priority, i));
            }
        }
        let mut order = Vec::with_capacity(self.len());
        while let Some(key) = ready.pop() {
            order.push(key.index);
            for &d in &self.downstream[key.index] {
                remaining[d] -= 1;
                if remaining[d] == 0 {
                    ready.push(ReadyKey::new(self.task(d).priority, d));
                }
            }
        }
        order
    }
}

/// A list of task indexes for each task, all in one allocation: a list of its own
/// for each of a million instances would take 24 bytes apiece before holding any.
/// Lists that are all empty (most tasks read no outputs) take nothing per task.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Edges {
    /// Number of tasks (lists).
    len: usize,
    /// Where each task's list starts in `to`, and after the last, where it ends;
    /// empty while every list is.
    starts: Vec<usize>,
    /// The lists, one after another.
    to: Vec<usize>,
}

impl Edges {
    /// Adds the next task's list.
    pub fn push(&mut self, list: impl IntoIterator<Item = usize>) {
        let had = self.to.len();
        self.to.extend(list);
        if self.starts.is_empty() && !self.to.is_empty() {
            self.starts = vec![0; self.len + 1];
        }
        if !self.starts.is_empty() {
            debug_assert_eq!(self.starts.last(), Some(&had));
            self.starts.push(self.to.len());
        }
        self.len += 1;
    }

    /// Number of tasks (lists).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are no lists.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Each task's list, in task order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[usize]> {
        (0..self.len).map(|i| &self[i])
    }

    /// The same edges the other way round, for as many tasks: task `j` is in list
    /// `i` of the result when `i` is in list `j` of this, each list in task order.
    pub fn inverse(&self) -> Edges {
        if self.to.is_empty() {
            return Edges {
                len: self.len,
                ..Edges::default()
            };
        }
        let mut count = vec![0usize; self.len + 1];
        for &t in &self.to {
            count[t + 1] += 1;
        }
        for i in 1..count.len() {
            count[i] += count[i - 1];
        }
        let starts = count.clone();
        let mut to = vec![0; self.to.len()];
        for (from, list) in self.iter().enumerate() {
            for &t in list {
                to[count[t]] = from;
                count[t] += 1;
            }
        }
        Edges {
            len: self.len,
            starts,
            to,
        }
    }
}

impl std::ops::Index<usize> for Edges {
    type Output = [usize];
    fn index(&self, task: usize) -> &[usize] {
        assert!(task < self.len, "task {task} of {}", self.len);
        match self.starts.get(task..task + 2) {
            Some(&[from, to]) => &self.to[from..to],
            _ => &[],
        }
    }
}

/// Orders ready tasks in a max-heap: higher priority first, then lower index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadyKey {
    /// The task's priority.
    pub priority: i64,
    /// The task's index (declaration order).
    pub index: usize,
}

impl ReadyKey {
    /// The key of task `index` with `priority`.
    pub fn new(priority: i64, index: usize) -> ReadyKey {
        ReadyKey { priority, index }
    }
}

impl Ord for ReadyKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.priority
            .cmp(&other.priority)
            .then_with(|| other.index.cmp(&self.index))
    }
}

impl PartialOrd for ReadyKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The dependency cycles found in a graph: the first few in full, and how many
/// there are in all.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Cycles {
    /// Up to the limit asked for, each as the list of task indexes along it, starting
    /// at its first task in declaration order and following `depends_on` edges.
    pub shown: Vec<Vec<usize>>,
    /// How many cycles were found (one per back edge of the search), shown or not.
    pub total: usize,
}

/// Finds dependency cycles in `upstream` (edges task -> dependency), each once, in
/// time linear in the graph plus the length of the (at most `limit`) cycles kept.
pub fn find_cycles(upstream: &[Vec<usize>], limit: usize) -> Cycles {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnStack,
        Done,
    }
    // `depends_on: [a, a, a]` is one dependency: a cycle through it is one cycle,
    // not one per repetition.
    // (Declaration order is kept: it decides which cycles are shown first.)
    let mut seen_by = vec![usize::MAX; upstream.len()];
    let deduped: Vec<Vec<usize>> = upstream
        .iter()
        .enumerate()
        .map(|(node, edges)| {
            edges
                .iter()
                .copied()
                .filter(|&t| std::mem::replace(&mut seen_by[t], node) != node)
                .collect()
        })
        .collect();
    let upstream = &deduped;
    let n = upstream.len();
    let mut mark = vec![Mark::New; n];
    // Where each task on the search path stands on it, so that a back edge finds the
    // start of its cycle without walking the path.
    let mut depth = vec![0usize; n];
    let mut cycles = Cycles::default();
    for root in 0..n {
        if mark[root] != Mark::New {
            continue;
        }
        // Iterative DFS: (node, next edge to look at).
        let mut path: Vec<(usize, usize)> = vec![(root, 0)];
        mark[root] = Mark::OnStack;
        depth[root] = 0;
        while let Some(&mut (node, ref mut edge)) = path.last_mut() {
            if let Some(&next) = upstream[node].get(*edge) {
                *edge += 1;
                match mark[next] {
                    Mark::New => {
                        mark[next] = Mark::OnStack;
                        depth[next] = path.len();
                        path.push((next, 0));
                    }
                    Mark::OnStack => {
                        cycles.total += 1;
                        if cycles.shown.len() < limit {
                            let mut cycle: Vec<usize> =
                                path[depth[next]..].iter().map(|(p, _)| *p).collect();
                            let min = cycle
                                .iter()
                                .enumerate()
                                .min_by_key(|(_, t)| **t)
                                .map(|(i, _)| i)
                                .unwrap_or(0);
                            cycle.rotate_left(min);
                            cycles.shown.push(cycle);
                        }
                    }
                    Mark::Done => {}
                }
            } else {
                mark[node] = Mark::Done;
                path.pop();
            }
        }
    }
    cycles
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_hold_each_list_and_invert_in_task_order() {
        let lists: Vec<Vec<usize>> = vec![vec![], vec![0], vec![0, 1], vec![], vec![2, 0]];
        let mut edges = Edges::default();
        for l in &lists {
            edges.push(l.iter().copied());
        }
        assert_eq!(edges.len(), 5);
        assert_eq!(
            edges.iter().map(<[usize]>::to_vec).collect::<Vec<_>>(),
            lists
        );
        assert_eq!(&edges[4], &[2, 0]);
        let inverse = edges.inverse();
        let expected: Vec<Vec<usize>> = vec![vec![1, 2, 4], vec![2], vec![4], vec![], vec![]];
        assert_eq!(
            inverse.iter().map(<[usize]>::to_vec).collect::<Vec<_>>(),
            expected
        );
        // Twice inverted: each list sorted.
        let twice: Vec<Vec<usize>> = vec![vec![], vec![0], vec![0, 1], vec![], vec![0, 2]];
        assert_eq!(
            inverse
                .inverse()
                .iter()
                .map(<[usize]>::to_vec)
                .collect::<Vec<_>>(),
            twice
        );
        assert!(Edges::default().is_empty());
        assert!(Edges::default().inverse().is_empty());
        // Lists all empty, then not: the same lists either way.
        let mut none = Edges::default();
        for _ in 0..3 {
            none.push([]);
        }
        assert_eq!(none.len(), 3);
        assert_eq!(&none[2], &[] as &[usize]);
        assert_eq!(none.inverse(), none);
        none.push([1]);
        none.push([]);
        assert_eq!(
            none.iter().map(<[usize]>::to_vec).collect::<Vec<_>>(),
            vec![vec![], vec![], vec![], vec![1], vec![]]
        );
        assert_eq!(&none.inverse()[1], &[3]);
    }

    #[test]
    fn a_repeated_dependency_makes_one_cycle_not_one_per_repetition() {
        let cycles = find_cycles(&[vec![1], vec![0, 0, 0]], 10);
        assert_eq!(cycles.total, 1);
        assert_eq!(cycles.shown, vec![vec![0, 1]]);
    }

    #[test]
    fn finds_each_cycle_once() {
        // 0 -> 1 -> 2 -> 0, and 3 -> 3 is handled elsewhere (self-dependency).
        let up = vec![vec![1], vec![2], vec![0], vec![]];
        assert_eq!(
            find_cycles(&up, 10),
            Cycles {
                shown: vec![vec![0, 1, 2]],
                total: 1
            }
        );
        let up = vec![vec![], vec![0]];
        assert_eq!(find_cycles(&up, 10), Cycles::default());
    }

    #[test]
    fn cycles_past_the_limit_are_counted_not_kept() {
        // Every task depends on the next and on task 0: a cycle per task.
        let n = 1000;
        let up: Vec<Vec<usize>> = (0..n)
            .map(|i| match i {
                0 => vec![1],
                i if i + 1 < n => vec![i + 1, 0],
                _ => vec![0],
            })
            .collect();
        let cycles = find_cycles(&up, 3);
        assert_eq!(cycles.shown.len(), 3);
        assert_eq!(cycles.total, n - 1);
    }

    #[test]
    fn ready_key_orders_priority_then_declaration() {
        let mut heap = std::collections::BinaryHeap::new();
        heap.push(ReadyKey::new(0, 2));
        heap.push(ReadyKey::new(5, 3));
        heap.push(ReadyKey::new(0, 1));
        let order: Vec<usize> = std::iter::from_fn(|| heap.pop().map(|k| k.index)).collect();
        assert_eq!(order, vec![3, 1, 2]);
    }
}
