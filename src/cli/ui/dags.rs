//! The DAG page: one DAG's last runs — each task's duration across them (to spot
//! the outlier and the trend) and its success rate — and the DAG file as each run
//! ran it, with the differences between two runs' files.

use std::fmt::Write as _;
use std::sync::Arc;

use super::request::{Req, encode};
use super::{App, Refusal, esc, printable_id};
use crate::cli::graph::weight;
use crate::cli::text::format_ms;
use crate::engine::record::RunRecord;
use crate::engine::state::TaskState;
use crate::engine::text::printable;

/// Runs shown unless asked for more (`?runs=N`).
pub const RUNS_COMPARED: usize = 20;
/// The most runs shown.
pub const MAX_RUNS_COMPARED: usize = 100;
/// The most task rows.
const MAX_TASK_ROWS: usize = 2_000;
/// At most this many bars in all (rows times runs): 100 runs of a DAG of
/// thousands of tasks would otherwise make a page of tens of MB.
const MAX_BARS: usize = 40_000;
/// Files are compared line by line when the lines left after their common start
/// and end, multiplied, are at most this many.
const MAX_DIFF_CELLS: usize = 4_000_000;
/// Lines kept around each change.
const CONTEXT: usize = 3;
/// A duration this many times its task's median is an outlier.
const OUTLIER: f64 = 2.0;

/// One task (a mapped task's instances as one) in one run.
#[derive(Clone, Copy)]
struct Cell {
    state: TaskState,
    /// From its first start to its last end, when it ended.
    ms: Option<u64>,
}

/// What the page keeps of one run.
struct RunFacts {
    id: String,
    state: &'static str,
    definition: Option<Arc<str>>,
    /// By task name.
    cells: crate::engine::Map<String, Cell>,
    /// Task names in the run's order.
    order: Vec<String>,
}

impl RunFacts {
    fn of(r: &RunRecord) -> RunFacts {
        let mut cells: crate::engine::Map<String, Cell> = crate::engine::Map::default();
        let mut spans: crate::engine::Map<String, (u64, u64, bool)> = crate::engine::Map::default();
        // How many records each name stands for, and the first one's run time: a
        // task's duration is the time it ran (not the time it waited for a worker);
        // a mapped task's, from its first instance's start to its last one's end.
        let mut runs: crate::engine::Map<String, (usize, Option<u64>)> =
            crate::engine::Map::default();
        let mut order = Vec::new();
        for i in r.in_order() {
            let t = &r.tasks[i];
            // A mapped task's record that stands for its instances.
            if t.instances.is_some_and(|n| n > 0) {
                continue;
            }
            let name = crate::engine::fanout::instance_parts(&t.id)
                .map_or_else(|| t.id.to_string(), |(g, _)| g.to_string());
            let first = t.attempts.first().map(|a| a.started_at.0);
            let last = t.attempts.last().and_then(|a| a.ended_at.map(|e| e.0));
            match cells.get_mut(&name) {
                Some(c) => {
                    if weight(t.state) > weight(c.state) {
                        c.state = t.state;
                    }
                }
                None => {
                    order.push(name.clone());
                    cells.insert(
                        name.clone(),
                        Cell {
                            state: t.state,
                            ms: None,
                        },
                    );
                }
            }
            let run = runs.entry(name.clone()).or_insert((0, t.run_ms()));
            run.0 += 1;
            let span = spans.entry(name).or_insert((u64::MAX, 0, true));
            if let Some(f) = first {
                span.0 = span.0.min(f);
            }
            match last {
                Some(l) => span.1 = span.1.max(l),
                None => span.2 = false,
            }
        }
        for (name, (first, last, ended)) in spans {
            if ended
                && first != u64::MAX
                && let Some(c) = cells.get_mut(&name)
            {
                c.ms = match runs.get(&name) {
                    Some(&(1, Some(ran))) => Some(ran),
                    _ => Some(last.saturating_sub(first)),
                };
            }
        }
        RunFacts {
            id: r.run_id.clone(),
            state: r.state.as_str(),
            definition: r.definition.clone(),
            cells,
            order,
        }
    }
}

/// `GET /dags/NAME[?runs=N&a=RUN&b=RUN]`.
pub async fn dag_page(app: &Arc<App>, name: &str, req: &Req) -> Result<String, Refusal> {
    if !crate::engine::validate::is_valid_name(name) {
        return Err(Refusal::not_found(format!(
            "no DAG `{}`",
            printable_id(name)
        )));
    }
    let n = req
        .param("runs")
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(RUNS_COMPARED)
        .clamp(2, MAX_RUNS_COMPARED);
    let wanted = name.to_string();
    // Records are loaded by at most as many requests at once as elsewhere.
    let permit = app
        .loads
        .acquire()
        .await
        .map_err(|_| Refusal::new(500, "shutting down"))?;
    // Newest first.
    let runs: Vec<RunFacts> = app
        .blocking(move |app| -> Result<Vec<RunFacts>, Refusal> {
            let mut out = Vec::new();
            for id in app.state().run_ids()?.iter().rev() {
                if out.len() >= n {
                    break;
                }
                if app.summary_of(id).is_some_and(|s| s.dag != wanted) {
                    continue;
                }
                if let Ok(r) = app.state().load_run(id) {
                    // Known from now on: a run of another DAG is not read again.
                    app.remember(&r);
                    if r.dag == wanted {
                        out.push(RunFacts::of(&r));
                    }
                }
            }
            Ok(out)
        })
        .await??;
    // Released before the files are read (they take a permit of their own).
    drop(permit);
    if runs.is_empty() {
        return Err(Refusal::not_found(format!(
            "no run of a DAG named `{}` in the store",
            printable_id(name)
        )));
    }
    let mut content = String::new();
    let _ = write!(
        content,
        "<p class=\"crumbs\"><a href=\"/\">Runs</a> › DAG</p>\n<h1>{}</h1>\n",
        esc(name)
    );
    let ok = runs.iter().filter(|r| r.state == "success").count();
    let _ = writeln!(
        content,
        "<p class=\"facts\">The last {} runs: {ok} succeeded. <a href=\"?runs={}\">Show {}</a></p>",
        runs.len(),
        (n * 2).min(MAX_RUNS_COMPARED),
        (n * 2).min(MAX_RUNS_COMPARED),
    );
    durations(&mut content, &runs);
    let (a, b) = chosen(&runs, req);
    let texts = (file_of(app, &runs[a]).await, file_of(app, &runs[b]).await);
    files(&mut content, &runs, (a, b), texts);
    Ok(super::pages::page(
        app,
        name,
        "Runs",
        "data-page=\"dag\"",
        &content,
    ))
}

/// The task duration view: a row per task, a bar per run (oldest first) as tall
/// as that run's duration of the task, in its state's colour; outliers (twice
/// the median and more) outlined.
fn durations(out: &mut String, runs: &[RunFacts]) {
    const BAR_W: f64 = 12.0;
    const H: f64 = 28.0;
    out.push_str(
        "<section id=\"durations\"><h2>Task durations</h2>\n<p class=\"note\">Oldest run left, newest right; \
         a bar's height is the task's duration in that run, against its longest; an outlined bar took at least twice the median.</p>\n\
         <div class=\"scroll\"><table id=\"duration-table\"><thead><tr><th>task</th><th>success rate</th><th>median</th><th>last</th><th>runs</th></tr></thead><tbody>\n",
    );
    let oldest_first: Vec<&RunFacts> = runs.iter().rev().collect();
    // Tasks in the newest run's order, then any only older runs had.
    let mut names: Vec<&str> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for r in runs {
        for name in &r.order {
            if seen.insert(name.as_str()) {
                names.push(name);
            }
        }
    }
    let rows = (MAX_BARS / runs.len().max(1)).clamp(1, MAX_TASK_ROWS);
    for name in names.iter().take(rows) {
        let cells: Vec<Option<Cell>> = oldest_first
            .iter()
            .map(|r| r.cells.get(*name).copied())
            .collect();
        let ended: Vec<Cell> = cells
            .iter()
            .flatten()
            .filter(|c| c.state.is_terminal() && c.state != TaskState::Skipped)
            .copied()
            .collect();
        let ok = ended
            .iter()
            .filter(|c| c.state == TaskState::Success)
            .count();
        let mut ms: Vec<u64> = cells.iter().flatten().filter_map(|c| c.ms).collect();
        ms.sort_unstable();
        let median = ms.get(ms.len() / 2).copied();
        let max = ms.last().copied().unwrap_or(0).max(1);
        let last = cells.last().copied().flatten();
        let width = BAR_W * cells.len() as f64;
        let mut svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"bars\" width=\"{width:.0}\" height=\"{H:.0}\">"
        );
        for (k, (c, r)) in cells.iter().zip(&oldest_first).enumerate() {
            let x = k as f64 * BAR_W;
            let Some(c) = c else {
                continue;
            };
            let h =
                c.ms.map_or(2.0, |m| (H - 2.0) * m as f64 / max as f64)
                    .max(2.0);
            let outlier = matches!((c.ms, median), (Some(m), Some(med)) if med > 0 && m as f64 >= OUTLIER * med as f64 && m >= 1000);
            let _ = write!(
                svg,
                "<a href=\"/runs/{}\"><rect class=\"b-{}{}\" x=\"{:.0}\" y=\"{:.1}\" width=\"{:.0}\" height=\"{h:.1}\"><title>run {}: {}{}</title></rect></a>",
                encode(&r.id),
                c.state.as_str(),
                if outlier { " outlier" } else { "" },
                x + 1.0,
                H - h,
                BAR_W - 2.0,
                esc(&r.id),
                c.state,
                c.ms.map(|m| format!(", {}", format_ms(m)))
                    .unwrap_or_default(),
            );
        }
        svg.push_str("</svg>");
        let rate = if ended.is_empty() {
            String::new()
        } else {
            format!(
                "{ok}/{} ({:.0}%)",
                ended.len(),
                100.0 * ok as f64 / ended.len() as f64
            )
        };
        let _ = writeln!(
            out,
            "<tr data-name=\"{}\"><td><code>{}</code></td><td class=\"n\" data-v=\"{}\">{rate}</td><td class=\"n\" data-v=\"{}\">{}</td><td class=\"n\" data-v=\"{}\">{}</td><td>{svg}</td></tr>",
            esc(name),
            esc(name),
            if ended.is_empty() {
                -1.0
            } else {
                ok as f64 / ended.len() as f64
            },
            median.map_or(-1, |m| m as i64),
            median.map(format_ms).unwrap_or_default(),
            last.and_then(|c| c.ms).map_or(-1, |m| m as i64),
            last.and_then(|c| c.ms).map(format_ms).unwrap_or_default(),
        );
    }
    out.push_str("</tbody></table></div>\n");
    if names.len() > rows {
        let _ = writeln!(
            out,
            "<p class=\"note\">…and {} more tasks.</p>",
            names.len() - rows
        );
    }
    out.push_str("</section>\n");
}

/// Which two runs' files the page shows: `?a=RUN` (the newest by default) and
/// `?b=RUN` (by default the run before `a` whose file differs, else the one just
/// before it); positions in `runs`.
fn chosen(runs: &[RunFacts], req: &Req) -> (usize, usize) {
    let pick = |key: &str| {
        req.param(key)
            .and_then(|id| runs.iter().position(|r| r.id == id))
    };
    let a = pick("a").unwrap_or(0);
    let b = pick("b").unwrap_or_else(|| {
        let of_a = runs[a].definition.as_deref();
        runs.iter()
            .enumerate()
            .skip(a + 1)
            .find(|(_, r)| r.definition.as_deref() != of_a)
            .map(|(i, _)| i)
            .unwrap_or((a + 1).min(runs.len() - 1))
    });
    (a, b)
}

/// The file run `runs[i]` ran, its secrets masked as the run's pages mask them
/// (the `secret_env` values the file gives, the params the run held secret);
/// `Err` says why it is not shown: the run keeps no copy, or the copy no longer
/// loads here (its secrets could not be told).
async fn file_of(app: &Arc<App>, run: &RunFacts) -> Result<String, String> {
    let Some(text) = run.definition.as_deref() else {
        return Err(format!(
            "Run {} keeps no copy of its DAG file (an older dag made it).",
            run.id
        ));
    };
    let record = app.record(&run.id).await.map_err(|r| r.message)?;
    match app.dag_of(&record).await.as_ref() {
        Ok(dag) => Ok(crate::cli::graph::run_secrets(&record, dag).mask(text)),
        Err(why) => Err(format!(
            "The file of run {} is not shown: {why}, so the secrets in it cannot be told.",
            run.id
        )),
    }
}

/// The DAG file as run `a` ran it, and what changed from run `b`'s.
fn files(
    out: &mut String,
    runs: &[RunFacts],
    (a, b): (usize, usize),
    (new, old): (Result<String, String>, Result<String, String>),
) {
    out.push_str("<section id=\"file\"><h2>DAG file</h2>\n");
    let option = |out: &mut String, chosen: usize| {
        for (i, r) in runs.iter().enumerate() {
            let _ = write!(
                out,
                "<option value=\"{}\"{}>{} ({})</option>",
                esc(&r.id),
                if i == chosen { " selected" } else { "" },
                esc(&r.id),
                r.state
            );
        }
    };
    out.push_str("<form method=\"get\" class=\"filters\" id=\"file-form\"><label>run <select name=\"a\" id=\"file-a\">");
    option(out, a);
    out.push_str("</select></label> <label>compared with <select name=\"b\" id=\"file-b\">");
    option(out, b);
    let _ = writeln!(
        out,
        "</select></label> <input type=\"hidden\" name=\"runs\" value=\"{}\"><button type=\"submit\">Show</button></form>",
        runs.len().max(2)
    );
    let new = match new {
        Ok(new) => new,
        Err(why) => {
            let _ = writeln!(out, "<p class=\"note\">{}</p></section>", esc(&why));
            return;
        }
    };
    match old {
        Ok(old) if a != b => {
            let _ = writeln!(
                out,
                "<h3>Changes from run <code>{}</code> to run <code>{}</code></h3>",
                esc(&runs[b].id),
                esc(&runs[a].id)
            );
            match diff(&old, &new) {
                Some(lines) if lines.is_empty() => {
                    out.push_str(if runs[a].definition == runs[b].definition {
                        "<p class=\"note\">The two runs ran the same file.</p>\n"
                    } else {
                        "<p class=\"note\">The two files differ only in secrets (masked here).</p>\n"
                    })
                }
                Some(lines) => {
                    out.push_str("<pre class=\"diff\" id=\"diff\">");
                    for l in lines {
                        let (class, mark, text) = match l {
                            Line::Same(t) => ("same", ' ', t),
                            Line::Removed(t) => ("del", '-', t),
                            Line::Added(t) => ("add", '+', t),
                            Line::Gap(n) => {
                                let _ = writeln!(
                                    out,
                                    "<span class=\"gap\">@@ {n} unchanged lines @@</span>"
                                );
                                continue;
                            }
                        };
                        let _ = writeln!(
                            out,
                            "<span class=\"{class}\">{mark} {}</span>",
                            esc(&printable(text))
                        );
                    }
                    out.push_str("</pre>\n");
                }
                None => out.push_str(
                    "<p class=\"note\">The files are too large and too different to compare here.</p>\n",
                ),
            }
        }
        _ => {}
    }
    let _ = write!(
        out,
        "<h3>As run <code>{}</code> ran it</h3>\n<pre class=\"file\" id=\"file-text\">",
        esc(&runs[a].id)
    );
    for (k, line) in new.lines().enumerate() {
        let _ = writeln!(
            out,
            "<span class=\"ln\">{:>4}</span> {}",
            k + 1,
            esc(&printable(line))
        );
    }
    out.push_str("</pre></section>\n");
}

/// A line of a diff.
#[derive(Debug, PartialEq, Eq)]
enum Line<'a> {
    Same(&'a str),
    Removed(&'a str),
    Added(&'a str),
    /// Unchanged lines left out.
    Gap(usize),
}

/// The lines that changed from `old` to `new`, with [`CONTEXT`] unchanged lines
/// around each change (longest common subsequence of lines); empty when nothing
/// changed, `None` when the files are too large to compare.
fn diff<'a>(old: &'a str, new: &'a str) -> Option<Vec<Line<'a>>> {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let head = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let tail = a[head..]
        .iter()
        .rev()
        .zip(b[head..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (ma, mb) = (&a[head..a.len() - tail], &b[head..b.len() - tail]);
    if ma.is_empty() && mb.is_empty() {
        return Some(Vec::new());
    }
    if (ma.len() + 1).saturating_mul(mb.len() + 1) > MAX_DIFF_CELLS {
        return None;
    }
    // lcs[i][j]: the longest common subsequence of ma[i..] and mb[j..].
    let w = mb.len() + 1;
    let mut lcs = vec![0u32; (ma.len() + 1) * w];
    for i in (0..ma.len()).rev() {
        for j in (0..mb.len()).rev() {
            lcs[i * w + j] = if ma[i] == mb[j] {
                lcs[(i + 1) * w + j + 1] + 1
            } else {
                lcs[(i + 1) * w + j].max(lcs[i * w + j + 1])
            };
        }
    }
    let mut all: Vec<Line<'a>> = a[..head].iter().map(|l| Line::Same(l)).collect();
    let (mut i, mut j) = (0, 0);
    while i < ma.len() || j < mb.len() {
        if i < ma.len() && j < mb.len() && ma[i] == mb[j] {
            all.push(Line::Same(ma[i]));
            i += 1;
            j += 1;
        } else if i < ma.len() && (j == mb.len() || lcs[(i + 1) * w + j] >= lcs[i * w + j + 1]) {
            // What goes comes before what replaces it.
            all.push(Line::Removed(ma[i]));
            i += 1;
        } else {
            all.push(Line::Added(mb[j]));
            j += 1;
        }
    }
    all.extend(a[a.len() - tail..].iter().map(|l| Line::Same(l)));
    // Keep the context around changes; say how many lines were left out.
    let changed: Vec<bool> = all.iter().map(|l| !matches!(l, Line::Same(_))).collect();
    let near = |k: usize| {
        let lo = k.saturating_sub(CONTEXT);
        let hi = (k + CONTEXT + 1).min(all.len());
        changed[lo..hi].iter().any(|c| *c)
    };
    let keep: Vec<bool> = (0..all.len()).map(near).collect();
    let mut out = Vec::new();
    let mut gap = 0;
    for (k, line) in all.into_iter().enumerate() {
        if keep[k] {
            if gap > 0 {
                out.push(Line::Gap(gap));
                gap = 0;
            }
            out.push(line);
        } else {
            gap += 1;
        }
    }
    if gap > 0 {
        out.push(Line::Gap(gap));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_line_shows_with_its_context() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\ni\n";
        let new = "a\nb\nc\nd\nE\nf\ng\nh\ni\nj\n";
        let d = diff(old, new).unwrap();
        assert_eq!(
            d,
            vec![
                Line::Gap(1),
                Line::Same("b"),
                Line::Same("c"),
                Line::Same("d"),
                Line::Removed("e"),
                Line::Added("E"),
                Line::Same("f"),
                Line::Same("g"),
                Line::Same("h"),
                Line::Same("i"),
                Line::Added("j"),
            ]
        );
        assert_eq!(diff(old, old), Some(Vec::new()));
    }

    #[test]
    fn files_too_large_and_too_different_are_not_compared() {
        let old: String = (0..3000).map(|i| format!("a{i}\n")).collect();
        let new: String = (0..3000).map(|i| format!("b{i}\n")).collect();
        assert_eq!(diff(&old, &new), None);
        // The same size with one change compares (the common part is trimmed).
        let mut one = old.clone();
        one.push_str("z\n");
        assert_eq!(diff(&old, &one).unwrap().len(), 5);
    }
}
