//! The result of a run as a table (comfy-table) or as the stable JSON document, both
//! built from the run record; `dag run` and `dag status` print the same thing.

use comfy_table::{Table, presets};
use serde::Serialize;

use super::progress::format_ms;
use crate::engine::record::{RunRecord, TaskRecord};
use crate::engine::state::{RunState, TaskState};
use crate::engine::store::StateStore;

/// The JSON document of a run (`--output json`), format version 1.
#[derive(Debug, Serialize)]
pub struct RunJson<'a> {
    /// Version of this document's format.
    pub version: u32,
    /// Run id.
    pub run_id: &'a str,
    /// DAG name.
    pub dag: &'a str,
    /// The DAG file.
    pub file: &'a str,
    /// Run state.
    pub state: RunState,
    /// When the run started (RFC 3339).
    pub started_at: Option<String>,
    /// When it ended (RFC 3339).
    pub ended_at: Option<String>,
    /// Wall time, when ended.
    pub duration_ms: Option<u64>,
    /// Parameter values.
    pub params: std::collections::BTreeMap<&'a str, &'a str>,
    /// Tasks in declaration order.
    pub tasks: Vec<TaskJson<'a>>,
}

/// One task in [`RunJson`].
#[derive(Debug, Serialize)]
pub struct TaskJson<'a> {
    /// Task id.
    pub id: &'a str,
    /// Final (or current) state.
    pub state: TaskState,
    /// Number of attempts made.
    pub attempts: usize,
    /// Exit code of the last attempt.
    pub exit_code: Option<i32>,
    /// From the first attempt's start to the last one's end.
    pub duration_ms: Option<u64>,
    /// The last error, or why the task did not run.
    pub error: Option<&'a str>,
    /// Host of the last attempt.
    pub host: Option<&'a str>,
    /// When the first attempt started.
    pub started_at: Option<String>,
    /// When the last attempt ended.
    pub ended_at: Option<String>,
}

fn task_duration_ms(t: &TaskRecord) -> Option<u64> {
    let first = t.attempts.first()?;
    let last = t.attempts.last()?.ended_at?;
    Some(first.started_at.until(last).as_millis() as u64)
}

impl<'a> RunJson<'a> {
    /// The document of `record`.
    pub fn new(record: &'a RunRecord) -> RunJson<'a> {
        RunJson {
            version: 1,
            run_id: &record.run_id,
            dag: &record.dag,
            file: &record.file,
            state: record.state,
            started_at: record.started_at.map(|t| t.rfc3339()),
            ended_at: record.ended_at.map(|t| t.rfc3339()),
            duration_ms: match (record.started_at, record.ended_at) {
                (Some(s), Some(e)) => Some(s.until(e).as_millis() as u64),
                _ => None,
            },
            params: record
                .params
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
            tasks: record
                .tasks
                .iter()
                .enumerate()
                .map(|(i, t)| TaskJson {
                    id: &t.id,
                    state: t.state,
                    attempts: t.attempts.len(),
                    exit_code: t.attempts.last().and_then(|a| a.exit_code),
                    duration_ms: task_duration_ms(t),
                    error: record.task_error(i),
                    host: t.attempts.last().map(|a| a.host.as_str()),
                    started_at: t.attempts.first().map(|a| a.started_at.rfc3339()),
                    ended_at: t
                        .attempts
                        .last()
                        .and_then(|a| a.ended_at)
                        .map(|e| e.rfc3339()),
                })
                .collect(),
        }
    }
}

/// The JSON document, pretty-printed, with a final newline.
pub fn json(record: &RunRecord) -> String {
    let mut s = serde_json::to_string_pretty(&RunJson::new(record))
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}

fn shorten(s: &str, max: usize) -> String {
    let one_line = s.lines().next().unwrap_or("");
    if one_line.chars().count() <= max && !s.contains('\n') {
        return one_line.to_string();
    }
    let cut: String = one_line.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}

/// The result table: task, state, attempts, duration, exit, host, error.
pub fn table(record: &RunRecord) -> String {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED);
    t.set_header([
        "task", "state", "attempts", "duration", "exit", "host", "error",
    ]);
    for (i, task) in record.tasks.iter().enumerate() {
        t.add_row([
            task.id.clone(),
            task.state.to_string(),
            task.attempts.len().to_string(),
            task_duration_ms(task).map(format_ms).unwrap_or_default(),
            task.attempts
                .last()
                .and_then(|a| a.exit_code)
                .map(|c| c.to_string())
                .unwrap_or_default(),
            task.attempts
                .last()
                .map(|a| a.host.clone())
                .unwrap_or_default(),
            record
                .task_error(i)
                .map(|e| shorten(e, 60))
                .unwrap_or_default(),
        ]);
    }
    t.to_string()
}

/// One line summing the run up: state, counts by state, wall time.
pub fn summary(record: &RunRecord) -> String {
    let mut counts: Vec<(TaskState, usize)> = Vec::new();
    for t in &record.tasks {
        match counts.iter_mut().find(|(s, _)| *s == t.state) {
            Some((_, n)) => *n += 1,
            None => counts.push((t.state, 1)),
        }
    }
    counts.sort_by_key(|(s, _)| *s as u8);
    let parts: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
    let took = match (record.started_at, record.ended_at) {
        (Some(s), Some(e)) => format!(" in {}", format_ms(s.until(e).as_millis() as u64)),
        _ => String::new(),
    };
    format!(
        "run {} {}: {}{took}",
        record.run_id,
        record.state,
        parts.join(", ")
    )
}

/// How many log lines of a failed task are shown after the table.
pub const TAIL_LINES: usize = 10;

/// The last lines of each failed task's last attempt, for after the table.
pub fn failed_tails(record: &RunRecord, store: &dyn StateStore) -> String {
    let mut out = String::new();
    for t in record.tasks.iter().filter(|t| t.state == TaskState::Failed) {
        let Some(a) = t.attempts.last() else { continue };
        let Ok(bytes) = store.read_log(&record.run_id, &t.id, a.attempt) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        let lines: Vec<&str> = text.lines().collect();
        let start = lines.len().saturating_sub(TAIL_LINES);
        out.push_str(&format!(
            "\n── {} (attempt {}) · last {} lines of its log ──\n",
            t.id,
            a.attempt,
            lines.len() - start
        ));
        if lines.is_empty() {
            out.push_str("(no output)\n");
        }
        for l in &lines[start..] {
            out.push_str(&shorten(l, 400));
            out.push('\n');
        }
    }
    out
}
