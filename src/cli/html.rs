//! `dag report --format html`: one self-contained page for a CI artifact — the
//! graph coloured by state (laid out here, drawn as SVG), a timeline of every
//! attempt with its wait told apart from its run, each failed task's log tail,
//! and the task table (sortable). It loads nothing: styles and the few lines of
//! script are inline, and its Content-Security-Policy forbids every fetch.
//!
//! Everything from the run is HTML-escaped ([`esc`]): a task id, error or log
//! line holding `<script>` shows as text.

use std::fmt::Write as _;

use super::graph::{RunGraph, STATE_STYLES};
use super::report;
use super::text::{StateCounts, format_ms};
use crate::engine::graph::Dag;
use crate::engine::record::RunRecord;
use crate::engine::store::StateStore;
use crate::engine::text::printable;
use crate::engine::time::Timestamp;

/// At most this many failed tasks get their log tail.
pub const MAX_FAILED_SHOWN: usize = 100;
/// The graph is left out past this many nodes (mapped tasks count once).
pub const MAX_NODES: usize = 2_000;
/// The graph is left out past this many edges (each is a path of about 100
/// bytes; 2,000 tasks each depending on every one before would make 200 MB).
pub const MAX_EDGES: usize = 20_000;
/// The task table shows this many rows until all are asked for.
pub const VISIBLE_ROWS: usize = 500;
/// At most this many rows in the task table (a page of 20,000 rows is about
/// 4 MB; a million would make one no browser opens).
pub const MAX_TABLE_ROWS: usize = 20_000;
/// At most this many rows in the timeline.
pub const MAX_TIMELINE_ROWS: usize = 10_000;
/// Timeline rows drawn together (a chunk is laid out when it comes into view).
const TIMELINE_CHUNK: usize = 250;

const NODE_W: f64 = 170.0;
const NODE_H: f64 = 40.0;
const GAP_X: f64 = 60.0;
const GAP_Y: f64 = 14.0;
const MARGIN: f64 = 10.0;
const ROW_H: f64 = 14.0;
const LABEL_W: f64 = 190.0;
const AXIS_W: f64 = 900.0;

/// `s` safe in HTML text and in a quoted attribute.
pub use super::text::markup_escape as esc;

/// The HTML report of `record`; `dag` is the DAG it ran (for the graph and to
/// group instances), or why it could not be read.
pub fn html(record: &RunRecord, dag: Result<&Dag, &str>, store: &dyn StateStore) -> String {
    let mut out = String::with_capacity(64 * 1024 + record.tasks.len() * 400);
    let title = format!("{} · run {} · {}", record.dag, record.run_id, record.state);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{}</style></head>\n<body>\n",
        esc(&title),
        css()
    );
    body(&mut out, record, dag, store, None);
    let _ = write!(out, "<script>\n{TABLE_JS}\n</script>\n");
    out.push_str("</body></html>\n");
    out
}

/// Where the page of another run is (`dag ui`: `/runs/ID`), or None for a
/// report that stands alone: other runs are named by their ids.
pub type RunHref<'a> = Option<&'a dyn Fn(&str) -> String>;

/// The report's sections: the header, the graph, the timeline, the failed tasks'
/// log tails and the task table (`dag ui` shows the same on a run's page, with
/// links to the runs of sub-DAGs and to the parent run: `href`).
pub fn body(
    out: &mut String,
    record: &RunRecord,
    dag: Result<&Dag, &str>,
    store: &dyn StateStore,
    href: RunHref<'_>,
) {
    header(out, record, store, href);
    let graph = dag.ok().and_then(|d| RunGraph::of(record, d));
    out.push_str("<section id=\"graph\"><h2>Graph</h2>\n");
    match (&graph, dag) {
        (Some(g), _) if g.nodes.len() <= MAX_NODES && g.edges.len() <= MAX_EDGES => {
            svg_graph(out, g)
        }
        (Some(_), _) => {
            let _ = write!(
                out,
                "<p class=\"note\">Not shown: more than {MAX_NODES} tasks or {MAX_EDGES} dependencies.</p>"
            );
        }
        (None, Err(why)) => {
            let _ = write!(
                out,
                "<p class=\"note\">Not shown: {}</p>",
                esc(&printable(why))
            );
        }
        (None, Ok(_)) => {
            out.push_str(
                "<p class=\"note\">Not shown: the run's tasks do not match its DAG file.</p>",
            );
        }
    }
    out.push_str("</section>\n");
    timeline(out, record, dag.ok());
    failed(out, record, store);
    table(out, record, href);
}

/// The report's styles (`dag ui` serves them too).
pub fn css() -> String {
    let mut css = String::from(
        "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1f2328;background:#fff}\
         h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}\
         .facts{color:#57606a;margin:0 0 8px}.note{color:#57606a}\
         .badge{display:inline-block;padding:1px 8px;border-radius:10px;border:1px solid;font-size:12px}\
         .scroll{overflow:auto;max-height:80vh;border:1px solid #d0d7de;border-radius:6px}\
         svg text{font:11px system-ui,sans-serif}svg .name{font-weight:600}\
         table{border-collapse:collapse;font-size:13px}th,td{padding:3px 8px;border-bottom:1px solid #d8dee4;text-align:left;vertical-align:top}\
         th{cursor:pointer;background:#f6f8fa;position:sticky;top:0}td.n{text-align:right}\
         tbody tr{content-visibility:auto;contain-intrinsic-size:auto 24px}\
         pre{background:#f6f8fa;padding:8px;border-radius:6px;overflow:auto;white-space:pre-wrap}\
         .tl-chunk svg,.tl-axis{display:block}\
         .wait{fill:#d0d7de}.queue{fill:#9fb3c8}.axis{stroke:#d8dee4}.edge{fill:none;stroke:#8c959f;stroke-width:1.2}\n",
    );
    let _ = writeln!(
        css,
        ".tl-chunk{{content-visibility:auto;contain-intrinsic-size:auto {:.0}px}}",
        TIMELINE_CHUNK as f64 * ROW_H
    );
    for (state, fill, stroke, color, _) in STATE_STYLES {
        let s = state.as_str();
        let _ = writeln!(
            css,
            ".s-{s}{{fill:{fill};stroke:{stroke};color:{color};background:{fill};border-color:{stroke}}}\
             rect.b-{s}{{fill:{stroke}}}"
        );
    }
    css
}

/// Run `id` as a link to its page, or by its id.
fn run_ref(id: &str, href: RunHref<'_>) -> String {
    match href {
        Some(h) => format!("<a href=\"{}\">{}</a>", esc(&h(id)), esc(id)),
        None => format!("<code>{}</code>", esc(id)),
    }
}

/// For the run of a sub-DAG, whose it is; for a run whose `dag` tasks started
/// some, those runs with their states.
fn sub_dag_runs(out: &mut String, record: &RunRecord, store: &dyn StateStore, href: RunHref<'_>) {
    if let Some(p) = &record.parent {
        let _ = write!(
            out,
            "<p class=\"facts\" id=\"run-parent\">the sub-DAG run of task <code>{}</code> of run {}</p>",
            esc(&printable(&p.task)),
            run_ref(&p.run, href)
        );
    }
    let children = report::children(record, store);
    if children.is_empty() {
        return;
    }
    out.push_str("<ul class=\"facts\" id=\"run-children\">");
    for (c, state) in children {
        let state = state
            .map(|s| format!(" <span class=\"badge s-{}\">{s}</span>", s.as_str()))
            .unwrap_or_default();
        let _ = write!(
            out,
            "<li><code>{}</code> → sub-DAG run {}{state}</li>",
            esc(&printable(&c.task)),
            run_ref(&c.run, href)
        );
    }
    out.push_str("</ul>");
}

fn header(out: &mut String, record: &RunRecord, store: &dyn StateStore, href: RunHref<'_>) {
    let mut counts = StateCounts::default();
    for t in &record.tasks {
        counts.add(t.state);
    }
    let _ = write!(
        out,
        "<header><h1>{} <span class=\"badge s-{}\" id=\"run-state\">{}</span></h1>\n<p class=\"facts\">run <code>{}</code> · <span id=\"counts\">{} tasks: {}</span>",
        esc(&record.dag),
        record.state.as_str(),
        record.state,
        esc(&record.run_id),
        record.tasks.len(),
        counts
    );
    if let Some(s) = record.started_at {
        let _ = write!(out, " · started {}", s.rfc3339());
    }
    if let (Some(s), Some(e)) = (record.started_at, record.ended_at) {
        let _ = write!(out, " · took {}", format_ms(s.until(e).as_millis() as u64));
    }
    let _ = write!(out, " · {} on {}</p>", esc(&record.file), esc(&record.host));
    match record.duplicates() {
        0 => {}
        n => {
            let _ = write!(
                out,
                "<p class=\"facts\" id=\"duplicates\">{n} duplicate execution{} fenced (late results of attempts already recorded, from workers cut off while another ran them)</p>",
                if n == 1 { "" } else { "s" }
            );
        }
    }
    if let Some(r) = &record.reason {
        let _ = write!(
            out,
            "<p class=\"facts\">ended early: {}</p>",
            esc(&printable(r))
        );
    }
    sub_dag_runs(out, record, store, href);
    out.push_str("</header>\n");
}

/// Where each node of `graph` goes: layers left to right by longest path from a
/// task without upstream tasks, ordered within a layer by where their upstream
/// tasks are (two sweeps of the barycentre heuristic), so edges mostly run
/// straight and seldom cross.
pub struct Layout {
    /// Top-left corner of each node.
    pub pos: Vec<(f64, f64)>,
    pub width: f64,
    pub height: f64,
}

pub fn layout(graph: &RunGraph<'_>) -> Layout {
    let n = graph.nodes.len();
    let mut ups: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut downs: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(a, b) in &graph.edges {
        ups[b].push(a);
        downs[a].push(b);
    }
    // Longest path from a source, in an order where every edge goes forward.
    let mut remaining: Vec<usize> = ups.iter().map(Vec::len).collect();
    let mut order: Vec<usize> = (0..n).filter(|&i| remaining[i] == 0).collect();
    let mut k = 0;
    while k < order.len() {
        let a = order[k];
        for &b in &downs[a] {
            remaining[b] -= 1;
            if remaining[b] == 0 {
                order.push(b);
            }
        }
        k += 1;
    }
    // (A cycle cannot be: the DAG was validated. Anything left goes last.)
    let mut placed = vec![false; n];
    for &i in &order {
        placed[i] = true;
    }
    order.extend((0..n).filter(|&i| !placed[i]));
    let mut layer = vec![0usize; n];
    for &i in &order {
        layer[i] = ups[i].iter().map(|&u| layer[u] + 1).max().unwrap_or(0);
    }
    let layers = layer.iter().max().map_or(0, |m| m + 1);
    let mut rows: Vec<Vec<usize>> = vec![Vec::new(); layers];
    for &i in &order {
        rows[layer[i]].push(i);
    }
    let mut index = vec![0f64; n];
    let renumber = |rows: &[Vec<usize>], index: &mut [f64]| {
        for row in rows {
            for (k, &i) in row.iter().enumerate() {
                index[i] = k as f64;
            }
        }
    };
    renumber(&rows, &mut index);
    let mean = |of: &[usize], index: &[f64], own: f64| {
        if of.is_empty() {
            own
        } else {
            of.iter().map(|&j| index[j]).sum::<f64>() / of.len() as f64
        }
    };
    for sweep in 0..2 {
        let order: Vec<usize> = if sweep == 0 {
            (1..layers).collect()
        } else {
            (0..layers.saturating_sub(1)).rev().collect()
        };
        for l in order {
            let mut keyed: Vec<(f64, usize)> = rows[l]
                .iter()
                .map(|&i| {
                    let near = if sweep == 0 { &ups[i] } else { &downs[i] };
                    (mean(near, &index, index[i]), i)
                })
                .collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            rows[l] = keyed.into_iter().map(|(_, i)| i).collect();
            for (k, &i) in rows[l].iter().enumerate() {
                index[i] = k as f64;
            }
        }
    }
    let tallest = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut pos = vec![(0.0, 0.0); n];
    for (l, row) in rows.iter().enumerate() {
        // Each layer centred on the tallest.
        let offset = (tallest - row.len()) as f64 * (NODE_H + GAP_Y) / 2.0;
        for (k, &i) in row.iter().enumerate() {
            pos[i] = (
                MARGIN + l as f64 * (NODE_W + GAP_X),
                MARGIN + offset + k as f64 * (NODE_H + GAP_Y),
            );
        }
    }
    Layout {
        pos,
        width: 2.0 * MARGIN + layers as f64 * NODE_W + layers.saturating_sub(1) as f64 * GAP_X,
        height: 2.0 * MARGIN + tallest as f64 * (NODE_H + GAP_Y),
    }
}

/// The first `max` characters of `s`, with `…` when cut.
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

fn svg_graph(out: &mut String, graph: &RunGraph<'_>) {
    let l = layout(graph);
    let _ = writeln!(
        out,
        "<div class=\"scroll\"><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{:.0}\" height=\"{:.0}\" id=\"graph-svg\">",
        l.width.max(NODE_W + 2.0 * MARGIN),
        l.height.max(NODE_H + 2.0 * MARGIN)
    );
    out.push_str(
        "<defs><marker id=\"arrow\" viewBox=\"0 0 8 8\" refX=\"8\" refY=\"4\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0 L8,4 L0,8 z\" fill=\"#8c959f\"/></marker></defs>\n",
    );
    for &(a, b) in &graph.edges {
        let (x1, y1) = (l.pos[a].0 + NODE_W, l.pos[a].1 + NODE_H / 2.0);
        let (x2, y2) = (l.pos[b].0, l.pos[b].1 + NODE_H / 2.0);
        let mid = (x1 + x2) / 2.0;
        let _ = writeln!(
            out,
            "<path class=\"edge\" marker-end=\"url(#arrow)\" d=\"M{x1:.0},{y1:.0} C{mid:.0},{y1:.0} {mid:.0},{y2:.0} {x2:.0},{y2:.0}\"/>"
        );
    }
    for (i, node) in graph.nodes.iter().enumerate() {
        let (x, y) = l.pos[i];
        let state = if node.mapped {
            node.counts.to_string()
        } else {
            node.state.to_string()
        };
        let _ = writeln!(
            out,
            "<g class=\"node\" data-task=\"{}\" data-state=\"{}\"><title>{}: {}</title><rect class=\"s-{}\" x=\"{x:.0}\" y=\"{y:.0}\" width=\"{NODE_W:.0}\" height=\"{NODE_H:.0}\" rx=\"6\"/>\
             <text class=\"name\" x=\"{:.0}\" y=\"{:.0}\">{}</text><text x=\"{:.0}\" y=\"{:.0}\">{}</text></g>",
            esc(&node.name),
            node.state.as_str(),
            esc(&node.name),
            esc(&state),
            node.state.as_str(),
            x + 8.0,
            y + 16.0,
            esc(&clip(&node.name, 24)),
            x + 8.0,
            y + 31.0,
            esc(&clip(&state, 28)),
        );
    }
    out.push_str("</svg></div>\n");
}

/// One bar of the timeline: from, to, and its class.
type Bar = (Timestamp, Timestamp, &'static str);

/// The timeline: a row per task (a mapped task's instances in one row), each
/// attempt a bar in its outcome's colour, and before it, in grey, how long it
/// waited: for a first attempt from when its upstream tasks had ended (or the
/// run started) to its start, for a retry from the end of the attempt before.
fn timeline(out: &mut String, record: &RunRecord, dag: Option<&Dag>) {
    out.push_str("<section id=\"timeline\"><h2>Timeline</h2>\n");
    let Some(start) = record.started_at else {
        out.push_str("<p class=\"note\">The run has not started.</p></section>\n");
        return;
    };
    let now = Timestamp::now();
    let end = record.ended_at.unwrap_or(now);
    let ended = |t: Option<Timestamp>| t.unwrap_or(end);
    let span = start.until(end).as_millis().max(1) as f64;
    let x_of = |t: Timestamp| LABEL_W + AXIS_W * (start.until(t).as_millis() as f64 / span);
    // Rows: name, bars, title.
    let mut rows: Vec<(String, Vec<Bar>, String)> = Vec::new();
    let graph = dag.and_then(|d| RunGraph::of(record, d));
    let ready_of = |i: usize| -> Timestamp {
        dag.filter(|d| d.len() == record.tasks.len())
            .and_then(|d| {
                d.upstream[i]
                    .iter()
                    .filter_map(|&u| record.tasks[u].attempts.last().and_then(|a| a.ended_at))
                    .max()
            })
            .unwrap_or(start)
    };
    let task_bars = |i: usize| -> Vec<Bar> {
        let t = &record.tasks[i];
        let mut bars = Vec::new();
        let mut waited_from = ready_of(i);
        for a in &t.attempts {
            if waited_from < a.started_at {
                bars.push((waited_from, a.started_at, "wait"));
            }
            let outcome = a.outcome.unwrap_or(t.state);
            // Queued for the workers, until one took it.
            let running = Timestamp(a.started_at.0.saturating_add(u64::from(a.placed_ms)))
                .min(ended(a.ended_at));
            if running > a.started_at {
                bars.push((a.started_at, running, "queue"));
            }
            bars.push((running, ended(a.ended_at), outcome.as_str()));
            waited_from = ended(a.ended_at);
        }
        bars
    };
    match &graph {
        Some(g) => {
            // Each mapped task's instances, found in one pass.
            let mut members_of: crate::engine::Map<String, Vec<usize>> =
                crate::engine::Map::default();
            if g.nodes.iter().any(|n| n.mapped) {
                for i in 0..record.tasks.len() {
                    if let Some((name, true)) = super::graph::shown_as(record, dag, i) {
                        members_of.entry(name).or_default().push(i);
                    }
                }
            }
            for node in g.nodes.iter().take(MAX_TIMELINE_ROWS) {
                if node.mapped {
                    let members = members_of.remove(&node.name).unwrap_or_default();
                    let first = members
                        .iter()
                        .filter_map(|&i| record.tasks[i].attempts.first().map(|a| a.started_at))
                        .min();
                    let last = members
                        .iter()
                        .filter_map(|&i| record.tasks[i].attempts.last().map(|a| ended(a.ended_at)))
                        .max();
                    let mut bars = Vec::new();
                    if let (Some(f), Some(l)) = (first, last) {
                        let ready = members.first().map_or(start, |&i| ready_of(i));
                        if ready < f {
                            bars.push((ready, f, "wait"));
                        }
                        bars.push((f, l, node.state.as_str()));
                    }
                    let title = format!(
                        "{}: {} instances: {}",
                        node.name,
                        members.len(),
                        node.counts
                    );
                    rows.push((node.name.clone(), bars, title));
                } else {
                    let t = &record.tasks[node.task];
                    rows.push((node.name.clone(), task_bars(node.task), attempt_title(t)));
                }
            }
        }
        None => {
            for i in record.in_order().into_iter().take(MAX_TIMELINE_ROWS) {
                let t = &record.tasks[i];
                rows.push((t.id.to_string(), task_bars(i), attempt_title(t)));
            }
        }
    }
    let total = graph.as_ref().map_or(record.tasks.len(), |g| g.nodes.len());
    let shown = rows.len();
    let width = LABEL_W + AXIS_W + 20.0;
    // Ticks: about eight, at round durations.
    let step = nice_step(span / 8.0);
    let ticks: Vec<f64> = std::iter::successors(Some(0.0), |t| Some(t + step))
        .take_while(|t| *t <= span)
        .map(|t| LABEL_W + AXIS_W * t / span)
        .collect();
    let _ = writeln!(
        out,
        "<div class=\"scroll\" id=\"timeline-rows\"><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"20\" class=\"tl-axis\">"
    );
    for (k, x) in ticks.iter().enumerate() {
        let _ = writeln!(
            out,
            "<line class=\"axis\" x1=\"{x:.1}\" y1=\"14\" x2=\"{x:.1}\" y2=\"20\"/><text x=\"{x:.1}\" y=\"10\">{}</text>",
            format_ms((k as f64 * step) as u64)
        );
    }
    out.push_str("</svg>");
    // Rows in chunks, each its own drawing that the browser lays out only when
    // it comes into view (10,000 rows are otherwise most of a page's load).
    for chunk in rows.chunks(TIMELINE_CHUNK) {
        let height = chunk.len() as f64 * ROW_H;
        let _ = write!(
            out,
            "<div class=\"tl-chunk\"><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\">"
        );
        for x in &ticks {
            let _ = write!(
                out,
                "<line class=\"axis\" x1=\"{x:.1}\" y1=\"0\" x2=\"{x:.1}\" y2=\"{height:.0}\"/>"
            );
        }
        out.push('\n');
        for (k, (name, bars, title)) in chunk.iter().enumerate() {
            let y = k as f64 * ROW_H;
            let _ = write!(
                out,
                "<g class=\"row\" data-task=\"{}\"><title>{}</title><text x=\"4\" y=\"{:.0}\">{}</text>",
                esc(name),
                esc(title),
                y + 10.0,
                esc(&clip(name, 28))
            );
            for (from, to, class) in bars {
                let (x1, x2) = (x_of(*from), x_of(*to));
                let class = if matches!(*class, "wait" | "queue") {
                    class.to_string()
                } else {
                    format!("b-{class}")
                };
                let _ = write!(
                    out,
                    "<rect class=\"{class}\" x=\"{x1:.1}\" y=\"{:.0}\" width=\"{:.1}\" height=\"10\"/>",
                    y + 1.0,
                    (x2 - x1).max(1.0)
                );
            }
            out.push_str("</g>\n");
        }
        out.push_str("</svg></div>\n");
    }
    out.push_str("</div>\n");
    if total > shown {
        let _ = write!(
            out,
            "<p class=\"note\">…and {} more rows.</p>",
            total - shown
        );
    }
    out.push_str("<p class=\"note\">Light grey: waiting (for upstream tasks to end and a free slot, or a retry's delay); blue-grey: queued for the workers until one took it; coloured: running, in the attempt's outcome.</p></section>\n");
}

/// A task's attempts in one line, for a tooltip.
fn attempt_title(t: &crate::engine::record::TaskRecord) -> String {
    let mut s = format!("{}: {}", t.id, t.state_label());
    for a in &t.attempts {
        let mut took = a
            .run_ms()
            .map(format_ms)
            .unwrap_or_else(|| "running".into());
        if a.queued_ms() > 0 {
            let _ = write!(took, " (queued {})", format_ms(a.queued_ms()));
        }
        let _ = write!(s, " · attempt {} {took}", a.attempt);
        if let Some(c) = a.exit_code {
            let _ = write!(s, " exit {c}");
        }
        if let Some(w) = &a.worker {
            let _ = write!(s, " on {w}");
        }
    }
    s
}

/// A round tick step (1, 2 or 5 times a power of ten, in ms) near `raw`.
fn nice_step(raw: f64) -> f64 {
    let raw = raw.max(1.0);
    let power = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * power)
}

fn failed(out: &mut String, record: &RunRecord, store: &dyn StateStore) {
    let failed = report::failed_in_order(record);
    if failed.is_empty() {
        return;
    }
    out.push_str("<section id=\"failed\"><h2>Failed tasks</h2>\n");
    for &i in failed.iter().take(MAX_FAILED_SHOWN) {
        let t = &record.tasks[i];
        let Some(a) = t.attempts.last() else { continue };
        let exit = report::exit_suffix(a);
        let _ = write!(
            out,
            "<div class=\"failed\" data-task=\"{}\"><h3><code>{}</code> · attempt {}{exit}</h3>",
            esc(&t.id),
            esc(&t.id),
            a.attempt
        );
        if let Some(e) = record.task_error(i) {
            let _ = write!(out, "<p class=\"error\">{}</p>", esc(&printable(e)));
        }
        let tail = report::log_tail(store, &record.run_id, &t.id, a.attempt);
        if tail.lines.is_empty() {
            out.push_str("<p class=\"note\">(no output)</p>");
        } else {
            let lines: Vec<String> = tail.lines.iter().map(|l| esc(&printable(l))).collect();
            let _ = write!(out, "<pre class=\"tail\">{}</pre>", lines.join("\n"));
        }
        out.push_str("</div>\n");
    }
    if failed.len() > MAX_FAILED_SHOWN {
        let _ = write!(
            out,
            "<p class=\"note\">…and {} more failed tasks.</p>",
            failed.len() - MAX_FAILED_SHOWN
        );
    }
    out.push_str("</section>\n");
}

fn table(out: &mut String, record: &RunRecord, href: RunHref<'_>) {
    out.push_str(
        "<section id=\"tasks\"><h2>Tasks</h2>\n<div class=\"scroll\"><table id=\"task-table\"><thead><tr>\
         <th>task</th><th>state</th><th>attempts</th><th>duration</th><th>exit</th><th>host</th><th>error</th></tr></thead><tbody>\n",
    );
    let order = record.in_order();
    for (k, i) in order.iter().copied().take(MAX_TABLE_ROWS).enumerate() {
        if k == VISIBLE_ROWS {
            // The rest are laid out only when asked for: a browser takes about a
            // second to lay out a table of 10,000 rows.
            out.push_str("</tbody><tbody id=\"more-rows\" hidden>\n");
        }
        let t = &record.tasks[i];
        let last = t.attempts.last();
        // The time it ran; the time it waited for workers after it, when it did.
        let took = t.run_ms();
        let queued = t
            .queued_ms()
            .filter(|&q| q > 0)
            .map(|q| format!(" <span class=\"note\">+{} queued</span>", format_ms(q)))
            .unwrap_or_default();
        let host = last
            .map(|a| match &a.worker {
                Some(w) => format!("{} ({w})", a.host),
                None => a.host.to_string(),
            })
            .unwrap_or_default();
        // On a run's page, a `dag` task links the run of its sub-DAG.
        let child = match (href, record.children.iter().find(|c| *c.task == *t.id)) {
            (Some(h), Some(c)) => format!(
                " <a class=\"sub-dag\" href=\"{}\" title=\"run {}\">sub-DAG run</a>",
                esc(&h(&c.run)),
                esc(&c.run)
            ),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "<tr data-task=\"{}\"><td>{}{child}</td><td><span class=\"badge s-{}\">{}</span></td><td class=\"n\">{}</td><td class=\"n\" data-v=\"{}\">{}{queued}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td></tr>",
            esc(&t.id),
            esc(&t.id),
            t.state.as_str(),
            esc(&t.state_label()),
            t.attempts.len(),
            took.map_or(-1, |ms| ms as i64),
            took.map(format_ms).unwrap_or_default(),
            last.and_then(|a| a.exit_code)
                .map(|c| c.to_string())
                .unwrap_or_default(),
            esc(&host),
            record
                .task_error(i)
                .map(|e| esc(&printable(&clip(e.lines().next().unwrap_or(""), 200))))
                .unwrap_or_default()
        );
    }
    out.push_str("</tbody></table></div>");
    if order.len() > MAX_TABLE_ROWS {
        let _ = write!(
            out,
            "<p class=\"note\">…and {} more tasks (<code>dag status {}</code> lists every task).</p>",
            order.len() - MAX_TABLE_ROWS,
            esc(&record.run_id)
        );
    }
    if order.len() > VISIBLE_ROWS {
        let _ = write!(
            out,
            "<p><button id=\"show-all\" type=\"button\">Show all {} tasks</button> (the first {VISIBLE_ROWS} are shown; sorting shows all)</p>",
            order.len().min(MAX_TABLE_ROWS)
        );
    }
    out.push_str("</section>\n");
}

/// Showing every row of the task table, and sorting it by a click on a column's
/// header (numbers by value, durations by their milliseconds, the rest as text;
/// a second click reverses; sorting shows every row). `dag ui` serves it too.
pub const TABLE_JS: &str = "(function(){var t=document.getElementById('task-table');if(!t)return;\
var all=function(){var m=document.getElementById('more-rows');if(m){var b=t.tBodies[0];\
Array.prototype.slice.call(m.rows).forEach(function(r){b.appendChild(r);});m.remove();}\
var s=document.getElementById('show-all');if(s)s.parentNode.remove();};\
var s=document.getElementById('show-all');if(s)s.addEventListener('click',all);\
var hs=t.tHead.rows[0].cells;for(var c=0;c<hs.length;c++){(function(c){var asc=true;hs[c].addEventListener('click',function(){all();\
var b=t.tBodies[0],rs=Array.prototype.slice.call(b.rows);var key=function(r){var d=r.cells[c];\
if(d.dataset.v!==undefined)return parseFloat(d.dataset.v);var s=d.textContent;var n=parseFloat(s);return (d.className==='n'&&!isNaN(n))?n:s;};\
rs.sort(function(x,y){var a=key(x),z=key(y);var r=(typeof a==='number'&&typeof z==='number')?a-z:String(a).localeCompare(String(z));return asc?r:-r;});\
asc=!asc;rs.forEach(function(r){b.appendChild(r);});});})(c);}})();";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::fixtures::{sample, sample_dag};

    #[test]
    fn escapes_what_html_reads() {
        assert_eq!(
            esc("<script>alert('x') & \"y\"</script>"),
            "&lt;script&gt;alert(&apos;x&apos;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(nice_step(130.0), 200.0);
        assert_eq!(nice_step(0.2), 1.0);
        assert_eq!(nice_step(4_000.0), 5_000.0);
    }

    #[test]
    fn layers_follow_the_edges() {
        let (r, _) = sample();
        let dag = sample_dag();
        let g = RunGraph::of(&r, &dag).unwrap();
        let l = layout(&g);
        let at = |name: &str| l.pos[g.nodes.iter().position(|n| n.name == name).unwrap()];
        // c depends on b: one layer to its right; a, b and d have no upstream.
        assert!(at("c").0 > at("b").0);
        assert_eq!(at("a").0, at("b").0);
        assert_eq!(at("a").0, at("d").0);
        // No two nodes overlap.
        for (i, p) in l.pos.iter().enumerate() {
            for q in &l.pos[i + 1..] {
                assert!(
                    (p.0 - q.0).abs() >= NODE_W || (p.1 - q.1).abs() >= NODE_H,
                    "{p:?} {q:?}"
                );
            }
        }
    }

    #[test]
    fn the_sample_run() {
        let (r, _) = sample();
        let dir = tempfile::tempdir().unwrap();
        let store = crate::backends::file_store::FileStore::open(dir.path()).unwrap();
        let dag = sample_dag();
        let page = html(&r, Ok(&dag), &store);
        // A finished run at fixed times: the page does not depend on the clock.
        insta::assert_snapshot!(page);
    }

    /// A task that waited for a worker: the table's duration is the time it ran,
    /// the wait shown after it; the tooltip tells both.
    #[test]
    fn time_waited_for_a_worker_is_apart_from_the_duration() {
        let (mut r, _) = sample();
        r.tasks[0].attempts[0].placed_ms = 1200;
        r.tasks[0].attempts[0].worker = Some("w1".into());
        let dir = tempfile::tempdir().unwrap();
        let store = crate::backends::file_store::FileStore::open(dir.path()).unwrap();
        let page = html(&r, Ok(&sample_dag()), &store);
        assert!(
            page.contains("data-v=\"300\">300ms <span class=\"note\">+1.2s queued</span></td>"),
            "{page}"
        );
        assert!(page.contains("attempt 1 300ms (queued 1.2s)"), "{page}");
    }
}
