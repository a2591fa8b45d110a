//! What a long-lived dag process counts, served in Prometheus' text format
//! (version 0.0.4) for operators' dashboards and autoscalers: counters, gauges
//! and histograms by label, and a small HTTP server that answers `GET /metrics`.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::engine::runner::BoxFuture;

/// The upper bounds (seconds) of the histograms' buckets: from a noop task's
/// few milliseconds to a long job's hour.
pub const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0, 300.0, 3600.0,
];

/// The media type of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Label names and values of one series, in the order given.
type Labels = Vec<(&'static str, String)>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

#[derive(Clone, Debug)]
enum Value {
    Number(f64),
    Histogram {
        counts: [u64; BUCKETS.len()],
        sum: f64,
        count: u64,
    },
}

struct Family {
    help: &'static str,
    kind: Kind,
    series: BTreeMap<Labels, Value>,
}

/// The metrics of one process.
#[derive(Default)]
pub struct Registry {
    families: Mutex<BTreeMap<&'static str, Family>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    fn with(
        &self,
        name: &'static str,
        help: &'static str,
        kind: Kind,
        labels: &[(&'static str, &str)],
        f: impl FnOnce(&mut Value),
    ) {
        let Ok(mut families) = self.families.lock() else {
            return;
        };
        let family = families.entry(name).or_insert_with(|| Family {
            help,
            kind,
            series: BTreeMap::new(),
        });
        let labels: Labels = labels.iter().map(|(k, v)| (*k, v.to_string())).collect();
        let value = family.series.entry(labels).or_insert_with(|| match kind {
            Kind::Histogram => Value::Histogram {
                counts: [0; BUCKETS.len()],
                sum: 0.0,
                count: 0,
            },
            _ => Value::Number(0.0),
        });
        f(value);
    }

    /// Adds `by` to the counter `name` of `labels`.
    pub fn add(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &[(&'static str, &str)],
        by: f64,
    ) {
        self.with(name, help, Kind::Counter, labels, |v| {
            if let Value::Number(n) = v {
                *n += by;
            }
        });
    }

    /// Sets the counter `name` of `labels` to `total`, for a count kept
    /// elsewhere (it only grows there).
    pub fn count_to(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &[(&'static str, &str)],
        total: f64,
    ) {
        self.with(name, help, Kind::Counter, labels, |v| {
            *v = Value::Number(total)
        });
    }

    /// Sets the gauge `name` of `labels`.
    pub fn set(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &[(&'static str, &str)],
        to: f64,
    ) {
        self.with(name, help, Kind::Gauge, labels, |v| *v = Value::Number(to));
    }

    /// Sets the gauge `name` of `labels` to what `read` gives, read while the
    /// registry is locked: of writers racing to set a gauge from a value kept
    /// elsewhere (an atomic), the last one to set it read the latest value,
    /// where with [`Registry::set`] an earlier read could be set last and stay.
    pub fn set_now(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &[(&'static str, &str)],
        read: impl FnOnce() -> f64,
    ) {
        self.with(name, help, Kind::Gauge, labels, |v| {
            *v = Value::Number(read())
        });
    }

    /// Counts `took` in the histogram `name` of `labels`.
    pub fn observe(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &[(&'static str, &str)],
        took: Duration,
    ) {
        let secs = took.as_secs_f64();
        self.with(name, help, Kind::Histogram, labels, |v| {
            if let Value::Histogram { counts, sum, count } = v {
                for (i, bound) in BUCKETS.iter().enumerate() {
                    if secs <= *bound {
                        counts[i] += 1;
                    }
                }
                *sum += secs;
                *count += 1;
            }
        });
    }

    /// Forgets every series of `name` (gauges read afresh at each scrape: a
    /// queue gone is no longer shown).
    pub fn clear(&self, name: &'static str) {
        if let Ok(mut families) = self.families.lock()
            && let Some(f) = families.get_mut(name)
        {
            f.series.clear();
        }
    }

    /// Everything, in the text format.
    pub fn render(&self) -> String {
        let Ok(families) = self.families.lock() else {
            return String::new();
        };
        let mut out = String::new();
        for (name, family) in families.iter() {
            let _ = writeln!(out, "# HELP {name} {}", family.help);
            let _ = writeln!(out, "# TYPE {name} {}", family.kind.name());
            for (labels, value) in &family.series {
                match value {
                    Value::Number(n) => {
                        let _ = writeln!(out, "{name}{} {}", braces(labels, None), number(*n));
                    }
                    Value::Histogram { counts, sum, count } => {
                        for (bound, n) in BUCKETS.iter().zip(counts) {
                            let le = number(*bound);
                            let _ = writeln!(out, "{name}_bucket{} {n}", braces(labels, Some(&le)));
                        }
                        let _ =
                            writeln!(out, "{name}_bucket{} {count}", braces(labels, Some("+Inf")));
                        let _ =
                            writeln!(out, "{name}_sum{} {}", braces(labels, None), number(*sum));
                        let _ = writeln!(out, "{name}_count{} {count}", braces(labels, None));
                    }
                }
            }
        }
        out
    }
}

/// `{a="x",b="y"}` (with `le` last for a histogram bucket), or nothing.
fn braces(labels: &Labels, le: Option<&str>) -> String {
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

/// A label value as the format writes it: `\`, `"` and line feeds escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// Reads what is read afresh at each scrape (queue depths) into the registry
/// before it is rendered.
pub type Refresh = Arc<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;

/// The most connections served at once: a scraper needs one.
pub const MAX_CONNECTIONS: usize = 16;

/// Whether `addr` is a `HOST:PORT` to serve on (`[IPv6]:PORT` for IPv6; port 0
/// for any free one): what is not is the caller's usage error, saying why.
pub fn check_addr(addr: &str) -> Result<(), String> {
    let Some((host, port)) = addr.rsplit_once(':') else {
        return Err("no port: give HOST:PORT, e.g. 127.0.0.1:9090".into());
    };
    if host.is_empty() {
        return Err(
            "no host: give HOST:PORT, e.g. 127.0.0.1:9090 (0.0.0.0:PORT for every interface)"
                .into(),
        );
    }
    if port.parse::<u16>().is_err() {
        return Err(format!("`{port}` is no port (0 to 65535)"));
    }
    // What can never be bound is the caller's mistake too: a host that is no
    // IPv6 address in brackets, no IPv4 address, and no host name.
    if let Some(inner) = host.strip_prefix('[') {
        if inner
            .strip_suffix(']')
            .is_none_or(|v6| v6.parse::<std::net::Ipv6Addr>().is_err())
        {
            return Err(format!("`{host}` is no IPv6 address in brackets"));
        }
    } else if host.chars().all(|c| c.is_ascii_digit() || c == '.') {
        if host.parse::<std::net::Ipv4Addr>().is_err() {
            return Err(format!("`{host}` is no IPv4 address"));
        }
    } else if !host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_')
    {
        return Err(format!(
            "`{host}` is no host name (an IPv6 address goes in brackets: [::1]:9090)"
        ));
    }
    Ok(())
}

/// Binds `addr` for [`serve`]: an address in use is the caller's to report.
pub async fn bind(addr: &str) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

/// Answers `GET /metrics` (and `/`) on `listener` with `registry` in the text
/// format, after `refresh`, until the task serving it is dropped.
///
/// At most [`MAX_CONNECTIONS`] connections are served at once; a connection
/// coming when they are all open closes the oldest one, so that connections
/// that send nothing (or idle keep-alive ones) never keep a scraper out: each
/// is accepted at once, and at worst ends another (the oldest).
pub async fn serve(listener: tokio::net::TcpListener, registry: Arc<Registry>, refresh: Refresh) {
    use http_body_util::Full;
    use hyper::{Response, StatusCode};
    use tokio_util::sync::CancellationToken;
    // The open connections, oldest first; a token is cancelled once its
    // connection ends or is closed to make room.
    let mut open: std::collections::VecDeque<CancellationToken> = Default::default();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        open.retain(|c| !c.is_cancelled());
        if open.len() >= MAX_CONNECTIONS
            && let Some(oldest) = open.pop_front()
        {
            oldest.cancel();
        }
        let closed = CancellationToken::new();
        open.push_back(closed.clone());
        let (registry, refresh) = (registry.clone(), refresh.clone());
        tokio::spawn(async move {
            let _done = closed.clone().drop_guard();
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let (registry, refresh) = (registry.clone(), refresh.clone());
                    async move {
                        let path = req.uri().path();
                        let response = if req.method() != hyper::Method::GET {
                            Response::builder()
                                .status(StatusCode::METHOD_NOT_ALLOWED)
                                .body(Full::new(bytes::Bytes::from_static(b"only GET\n")))
                        } else if path == "/metrics" || path == "/" {
                            refresh().await;
                            Response::builder()
                                .header("content-type", CONTENT_TYPE)
                                .body(Full::new(bytes::Bytes::from(registry.render())))
                        } else {
                            Response::builder()
                                .status(StatusCode::NOT_FOUND)
                                .body(Full::new(bytes::Bytes::from_static(b"see /metrics\n")))
                        };
                        Ok::<_, Infallible>(response.unwrap_or_default())
                    }
                });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .max_buf_size(16 * 1024)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            // Dropping the connection closes it.
            tokio::select! {
                _ = connection => {}
                _ = closed.cancelled() => {}
            }
        });
    }
}

/// Counts the attempts a driver of runs (`dag run`, `dag scheduler`) hands to
/// `runners`, into `registry`: the `dag_scheduler_*` families. Each runner is
/// wrapped once, however many task types it serves.
pub fn counted(
    runners: &crate::engine::runner::Runners,
    registry: &Arc<Registry>,
) -> crate::engine::runner::Runners {
    type Pair = (
        Arc<dyn crate::engine::runner::TaskRunner>,
        Arc<dyn crate::engine::runner::TaskRunner>,
    );
    let made: Mutex<Vec<Pair>> = Mutex::default();
    let running = Arc::new(std::sync::atomic::AtomicI64::new(0));
    runners.map(|inner| {
        let Ok(mut made) = made.lock() else {
            return inner;
        };
        if let Some((_, wrapped)) = made.iter().find(|(i, _)| Arc::ptr_eq(i, &inner)) {
            return wrapped.clone();
        }
        let wrapped: Arc<dyn crate::engine::runner::TaskRunner> = Arc::new(Counted {
            inner: inner.clone(),
            registry: registry.clone(),
            running: running.clone(),
        });
        made.push((inner, wrapped.clone()));
        wrapped
    })
}

/// A runner counting the attempts it passes on (see [`counted`]).
struct Counted {
    inner: Arc<dyn crate::engine::runner::TaskRunner>,
    registry: Arc<Registry>,
    running: Arc<std::sync::atomic::AtomicI64>,
}

const RUNNING: &str = "dag_scheduler_running_tasks";
const RUNNING_HELP: &str = "Attempts this process handed out and waits for (queued or running).";

impl Counted {
    fn running(&self, by: i64) {
        use std::sync::atomic::Ordering;
        self.running.fetch_add(by, Ordering::SeqCst);
        self.registry.set_now(RUNNING, RUNNING_HELP, &[], || {
            self.running.load(Ordering::SeqCst) as f64
        });
    }
}

impl crate::engine::runner::TaskRunner for Counted {
    fn run(
        &self,
        mut ctx: crate::engine::runner::TaskContext,
    ) -> BoxFuture<'static, crate::engine::runner::Outcome> {
        use crate::engine::runner::Note;
        let task = ctx.task();
        let (kind, queue) = (task.kind.type_name(), task.queue.to_string());
        let labels = [("type", kind), ("queue", queue.as_str())];
        self.registry.add(
            "dag_scheduler_tasks_started_total",
            "Attempts this process handed out, by task type and queue.",
            &labels,
            1.0,
        );
        if ctx.attempt > 1 {
            self.registry.add(
                "dag_scheduler_tasks_retried_total",
                "Attempts after a task's first (retries), by task type and queue.",
                &labels,
                1.0,
            );
        }
        let began = std::time::Instant::now();
        if let Some(notes) = ctx.notes.take() {
            let (registry, queue) = (self.registry.clone(), queue.clone());
            let placed = std::sync::atomic::AtomicBool::new(false);
            ctx.notes = Some(Arc::new(move |note: Note| {
                if let Note::Placed { delivery, .. } = &note {
                    let labels = [("type", kind), ("queue", queue.as_str())];
                    if !placed.swap(true, std::sync::atomic::Ordering::SeqCst) {
                        registry.observe(
                            "dag_scheduler_queue_wait_seconds",
                            "Time from an attempt being handed out to a worker taking it, by task type and queue.",
                            &labels,
                            began.elapsed(),
                        );
                    }
                    if *delivery > 1 {
                        registry.add(
                            "dag_scheduler_tasks_redelivered_total",
                            "Attempts a worker took again after the worker that had them was lost (or handed them back).",
                            &labels,
                            1.0,
                        );
                    }
                }
                notes(note)
            }));
        }
        self.running(1);
        // Counted down when the attempt ends, or is dropped (its run stopped
        // being driven here), polled or not: the guard exists from the count up.
        struct Down(Counted);
        impl Drop for Down {
            fn drop(&mut self) {
                self.0.running(-1);
            }
        }
        let down = Down(Counted {
            inner: self.inner.clone(),
            registry: self.registry.clone(),
            running: self.running.clone(),
        });
        let attempt = self.inner.run(ctx);
        Box::pin(async move {
            let down = down;
            let me = &down.0;
            let outcome = attempt.await;
            let labels = [("type", kind), ("queue", queue.as_str())];
            me.registry.add(
                "dag_scheduler_tasks_finished_total",
                "Attempts that ended, by task type, queue and state (success, failed, cancelled, skipped).",
                &[
                    ("type", kind),
                    ("queue", queue.as_str()),
                    ("state", outcome.status.as_str()),
                ],
                1.0,
            );
            me.registry.observe(
                "dag_scheduler_task_duration_seconds",
                "Time from an attempt being handed out to its end, by task type and queue.",
                &labels,
                began.elapsed(),
            );
            outcome
        })
    }

    fn check(&self) -> BoxFuture<'static, Result<(), String>> {
        self.inner.check()
    }

    fn run_ended(&self, run_id: &str) -> BoxFuture<'static, ()> {
        self.inner.run_ended(run_id)
    }

    fn run_begins(
        &self,
        run_id: &str,
        stop: crate::engine::runner::StopSignal,
    ) -> BoxFuture<'static, ()> {
        self.inner.run_begins(run_id, stop)
    }

    fn run_left(&self, run_id: &str) -> BoxFuture<'static, ()> {
        self.inner.run_left(run_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_text_format() {
        let r = Registry::new();
        r.add(
            "dag_t_total",
            "Tasks.",
            &[("type", "bash"), ("queue", "q\"1")],
            1.0,
        );
        r.add(
            "dag_t_total",
            "Tasks.",
            &[("type", "bash"), ("queue", "q\"1")],
            2.0,
        );
        r.set("dag_g", "A gauge.", &[], 0.5);
        r.observe(
            "dag_h_seconds",
            "Took.",
            &[("type", "fn")],
            Duration::from_millis(20),
        );
        let text = r.render();
        assert!(
            text.contains(
                "# TYPE dag_t_total counter\ndag_t_total{type=\"bash\",queue=\"q\\\"1\"} 3\n"
            ),
            "{text}"
        );
        assert!(text.contains("dag_g 0.5\n"), "{text}");
        assert!(
            text.contains("dag_h_seconds_bucket{type=\"fn\",le=\"0.01\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("dag_h_seconds_bucket{type=\"fn\",le=\"0.025\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("dag_h_seconds_bucket{type=\"fn\",le=\"+Inf\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("dag_h_seconds_count{type=\"fn\"} 1\n"),
            "{text}"
        );
        r.clear("dag_g");
        assert!(!r.render().contains("dag_g 0.5"));
    }

    #[test]
    fn an_attempt_dropped_before_it_is_polled_is_counted_down() {
        use crate::engine::runner::{
            Outcome, Runners, StopSignal, TaskContext, TaskLog, TaskRunner,
        };
        use crate::engine::validate::{LoadOptions, load_str};
        struct Never;
        impl TaskRunner for Never {
            fn run(&self, _ctx: TaskContext) -> BoxFuture<'static, Outcome> {
                Box::pin(std::future::pending())
            }
        }
        let yaml = "name: m\ntasks:\n  t: { command: 'true' }\n";
        let dag = Arc::new(load_str("m.yaml", yaml, &LoadOptions::default()).unwrap());
        let ctx = TaskContext {
            dag,
            index: 0,
            run_id: "r".into(),
            attempt: 1,
            env: Vec::new(),
            workdir: None,
            timeout: Duration::from_secs(1),
            grace: Duration::from_millis(10),
            log: TaskLog::at(
                std::env::temp_dir().join(format!("dag-metrics-test-{}.log", std::process::id())),
            ),
            lines: None,
            stop: StopSignal::new(),
            resolved: None,
            upstream: Default::default(),
            output_cap: crate::engine::runner::MAX_OUTPUT_BYTES,
            unrunnable: None,
            notes: None,
            secret_params: Default::default(),
            adopted: None,
            no_cache: false,
            rerun: false,
            gpus: Vec::new(),
        };
        let registry = Arc::new(Registry::new());
        let runners = counted(&Runners::new().with("bash", Arc::new(Never)), &registry);
        let attempt = runners.get("bash").unwrap().run(ctx);
        assert!(
            registry
                .render()
                .contains("dag_scheduler_running_tasks 1\n")
        );
        // Its run stopped being driven before the attempt was ever polled.
        drop(attempt);
        let text = registry.render();
        assert!(text.contains("dag_scheduler_running_tasks 0\n"), "{text}");
    }

    #[test]
    fn checks_metrics_addresses() {
        for ok in [
            "127.0.0.1:9090",
            "localhost:0",
            "[::1]:9090",
            "0.0.0.0:65535",
        ] {
            assert_eq!(check_addr(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "9090",
            "127.0.0.1",
            ":9090",
            "127.0.0.1:99999",
            "h:x",
            "[::1:9090",
            "::1:9090",
            "256.1.1.1:80",
            "http://127.0.0.1:9",
            " 127.0.0.1:0",
        ] {
            assert!(check_addr(bad).is_err(), "{bad}");
        }
    }
}
