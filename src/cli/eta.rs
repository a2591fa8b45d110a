//! How long a run has left, for the progress bar: from the same DAG's earlier
//! successful runs when the state store has some, else from this run's pace.
//!
//! With history, each task weighs what it took in those runs (the median), so a
//! DAG whose last task is its longest is not "almost done" when every other task
//! is: the estimate is first the usual length of the run less the time gone, then,
//! once a tenth of the work (by weight) is done and two seconds have passed, the
//! pace so far applied to the weight left. Without history it is the pace so far
//! by task count, under the same conditions; before then there is no estimate.

use std::collections::HashMap;
use std::time::Duration;

use crate::engine::record::RunRecord;
use crate::engine::state::{RunState, TaskState};
use crate::engine::store::StateStore;

/// Earlier successful runs of a DAG that the estimate uses (the newest).
const RUNS: usize = 5;
/// Run records read at most while looking for them, newest first.
const LOOK_AT: usize = 30;
/// The share of the work that must be done, and the time that must have passed,
/// before the pace of this run is trusted.
const MIN_SHARE: f64 = 0.1;
const MIN_ELAPSED: Duration = Duration::from_secs(2);

/// What the same DAG's earlier successful runs took.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    /// The median length of the runs.
    pub total: Duration,
    /// The median duration of each task, in milliseconds (at least 1).
    tasks: HashMap<String, u64>,
    /// The weight of a task the runs did not have: the median of the others.
    other: u64,
}

impl History {
    /// Reads the newest earlier successful runs of the DAG named `dag` from
    /// `store`: `None` when there are none (or the store cannot be read).
    pub fn of(store: &dyn StateStore, dag: &str) -> Option<History> {
        let ids = store.run_ids().ok()?;
        let records = ids
            .iter()
            .rev()
            .take(LOOK_AT)
            .filter_map(|id| store.load_run(id).ok())
            .filter(|r| r.dag == dag && r.state == RunState::Success)
            .take(RUNS);
        History::from_records(records)
    }

    /// The history of `records` (runs of one DAG): `None` when none has both a
    /// start and an end.
    pub fn from_records(records: impl IntoIterator<Item = RunRecord>) -> Option<History> {
        let mut totals = Vec::new();
        let mut tasks: HashMap<String, Vec<u64>> = HashMap::new();
        for r in records {
            let (Some(start), Some(end)) = (r.started_at, r.ended_at) else {
                continue;
            };
            totals.push(start.until(end).as_millis() as u64);
            for t in r.tasks.iter().filter(|t| t.state == TaskState::Success) {
                if let Some(a) = t.attempts.last()
                    && let Some(ended) = a.ended_at
                {
                    let ms = a.started_at.until(ended).as_millis() as u64;
                    tasks.entry(t.id.to_string()).or_default().push(ms.max(1));
                }
            }
        }
        let total = median(&mut totals)?;
        let tasks: HashMap<String, u64> = tasks
            .into_iter()
            .filter_map(|(id, mut ms)| Some((id, median(&mut ms)?)))
            .collect();
        let other = median(&mut tasks.values().copied().collect::<Vec<_>>()).unwrap_or(1);
        Some(History {
            total: Duration::from_millis(total),
            tasks,
            other,
        })
    }

    /// What the task `id` weighs.
    pub fn weight(&self, id: &str) -> u64 {
        self.tasks.get(id).copied().unwrap_or(self.other)
    }
}

fn median(values: &mut [u64]) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    Some(values[values.len() / 2])
}

/// Where a run stands, for its estimate.
#[derive(Debug, Default)]
pub struct Eta {
    history: Option<History>,
    /// Whether the weights below are counted from the record yet.
    counted: bool,
    weight_done: u64,
    weight_all: u64,
    /// When the run should end, from its start, as projected when a task last
    /// ended (the estimate counts down from there until the next one ends).
    end: Option<Duration>,
    /// When a task last ended, from the run's start.
    last_ended: Duration,
}

impl Eta {
    /// Takes the history of earlier runs (found after the run started).
    pub fn learn(&mut self, history: History) {
        self.history = Some(history);
        self.counted = false;
    }

    /// Follows the run at `elapsed`, with `done` of `total` tasks ended: `ended`
    /// is the task that just ended, if one did; `grew` says tasks were added
    /// (instances of a list read at run time).
    pub fn follow(
        &mut self,
        record: &RunRecord,
        ended: Option<usize>,
        grew: bool,
        (elapsed, done, total): (Duration, u64, u64),
    ) {
        let recount = !self.counted || grew;
        if let Some(h) = &self.history {
            if recount {
                // Saturating: a hand-edited record may hold absurd durations.
                let weigh = |all: bool| {
                    record
                        .tasks
                        .iter()
                        .filter(|t| all || t.state.is_terminal())
                        .fold(0u64, |sum, t| sum.saturating_add(h.weight(&t.id)))
                };
                self.weight_all = weigh(true);
                self.weight_done = weigh(false);
                self.counted = true;
            } else if let Some(t) = ended.and_then(|i| record.tasks.get(i)) {
                self.weight_done = self.weight_done.saturating_add(h.weight(&t.id));
            }
        }
        if ended.is_some() {
            self.last_ended = elapsed;
        }
        if ended.is_some() || recount {
            self.end = self.project(done, total);
        }
    }

    /// When the run should end, with `done` of `total` tasks ended: from what
    /// was done when a task last ended, and the time then.
    fn project(&self, done: u64, total: u64) -> Option<Duration> {
        let elapsed = self.last_ended;
        if done >= total {
            return None;
        }
        let history = self.history.as_ref().filter(|_| self.weight_all > 0);
        let share = match history {
            Some(_) => self.weight_done.min(self.weight_all) as f64 / self.weight_all as f64,
            None => done as f64 / total as f64,
        };
        if share >= MIN_SHARE && elapsed >= MIN_ELAPSED {
            // The pace so far, by weight when there is history.
            return Some(elapsed.mul_f64(1.0 / share));
        }
        history.map(|h| elapsed + h.total.mul_f64(1.0 - share))
    }

    /// The time left at `elapsed`, if it can be estimated: none past the
    /// projected end (until the next task ends).
    pub fn left(&self, elapsed: Duration) -> Option<Duration> {
        let end = match (&self.end, &self.history) {
            (Some(end), _) => *end,
            // Nothing counted yet: the usual length of the run.
            (None, Some(h)) if !self.counted => h.total,
            _ => return None,
        };
        end.checked_sub(elapsed).filter(|d| !d.is_zero())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::record::{Attempt, RunRecord};
    use crate::engine::time::Timestamp;
    use crate::engine::validate::{LoadOptions, load_str};

    /// A finished run of `a` then `b` (`b` after `a`) that took `a_ms` and `b_ms`.
    fn run(a_ms: u64, b_ms: u64) -> RunRecord {
        let dag = load_str(
            "d.yaml",
            "name: d\ntasks:\n  a: { command: 'true' }\n  b: { command: 'true', depends_on: [a] }\n",
            &LoadOptions::default(),
        )
        .unwrap();
        let mut r = RunRecord::new("r".into(), &dag, "d.yaml".into());
        let t0 = 1_000_000;
        let spans = [(t0, t0 + a_ms), (t0 + a_ms, t0 + a_ms + b_ms)];
        for (t, (from, to)) in r.tasks.iter_mut().zip(spans) {
            t.state = TaskState::Success;
            t.attempts.push(Attempt::succeeded(from, to));
        }
        r.state = RunState::Success;
        r.started_at = Some(Timestamp(t0));
        r.ended_at = Some(Timestamp(t0 + a_ms + b_ms));
        r
    }

    #[test]
    fn history_is_the_median_of_earlier_runs() {
        let h = History::from_records([run(1000, 9000), run(3000, 7000), run(2000, 8000)]).unwrap();
        assert_eq!(h.total, Duration::from_secs(10));
        assert_eq!(h.weight("a"), 2000);
        assert_eq!(h.weight("b"), 8000);
        // A task the runs did not have weighs the median of the others.
        assert_eq!(h.weight("new"), 8000);
        assert_eq!(History::from_records(Vec::new()), None);
    }

    fn at(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    #[test]
    fn no_estimate_before_there_is_something_to_go_on() {
        let r = run(1000, 1000);
        let mut e = Eta::default();
        e.follow(&r, None, false, (at(1.0), 0, 10));
        assert_eq!(e.left(at(1.0)), None);
        // A tenth done but less than two seconds gone.
        e.follow(&r, Some(0), false, (at(1.0), 1, 10));
        assert_eq!(e.left(at(1.0)), None);
        // Two tenths in 4 s: 16 s left, counting down until the next task ends.
        e.follow(&r, Some(1), false, (at(4.0), 2, 10));
        assert_eq!(e.left(at(4.0)), Some(at(16.0)));
        assert_eq!(e.left(at(5.0)), Some(at(15.0)));
        // Overdue: no estimate until the next task ends.
        assert_eq!(e.left(at(21.0)), None);
        e.follow(&r, Some(1), false, (at(21.0), 10, 10));
        assert_eq!(e.left(at(21.0)), None);
    }

    #[test]
    fn history_weighs_the_long_last_task() {
        let mut e = Eta::default();
        e.learn(History::from_records([run(1000, 9000)]).unwrap());
        // Learned before anything was counted: the usual length of the run.
        assert_eq!(e.left(at(0.5)), Some(at(9.5)));
        let mut now = run(1000, 9000);
        now.tasks[0].state = TaskState::Running;
        now.tasks[1].state = TaskState::Pending;
        e.follow(&now, None, false, (at(0.6), 0, 2));
        assert_eq!(e.left(at(0.6)), Some(at(9.4)));
        // `a` ended after 1.5 s: half the tasks but a tenth of the work; too soon
        // for the pace, so the usual 9 s of `b` are left, counting down.
        now.tasks[0].state = TaskState::Success;
        e.follow(&now, Some(0), false, (at(1.5), 1, 2));
        assert_eq!(e.left(at(1.5)), Some(at(9.0)));
        assert_eq!(e.left(at(4.5)), Some(at(6.0)));
        // Had it taken 2 s (half the usual pace), the pace counts: 18 s left.
        let mut slow = Eta::default();
        slow.learn(History::from_records([run(1000, 9000)]).unwrap());
        slow.follow(&now, Some(0), false, (at(2.0), 1, 2));
        assert_eq!(slow.left(at(2.0)), Some(at(18.0)));
    }
}
