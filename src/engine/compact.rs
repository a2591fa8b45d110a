//! The stored form of a run record's task list: runs of like records of instances
//! (`convert.0`, `convert.1`, ...) are kept as one block, so that a mapped task of
//! a million instances costs a few bytes per instance and attempt in `run.json`,
//! not a record each.
//!
//! A block stands for `count` consecutive records whose ids are `GROUP.FROM`,
//! `GROUP.FROM+1`, ... and that are alike but for the times of their attempts
//! (as many for each, all ended):
//!
//! ```json
//! {"group": "convert", "from": 0, "count": 3, "state": "success",
//!  "attempts": [{"attempt": 1, "host": "ci-7", "outcome": "success", "at": "2026-11-30T03:42:15.830Z",
//!                "started": [0, 1, 212], "ended": [213, 212, 0]}]}
//! ```
//!
//! For each attempt, `started[k]` is the milliseconds from the previous
//! instance's start of that attempt (for the first, from `at`) to instance `k`'s;
//! `ended[k]` from its start to its end. Without `attempts`, the instances have
//! not run (pending, queued, skipped, upstream_failed, with the block's
//! `reason`). Anything else a record may hold (outputs, an attempt still going)
//! keeps the record whole. Reading expands blocks back into records: the record
//! in memory is the same either way.

use super::record::Text;
use serde::de::{Error as _, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::fanout::{MAX_INSTANCES, MAX_RUN_TASKS, instance_id, instance_parts};
use super::record::{Attempt, Attempts, TaskRecord, is_zero};
use super::runner::Outputs;
use super::state::TaskState;
use super::time::Timestamp;

/// Fewer like records than this in a row are written whole: small runs read as
/// they always did.
const MIN_BLOCK: usize = 8;

/// Whether `b` is like `a` but for its id and the times of its attempts.
fn alike(a: &TaskRecord, b: &TaskRecord) -> bool {
    a.state == b.state
        && a.reason == b.reason
        && a.attempts.len() == b.attempts.len()
        && a.attempts.iter().zip(&b.attempts).all(|(x, y)| {
            x.attempt == y.attempt
                && x.host == y.host
                && x.outcome == y.outcome
                && x.exit_code == y.exit_code
                && x.error == y.error
                && x.worker == y.worker
                && x.deliveries == y.deliveries
                && x.cached == y.cached
        })
}

/// Whether a record may be part of a block at all.
fn blockable(t: &TaskRecord) -> bool {
    t.outputs.is_empty()
        && t.instances.is_none()
        && t.duplicates == 0
        && t.attempts.iter().all(|a| a.ended_at.is_some())
}

/// How many records from `tasks[0]` form a block (1 when none).
fn block_len(tasks: &[TaskRecord]) -> usize {
    let first = &tasks[0];
    // What reading refuses is never written: a block names a task id and holds
    // at most a task's instances.
    let Some((group, from)) = instance_parts(&first.id)
        .filter(|(g, _)| blockable(first) && crate::engine::validate::is_valid_name(g))
    else {
        return 1;
    };
    let mut n = 1;
    while let Some(t) = tasks.get(n).filter(|_| n < MAX_INSTANCES) {
        let follows = instance_parts(&t.id)
            .is_some_and(|(g, i)| g == group && from.checked_add(n) == Some(i));
        if !(follows && blockable(t) && alike(first, t)) {
            break;
        }
        n += 1;
    }
    n
}

/// Serializes a task list, runs of like instance records as blocks.
pub fn serialize<S: Serializer>(tasks: &[TaskRecord], s: S) -> Result<S::Ok, S::Error> {
    let mut seq = s.serialize_seq(None)?;
    let mut i = 0;
    let mut budget = MAX_BLOCK_MEMORY;
    while i < tasks.len() {
        let n = block_len(&tasks[i..]);
        let first = &tasks[i];
        let memory = block_memory(
            n,
            &first.id,
            &first.reason,
            first
                .attempts
                .iter()
                .map(|a| (&a.host, &a.error, &a.worker)),
        );
        let block = n >= MIN_BLOCK && memory <= budget;
        if block {
            budget -= memory;
        }
        if !block {
            for t in &tasks[i..i + n] {
                seq.serialize_element(t)?;
            }
        } else {
            seq.serialize_element(&BlockOut(&tasks[i..i + n]))?;
        }
        i += n;
    }
    seq.end()
}

/// A block being written: like records, the first one standing for all.
struct BlockOut<'a>(&'a [TaskRecord]);

#[derive(Serialize)]
struct BlockFields<'a> {
    group: &'a str,
    from: usize,
    count: usize,
    state: TaskState,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: &'a Option<Text>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attempts: Vec<AttemptsOut<'a>>,
}

#[derive(Serialize)]
struct AttemptsOut<'a> {
    attempt: u32,
    host: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<TaskState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exit_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: &'a Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    worker: &'a Option<Text>,
    #[serde(skip_serializing_if = "is_zero")]
    deliveries: u32,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    cached: bool,
    at: Timestamp,
    started: Deltas<'a>,
    ended: Deltas<'a>,
    /// Written only when a record's attempt was placed on a worker.
    #[serde(skip_serializing_if = "Option::is_none")]
    placed: Option<Deltas<'a>>,
}

/// Which times of attempt `nth` of a block's records [`Deltas`] writes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Times {
    /// The starts, each from the one before (the first from `at`).
    Starts,
    /// The ends, each from its own start.
    Ends,
    /// When a worker took it, from its own start (`placed_ms`).
    Placed,
}

/// The times of attempt `nth` of a block's records, in milliseconds.
struct Deltas<'a> {
    tasks: &'a [TaskRecord],
    nth: usize,
    at: Timestamp,
    times: Times,
}

impl Serialize for Deltas<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.tasks.len()))?;
        // Times past what RFC 3339 writes are written as the last one it has, as
        // `at` is and whole records' times are.
        let mut before = self.at.min(Timestamp::MAX).0 as i64;
        for t in self.tasks {
            let a = &t.attempts[self.nth];
            let start = a.started_at.min(Timestamp::MAX).0 as i64;
            // Times are at most `Timestamp::MAX`, less than 2^48: no overflow.
            match self.times {
                Times::Ends => {
                    let end = a.ended_at.map_or(start, |e| e.min(Timestamp::MAX).0 as i64);
                    seq.serialize_element(&end.saturating_sub(start))?;
                }
                Times::Starts => {
                    seq.serialize_element(&start.saturating_sub(before))?;
                    before = start;
                }
                Times::Placed => seq.serialize_element(&i64::from(a.placed_ms))?,
            }
        }
        seq.end()
    }
}

impl Serialize for BlockOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let first = &self.0[0];
        let (group, from) = instance_parts(&first.id).expect("a block starts with an instance id");
        let attempts = (first.attempts.iter().enumerate())
            .map(|(nth, a)| AttemptsOut {
                attempt: a.attempt,
                host: &a.host,
                outcome: a.outcome,
                exit_code: a.exit_code,
                error: &a.error,
                worker: &a.worker,
                deliveries: a.deliveries,
                cached: a.cached,
                at: a.started_at,
                started: Deltas {
                    tasks: self.0,
                    nth,
                    at: a.started_at,
                    times: Times::Starts,
                },
                ended: Deltas {
                    tasks: self.0,
                    nth,
                    at: a.started_at,
                    times: Times::Ends,
                },
                placed: self
                    .0
                    .iter()
                    .any(|t| t.attempts[nth].placed_ms > 0)
                    .then_some(Deltas {
                        tasks: self.0,
                        nth,
                        at: a.started_at,
                        times: Times::Placed,
                    }),
            })
            .collect();
        BlockFields {
            group,
            from,
            count: self.0.len(),
            state: first.state,
            reason: &first.reason,
            attempts,
        }
        .serialize(s)
    }
}

/// The most memory the blocks of one record may take once read (each copies its
/// strings into every record it stands for): a run of 4,000,000 instances takes
/// about 1 GiB; a short file cannot claim more. Blocks that would pass it are
/// written as whole records (which the record's size cap then bounds).
const MAX_BLOCK_MEMORY: u64 = 2 << 30;

/// One entry of a stored task list: a record (`id`) or a block (`group`).
#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    group: Option<String>,
    state: TaskState,
    #[serde(default)]
    attempts: Vec<AttemptEntry>,
    #[serde(default)]
    reason: Option<Text>,
    #[serde(default)]
    outputs: Outputs,
    #[serde(default)]
    instances: Option<usize>,
    #[serde(default)]
    duplicates: u32,
    #[serde(default)]
    from: usize,
    #[serde(default)]
    count: usize,
}

impl Entry {
    /// About what a block takes once read (nothing for a whole record: that
    /// takes what its text does).
    fn memory(&self) -> u64 {
        let Some(group) = &self.group else { return 0 };
        block_memory(
            self.count,
            group,
            &self.reason,
            self.attempts.iter().map(|a| (&a.host, &a.error, &a.worker)),
        )
    }
}

/// About what `count` records of a block take in memory, and what what is made
/// of them may take: the records share the block's strings, but a table, JSON
/// document or report of the run holds a copy of each for every record.
fn block_memory<'a>(
    count: usize,
    group: &str,
    reason: &Option<Text>,
    attempts: impl Iterator<Item = (&'a Text, &'a Option<Text>, &'a Option<Text>)>,
) -> u64 {
    let len = |s: &Option<Text>| s.as_ref().map_or(0, |s| s.len());
    let per_attempt: usize = attempts
        .map(|(host, error, worker)| {
            std::mem::size_of::<Attempt>() + host.len() + len(error) + len(worker)
        })
        .sum();
    // (20: the `.` and the index of each id.)
    let per_record = std::mem::size_of::<TaskRecord>() + group.len() + 20 + len(reason);
    (count as u64).saturating_mul((per_record + per_attempt) as u64)
}

/// An attempt in an entry: a whole one (in a record: `started_at`), or one for
/// each record of a block (`at`, `started`, `ended`). One struct for both, so
/// that nothing is parsed twice or held in a generic form first.
#[derive(Deserialize)]
struct AttemptEntry {
    attempt: u32,
    host: Text,
    #[serde(default)]
    outcome: Option<TaskState>,
    #[serde(default)]
    exit_code: Option<i32>,
    #[serde(default)]
    error: Option<Text>,
    #[serde(default)]
    worker: Option<Text>,
    #[serde(default)]
    deliveries: u32,
    #[serde(default)]
    placed_ms: u32,
    #[serde(default)]
    cached: bool,
    #[serde(default)]
    started_at: Option<Timestamp>,
    #[serde(default)]
    ended_at: Option<Timestamp>,
    #[serde(default)]
    at: Option<Timestamp>,
    #[serde(default, deserialize_with = "deltas")]
    started: Option<Vec<i64>>,
    #[serde(default, deserialize_with = "deltas")]
    ended: Option<Vec<i64>>,
    #[serde(default, deserialize_with = "deltas")]
    placed: Option<Vec<i64>>,
}

impl AttemptEntry {
    /// The attempt, with these times.
    fn with_times(
        &self,
        started_at: Timestamp,
        ended_at: Option<Timestamp>,
        placed_ms: u32,
    ) -> Attempt {
        Attempt {
            attempt: self.attempt,
            started_at,
            ended_at,
            host: self.host.clone(),
            outcome: self.outcome,
            exit_code: self.exit_code,
            error: self.error.clone(),
            worker: self.worker.clone(),
            deliveries: self.deliveries,
            placed_ms,
            cached: self.cached,
        }
    }
}

/// A block's deltas: no more than a block may have records.
fn deltas<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<i64>>, D::Error> {
    struct Bounded;
    impl<'de> Visitor<'de> for Bounded {
        type Value = Vec<i64>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list of milliseconds")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<i64>, A::Error> {
            let mut out = Vec::new();
            while let Some(n) = seq.next_element()? {
                if out.len() == MAX_INSTANCES {
                    return Err(A::Error::custom(format!(
                        "more than {MAX_INSTANCES} times, more than a block has"
                    )));
                }
                out.push(n);
            }
            Ok(out)
        }
    }
    d.deserialize_seq(Bounded).map(Some)
}

/// Reads a task list written by [`serialize`] (or one of whole records only),
/// refusing one that would hold more than [`MAX_RUN_TASKS`] tasks.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<TaskRecord>, D::Error> {
    d.deserialize_seq(TasksVisitor)
}

struct TasksVisitor;

impl<'de> Visitor<'de> for TasksVisitor {
    type Value = Vec<TaskRecord>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of task records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<TaskRecord>, A::Error> {
        let mut tasks = Vec::new();
        let mut budget = MAX_BLOCK_MEMORY;
        while let Some(e) = seq.next_element::<Entry>()? {
            budget = budget.checked_sub(e.memory()).ok_or_else(|| {
                A::Error::custom(format!(
                    "its blocks would take more than {} GiB once read",
                    MAX_BLOCK_MEMORY >> 30
                ))
            })?;
            expand(e, &mut tasks).map_err(A::Error::custom)?;
            if tasks.len() > MAX_RUN_TASKS {
                return Err(A::Error::custom(format!(
                    "more than {MAX_RUN_TASKS} tasks, more than a run may have"
                )));
            }
        }
        Ok(tasks)
    }
}

/// Appends what one entry stands for.
fn expand(e: Entry, tasks: &mut Vec<TaskRecord>) -> Result<(), String> {
    let group = match (e.id, e.group) {
        (Some(id), None) => {
            let attempts = e
                .attempts
                .iter()
                .map(|a| match (a.started_at, &a.at) {
                    (Some(started_at), None) => {
                        Ok(a.with_times(started_at, a.ended_at, a.placed_ms))
                    }
                    _ => Err(format!("task `{id}`: an attempt without `started_at`")),
                })
                .collect::<Result<_, _>>()?;
            tasks.push(TaskRecord {
                id: id.into(),
                state: e.state,
                attempts,
                reason: e.reason,
                outputs: e.outputs,
                instances: e.instances,
                duplicates: e.duplicates,
            });
            return Ok(());
        }
        (None, Some(group)) => group,
        _ => return Err("a task entry needs either `id` or `group`".into()),
    };
    // Ids as a file may have them, and no more instances than a task may have:
    // what a short record can make stays within what a run of dag makes.
    if !crate::engine::validate::is_valid_name(&group) {
        return Err(format!(
            "a block of `{}`: not a task id",
            crate::engine::text::printable(&group.chars().take(100).collect::<String>())
        ));
    }
    if e.count > MAX_INSTANCES {
        return Err(format!(
            "a block of {} tasks of `{group}`: more than the {MAX_INSTANCES} instances a task may have",
            e.count
        ));
    }
    if e.count > MAX_RUN_TASKS - tasks.len().min(MAX_RUN_TASKS)
        || e.from.checked_add(e.count).is_none()
    {
        return Err(format!(
            "a block of {} tasks of `{group}`: more than a run may have",
            e.count
        ));
    }
    let mut shapes = Vec::with_capacity(e.attempts.len());
    for a in &e.attempts {
        let (Some(at), Some(started), Some(ended), None) =
            (a.at, &a.started, &a.ended, a.started_at)
        else {
            return Err(format!(
                "a block of `{group}`: an attempt without `at`, `started` and `ended`"
            ));
        };
        if started.len() != e.count || ended.len() != e.count {
            return Err(format!(
                "a block of {} tasks of `{group}` with {} start and {} end times",
                e.count,
                started.len(),
                ended.len()
            ));
        }
        let placed = match &a.placed {
            Some(p) if p.len() != e.count => {
                return Err(format!(
                    "a block of {} tasks of `{group}` with {} placing times",
                    e.count,
                    p.len()
                ));
            }
            Some(p) => Some(p),
            None => None,
        };
        shapes.push((a, at, started, ended, placed));
    }
    // (Each attempt holds a start and an end per record: the file's size bounds
    // them.)
    let first = tasks.len();
    tasks.extend((e.from..).take(e.count).map(|i| TaskRecord {
        reason: e.reason.clone(),
        state: e.state,
        attempts: Attempts::with_capacity(shapes.len()),
        ..TaskRecord::pending(instance_id(&group, i))
    }));
    for (a, at, started, ended, placed) in shapes {
        let mut start = at.0;
        for (k, ((t, &ds), &de)) in tasks[first..]
            .iter_mut()
            .zip(started)
            .zip(ended)
            .enumerate()
        {
            let times = start.checked_add_signed(ds).and_then(|s| {
                let end = s.checked_add_signed(de)?;
                (s.max(end) <= Timestamp::MAX.0).then_some((s, end))
            });
            let Some((s, end)) = times else {
                return Err(format!("a time of task `{}` out of range", t.id));
            };
            start = s;
            let placed_ms = match placed {
                Some(p) => match u32::try_from(p[k]) {
                    Ok(ms) => ms,
                    Err(_) => {
                        return Err(format!("a placing time of task `{}` out of range", t.id));
                    }
                },
                None => 0,
            };
            t.attempts
                .push(a.with_times(Timestamp(s), Some(Timestamp(end)), placed_ms));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Wrap {
        #[serde(with = "super")]
        tasks: Vec<TaskRecord>,
    }

    fn done(id: String, start: u64, end: u64) -> TaskRecord {
        TaskRecord {
            state: TaskState::Success,
            attempts: smallvec::smallvec![Attempt::succeeded(start, end)],
            ..TaskRecord::pending(id)
        }
    }

    fn round_trip(tasks: Vec<TaskRecord>) -> String {
        let w = Wrap { tasks };
        let text = serde_json::to_string(&w).unwrap();
        let back: Wrap = serde_json::from_str(&text).unwrap();
        assert_eq!(back, w);
        text
    }

    #[test]
    fn like_instances_are_kept_as_a_block_and_read_back_the_same() {
        let mut tasks = vec![TaskRecord::pending("list")];
        // Out-of-order starts and a clock step back still read back exactly.
        let starts = [1000u64, 1001, 999, 1500, 1500, 2000, 1999, 3000, 3001, 3002];
        for (i, s) in starts.iter().enumerate() {
            tasks.push(done(format!("m.{i}"), *s, s + i as u64 * 7));
        }
        tasks.push(TaskRecord::pending("after"));
        let text = round_trip(tasks);
        assert!(
            text.contains(r#""group":"m","from":0,"count":10"#),
            "{text}"
        );
        assert!(!text.contains(r#""id":"m."#), "{text}");
    }

    proptest::proptest! {
        /// Any task list reads back as it was written: runs of like instances
        /// (blocks), gaps in their indexes, other ids, attempts alike or not,
        /// times in any order.
        #[test]
        fn any_task_list_reads_back_the_same(
            chunks in proptest::collection::vec(
                (1usize..15, 0usize..4, 0u8..3, proptest::collection::vec((0u8..2, 0u64..5, 0u64..4, 0u32..3), 0..3)),
                0..12,
            )
        ) {
            let mut tasks = Vec::new();
            let mut index = 0usize;
            for (len, gap, state, attempts) in chunks {
                for k in 0..len {
                    index += if gap == 3 && k == 0 { 2 } else { 1 };
                    let id = match gap {
                        0 => format!("other.0{index}"),
                        _ => format!("m.{index}"),
                    };
                    tasks.push(TaskRecord {
                        state: [TaskState::Success, TaskState::Failed, TaskState::Skipped][state as usize],
                        reason: (state == 2).then(|| "why".into()),
                        attempts: attempts
                            .iter()
                            .enumerate()
                            .map(|(n, &(host, start, took, placed))| Attempt {
                                attempt: n as u32 + 1,
                                started_at: Timestamp(1_000 + start * 7 + (k as u64 % 3)),
                                ended_at: Some(Timestamp(1_000 + start * 7 + took)),
                                host: ["a", "b"][host as usize].into(),
                                outcome: Some(TaskState::Success),
                                exit_code: None,
                                error: None,
                                worker: None,
                                deliveries: 0,
                                // Placed by a worker (after 0 to 2 s), or run here.
                                placed_ms: placed * 1000,
                                cached: k % 5 == 0,
                            })
                            .collect(),
                        ..TaskRecord::pending(id)
                    });
                }
            }
            round_trip(tasks);
        }
    }

    #[test]
    fn when_workers_took_a_block_s_attempts_is_kept() {
        let tasks: Vec<TaskRecord> = (0..10)
            .map(|i| {
                let mut t = done(format!("m.{i}"), 1000 + i, 2000 + i);
                t.attempts[0].placed_ms = (i as u32) * 3;
                t
            })
            .collect();
        let text = round_trip(tasks);
        assert_eq!(text.matches(r#""group""#).count(), 1, "{text}");
        assert!(
            text.contains(r#""placed":[0,3,6,9,12,15,18,21,24,27]"#),
            "{text}"
        );
        // A block whose placing times do not match its records is refused.
        let bad = text.replace(
            r#""placed":[0,3,6,9,12,15,18,21,24,27]"#,
            r#""placed":[0,3]"#,
        );
        let err = serde_json::from_str::<Wrap>(&bad).unwrap_err().to_string();
        assert!(err.contains("with 2 placing times"), "{err}");
        let bad = text.replace(r#""placed":[0,3,6"#, r#""placed":[-1,3,6"#);
        let err = serde_json::from_str::<Wrap>(&bad).unwrap_err().to_string();
        assert!(
            err.contains("placing time of task `m.0` out of range"),
            "{err}"
        );
    }

    #[test]
    fn instances_retried_alike_stay_a_block() {
        let tasks: Vec<TaskRecord> = (0..20)
            .map(|i| {
                let mut t = done(format!("m.{i}"), 1000 + i, 2000 + i);
                let mut again = done(String::new(), 5000 + 2 * i, 6000).attempts.remove(0);
                again.attempt = 2;
                t.attempts[0].outcome = Some(TaskState::Failed);
                t.attempts[0].error = Some("exit 1".into());
                t.attempts.push(again);
                t
            })
            .collect();
        let text = round_trip(tasks);
        assert_eq!(text.matches(r#""group""#).count(), 1, "{text}");
        assert_eq!(text.matches(r#""started""#).count(), 2, "{text}");
    }

    #[test]
    fn unlike_records_break_blocks_and_short_runs_stay_whole() {
        let mut tasks: Vec<TaskRecord> = (0..20)
            .map(|i| TaskRecord::pending(format!("m.{i}")))
            .collect();
        tasks[5].state = TaskState::Queued;
        tasks[12].outputs.insert("k".into(), "v".into());
        tasks[15].reason = Some("why".into());
        // Ids that would not be written back the same are never in a block.
        tasks.extend((0..10).map(|i| TaskRecord::pending(format!("v.0{i}"))));
        tasks.extend((0..10).map(|i| TaskRecord::pending(format!("w.{}", 2 * i))));
        let text = round_trip(tasks);
        assert_eq!(text.matches(r#""group""#).count(), 0, "{text}");
        let tasks: Vec<TaskRecord> = (0..30)
            .map(|i| TaskRecord {
                reason: Some("when was false".into()),
                state: TaskState::Skipped,
                ..TaskRecord::pending(format!("m.{i}"))
            })
            .collect();
        let text = round_trip(tasks);
        assert!(text.contains(r#""reason":"when was false""#), "{text}");
        assert_eq!(text.matches(r#""group""#).count(), 1, "{text}");
    }

    #[test]
    fn a_bad_block_is_refused_not_expanded() {
        for (bad, why) in [
            (
                r#"{"tasks":[{"group":"m","from":0,"count":4000001,"state":"pending"}]}"#,
                "more than the 1000000 instances a task may have",
            ),
            (
                r#"{"tasks":[{"group":"m","from":0,"count":2,"state":"success","attempts":[{"attempt":1,"host":"h","at":"2026-01-01T00:00:00Z","started":[0],"ended":[0,0]}]}]}"#,
                "with 1 start and 2 end times",
            ),
            (
                r#"{"tasks":[{"group":"m","from":0,"count":1,"state":"success","attempts":[{"attempt":1,"host":"h","at":"2026-01-01T00:00:00Z","started":[-9223372036854775808],"ended":[0]}]}]}"#,
                "out of range",
            ),
            (
                r#"{"tasks":[{"state":"pending"}]}"#,
                "either `id` or `group`",
            ),
            (
                r#"{"tasks":[{"group":"m","from":0,"count":1,"state":"success","attempts":[{"attempt":1,"host":"h","at":"9999-12-31T23:59:58Z","started":[10000],"ended":[0]}]}]}"#,
                "out of range",
            ),
            (
                r#"{"tasks":[{"group":"m m","from":0,"count":1,"state":"pending"}]}"#,
                "not a task id",
            ),
            (
                r#"{"tasks":[{"group":"m","from":18446744073709551615,"count":2,"state":"pending"}]}"#,
                "more than a run may have",
            ),
            (
                // Shared by the records, but copied for each by what shows them.
                &format!(
                    r#"{{"tasks":[{{"group":"m","from":0,"count":1000000,"state":"skipped","reason":"{}"}}]}}"#,
                    "x".repeat(10_000)
                ),
                "would take more than 2 GiB once read",
            ),
            (
                // Each of a million records would hold 30 attempts.
                &format!(
                    r#"{{"tasks":[{{"group":"m","from":0,"count":1000000,"state":"failed","attempts":[{}]}}]}}"#,
                    vec![r#"{"attempt":1,"host":"h","at":"2026-01-01T00:00:00Z","started":[],"ended":[]}"#; 30].join(",")
                ),
                "would take more than 2 GiB once read",
            ),
            (
                &format!(
                    r#"{{"tasks":[{{"group":"m","from":0,"count":21,"state":"success","attempts":[{{"attempt":1,"host":"h","at":"2026-01-01T00:00:00Z","started":[{}],"ended":[]}}]}}]}}"#,
                    vec!["0"; 1_000_001].join(",")
                ),
                "more than 1000000 times, more than a block has",
            ),
        ] {
            let err = serde_json::from_str::<Wrap>(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
