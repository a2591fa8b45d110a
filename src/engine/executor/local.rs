//! The local executor: up to `--parallel` attempts at once on this machine. Ready
//! tasks wait in a heap ordered by priority, then declaration order; upstream
//! tallies are kept incrementally so each completion costs only its out-edges.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::engine::Map;

use tokio::task::JoinSet;
use tokio::time::Instant;

use super::ExecError;
use super::driver::{AfterAttempt, Driver, Halt, run_attempt};
use crate::engine::gpu::Machine;
use crate::engine::graph::{Dag, ReadyKey};
use crate::engine::record::RunRecord;
use crate::engine::runner::{Outcome, Runners, StopSignal};
use crate::engine::state::TaskState;
use crate::engine::trigger::{Decision, Upstream, decide};

struct Local {
    tallies: Vec<Upstream>,
    ready: BinaryHeap<ReadyKey>,
    waiting: BinaryHeap<Reverse<(Instant, usize)>>,
    /// For each task with a `max_parallel`, the index of its limit in `limits`
    /// (empty while no task has one: a million tasks would take 16 MB here).
    limited: Vec<Option<usize>>,
    limits: Vec<Limit>,
    /// The run's pools (`pools:`), in the order the DAG gives them.
    pools: Vec<Pool>,
    /// Tasks whose wait for a pool was recorded, until they start.
    told: crate::engine::Set<usize>,
    /// This machine's GPUs (`--gpus`), when this executor gives them out.
    gpus: Option<Gpus>,
}

/// This machine's GPUs (shared with the other runs of this process), which
/// this run's running attempts hold, and its ready tasks waiting for enough of
/// them.
struct Gpus {
    machine: std::sync::Arc<Machine>,
    holding: Map<usize, Vec<String>>,
    held: BinaryHeap<ReadyKey>,
}

/// One of the run's pools: the slots its running attempts hold, and the ready
/// tasks waiting for slots.
struct Pool {
    name: String,
    size: u32,
    used: u32,
    held: BinaryHeap<ReadyKey>,
}

/// The `max_parallel` of one mapped task: its instances running, and those ready
/// but held back.
struct Limit {
    most: usize,
    running: usize,
    held: BinaryHeap<ReadyKey>,
}

impl Local {
    /// The index in `limits` of the `max_parallel` of `task`'s mapped task.
    fn limit_of(&self, task: usize) -> Option<usize> {
        self.limited.get(task).copied().flatten()
    }

    /// The pool `task` takes slots of, and how many.
    fn pool_of(&self, dag: &Dag, task: usize) -> Option<(usize, u32)> {
        let spec = dag.task(task);
        // A mapped task whose list is read at run time only expands: its
        // instances take the slots.
        if spec.map.as_ref().is_some_and(|m| m.dynamic()) {
            return None;
        }
        let name = spec.pool.as_deref()?;
        let p = self.pools.iter().position(|p| p.name == name)?;
        Some((p, spec.pool_slots))
    }

    /// How many GPUs an attempt of `task` holds (none for a mapped task that only
    /// expands, or when this executor gives out no GPUs).
    fn gpus_of(&self, dag: &Dag, task: usize) -> u32 {
        let spec = dag.task(task);
        if self.gpus.is_none() || spec.map.as_ref().is_some_and(|m| m.dynamic()) {
            return 0;
        }
        spec.gpus
    }

    /// Takes the GPUs `key` needs, unless it must wait for them: too few are
    /// free, or a task waiting for them ranks higher (as for a pool: small tasks
    /// must not starve a big one); `false` when it waits. A task that needs more
    /// than the machine has never waits: its attempt fails with the reason (see
    /// [`Local::take_gpus`]).
    fn hold_gpus(&mut self, dag: &Dag, key: ReadyKey) -> bool {
        let wants = self.gpus_of(dag, key.index);
        let Some(g) = self.gpus.as_mut().filter(|_| wants > 0) else {
            return true;
        };
        if wants as usize > g.machine.total() {
            return true;
        }
        if g.held.peek().is_some_and(|h| *h > key) {
            return false;
        }
        match g.machine.take(wants) {
            Some(ids) => {
                g.holding.insert(key.index, ids);
                true
            }
            None => false,
        }
    }

    /// Whether a ready task waits for GPUs.
    fn waiting_for_gpus(&self) -> bool {
        self.gpus.as_ref().is_some_and(|g| !g.held.is_empty())
    }

    /// The GPUs the attempt of `task` about to start holds (taken by
    /// [`Local::hold_gpus`]); `Err` with the reason when the machine has too few
    /// for it ever to run.
    fn take_gpus(&mut self, dag: &Dag, task: usize) -> Result<Vec<String>, String> {
        let wants = self.gpus_of(dag, task);
        let Some(g) = self.gpus.as_mut().filter(|_| wants > 0) else {
            return Ok(Vec::new());
        };
        let total = g.machine.total();
        if wants as usize > total {
            return Err(crate::engine::gpu::too_few(
                &dag.task(task).id,
                wants,
                total,
            ));
        }
        Ok(g.holding.get(&task).cloned().unwrap_or_default())
    }

    /// Takes the GPUs of an attempt adopted from an earlier driver of the run
    /// (it starts again here, before any other); `Err` as [`Local::take_gpus`].
    fn adopt_gpus(&mut self, dag: &Dag, task: usize) -> Result<Vec<String>, String> {
        let wants = self.gpus_of(dag, task);
        if let Some(g) = self.gpus.as_mut().filter(|_| wants > 0)
            && let Some(ids) = g.machine.take(wants)
        {
            g.holding.insert(task, ids);
        }
        self.take_gpus(dag, task)
    }

    /// Gives back the GPUs `task`'s attempt held, and lets waiting tasks that
    /// now fit go.
    fn release_gpus(&mut self, dag: &Dag, task: usize) {
        let Some(g) = self.gpus.as_mut() else { return };
        if let Some(held) = g.holding.remove(&task) {
            g.machine.give_back(&held);
        }
        self.wake_gpus(dag);
    }

    /// The tasks waiting for GPUs that fit in those free now go back to the
    /// ready ones (in priority order).
    fn wake_gpus(&mut self, dag: &Dag) {
        let Some(g) = self.gpus.as_mut() else { return };
        let mut free = g.machine.free();
        while let Some(key) = g.held.peek().copied() {
            let wants = dag.task(key.index).gpus as usize;
            if wants > free {
                break;
            }
            g.held.pop();
            self.ready.push(key);
            free -= wants;
        }
    }

    /// The next ready task that may start now. Ready instances of a mapped task at
    /// its `max_parallel` are held back until one of its instances ends; a task
    /// whose pool has too few free slots, until its pool's slots are given back
    /// (each such wait is put in `waits` once, to be recorded).
    fn next_ready(&mut self, dag: &Dag, waits: &mut Vec<(usize, String)>) -> Option<ReadyKey> {
        while let Some(key) = self.ready.pop() {
            let limit = self.limit_of(key.index);
            if let Some(l) = limit
                && self.limits[l].running >= self.limits[l].most
            {
                self.limits[l].held.push(key);
                continue;
            }
            if !self.hold_gpus(dag, key) {
                if let Some(g) = self.gpus.as_mut() {
                    g.held.push(key);
                }
                if self.told.insert(key.index) {
                    waits.push((key.index, "waiting for GPUs".to_string()));
                }
                continue;
            }
            if let Some((p, slots)) = self.pool_of(dag, key.index) {
                let pool = &mut self.pools[p];
                // A task of the pool that waits and ranks higher goes first: one
                // that fits now must not take the slots it waits for (a stream of
                // small tasks would starve one wanting the whole pool).
                let behind = pool.held.peek().is_some_and(|h| *h > key);
                if behind || pool.used + slots > pool.size {
                    pool.held.push(key);
                    // The GPUs taken for it wait for the pool elsewhere.
                    if let Some(g) = self.gpus.as_mut()
                        && let Some(ids) = g.holding.remove(&key.index)
                    {
                        g.machine.give_back(&ids);
                    }
                    if self.told.insert(key.index) {
                        waits.push((key.index, format!("waiting for pool {}", pool.name)));
                    }
                    continue;
                }
                pool.used += slots;
            }
            if let Some(l) = limit {
                self.limits[l].running += 1;
            }
            if !self.told.is_empty() {
                self.told.remove(&key.index);
            }
            return Some(key);
        }
        None
    }

    /// Takes `task`'s pool slots for an attempt that runs already (adopted from an
    /// earlier driver of the run).
    fn hold(&mut self, dag: &Dag, task: usize) {
        if let Some((p, slots)) = self.pool_of(dag, task) {
            self.pools[p].used += slots;
        }
    }

    /// Gives back `task`'s pool slots; the tasks waiting for them that now fit go
    /// back to the ready ones (in priority order).
    fn release(&mut self, dag: &Dag, task: usize) {
        let Some((p, slots)) = self.pool_of(dag, task) else {
            return;
        };
        let pool = &mut self.pools[p];
        pool.used = pool.used.saturating_sub(slots);
        let mut free = pool.size.saturating_sub(pool.used);
        while free > 0 {
            let Some(key) = pool.held.pop() else { break };
            let wants = dag.task(key.index).pool_slots;
            self.ready.push(key);
            if wants > free {
                break;
            }
            free -= wants;
        }
    }

    /// An attempt of `task` ended: a held instance of its mapped task may start,
    /// and its pool's slots and GPUs are given back.
    fn attempt_ended(&mut self, dag: &Dag, task: usize) {
        if let Some(l) = self.limit_of(task) {
            let limit = &mut self.limits[l];
            limit.running = limit.running.saturating_sub(1);
            if let Some(key) = limit.held.pop() {
                self.ready.push(key);
            }
        }
        self.release(dag, task);
        self.release_gpus(dag, task);
    }

    fn queue(&mut self, d: &mut Driver, task: usize) -> Result<(), ExecError> {
        d.set_state(task, TaskState::Queued, None)?;
        self.ready
            .push(ReadyKey::new(d.dag.task(task).priority, task));
        Ok(())
    }

    /// Propagates a task's terminal state to its downstream tasks, transitively.
    fn settle(&mut self, d: &mut Driver, task: usize) -> Result<(), ExecError> {
        let dag = d.dag.clone();
        let mut work = vec![task];
        while let Some(x) = work.pop() {
            let state = d.state(x);
            for &c in &dag.downstream[x] {
                self.tallies[c].record(state);
                self.decide(d, &dag, c, &mut work)?;
            }
            // A task that reads `x`'s outputs may have been held for it.
            for &c in &dag.readers[x] {
                self.decide(d, &dag, c, &mut work)?;
            }
        }
        Ok(())
    }

    /// Queues, resolves or leaves pending task `c` by its trigger rule (and its
    /// `when`, and the tasks whose outputs it reads); a task that ends at once goes
    /// on `work` to be settled.
    fn decide(
        &mut self,
        d: &mut Driver,
        dag: &Dag,
        c: usize,
        work: &mut Vec<usize>,
    ) -> Result<(), ExecError> {
        // A halted run decides nothing more: `finish` cancels what is left, as the
        // sequential executor does.
        if d.state(c) != TaskState::Pending || d.halt.is_some() {
            return Ok(());
        }
        match decide(dag.task(c).trigger_rule, self.tallies[c]) {
            Decision::Wait => {}
            Decision::Run if !dag.reads_done(c, |t| d.state(t)) => {}
            Decision::Run if d.skip_unless_wanted(c)? => work.push(c),
            Decision::Run => self.queue(d, c)?,
            decision => {
                d.resolve(c, decision)?;
                work.push(c);
            }
        }
        Ok(())
    }

    /// Picks up where the driver that is gone left off: its queued tasks are
    /// ready again, those waiting for a retry wait out the rest of their delay,
    /// and its running attempts are adopted (their contexts are returned, to be
    /// awaited as if started here).
    fn take_over(
        &mut self,
        d: &mut Driver,
        stop: &crate::engine::runner::StopSignal,
    ) -> Result<Vec<(usize, crate::engine::runner::TaskContext)>, ExecError> {
        let mut adopted = Vec::new();
        for task in 0..d.dag.len() {
            match d.state(task) {
                TaskState::Queued => {
                    self.ready
                        .push(ReadyKey::new(d.dag.task(task).priority, task));
                }
                TaskState::UpForRetry => {
                    let t = &d.record.tasks[task];
                    let left = t.attempts.last().and_then(|a| {
                        let wait = crate::engine::retry::delay(
                            &d.dag.task(task).retry,
                            a.attempt,
                            fastrand::f64(),
                        );
                        let since = a.ended_at?.until(crate::engine::time::Timestamp::now());
                        wait.checked_sub(since)
                    });
                    let at = far_add(Instant::now(), left.unwrap_or_default());
                    self.waiting.push(Reverse((at, task)));
                }
                TaskState::Running => {
                    if let Some(ctx) = d.adopt_attempt(task, stop)? {
                        if let Some(l) = self.limit_of(task) {
                            self.limits[l].running += 1;
                        }
                        adopted.push((task, ctx));
                    }
                }
                _ => {}
            }
        }
        Ok(adopted)
    }

    /// Counts every task's ended upstream tasks afresh and decides every pending
    /// task: at the start (a retried run has tasks done already) and whenever the
    /// graph changed.
    fn recount(&mut self, d: &mut Driver) -> Result<(), ExecError> {
        let dag = d.dag.clone();
        self.tallies = dag
            .upstream
            .iter()
            .map(|u| Upstream {
                total: u.len() as u32,
                ..Upstream::default()
            })
            .collect();
        for t in 0..dag.len() {
            let state = d.state(t);
            if state.is_terminal() {
                for &c in &dag.downstream[t] {
                    self.tallies[c].record(state);
                }
            }
        }
        let mut groups: Vec<&Vec<usize>> = dag.groups.values().collect();
        groups.sort_unstable();
        for members in groups {
            let Some(most) = members.first().and_then(|&m| dag.task(m).max_parallel) else {
                continue;
            };
            // Instances added to a mapped task share the limit of those it had.
            if self.limited.len() < dag.len() {
                self.limited.resize(dag.len(), None);
            }
            let limit = match members.iter().find_map(|&m| self.limited[m]) {
                Some(l) => l,
                None => {
                    self.limits.push(Limit {
                        most: most as usize,
                        running: 0,
                        held: BinaryHeap::new(),
                    });
                    self.limits.len() - 1
                }
            };
            for &m in members {
                self.limited[m] = Some(limit);
            }
        }
        for t in 0..dag.len() {
            let mut work = Vec::new();
            self.decide(d, &dag, t, &mut work)?;
            for done in work {
                self.settle(d, done)?;
            }
        }
        Ok(())
    }
}

pub(super) async fn run(
    mut d: Driver,
    runners: &Runners,
    stop: StopSignal,
    start: super::Start,
) -> Result<RunRecord, ExecError> {
    d.start()?;
    let parallel = d.options.parallel.max(1);
    let mut l = Local {
        tallies: Vec::new(),
        ready: BinaryHeap::new(),
        waiting: BinaryHeap::new(),
        limited: Vec::new(),
        limits: Vec::new(),
        pools: d
            .dag
            .spec
            .pools
            .iter()
            .map(|(name, size)| Pool {
                name: name.clone(),
                size: *size,
                used: 0,
                held: BinaryHeap::new(),
            })
            .collect(),
        told: Default::default(),
        gpus: d.options.gpus.clone().map(|machine| Gpus {
            machine,
            holding: Map::default(),
            held: BinaryHeap::new(),
        }),
    };
    // Devices given back by any run of this process wake this one's waiting tasks.
    let mut gpus_freed = d.options.gpus.as_ref().map(|m| m.watch());
    let (notes_tx, mut notes) = tokio::sync::mpsc::unbounded_channel();
    d.notes = Some(notes_tx);
    // A run taken over: what its earlier driver left queued, waiting or
    // running is picked up first (counting decides only pending tasks).
    let adopted = match start {
        super::Start::TakenOver => l.take_over(&mut d, &stop)?,
        super::Start::Fresh => Vec::new(),
    };
    l.recount(&mut d)?;
    let mut running: JoinSet<Outcome> = JoinSet::new();
    let mut attempts: Map<tokio::task::Id, (usize, u32)> = Map::default();
    let log_faults = d.log_faults.clone();
    // Another process took the run over: stop at once (its attempts are the new
    // driver's to wait for).
    let taken = d.taken_over().unwrap_or_default();
    let watch_taken = d.taken_over().is_some();
    for (task, mut ctx) in adopted {
        l.hold(&d.dag, task);
        // Its earlier driver is gone, and the attempt starts again here: it
        // takes its GPUs before any other attempt.
        let dag = d.dag.clone();
        match l.adopt_gpus(&dag, task) {
            Ok(gpus) => ctx.gpus = gpus,
            Err(why) => ctx.unrunnable = ctx.unrunnable.or(Some(why)),
        }
        let attempt = ctx.attempt;
        let handle = running.spawn(run_attempt(runners, ctx));
        attempts.insert(handle.id(), (task, attempt));
    }

    loop {
        if d.halt.is_none() && stop.graceful.is_cancelled() {
            d.halt = Some(Halt::Interrupted);
        }
        if d.halt.is_none() {
            let mut waits = Vec::new();
            while running.len() < parallel {
                let dag = d.dag.clone();
                let Some(key) = l.next_ready(&dag, &mut waits) else {
                    break;
                };
                // A mapped task whose list is read at run time expands in its
                // turn, with those of the same priority next in line; the
                // graph changes, so every task is counted again.
                if d.expands(key.index) {
                    // Expanding is no attempt: it holds no pool slots.
                    l.release(&dag, key.index);
                    let mut batch = vec![key.index];
                    while let Some(next) = l.ready.peek().copied() {
                        if next.priority != key.priority || !d.expands(next.index) {
                            break;
                        }
                        l.ready.pop();
                        batch.push(next.index);
                    }
                    d.expand(&batch)?;
                    l.recount(&mut d)?;
                    // `--fail-fast` and an expansion failed: nothing more starts.
                    if d.halt.is_some() {
                        break;
                    }
                    continue;
                }
                let mut ctx = d.begin_attempt(key.index, &stop)?;
                match l.take_gpus(&dag, key.index) {
                    Ok(gpus) => ctx.gpus = gpus,
                    Err(why) => ctx.unrunnable = ctx.unrunnable.or(Some(why)),
                }
                let attempt = ctx.attempt;
                let handle = running.spawn(run_attempt(runners, ctx));
                attempts.insert(handle.id(), (key.index, attempt));
            }
            for (task, reason) in waits {
                // Recorded only while it still waits (a task of the batch may
                // have started since).
                if d.state(task) == TaskState::Queued {
                    d.wait(task, reason)?;
                }
            }
        }
        // Tasks waiting for GPUs with none of this run's attempts running wait
        // for another run of this process (a sub-DAG's, its parent's) to give
        // some back.
        if running.is_empty()
            && (d.halt.is_some()
                || (l.ready.is_empty() && l.waiting.is_empty() && !l.waiting_for_gpus()))
        {
            break;
        }
        d.commit()?;
        let next_retry = l.waiting.peek().map(|Reverse((at, _))| *at);
        tokio::select! {
            // A stop is seen before the completions it caused, so that a task
            // cancelled by Ctrl-C never makes its downstream look skipped.
            biased;
            _ = stop.graceful.cancelled(), if d.halt.is_none() => {
                d.halt = Some(Halt::Interrupted);
            }
            // A task log that cannot be written (a full disk): stop now, killing
            // the running tasks, as for a failed store write.
            _ = log_faults.reported() => return Err(d.log_failure()),
            _ = taken.cancelled(), if watch_taken => return Err(d.taken_over_error()),
            Some(joined) = running.join_next_with_id(), if !running.is_empty() => {
                if d.halt.is_none() && stop.graceful.is_cancelled() {
                    d.halt = Some(Halt::Interrupted);
                }
                let mut joined = Some(joined);
                while let Some(result) = joined.take().or_else(|| running.try_join_next_with_id()) {
                    // A note sent before the attempt ended (a worker picked it up)
                    // is recorded first, or a fast task would end without its
                    // worker: drained after each completion is seen, since one taken
                    // here may have ended after the last drain.
                    while let Ok((task, attempt, note)) = notes.try_recv() {
                        d.note(task, attempt, note)?;
                    }
                    let (id, outcome) = match result {
                        Ok((id, outcome)) => (id, outcome),
                        Err(e) => {
                            let msg = if e.is_panic() { "task runner panicked" } else { "task runner was aborted" };
                            (e.id(), Outcome::failed(None, msg))
                        }
                    };
                    let Some((task, attempt)) = attempts.remove(&id) else { continue };
                    let dag = d.dag.clone();
                    l.attempt_ended(&dag, task);
                    match d.end_attempt(task, attempt, outcome)? {
                        AfterAttempt::Retry(wait) => l.waiting.push(Reverse((far_add(Instant::now(), wait), task))),
                        AfterAttempt::Done => l.settle(&mut d, task)?,
                    }
                }
            }
            Some((task, attempt, note)) = notes.recv() => {
                d.note(task, attempt, note)?;
            }
            Some(Ok(())) = async { match gpus_freed.as_mut() { Some(w) => Some(w.changed().await), None => None } }, if l.waiting_for_gpus() => {
                let dag = d.dag.clone();
                l.wake_gpus(&dag);
            }
            _ = tokio::time::sleep_until(next_retry.unwrap_or_else(Instant::now)), if next_retry.is_some() && d.halt.is_none() => {
                let now = Instant::now();
                while let Some(Reverse((at, task))) = l.waiting.peek().copied() {
                    if at > now {
                        break;
                    }
                    l.waiting.pop();
                    l.queue(&mut d, task)?;
                }
            }
        }
    }
    d.finish()
}

/// `at + wait`, saturating at about thirty years from now (an absurd `retry_delay`
/// must not overflow the clock).
fn far_add(at: Instant, wait: std::time::Duration) -> Instant {
    let cap = std::time::Duration::from_secs(30 * 365 * 24 * 3600);
    at.checked_add(wait.min(cap)).unwrap_or(at)
}
