//! `dag report --format markdown`: a run summed up for `$GITHUB_STEP_SUMMARY` and
//! merge-request comments — counts, the failed tasks with their log tails, a
//! Mermaid graph coloured by state, and the task table. Mapped tasks are one row
//! and one node each (with their instances counted by state), and the table and
//! the graph are capped, so a run of 10,000 tasks still makes a page GitHub
//! shows (it refuses step summaries over 1 MiB and Mermaid text over 50,000
//! characters).
//!
//! Everything from the run (ids, errors, log lines) is escaped: text outside
//! code is backslash-escaped (CommonMark lets any ASCII punctuation be), log
//! tails sit in fences longer than any run of backticks they hold, and Mermaid
//! labels are written with entity codes.

use super::report;
use super::text::{StateCounts, format_ms};
use crate::engine::graph::Dag;
use crate::engine::record::RunRecord;
use crate::engine::state::{RunState, TaskState};
use crate::engine::store::StateStore;
use crate::engine::text::printable;
use crate::engine::time::Timestamp;

/// At most this many failed tasks get a section with their log tail.
pub const MAX_FAILED_SHOWN: usize = 20;
/// Log tail lines longer than this show their end only.
pub const MAX_LINE_CHARS: usize = 500;
/// No more failed tasks' sections once the report is this long: GitHub takes a
/// step summary of at most 1 MiB.
pub const MAX_TAILS_BYTES: usize = 512 * 1024;
/// Mermaid text longer than this is left out (GitHub draws at most 50,000
/// characters).
pub const MAX_MERMAID_CHARS: usize = 40_000;
/// At most this many rows in the task table.
pub const MAX_ROWS: usize = 500;
/// The graph is left out past this many nodes (mapped tasks count once).
pub const MAX_NODES: usize = 300;

/// The Markdown report of `record`; `dag` is the DAG it ran (for the graph and to
/// group instances), or why it could not be read.
pub fn markdown(record: &RunRecord, dag: Result<&Dag, &str>, store: &dyn StateStore) -> String {
    let mut out = String::new();
    let icon = match record.state {
        RunState::Success => "✅",
        RunState::Failed => "❌",
        RunState::Cancelled => "⏹️",
        _ => "⏳",
    };
    out.push_str(&format!(
        "## {icon} {} · run `{}` · {}\n\n",
        text(&record.dag),
        record.run_id,
        record.state
    ));
    out.push_str(&facts(record, store));
    let rows = rows(record, dag.ok());
    failed(&mut out, record, store);
    match dag {
        Ok(dag) => graph(&mut out, record, dag),
        Err(why) => out.push_str(&format!("### Graph\n\nNot shown: {}\n\n", text(why))),
    }
    table(&mut out, &rows);
    out
}

/// The counts, times and host, as a short list; the run a sub-DAG's run is part
/// of, and the runs of the sub-DAGs a run's `dag` tasks started.
fn facts(record: &RunRecord, store: &dyn StateStore) -> String {
    let mut counts = StateCounts::default();
    for t in &record.tasks {
        counts.add(t.state);
    }
    let mut out = format!("- **Tasks:** {} ({})\n", record.tasks.len(), counts);
    if let Some(s) = record.started_at {
        out.push_str(&format!("- **Started:** {}\n", s.rfc3339()));
    }
    if let (Some(s), Some(e)) = (record.started_at, record.ended_at) {
        out.push_str(&format!(
            "- **Took:** {}\n",
            format_ms(s.until(e).as_millis() as u64)
        ));
    }
    if let Some(r) = &record.reason {
        out.push_str(&format!("- **Ended early:** {}\n", text(r)));
    }
    if let Some(p) = &record.parent {
        out.push_str(&format!(
            "- **Sub-DAG run** of task `{}` of run `{}`\n",
            p.task, p.run
        ));
    }
    for (c, state) in report::children(record, store) {
        let state = state.map(|s| format!(" ({s})")).unwrap_or_default();
        out.push_str(&format!(
            "- **Sub-DAG run** of task `{}`: `{}`{state}\n",
            c.task, c.run
        ));
    }
    out.push_str(&format!(
        "- **File:** {} · **host:** {}\n\n",
        text(&record.file),
        text(&record.host)
    ));
    out
}

/// A section per failed task (its error and the end of its last attempt's log).
fn failed(out: &mut String, record: &RunRecord, store: &dyn StateStore) {
    let failed = report::failed_in_order(record);
    if failed.is_empty() {
        return;
    }
    out.push_str("### Failed tasks\n\n");
    let mut shown = 0;
    for &i in failed.iter().take(MAX_FAILED_SHOWN) {
        if out.len() > MAX_TAILS_BYTES {
            break;
        }
        shown += 1;
        let t = &record.tasks[i];
        let Some(a) = t.attempts.last() else { continue };
        let exit = report::exit_suffix(a);
        out.push_str(&format!(
            "#### `{}` · attempt {}{exit}\n\n",
            t.id, a.attempt
        ));
        if let Some(e) = record.task_error(i) {
            out.push_str(&format!("{}\n\n", text(e)));
        }
        let tail = report::log_tail(store, &record.run_id, &t.id, a.attempt);
        if tail.lines.is_empty() {
            out.push_str("(no output)\n\n");
        } else {
            out.push_str(&format!(
                "Last {} line{} of its log:\n\n",
                tail.lines.len(),
                if tail.lines.len() == 1 { "" } else { "s" }
            ));
            let body: Vec<String> = tail
                .lines
                .iter()
                .map(|l| printable(&report::line_end(l, MAX_LINE_CHARS)))
                .collect();
            out.push_str(&fenced("text", &body.join("\n")));
        }
    }
    if failed.len() > shown {
        out.push_str(&format!(
            "…and {} more failed tasks (`dag status {}` lists them all).\n\n",
            failed.len() - shown,
            record.run_id
        ));
    }
}

/// One row of the task table: a task, or a mapped task with all its instances.
struct Row {
    /// The task id, or the mapped task's id.
    name: String,
    /// Whether the row is a mapped task's instances.
    mapped: bool,
    /// Instances in the row (1 for a task).
    count: usize,
    states: StateCounts,
    /// The row's state: the task's, or the most telling of its instances'.
    state: TaskState,
    /// A task's state as shown (`success (cached)`).
    label: String,
    attempts: usize,
    /// The first start and the last end of its attempts.
    first: Option<Timestamp>,
    last: Option<Timestamp>,
    /// The time its attempts ran, summed (None until a task of the row ended).
    run_ms: Option<u64>,
    /// The time its attempts waited for workers, summed.
    queued_ms: u64,
    exit: Option<i32>,
    error: Option<String>,
}

fn rows(record: &RunRecord, dag: Option<&Dag>) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    let mut at: crate::engine::Map<String, usize> = crate::engine::Map::default();
    for i in record.in_order() {
        let t = &record.tasks[i];
        let Some((key, mapped)) = super::graph::shown_as(record, dag, i) else {
            continue;
        };
        let first = t.attempts.first().map(|a| a.started_at);
        let last = t.attempts.last().and_then(|a| a.ended_at);
        let n = match at.get(&key) {
            Some(&n) => n,
            None => {
                at.insert(key.clone(), rows.len());
                rows.push(Row {
                    name: key,
                    mapped,
                    count: 0,
                    states: StateCounts::default(),
                    state: TaskState::Success,
                    attempts: 0,
                    first: None,
                    last: None,
                    run_ms: None,
                    queued_ms: 0,
                    exit: None,
                    error: None,
                    label: String::new(),
                });
                rows.len() - 1
            }
        };
        let row = &mut rows[n];
        if row.count == 0 || super::graph::weight(t.state) > super::graph::weight(row.state) {
            row.state = t.state;
            row.label = t.state_label();
            row.exit = t.attempts.last().and_then(|a| a.exit_code);
            row.error = record.task_error(i).map(str::to_string);
        }
        row.count += 1;
        row.states.add(t.state);
        row.attempts += t.attempts.len();
        row.first = match (row.first, first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        row.last = row.last.max(last);
        row.queued_ms += t.queued_ms().unwrap_or(0);
        row.run_ms = match (row.run_ms, t.run_ms()) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
    }
    rows
}

/// The task table, one row per task or mapped task, capped at [`MAX_ROWS`].
fn table(out: &mut String, rows: &[Row]) {
    out.push_str("### Tasks\n\n");
    // A queued column only when some attempt waited for a worker.
    let queued = rows.iter().any(|r| r.queued_ms > 0);
    if queued {
        out.push_str("| task | state | attempts | duration | queued | exit | error |\n");
        out.push_str("|---|---|---:|---:|---:|---:|---|\n");
    } else {
        out.push_str("| task | state | attempts | duration | exit | error |\n");
        out.push_str("|---|---|---:|---:|---:|---|\n");
    }
    for r in rows.iter().take(MAX_ROWS) {
        let state = if !r.mapped {
            r.label.clone()
        } else {
            format!(
                "{} instance{}: {}",
                r.count,
                if r.count == 1 { "" } else { "s" },
                r.states
            )
        };
        // A task: the time it ran; a mapped task: from its first instance's start
        // to its last one's end (instances run side by side).
        let duration = if r.mapped {
            match (r.first, r.last) {
                (Some(s), Some(e)) => format_ms(s.until(e).as_millis() as u64),
                _ => String::new(),
            }
        } else {
            r.run_ms.map(format_ms).unwrap_or_default()
        };
        let queued = if !queued {
            String::new()
        } else if r.queued_ms > 0 {
            format!(" {} |", format_ms(r.queued_ms))
        } else {
            " |".to_string()
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {duration} |{queued} {} | {} |\n",
            r.name,
            state,
            r.attempts,
            r.exit.map(|c| c.to_string()).unwrap_or_default(),
            r.error
                .as_deref()
                .map(|e| text(&report::shorten(e.trim_end(), 200)))
                .unwrap_or_default()
        ));
    }
    if rows.len() > MAX_ROWS {
        out.push_str(&format!(
            "\n…and {} more rows (`dag status` shows every task).\n",
            rows.len() - MAX_ROWS
        ));
    }
}

/// The Mermaid graph of the run, each node coloured by its state (a mapped task
/// is one node), unless it has more than [`MAX_NODES`] nodes.
fn graph(out: &mut String, record: &RunRecord, dag: &Dag) {
    let chart = super::graph::RunGraph::of(record, dag)
        .and_then(|g| g.mermaid(Some(MAX_NODES)))
        .filter(|c| c.len() <= MAX_MERMAID_CHARS);
    match chart {
        Some(chart) => {
            out.push_str("### Graph\n\n");
            out.push_str(&fenced("mermaid", &chart));
        }
        None => out.push_str(&format!(
            "### Graph\n\nNot shown: more than {MAX_NODES} tasks, or more edges than GitHub draws (`dag graph RUN_ID --format mermaid` prints it whole).\n\n"
        )),
    }
}

/// Text from the run as Markdown text: made printable (control, bidi and
/// zero-width characters written as escapes), every ASCII punctuation mark
/// backslash-escaped (no emphasis, link, HTML or table cell can start), line
/// breaks as spaces.
pub fn text(s: &str) -> String {
    let s = printable(&s.replace(['\n', '\r'], " "));
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' | '\r' => out.push(' '),
            c if c.is_ascii_punctuation() => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// `body` in a fenced code block of `lang`, the fence longer than any run of
/// backticks in the body.
fn fenced(lang: &str, body: &str) -> String {
    let longest = body.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!(
        "{fence}{lang}\n{}\n{fence}\n\n",
        body.trim_end_matches('\n')
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::fixtures::{sample, sample_dag};

    #[test]
    fn the_sample_run() {
        let (r, _) = sample();
        let dir = tempfile::tempdir().unwrap();
        let store = crate::backends::file_store::FileStore::open(dir.path()).unwrap();
        let dag = sample_dag();
        insta::assert_snapshot!(markdown(&r, Ok(&dag), &store));
        // Without its DAG, the report says why there is no graph.
        let without = markdown(&r, Err("run x keeps no copy of its DAG file"), &store);
        assert!(
            without.contains("### Graph\n\nNot shown: run x keeps no copy of its DAG file\n"),
            "{without}"
        );
    }

    /// An attempt that waited for a worker: its task's duration is the time it
    /// ran, and a queued column shows the wait.
    #[test]
    fn time_waited_for_a_worker_has_its_own_column() {
        let (mut r, _) = sample();
        r.tasks[0].attempts[0].placed_ms = 1200;
        let dir = tempfile::tempdir().unwrap();
        let store = crate::backends::file_store::FileStore::open(dir.path()).unwrap();
        let dag = sample_dag();
        let md = markdown(&r, Ok(&dag), &store);
        assert!(
            md.contains("| task | state | attempts | duration | queued | exit | error |\n"),
            "{md}"
        );
        assert!(
            md.contains("| `a` | success | 1 | 300ms | 1.2s | 0 |  |\n"),
            "{md}"
        );
        assert!(md.contains("| `b` | failed | 2 | 95ms | | 3 |"), "{md}");
    }

    #[test]
    fn text_escapes_every_mark_that_markdown_reads() {
        assert_eq!(text("a|b <script>"), "a\\|b \\<script\\>");
        assert_eq!(text("*x* [l](u) `c`"), "\\*x\\* \\[l\\]\\(u\\) \\`c\\`");
        assert_eq!(text("one\ntwo"), "one two");
    }

    #[test]
    fn a_fence_outlasts_the_backticks_inside() {
        assert_eq!(fenced("text", "plain"), "```text\nplain\n```\n\n");
        assert_eq!(fenced("text", "a ```` b"), "`````text\na ```` b\n`````\n\n");
    }
}
