//! The workers and queues page (NATS): each worker's slots, the tasks it runs,
//! the task types it takes and its last heartbeat; each queue's depth; and a
//! warning for tasks no live worker can take (an unserved queue, a type no worker
//! serving the queue runs).

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use super::{App, Refusal, esc};
use crate::backends::nats::scheduler::{all_workers, heartbeat_age, results_consumer, suspicion};
use crate::backends::nats::wire::Heartbeat;
use crate::backends::nats::{Lane, QueueDepth, Timing, queue_depths};
use crate::cli::text::format_ms;
use crate::engine::state::TaskState;
use crate::engine::text::printable;

/// Workers listed on the page.
const MAX_WORKERS_SHOWN: usize = 500;

/// How long the page waits for NATS.
const CONNECT: Duration = Duration::from_secs(3);

/// A task of a running run that waits for a worker, or runs on one.
struct Placed {
    run: String,
    task: String,
    /// The part of its queue it waits in (see [`Lane`]).
    lane: Lane,
    kind: &'static str,
    /// The worker running it, once one took it.
    worker: Option<String>,
}

/// `GET /workers`.
pub async fn workers_page(app: &Arc<App>) -> Result<String, Refusal> {
    let content = match facts(app).await {
        Ok(content) => content,
        Err(why) => format!(
            "<h1>Workers and queues</h1>\n<p class=\"note\" id=\"workers-note\">{}</p>\n",
            esc(&why)
        ),
    };
    Ok(super::pages::page(
        app,
        "Workers",
        "Workers",
        "data-page=\"workers\"",
        &format!("<div id=\"workers-body\">{content}</div>"),
    ))
}

/// How many of the newest runs `GET /metrics` counts by state.
pub const METRICS_RUNS: usize = 1000;

/// `GET /metrics`, in Prometheus' text format: the newest runs of the store by
/// state and, on the NATS store, the deployment's queues read afresh (within
/// 2 s: with NATS away, the queue figures are left out).
pub async fn metrics(app: &Arc<App>) -> Result<String, Refusal> {
    let registry = crate::metrics::Registry::new();
    let summaries = app.summaries(METRICS_RUNS).await?;
    let mut by_state: std::collections::BTreeMap<&str, usize> = Default::default();
    for s in &summaries {
        *by_state.entry(s.state).or_default() += 1;
    }
    for (state, n) in by_state {
        registry.set(
            "dag_runs",
            "Runs by state, of the store's 1,000 newest.",
            &[("state", state)],
            n as f64,
        );
    }
    if matches!(app.store, crate::cli::setup::Store::Nats(_))
        && let Ok(client) = client(app).await
    {
        let js = async_nats::jetstream::new(client);
        let figures = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            crate::backends::nats::queue_figures(&js, &Timing::from_env()),
        )
        .await;
        if let Ok(Ok(figures)) = figures {
            crate::backends::nats::queue_metrics(&registry, &figures);
        }
    }
    Ok(registry.render())
}

/// The connection, made once; a failure is the answer for [`RETRY_CONNECT`]
/// (requests meanwhile do not each wait for NATS again).
async fn client(app: &App) -> Result<async_nats::Client, String> {
    let mut held = app.nats_client.lock().await;
    match held.as_ref() {
        Some(Ok(c)) => return Ok(c.clone()),
        Some(Err((at, why))) if at.elapsed() < RETRY_CONNECT => return Err(why.clone()),
        _ => {}
    }
    let url = crate::backends::nats::redact(&app.nats.url);
    let made = match tokio::time::timeout(
        CONNECT,
        crate::backends::nats::connect(&app.nats, "dag ui"),
    )
    .await
    {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(format!(
            "Cannot reach NATS at {url}: {e}. Workers exist in distributed deployments (start `dag ui` with --nats URL)."
        )),
        Err(_) => Err(format!(
            "No NATS server answered at {url} within {}s: workers exist in distributed deployments (start `dag ui` with --nats URL).",
            CONNECT.as_secs()
        )),
    };
    *held = Some(made.clone().map_err(|why| (std::time::Instant::now(), why)));
    made
}

/// How long a failure to reach NATS stands before the page tries again.
const RETRY_CONNECT: Duration = Duration::from_secs(10);

async fn facts(app: &Arc<App>) -> Result<String, String> {
    let client = client(app).await?;
    let js = async_nats::jetstream::new(client);
    let timing = Timing::from_env();
    let (workers, queues, distributed) = tokio::time::timeout(CONNECT, async {
        let workers = all_workers(&js).await.map_err(|e| e.to_string())?;
        let queues = queue_depths(&js).await.map_err(|e| e.to_string())?;
        // A run driven on the workers has a result consumer while it runs.
        let mut distributed = std::collections::HashSet::new();
        if let Ok(stream) = js.get_stream(crate::backends::nats::RESULTS_STREAM).await {
            let mut names = stream.consumer_names();
            while let Some(Ok(name)) = futures_util::StreamExt::next(&mut names).await {
                if let Some(run) = name.strip_prefix(&results_consumer("")) {
                    distributed.insert(run.to_string());
                }
            }
        }
        Ok::<_, String>((workers, queues, distributed))
    })
    .await
    .map_err(|_| {
        format!(
            "Reading the workers and queues took more than {}s (NATS is slow, or holds very many heartbeats).",
            CONNECT.as_secs()
        )
    })??;
    // A worker silent for twice the dead-after time is gone (as `dag workers`).
    let workers: Vec<Heartbeat> = workers
        .into_iter()
        .filter(|w| heartbeat_age(w) < timing.dead_after() * 2)
        .collect();
    let live =
        |w: &Heartbeat| heartbeat_age(w) < timing.dead_after() && suspicion(w, &timing).is_none();
    let placed = placed(app, &distributed).await;
    let mut out = String::from("<h1>Workers and queues</h1>\n");
    warnings(&mut out, &workers, &queues, &placed, &live);
    out.push_str(
        "<h2>Workers</h2>\n<div class=\"scroll\"><table id=\"workers\"><thead><tr><th>worker</th><th>host</th><th>state</th>\
         <th>running / slots</th><th>queues</th><th>task types</th><th>last heartbeat</th><th>running tasks</th></tr></thead><tbody>\n",
    );
    for w in workers.iter().take(MAX_WORKERS_SHOWN) {
        let age = heartbeat_age(w);
        let state = match suspicion(w, &timing) {
            Some(why) => format!("suspect: {why}"),
            None if age < timing.dead_after() => "alive".into(),
            None => "dead".into(),
        };
        let running: Vec<String> = placed
            .iter()
            .filter(|p| p.worker.as_deref() == Some(w.id.as_str()))
            .map(|p| {
                format!(
                    "<a href=\"/runs/{}\">{}</a> <code>{}</code>",
                    super::request::encode(&p.run),
                    esc(&p.run),
                    esc(&p.task)
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "<tr data-worker=\"{}\"><td><code>{}</code></td><td>{}</td><td class=\"{}\">{}</td><td class=\"n\">{} / {}</td><td>{}{}{}</td><td>{}</td><td>{} ago</td><td>{}</td></tr>",
            esc(&w.id),
            esc(&w.id),
            esc(&printable(&w.hostname)),
            if state == "alive" { "ok" } else { "warn" },
            esc(&printable(&state)),
            w.active,
            w.slots,
            esc(&w.queues.join(", ")),
            if w.docker { " + docker" } else { "" },
            match w.gpus {
                0 => String::new(),
                1 => " + 1 GPU".to_string(),
                n => format!(" + {n} GPUs"),
            },
            if w.types.is_empty() {
                "(not said)".to_string()
            } else {
                esc(&w.types.join(", "))
            },
            format_ms(age.as_millis() as u64),
            running.join("<br>"),
        );
    }
    out.push_str("</tbody></table></div>\n");
    if workers.len() > MAX_WORKERS_SHOWN {
        let _ = writeln!(
            out,
            "<p class=\"note\">…and {} more workers (<code>dag workers</code> lists them all).</p>",
            workers.len() - MAX_WORKERS_SHOWN
        );
    }
    if workers.is_empty() {
        out.push_str("<p class=\"note\">No worker has a heartbeat: start one with <code>dag worker --nats URL</code>.</p>\n");
    }
    out.push_str(
        "<h2>Queues</h2>\n<table id=\"queues\"><thead><tr><th>queue</th><th>waiting</th><th>running</th><th>live workers</th></tr></thead><tbody>\n",
    );
    for q in &queues {
        let lane = q.lane();
        let serving = workers
            .iter()
            .filter(|w| live(w) && lane.served_by(w))
            .count();
        let _ = writeln!(
            out,
            "<tr data-queue=\"{}\"><td><code>{}</code></td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n{}\">{serving}</td></tr>",
            esc(&q.shown()),
            esc(&q.shown()),
            q.waiting,
            q.running,
            if serving == 0 && q.waiting > 0 {
                " warn"
            } else {
                ""
            },
        );
    }
    out.push_str("</tbody></table>\n");
    Ok(out)
}

/// The warnings: queues with waiting tasks no live worker serves, and waiting
/// tasks of a type no live worker serving their queue runs.
fn warnings(
    out: &mut String,
    workers: &[Heartbeat],
    queues: &[QueueDepth],
    placed: &[Placed],
    live: &dyn Fn(&Heartbeat) -> bool,
) {
    let mut lines = Vec::new();
    for q in queues.iter().filter(|q| q.waiting > 0) {
        let lane = q.lane();
        if !workers.iter().any(|w| live(w) && lane.served_by(w)) {
            lines.push(format!(
                "{} task(s) wait in queue <code>{}</code>, and no live worker serves it: start one with <code>dag worker {}</code>.",
                q.waiting,
                esc(&q.shown()),
                esc(&lane.flags())
            ));
        }
    }
    // Waiting tasks by queue and type.
    let mut waiting: std::collections::BTreeMap<(&Lane, &str), Vec<&Placed>> =
        std::collections::BTreeMap::new();
    for p in placed.iter().filter(|p| p.worker.is_none()) {
        waiting.entry((&p.lane, p.kind)).or_default().push(p);
    }
    for ((lane, kind), tasks) in waiting {
        let queue = lane.queue.as_str();
        let serving: Vec<&Heartbeat> = workers
            .iter()
            .filter(|w| live(w) && lane.served_by(w))
            .collect();
        if !serving.is_empty()
            && serving
                .iter()
                .all(|w| !w.types.is_empty() && !w.types.iter().any(|t| t == kind))
        {
            let first = tasks[0];
            lines.push(format!(
                "{} {kind} task(s) wait in queue <code>{}</code> (e.g. <code>{}</code> of run <a href=\"/runs/{}\">{}</a>), and no live worker serving it runs {kind} tasks (see their --allow-types).",
                tasks.len(),
                esc(queue),
                esc(&first.task),
                super::request::encode(&first.run),
                esc(&first.run),
            ));
        }
    }
    if !lines.is_empty() {
        out.push_str(
            "<div class=\"warning\" id=\"unservable\"><h2>Tasks no live worker can take</h2><ul>",
        );
        for l in lines {
            let _ = write!(out, "<li>{l}</li>");
        }
        out.push_str("</ul></div>\n");
    }
}

/// The tasks of the distributed runs being driven now that wait for a worker or
/// run on one.
async fn placed(app: &Arc<App>, distributed: &std::collections::HashSet<String>) -> Vec<Placed> {
    let Ok(runs) = app.summaries(super::pages::RUNS_SHOWN).await else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for s in runs
        .iter()
        .filter(|s| s.driven && s.state == "running" && distributed.contains(&s.id))
    {
        let Ok(record) = app.record(&s.id).await else {
            continue;
        };
        let dag = app.dag_of(&record).await;
        let Ok(dag) = dag.as_ref() else { continue };
        if dag.len() != record.tasks.len() {
            continue;
        }
        for (i, t) in record.tasks.iter().enumerate() {
            if t.state != TaskState::Running {
                continue;
            }
            let Some(a) = t.attempts.last().filter(|a| a.ended_at.is_none()) else {
                continue;
            };
            let spec = dag.task(i);
            out.push(Placed {
                run: record.run_id.clone(),
                task: t.id.to_string(),
                lane: Lane::of(spec),
                kind: spec.kind.type_name(),
                worker: a.worker.as_deref().map(str::to_string),
            });
        }
    }
    out
}
