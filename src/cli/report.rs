//! The result of a run as a table (comfy-table) or as the stable JSON document, both
//! built from the run record; `dag run` and `dag status` print the same thing.

use comfy_table::{Table, presets};
use serde::Serialize;

use super::text::format_ms;
use crate::engine::record::{Attempt, RunLink, RunRecord, TaskRecord};
use crate::engine::state::{RunState, TaskState};
use crate::engine::store::StateStore;
use crate::engine::text::printable;

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
    /// Why the run ended early, when it did (its `timeout` passed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
    /// For the run of a sub-DAG: the run and the `dag` task that started it;
    /// null for a run started by `dag run`.
    pub parent: Option<&'a RunLink>,
    /// The runs of sub-DAGs this run's `dag` tasks started, each with the task
    /// (in the order they started).
    pub children: &'a [RunLink],
    /// Duplicate executions fenced, over all tasks (see the tasks' `duplicates`).
    pub duplicates: u64,
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
    /// From the first attempt's start to the last one's end (wall time: the
    /// attempts' `queued_ms`, their `run_ms` and the retry delays between them).
    pub duration_ms: Option<u64>,
    /// The last error, or why the task did not run.
    pub error: Option<&'a str>,
    /// Host of the last attempt.
    pub host: Option<&'a str>,
    /// Worker of the last attempt (distributed runs).
    pub worker: Option<&'a str>,
    /// Times the last attempt was delivered to a worker (more than 1 when a worker
    /// was lost and another ran it).
    pub deliveries: u64,
    /// When the first attempt started.
    pub started_at: Option<String>,
    /// When the last attempt ended.
    pub ended_at: Option<String>,
    /// What the task published (`{}` when nothing).
    pub outputs: &'a crate::engine::runner::Outputs,
    /// Time the task's attempts waited for a worker, summed (including a lost
    /// worker's time and the wait for the redelivery); 0 when they ran in the
    /// driving process, null when it never ran.
    pub queued_ms: Option<u64>,
    /// Time the task's attempts ran, summed (without `queued_ms` and without the
    /// retry delays between attempts); null until its last attempt ended.
    pub run_ms: Option<u64>,
    /// Each attempt's times, in order.
    pub attempt_times: Vec<AttemptTimesJson>,
    /// Results of its attempts that came from a second execution of an attempt
    /// already recorded (a worker cut off while another ran the attempt again):
    /// fenced (they changed nothing) and counted here.
    pub duplicates: u32,
    /// The result was restored from the cache: the task did not run.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cached: bool,
    /// For a queued task, what it waits for besides a free place (`waiting for
    /// pool db`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<&'a str>,
}

/// One attempt's times in [`TaskJson`]: `queued_ms + run_ms` is the time from
/// `started_at` to `ended_at`.
#[derive(Debug, Serialize)]
pub struct AttemptTimesJson {
    /// Attempt number, from 1.
    pub attempt: u32,
    /// When it started (was queued for the workers, in a distributed run).
    pub started_at: String,
    /// When it ended.
    pub ended_at: Option<String>,
    /// Time it waited for the worker that ran it (the last one that took it).
    pub queued_ms: u64,
    /// Time it ran; null until it ended.
    pub run_ms: Option<u64>,
}

impl AttemptTimesJson {
    fn new(a: &Attempt) -> AttemptTimesJson {
        AttemptTimesJson {
            attempt: a.attempt,
            started_at: a.started_at.rfc3339(),
            ended_at: a.ended_at.map(|e| e.rfc3339()),
            queued_ms: a.queued_ms(),
            run_ms: a.run_ms(),
        }
    }
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
            // Kept in clear for `dag retry`, never shown.
            params: record
                .params
                .iter()
                .map(|(k, v)| {
                    if record.secret_params.contains(k) {
                        (k.as_str(), crate::engine::secrets::MASK)
                    } else {
                        (k.as_str(), v.as_str())
                    }
                })
                .collect(),
            reason: record.reason.as_deref(),
            parent: record.parent.as_ref(),
            children: &record.children,
            duplicates: record.duplicates(),
            tasks: record
                .in_order()
                .into_iter()
                .map(|i| (i, &record.tasks[i]))
                .map(|(i, t)| TaskJson {
                    id: &t.id,
                    state: t.state,
                    attempts: t.attempts.len(),
                    exit_code: t.attempts.last().and_then(|a| a.exit_code),
                    duration_ms: task_duration_ms(t),
                    error: record.task_error(i),
                    host: t.attempts.last().map(|a| &*a.host),
                    worker: t.attempts.last().and_then(|a| a.worker.as_deref()),
                    deliveries: t.attempts.last().map_or(0, |a| a.deliveries.into()),
                    started_at: t.attempts.first().map(|a| a.started_at.rfc3339()),
                    ended_at: t
                        .attempts
                        .last()
                        .and_then(|a| a.ended_at)
                        .map(|e| e.rfc3339()),
                    outputs: &t.outputs,
                    queued_ms: t.queued_ms(),
                    run_ms: t.run_ms(),
                    attempt_times: t.attempts.iter().map(AttemptTimesJson::new).collect(),
                    duplicates: t.duplicates,
                    cached: t.cached(),
                    waiting: t.waiting(),
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

/// The first line of `s`, at most `max` characters, with `…` when cut (or when
/// more lines follow).
pub fn shorten(s: &str, max: usize) -> String {
    let one_line = s.lines().next().unwrap_or("");
    if one_line.chars().count() <= max && !s.contains('\n') {
        return one_line.to_string();
    }
    let cut: String = one_line.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}

/// How the result table is drawn: at most `width` columns wide (long cells
/// wrap inside their column), states in colour or not.
#[derive(Clone, Copy, Debug)]
pub struct TableStyle {
    pub width: Option<u16>,
    pub color: bool,
}

impl TableStyle {
    /// For standard output: its terminal's width, colour as `--color` says.
    pub fn stdout() -> TableStyle {
        use std::io::IsTerminal;
        let terminal = std::io::stdout().is_terminal();
        TableStyle {
            width: terminal
                .then(|| terminal_size::terminal_size_of(std::io::stdout()).map(|(w, _)| w.0))
                .flatten(),
            color: super::output::stdout_color(),
        }
    }
}

/// The colour a state is shown in: success green, failures red, what did not
/// run dim, the rest as it is.
fn state_color(s: TaskState) -> Option<comfy_table::Color> {
    use comfy_table::Color;
    match s {
        TaskState::Success => Some(Color::Green),
        TaskState::Failed | TaskState::UpstreamFailed => Some(Color::Red),
        TaskState::Skipped | TaskState::Cancelled => Some(Color::DarkGrey),
        TaskState::Running | TaskState::UpForRetry => Some(Color::Yellow),
        TaskState::Pending | TaskState::Queued => None,
    }
}

/// The result table of standard output.
pub fn table(record: &RunRecord) -> String {
    table_styled(record, TableStyle::stdout())
}

/// The result table: task, state, attempts, duration (the time its attempts ran,
/// summed: not the time they waited for a worker, nor the retry delays between
/// them), the time they waited for workers (only when some attempt waited), exit
/// code, where it ran (only when not every attempt ran here) and error.
pub fn table_styled(record: &RunRecord, style: TableStyle) -> String {
    use comfy_table::{Cell, ContentArrangement};
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED);
    t.force_no_tty();
    if style.color {
        t.enforce_styling();
    }
    if let Some(w) = style.width {
        t.set_content_arrangement(ContentArrangement::Dynamic)
            .set_width(w);
    }
    // Where attempts ran says something only when not all ran here.
    let elsewhere = record.tasks.iter().any(|t| {
        t.attempts
            .iter()
            .any(|a| a.worker.is_some() || a.host != record.host)
    });
    // Time waited for workers says something only when some attempt waited.
    let queued = record
        .tasks
        .iter()
        .any(|t| t.attempts.iter().any(|a| a.queued_ms() > 0));
    let mut header = vec!["task", "state", "attempts", "duration"];
    if queued {
        header.push("queued");
    }
    header.push("exit");
    if elsewhere {
        header.push("host");
    }
    header.push("error");
    t.set_header(header);
    // The state and the numbers keep their width; the task ids and errors wrap.
    for c in 1..(5 + usize::from(queued)) {
        if let Some(col) = t.column_mut(c) {
            col.set_constraint(comfy_table::ColumnConstraint::ContentWidth);
        }
    }
    for i in record.in_order() {
        let task = &record.tasks[i];
        let last = task.attempts.last();
        let mut state = Cell::new(task.state_label());
        if let Some(c) = state_color(task.state).filter(|_| style.color) {
            state = state.fg(c);
        }
        let mut row = vec![
            Cell::new(task.id.as_str()),
            state,
            Cell::new(task.attempts.len()),
            Cell::new(task.run_ms().map(format_ms).unwrap_or_default()),
        ];
        if queued {
            row.push(Cell::new(
                task.queued_ms()
                    .filter(|&q| q > 0)
                    .map(format_ms)
                    .unwrap_or_default(),
            ));
        }
        row.push(Cell::new(
            last.and_then(|a| a.exit_code)
                .map(|c| c.to_string())
                .unwrap_or_default(),
        ));
        if elsewhere {
            row.push(Cell::new(
                last.map(|a| match &a.worker {
                    Some(w) => format!("{w}@{}", a.host),
                    None => a.host.to_string(),
                })
                .unwrap_or_default(),
            ));
        }
        row.push(Cell::new(
            record
                .task_error(i)
                .map(|e| printable(&shorten(e, 120)))
                .unwrap_or_default(),
        ));
        t.add_row(row);
    }
    t.to_string()
}

/// After a run that did not succeed: the commands that look further, one per
/// line (`dag logs RUN TASK` for the first failed task, `dag retry RUN`).
pub fn next_steps(record: &RunRecord) -> String {
    if record.state == RunState::Success {
        return String::new();
    }
    let mut out = String::new();
    if let Some(&i) = failed_in_order(record).first() {
        out.push_str(&format!(
            "see its log:  dag logs {} {}\n",
            record.run_id, record.tasks[i].id
        ));
    }
    if record.state.is_terminal() {
        out.push_str(&format!("run it again: dag retry {}\n", record.run_id));
    }
    out
}

/// What a child run is, for headers and messages: `the sub-DAG run of task eu of
/// run 20261130T123100967Z-3360`.
pub fn parent_text(parent: &RunLink) -> String {
    format!(
        "the sub-DAG run of task {} of run {}",
        printable(&parent.task),
        printable(&parent.run)
    )
}

/// The runs of sub-DAGs `record`'s `dag` tasks started, each with its state as
/// the store holds it (None when it cannot be read: pruned, or locked).
pub fn children<'a>(
    record: &'a RunRecord,
    store: &dyn StateStore,
) -> Vec<(&'a RunLink, Option<RunState>)> {
    record
        .children
        .iter()
        .map(|c| (c, store.load_run(&c.run).ok().map(|r| r.state)))
        .collect()
}

/// One line per child run, for under the table: `eu → sub-DAG run ID (success)`;
/// nothing for a run without any.
pub fn children_lines(record: &RunRecord, store: &dyn StateStore) -> String {
    let mut out = String::new();
    for (c, state) in children(record, store) {
        let state = state.map(|s| format!(" ({s})")).unwrap_or_default();
        out.push_str(&format!(
            "{} → sub-DAG run {}{state}\n",
            printable(&c.task),
            printable(&c.run)
        ));
    }
    out
}

/// One line summing the run up: state, counts by state, wall time.
pub fn summary(record: &RunRecord) -> String {
    let mut counts = super::text::StateCounts::default();
    for t in &record.tasks {
        counts.add(t.state);
    }
    let took = match (record.started_at, record.ended_at) {
        (Some(s), Some(e)) => format!(" in {}", format_ms(s.until(e).as_millis() as u64)),
        _ => String::new(),
    };
    let reason = record
        .reason
        .as_ref()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default();
    let duplicates = match record.duplicates() {
        0 => String::new(),
        1 => "; 1 duplicate execution fenced".to_string(),
        n => format!("; {n} duplicate executions fenced"),
    };
    format!(
        "run {} {}{reason}: {counts}{took}{duplicates}",
        record.run_id, record.state,
    )
}

/// How many log lines of a failed task are shown after the table.
pub const TAIL_LINES: usize = 10;

/// How much of the end of a failed task's log is read to find those lines.
const TAIL_BYTES: usize = 64 * 1024;

/// The end of one attempt's log: at most [`TAIL_LINES`] lines, read from at most
/// the last 64 KiB of it however large it is (a line longer than that shows its
/// end, marked `…`).
pub struct Tail {
    /// The lines, oldest first (the first line read is dropped when the read
    /// started inside the log: it is probably cut).
    pub lines: Vec<String>,
}

/// The end of the log of `task`'s attempt `attempt` in run `run_id`.
pub fn log_tail(store: &dyn StateStore, run_id: &str, task: &str, attempt: u32) -> Tail {
    let size = store.log_size(run_id, task, attempt).unwrap_or(0);
    let from = size.saturating_sub(TAIL_BYTES as u64);
    let bytes = store
        .read_log(run_id, task, attempt, from, TAIL_BYTES)
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if from > 0 {
        // The first line read is probably cut: dropped when others follow, and
        // marked as cut when it is all there is (a progress bar's `\r` updates,
        // a 50 MB line).
        match lines.len() {
            0 => {}
            1 => lines[0].insert(0, '…'),
            _ => {
                lines.remove(0);
            }
        }
    }
    let start = lines.len().saturating_sub(TAIL_LINES);
    lines.drain(..start);
    Tail { lines }
}

/// The end of `line` when it is longer than `max` characters (`…` and the last
/// ones: where a progress bar or a long message ends is what tells).
pub fn line_end(line: &str, max: usize) -> String {
    let n = line.chars().count();
    if n <= max {
        return line.to_string();
    }
    let end: String = line.chars().skip(n - max.saturating_sub(1)).collect();
    format!("…{end}")
}

/// The DAG `record`'s run ran, read back from the copy the record keeps (for the
/// graph of a report or of `dag graph RUN_ID`), or why it cannot be: the
/// record keeps none (an older dag made it), or the copy no longer loads here
/// (a function this program does not have), with the first problem named.
pub fn dag_of_run(
    record: &RunRecord,
    runners: crate::engine::runner::Runners,
) -> Result<crate::engine::graph::Dag, String> {
    use crate::engine::validate::LoadError;
    if record.definition.is_none() {
        return Err(format!(
            "run {} keeps no copy of its DAG file (an older dag made it)",
            record.run_id
        ));
    }
    crate::embed::Pipeline::with_runners(runners)
        .definition_of(record)
        .map_err(|e| match e {
            crate::embed::Error::Load(LoadError::Invalid(d)) => {
                let more = match d.problems.len() {
                    0 | 1 => String::new(),
                    n => format!(" (and {} more)", n - 1),
                };
                printable(&format!(
                    "the copy of its DAG file {} that run {} keeps does not load here: {}{more}",
                    d.path,
                    record.run_id,
                    d.problems.first().map_or("", |p| p.message.as_str())
                ))
            }
            e => printable(&e.to_string()),
        })
}

/// ` · exit N` for an attempt that exited with a code, else nothing (the
/// headings of failed tasks in reports).
pub fn exit_suffix(a: &crate::engine::record::Attempt) -> String {
    a.exit_code
        .map(|c| format!(" · exit {c}"))
        .unwrap_or_default()
}

/// The failed tasks, in the order the table shows them.
pub fn failed_in_order(record: &RunRecord) -> Vec<usize> {
    record
        .in_order()
        .into_iter()
        .filter(|&i| record.tasks[i].state == TaskState::Failed)
        .collect()
}

/// The last lines of each failed task's last attempt, for after the table.
pub fn failed_tails(record: &RunRecord, store: &dyn StateStore) -> String {
    let mut out = String::new();
    for t in record.tasks.iter().filter(|t| t.state == TaskState::Failed) {
        let Some(a) = t.attempts.last() else { continue };
        let tail = log_tail(store, &record.run_id, &t.id, a.attempt);
        if tail.lines.is_empty() {
            out.push_str(&format!(
                "\n── {} (attempt {}) · no output ──\n",
                t.id, a.attempt
            ));
            continue;
        }
        let shown = tail.lines.len();
        out.push_str(&format!(
            "\n── {} (attempt {}) · last {shown} line{} of its log ──\n",
            t.id,
            a.attempt,
            if shown == 1 { "" } else { "s" }
        ));
        for l in &tail.lines {
            out.push_str(&printable(&shorten(l, 400)));
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::fixtures::sample;

    #[test]
    fn table_and_summary() {
        let (r, _) = sample();
        let plain = TableStyle {
            width: None,
            color: false,
        };
        insta::assert_snapshot!(format!(
            "{}\n{}\n{}",
            table_styled(&r, plain),
            summary(&r),
            next_steps(&r)
        ));
    }

    /// At 80 and 120 columns, with colour and without: the table fits, the
    /// states keep their width and colour, long errors wrap in their column.
    #[test]
    fn the_table_fits_the_terminal() {
        let (mut r, _) = sample();
        // A long error, and an attempt run elsewhere (the host column shows).
        let long = "x".repeat(150);
        for t in r.tasks.iter_mut() {
            if let Some(a) = t.attempts.last_mut()
                && a.outcome == Some(TaskState::Failed)
            {
                a.error = Some(format!("the service said: {long}").into());
                a.worker = Some("w1".into());
            }
        }
        for width in [80u16, 120] {
            for color in [false, true] {
                let text = table_styled(
                    &r,
                    TableStyle {
                        width: Some(width),
                        color,
                    },
                );
                let widest = text
                    .lines()
                    .map(|l| {
                        let plain = String::from_utf8(strip_escapes(l.as_bytes())).unwrap();
                        plain.chars().count()
                    })
                    .max()
                    .unwrap();
                assert!(widest <= width as usize, "{widest} > {width}:\n{text}");
                assert_eq!(text.contains("\x1b[38;5;9m"), color, "{text}");
                insta::assert_snapshot!(
                    format!("table_{width}_{}", if color { "colour" } else { "plain" }),
                    text
                );
            }
        }
    }

    /// Attempts run by workers after waiting for them: `duration` is the time they
    /// ran, the `queued` column (shown only then) the time they waited, and the JSON
    /// keeps both per attempt and per task.
    #[test]
    fn time_waited_for_a_worker_is_queued_not_duration() {
        let (mut r, _) = sample();
        // `a` (1.5s from start to end) waited 1.2s: a worker was lost and the
        // attempt was delivered again, then ran for 0.3s.
        let a = r.tasks[0].attempts.last_mut().unwrap();
        a.worker = Some("rescuer".into());
        a.deliveries = 2;
        a.placed_ms = 1200;
        // `b`'s second attempt waited 5ms of its 45ms.
        r.tasks[1].attempts[1].worker = Some("w1".into());
        r.tasks[1].attempts[1].placed_ms = 5;
        let plain = TableStyle {
            width: None,
            color: false,
        };
        let text = table_styled(&r, plain);
        insta::assert_snapshot!(text);
        let header = text.lines().nth(1).unwrap();
        assert!(header.contains("queued"), "{text}");
        let row_a = text.lines().find(|l| l.starts_with("│ a ")).unwrap();
        assert!(row_a.contains("300ms") && row_a.contains("1.2s"), "{text}");
        let doc: serde_json::Value = serde_json::from_str(&json(&r)).unwrap();
        let a = &doc["tasks"][0];
        assert_eq!((&a["queued_ms"], &a["run_ms"]), (&1200.into(), &300.into()));
        assert_eq!(a["duration_ms"], 1500);
        let b = &doc["tasks"][1];
        assert_eq!((&b["queued_ms"], &b["run_ms"]), (&5.into(), &90.into()));
        let times = b["attempt_times"].as_array().unwrap();
        assert_eq!(times.len(), 2);
        assert_eq!(times[1]["queued_ms"], 5);
        assert_eq!(times[1]["run_ms"], 40);
        // Without any wait, no column.
        let (r, _) = sample();
        assert!(!table_styled(&r, plain).contains("queued"));
    }

    /// `s` without its ANSI escape sequences.
    fn strip_escapes(s: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < s.len() {
            if s[i] == 0x1b {
                while i < s.len() && s[i] != b'm' {
                    i += 1;
                }
            } else {
                out.push(s[i]);
            }
            i += 1;
        }
        out
    }

    #[test]
    fn json_document() {
        let (r, _) = sample();
        insta::assert_snapshot!(json(&r));
    }
}
