//! The pages of `dag ui`: the runs, a run (its graph, timeline and tasks, as the
//! HTML report shows them), a task's attempts, outputs and log; the shared frame,
//! style sheet and script.

use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock};

use super::request::Req;
use super::{App, Refusal, esc, printable_id};
use crate::cli::graph::shown_as;
use crate::cli::text::format_ms;
use crate::engine::record::RunRecord;
use crate::engine::text::printable;

/// Runs the runs page lists unless asked for more (`?limit=N`).
pub const RUNS_SHOWN: usize = 100;
/// The most runs the runs page lists.
pub const MAX_RUNS_SHOWN: usize = 1000;
/// The end of a task's log shown at first (all of it with `dag logs`).
pub const LOG_SHOWN: u64 = 256 * 1024;
/// The most of a log one follow request reads.
const LOG_CHUNK: usize = 256 * 1024;
/// The instances a mapped task's panel lists.
const INSTANCES_SHOWN: usize = 500;
/// An output value longer than this is cut in the panel.
const OUTPUT_SHOWN: usize = 20_000;

const UI_CSS: &str = include_str!("ui.css");
const UI_JS: &str = include_str!("ui.js");

/// The style sheet: the report's, and the frame's.
pub fn css() -> &'static str {
    static CSS: OnceLock<String> = OnceLock::new();
    CSS.get_or_init(|| format!("{}\n{UI_CSS}", crate::cli::html::css()))
}

/// The script: the report's table sorting (called again after each live update),
/// and the pages' own.
pub fn js() -> &'static str {
    static JS: OnceLock<String> = OnceLock::new();
    JS.get_or_init(|| {
        format!(
            "window.dagTable=function(){{{}}};\n{UI_JS}",
            crate::cli::html::TABLE_JS
        )
    })
}

/// A whole page: the navigation, then `content`. `attrs` go on `<body>`.
pub fn page(app: &App, title: &str, active: &str, attrs: &str, content: &str) -> String {
    let mut out = String::with_capacity(content.len() + 2048);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{} · dag</title>\n<link rel=\"stylesheet\" href=\"/assets/ui.css\">\n\
         <script src=\"/assets/ui.js\" defer></script></head>\n\
         <body {attrs} data-actions=\"{}\">\n<nav class=\"top\"><a class=\"brand\" href=\"/\">dag</a>",
        esc(title),
        if app.read_only { "0" } else { "1" }
    );
    for (href, name) in [("/", "Runs"), ("/workers", "Workers")] {
        let class = if name == active { " class=\"on\"" } else { "" };
        let _ = write!(out, "<a href=\"{href}\"{class}>{name}</a>");
    }
    if app.read_only {
        out.push_str("<span class=\"ro\">read-only</span>");
    }
    out.push_str("</nav>\n<main>\n");
    out.push_str(content);
    out.push_str("</main></body></html>\n");
    out
}

/// The runs page: filled and kept up to date by its script from `/api/runs`.
pub fn runs_page(app: &App) -> String {
    let mut states = String::new();
    for s in ["queued", "running", "success", "failed", "cancelled"] {
        let _ = write!(states, "<option value=\"{s}\">{s}</option>");
    }
    let content = format!(
        "<h1>Runs</h1>\n<form class=\"filters\" id=\"filters\">\
         <label>DAG <select id=\"f-dag\"><option value=\"\">all</option></select></label> \
         <label>state <select id=\"f-state\"><option value=\"\">all</option>{states}</select></label> \
         <span id=\"runs-count\" class=\"note\"></span></form>\n\
         <div class=\"scroll\"><table id=\"runs\"><thead><tr><th>run</th><th>DAG</th><th>state</th>\
         <th>started</th><th>duration</th><th>tasks</th></tr></thead><tbody></tbody></table></div>\n\
         <p class=\"note\" id=\"runs-note\">Loading…</p>\n"
    );
    page(
        app,
        "Runs",
        "Runs",
        &format!("data-page=\"runs\" data-limit=\"{RUNS_SHOWN}\""),
        &content,
    )
}

/// A run's page: what the HTML report shows, live, with the actions and the
/// task panel.
pub async fn run_page(app: &Arc<App>, run_id: &str) -> Result<String, Refusal> {
    let record = app.record(run_id).await?;
    let body = body_of(app, &record).await;
    let mut content = String::with_capacity(body.len() + 1024);
    let _ = writeln!(
        content,
        "<p class=\"crumbs\"><a href=\"/\">Runs</a> › <a href=\"/dags/{}\">{}</a> › run</p>",
        esc(&super::request::encode(&record.dag)),
        esc(&record.dag)
    );
    if !app.read_only {
        content.push_str(
            "<div class=\"actions\" id=\"actions\"><button type=\"button\" id=\"act-retry\" data-act=\"retry\">Retry failed tasks</button> \
             <button type=\"button\" id=\"act-cancel\" data-act=\"cancel\">Cancel run</button> \
             <span id=\"action-note\" class=\"note\" role=\"status\"></span></div>\n",
        );
    }
    content.push_str("<div id=\"run-body\">\n");
    content.push_str(&body);
    content.push_str("</div>\n<aside id=\"panel\" hidden></aside>\n");
    Ok(page(
        app,
        &format!("{} · {}", record.dag, record.run_id),
        "Runs",
        &format!("data-page=\"run\" data-run=\"{}\"", esc(&record.run_id)),
        &content,
    ))
}

/// The address of run `id`'s page.
fn run_href(id: &str) -> String {
    format!("/runs/{}", super::request::encode(id))
}

/// The live part of a run's page.
pub async fn run_body(app: &Arc<App>, run_id: &str) -> Result<String, Refusal> {
    let record = app.record(run_id).await?;
    Ok(body_of(app, &record).await)
}

async fn body_of(app: &Arc<App>, record: &Arc<RunRecord>) -> String {
    let dag = app.dag_of(record).await;
    let r = record.clone();
    app.blocking(move |app| {
        let mut out = String::new();
        let dag = match dag.as_ref() {
            Ok(d) => Ok(d),
            Err(e) => Err(e.as_str()),
        };
        crate::cli::html::body(&mut out, &r, dag, app.state(), Some(&run_href));
        // Left unfinished by a process that is gone: retry resumes it, cancel
        // has nobody to stop.
        if app.summary_of(&r.run_id).is_some_and(|s| s.interrupted) {
            out.push_str(
                "<p class=\"note\" id=\"run-interrupted\">Interrupted: no process drives this run any more. Retry resumes it.</p>\n",
            );
        }
        out
    })
    .await
    .unwrap_or_default()
}

/// What changes when a run does: its state, and each task's state and attempts.
pub fn fingerprint(record: &RunRecord) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (record.state.as_str(), record.seq, record.tasks.len()).hash(&mut h);
    for t in &record.tasks {
        (t.state as u8, t.attempts.len(), t.duplicates).hash(&mut h);
        if let Some(a) = t.attempts.last() {
            (a.ended_at.map(|e| e.0), a.placed_ms).hash(&mut h);
        }
    }
    h.finish()
}

/// The panel of one task (its attempts, outputs and log) or of a mapped task (its
/// instances).
pub async fn task_panel(
    app: &Arc<App>,
    run_id: &str,
    task: &str,
    req: &Req,
) -> Result<String, Refusal> {
    let record = app.record(run_id).await?;
    let dag = app.dag_of(&record).await;
    let dag = dag.as_ref().as_ref().ok();
    let Some(i) = record.tasks.iter().position(|t| *t.id == *task) else {
        let members: Vec<usize> = (0..record.tasks.len())
            .filter(|&i| shown_as(&record, dag, i).is_some_and(|(n, m)| m && n == task))
            .collect();
        if members.is_empty() {
            return Err(Refusal::not_found(format!(
                "run {} has no task `{}`",
                record.run_id,
                printable_id(task)
            )));
        }
        return Ok(group_panel(&record, task, &members));
    };
    let t = &record.tasks[i];
    let attempt = req
        .param("attempt")
        .and_then(|a| a.parse::<u32>().ok())
        .filter(|a| t.attempts.iter().any(|x| x.attempt == *a))
        .or_else(|| t.attempts.last().map(|a| a.attempt));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<div class=\"panel-head\"><h2><code>{}</code> <span class=\"badge s-{}\" id=\"panel-state\">{}</span></h2>\
         <button type=\"button\" id=\"panel-close\" aria-label=\"Close\">×</button></div>",
        esc(&t.id),
        t.state.as_str(),
        // `success (cached)`, `queued (waiting for pool db)`.
        esc(&t.state_label())
    );
    if let Some(d) = dag.filter(|d| d.len() == record.tasks.len()) {
        let spec = d.task(i);
        let secrets = crate::cli::graph::run_secrets(&record, d);
        let _ = writeln!(
            out,
            "<p class=\"facts\">{} · <code>{}</code></p>",
            esc(&spec.label()),
            esc(&printable(&crate::cli::report::shorten(
                &secrets.mask(&spec.kind.summary()),
                300
            )))
        );
    }
    if let Some(r) = &t.reason {
        let _ = writeln!(out, "<p class=\"facts\">{}</p>", esc(&printable(r)));
    }
    if let Some(c) = record.children.iter().find(|c| *c.task == *t.id) {
        let _ = writeln!(
            out,
            "<p class=\"facts\" id=\"panel-child\">runs sub-DAG run <a href=\"{}\">{}</a></p>",
            esc(&run_href(&c.run)),
            esc(&c.run)
        );
    }
    if !app.read_only {
        let _ = writeln!(
            out,
            "<p><button type=\"button\" data-act=\"retry\" data-task=\"{}\">Retry from this task</button> \
             <span class=\"note\">(it and everything downstream of it run again)</span></p>",
            esc(&t.id)
        );
    }
    out.push_str(
        "<h3>Attempts</h3>\n<table class=\"attempts\"><thead><tr><th>#</th><th>outcome</th><th>started</th>\
         <th>queued</th><th>ran</th><th>exit</th><th>host</th><th>worker</th><th>deliveries</th><th>error</th></tr></thead><tbody>\n",
    );
    for a in &t.attempts {
        let outcome = a.outcome.unwrap_or(t.state);
        let ran = a.run_ms().map(format_ms);
        let _ = writeln!(
            out,
            "<tr{}><td><a href=\"#\" data-attempt=\"{}\">{}</a></td><td><span class=\"badge s-{}\">{}</span></td><td>{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            if Some(a.attempt) == attempt {
                " class=\"on\""
            } else {
                ""
            },
            a.attempt,
            a.attempt,
            outcome.as_str(),
            outcome,
            a.started_at.rfc3339(),
            if a.queued_ms() > 0 {
                format_ms(a.queued_ms())
            } else {
                String::new()
            },
            ran.unwrap_or_else(|| "running".into()),
            a.exit_code.map(|c| c.to_string()).unwrap_or_default(),
            esc(&printable(&a.host)),
            esc(&printable(a.worker.as_deref().unwrap_or(""))),
            if a.deliveries > 0 {
                a.deliveries.to_string()
            } else {
                String::new()
            },
            esc(&printable(a.error.as_deref().unwrap_or(""))),
        );
    }
    out.push_str("</tbody></table>\n");
    if t.attempts.is_empty() {
        out.push_str("<p class=\"note\">No attempt yet.</p>\n");
    }
    if t.duplicates > 0 {
        let _ = writeln!(
            out,
            "<p class=\"note\" id=\"duplicates\">{} duplicate execution{} fenced: a worker cut off while another ran the attempt reported it late; the result recorded is the first one.</p>",
            t.duplicates,
            if t.duplicates == 1 { "" } else { "s" }
        );
    }
    if !t.outputs.is_empty() {
        out.push_str("<h3>Outputs</h3>\n<table class=\"outputs\"><tbody>\n");
        for (k, v) in &t.outputs {
            let shown = crate::cli::report::shorten(v, OUTPUT_SHOWN);
            let _ = writeln!(
                out,
                "<tr><td><code>{}</code></td><td><pre>{}</pre>{}</td></tr>",
                esc(&printable(k)),
                esc(&lines_printable(&shown)),
                if shown.len() < v.len() {
                    format!(
                        "<p class=\"note\">{} characters; the first {OUTPUT_SHOWN} shown (<code>dag status {} --output json</code> has all).</p>",
                        v.chars().count(),
                        esc(&record.run_id)
                    )
                } else {
                    String::new()
                }
            );
        }
        out.push_str("</tbody></table>\n");
    }
    if let Some(n) = attempt {
        let a = t.attempts.iter().find(|a| a.attempt == n);
        let running = a.is_some_and(|a| a.ended_at.is_none());
        let (run, id) = (record.run_id.clone(), t.id.to_string());
        let (text, next, cut) = app
            .blocking(move |app| -> Result<_, crate::engine::store::StoreError> {
                let size = app.state().log_size(&run, &id, n)?;
                let mut from = size.saturating_sub(LOG_SHOWN);
                // From the first whole line when cut.
                if from > 0 {
                    let head = app.state().read_log(&run, &id, n, from, 64 * 1024)?;
                    from += head.iter().position(|b| *b == b'\n').map_or(0, |p| p + 1) as u64;
                }
                let (text, next, _) = whole_lines(app, &run, &id, n, from, running)?;
                Ok((text, next, from > 0))
            })
            .await??;
        let _ = writeln!(out, "<h3>Log · attempt {n}</h3>");
        if cut {
            let _ = writeln!(
                out,
                "<p class=\"note\">The last {} KiB; <code>dag logs {} {}</code> prints all of it.</p>",
                LOG_SHOWN / 1024,
                esc(&record.run_id),
                esc(&t.id)
            );
        }
        let _ = writeln!(
            out,
            "<pre id=\"log\" class=\"log\" data-task=\"{}\" data-attempt=\"{n}\" data-next=\"{next}\" data-running=\"{}\">{}</pre>",
            esc(&t.id),
            if running { "1" } else { "0" },
            esc(&text)
        );
        if text.is_empty() && !running {
            out.push_str("<p class=\"note\">(no output)</p>\n");
        }
    }
    Ok(format!(
        "<div class=\"task-detail\" data-task=\"{}\" data-state=\"{}\">{out}</div>",
        esc(&t.id),
        t.state.as_str()
    ))
}

/// The panel of a mapped task: its instances, each a link to its own panel.
fn group_panel(record: &RunRecord, name: &str, members: &[usize]) -> String {
    let mut counts = crate::cli::text::StateCounts::default();
    for &i in members {
        counts.add(record.tasks[i].state);
    }
    let mut out = format!(
        "<div class=\"task-detail\" data-task=\"{}\" data-state=\"group\"><div class=\"panel-head\"><h2><code>{}</code></h2>\
         <button type=\"button\" id=\"panel-close\" aria-label=\"Close\">×</button></div>\n\
         <p class=\"facts\">{} instances: {}</p>\n<table class=\"instances\"><tbody>\n",
        esc(name),
        esc(name),
        members.len(),
        counts
    );
    for &i in members.iter().take(INSTANCES_SHOWN) {
        let t = &record.tasks[i];
        let _ = writeln!(
            out,
            "<tr data-task=\"{}\"><td><a href=\"#\">{}</a></td><td><span class=\"badge s-{}\">{}</span></td></tr>",
            esc(&t.id),
            esc(&t.id),
            t.state.as_str(),
            t.state
        );
    }
    out.push_str("</tbody></table>\n");
    if members.len() > INSTANCES_SHOWN {
        let _ = writeln!(
            out,
            "<p class=\"note\">…and {} more (the task table lists them all).</p>",
            members.len() - INSTANCES_SHOWN
        );
    }
    out.push_str("</div>");
    out
}

/// More of a task's log from byte `from` (`?attempt=N&from=K`): the text, where
/// the next read starts, and whether the attempt still runs. Only whole lines are
/// given while it runs (a line, or a character, is never cut in two).
pub async fn log_chunk(
    app: &Arc<App>,
    run_id: &str,
    task: &str,
    req: &Req,
) -> Result<(String, u64, bool), Refusal> {
    let record = app.record(run_id).await?;
    let Some(t) = record.tasks.iter().find(|t| *t.id == *task) else {
        return Err(Refusal::not_found(format!(
            "run {} has no task `{}`",
            record.run_id,
            printable_id(task)
        )));
    };
    let attempt = req
        .param("attempt")
        .and_then(|a| a.parse::<u32>().ok())
        .and_then(|n| t.attempts.iter().find(|a| a.attempt == n))
        .ok_or_else(|| Refusal::not_found("no such attempt"))?;
    let from = req
        .param("from")
        .and_then(|f| f.parse::<u64>().ok())
        .unwrap_or(0);
    let running = attempt.ended_at.is_none();
    let (run, id, n) = (record.run_id.clone(), t.id.to_string(), attempt.attempt);
    let (text, next, more) = app
        .blocking(move |app| whole_lines(app, &run, &id, n, from, running))
        .await??;
    Ok((text, next, running || more))
}

/// Up to [`LOG_CHUNK`] bytes of an attempt's log from byte `from`, made
/// printable: the text, where the next read starts, and whether more was left
/// unread. While the attempt runs only whole lines are given (a line, or a
/// character, is never cut in two); a line longer than a chunk comes in chunks
/// cut where a character ends.
fn whole_lines(
    app: &App,
    run: &str,
    task: &str,
    attempt: u32,
    from: u64,
    running: bool,
) -> Result<(String, u64, bool), crate::engine::store::StoreError> {
    // Past the end (a log read from elsewhere, or an odd `from`): nothing yet.
    if from >= app.state().log_size(run, task, attempt)? {
        return Ok((String::new(), from, false));
    }
    let bytes = app.state().read_log(run, task, attempt, from, LOG_CHUNK)?;
    let full = bytes.len() == LOG_CHUNK;
    let take = if running || full {
        match bytes.iter().rposition(|b| *b == b'\n') {
            Some(p) => p + 1,
            None if full => match std::str::from_utf8(&bytes) {
                Ok(_) => bytes.len(),
                Err(e) => e.valid_up_to().max(1),
            },
            None => 0,
        }
    } else {
        bytes.len()
    };
    let text = lines_printable(&String::from_utf8_lossy(&bytes[..take]));
    Ok((text, from + take as u64, full))
}

/// `s` with each line made [`printable`] (the newlines kept).
fn lines_printable(s: &str) -> String {
    s.split('\n').map(printable).collect::<Vec<_>>().join("\n")
}
