//! The HTTP side of `dag ui`: connections, access checks, routes, and the
//! server-sent event streams of live pages.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use super::request::{Req, encode, query_pairs};
use super::{App, Refusal, pages};
use crate::cli::exit::CliError;

/// Connections served at once; more wait to be accepted.
const MAX_CONNECTIONS: usize = 256;
/// Live streams (server-sent events) open at once; more are refused.
const MAX_STREAMS: usize = 64;
/// A request's headers must arrive within this.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest request body read (an action's form).
const MAX_BODY: usize = 4096;
/// How often a live page's data is read again.
pub const POLL: Duration = Duration::from_millis(700);
/// A comment on an idle stream this often, so a dead client is noticed.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// The cookie that keeps the token.
const COOKIE: &str = "dag_ui_token";
/// The header the page's script sends with every action; a form or a fetch from
/// another site cannot send it without the server's consent (CORS preflight).
pub const ACTION_HEADER: &str = "x-dag-ui";

/// What every answer carries: the page may load its own script, style and data,
/// nothing else, and may not be framed.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub type Body = BoxBody<Bytes, Infallible>;

/// Accepts connections until Ctrl-C or SIGTERM.
pub async fn serve(app: Arc<App>, listener: tokio::net::TcpListener) -> Result<(), CliError> {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let streams = Arc::new(tokio::sync::Semaphore::new(MAX_STREAMS));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| CliError::Infrastructure(format!("cannot watch signals: {e}")))?;
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return Ok(()),
            },
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = term.recv() => return Ok(()),
        };
        let (stream, _) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                // Out of file descriptors, or a connection reset before it was
                // taken: wait a little and go on.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = term.recv() => return Ok(()),
        };
        let _ = stream.set_nodelay(true);
        let (app, streams) = (app.clone(), streams.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let (app, streams) = (app.clone(), streams.clone());
                async move { Ok::<_, Infallible>(answer(app, streams, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(64 * 1024)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
            drop(permit);
        });
    }
}

async fn answer(
    app: Arc<App>,
    streams: Arc<tokio::sync::Semaphore>,
    req: Request<Incoming>,
) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let query = query_pairs(parts.uri.query().unwrap_or(""));
    if let Err(r) = check_host(&app, &parts.headers) {
        return refusal(r);
    }
    // The token, from the query: kept in a cookie, and the address shown without it.
    if let Some(token) = app.token.as_deref()
        && let Some((_, given)) = query.iter().find(|(k, _)| k == "token")
    {
        if !same(given, token) {
            return refusal(Refusal::new(401, "wrong token"));
        }
        let rest: Vec<String> = query
            .iter()
            .filter(|(k, _)| k != "token")
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        // Always a path of this server (`//host` would be another site).
        let path = format!("/{}", path.trim_start_matches('/'));
        let to = if rest.is_empty() {
            path
        } else {
            format!("{path}?{}", rest.join("&"))
        };
        let mut r = plain(StatusCode::SEE_OTHER, "");
        r.headers_mut().insert(
            header::LOCATION,
            HeaderValue::from_str(&to).unwrap_or(HeaderValue::from_static("/")),
        );
        if let Ok(v) = HeaderValue::from_str(&format!(
            "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
        )) {
            r.headers_mut().insert(header::SET_COOKIE, v);
        }
        return secured(r);
    }
    if let Some(token) = app.token.as_deref()
        && !carries(&parts.headers, token)
    {
        return refusal(Refusal::new(
            401,
            "this dag ui needs its token: open it once as /?token=TOKEN, or send `Authorization: Bearer TOKEN`",
        ));
    }
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(crate::engine::text::percent_decode)
        .collect();
    let req = Req {
        method: parts.method,
        segments,
        query,
        headers: parts.headers,
    };
    if req.method == Method::POST {
        if let Err(r) = check_action(&app, &req) {
            return refusal(r);
        }
        // The body (an action's fields) is small, and comes in time: a larger one
        // is refused, and one that never ends would hold its connection (and,
        // 256 of them, the server) for ever.
        let fields = match tokio::time::timeout(
            HEADER_TIMEOUT,
            http_body_util::Limited::new(body, MAX_BODY).collect(),
        )
        .await
        {
            Ok(Ok(b)) => query_pairs(&String::from_utf8_lossy(&b.to_bytes())),
            Ok(Err(_)) => return refusal(Refusal::new(413, "request body too large")),
            Err(_) => {
                return refusal(Refusal::new(408, "the request body did not arrive in time"));
            }
        };
        return match super::actions::act(&app, &req, fields).await {
            Ok(text) => secured(plain(StatusCode::OK, &text)),
            Err(r) => refusal(r),
        };
    }
    if req.method != Method::GET && req.method != Method::HEAD {
        return refusal(Refusal::new(405, "only GET and POST are served"));
    }
    let seg: Vec<&str> = req.segments.iter().map(String::as_str).collect();
    let result = match seg.as_slice() {
        ["assets", "ui.css"] => Ok(asset("text/css; charset=utf-8", pages::css())),
        ["assets", "ui.js"] => Ok(asset("text/javascript; charset=utf-8", pages::js())),
        [] => Ok(html(pages::runs_page(&app))),
        ["api", "runs"] => match streams.try_acquire_owned() {
            Ok(permit) => Ok(events(runs_stream(app.clone(), req.param("limit")), permit)),
            Err(_) => Err(Refusal::new(503, "too many live views open")),
        },
        ["runs", id] => pages::run_page(&app, id).await.map(html),
        ["runs", id, "body"] => pages::run_body(&app, id).await.map(html),
        ["runs", id, "events"] => match streams.try_acquire_owned() {
            Ok(permit) => Ok(events(run_stream(app.clone(), id.to_string()), permit)),
            Err(_) => Err(Refusal::new(503, "too many live views open")),
        },
        ["runs", id, "tasks", task] => pages::task_panel(&app, id, task, &req).await.map(html),
        ["runs", id, "tasks", task, "log"] => {
            pages::log_chunk(&app, id, task, &req)
                .await
                .map(|(text, next, running)| {
                    let mut r = plain(StatusCode::OK, &text);
                    r.headers_mut()
                        .insert("x-dag-next", HeaderValue::from(next));
                    r.headers_mut().insert(
                        "x-dag-running",
                        HeaderValue::from_static(if running { "1" } else { "0" }),
                    );
                    r
                })
        }
        ["dags", name] => super::dags::dag_page(&app, name, &req).await.map(html),
        ["workers"] => super::workers::workers_page(&app).await.map(html),
        ["metrics"] => super::workers::metrics(&app).await.map(|text| {
            let mut r = plain(StatusCode::OK, &text);
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
            );
            r
        }),
        _ => Err(Refusal::not_found("no such page")),
    };
    match result {
        Ok(r) => secured(r),
        Err(r) => refusal(r),
    }
}

/// Whether two strings are equal, in time that does not depend on where they
/// differ.
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether a request carries the token (a bearer header or the cookie).
fn carries(headers: &HeaderMap, token: &str) -> bool {
    let bearer = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.strip_prefix("Bearer "))
        .any(|t| same(t.trim(), token));
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('='))
        .any(|t| same(t, token));
    bearer || cookie
}

/// Without a token, only requests naming a loopback host are answered: a page of
/// another site whose name was made to point at 127.0.0.1 (DNS rebinding) names
/// its own host.
fn check_host(app: &App, headers: &HeaderMap) -> Result<(), Refusal> {
    if app.token.is_some() {
        return Ok(());
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let name = match host.rsplit_once(':') {
        Some((n, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !n.is_empty() => n,
        _ => host,
    };
    // An IPv6 address is written in brackets, an IPv4 one or a name without.
    let ip = match name.strip_prefix('[') {
        Some(rest) => rest
            .strip_suffix(']')
            .and_then(|a| a.parse::<std::net::Ipv6Addr>().ok())
            .map(std::net::IpAddr::V6),
        None => name
            .parse::<std::net::Ipv4Addr>()
            .ok()
            .map(std::net::IpAddr::V4),
    };
    let loopback = name.eq_ignore_ascii_case("localhost") || ip.is_some_and(|ip| ip.is_loopback());
    if loopback {
        Ok(())
    } else {
        Err(Refusal::new(
            403,
            format!(
                "this dag ui answers requests for 127.0.0.1 or localhost only (this one was for `{}`); bind another address with --token to serve it elsewhere",
                super::printable_id(host)
            ),
        ))
    }
}

/// An action must come from this server's own page: it carries the page's header,
/// and a browser's `Origin`, when sent, is this server.
fn check_action(app: &App, req: &Req) -> Result<(), Refusal> {
    if app.read_only {
        return Err(Refusal::new(
            403,
            "this dag ui is read-only (started with --read-only)",
        ));
    }
    if req.headers.get(ACTION_HEADER).is_none() {
        return Err(Refusal::new(
            403,
            format!("an action must carry the `{ACTION_HEADER}` header the page sends"),
        ));
    }
    if let Some(origin) = req.headers.get(header::ORIGIN) {
        let host = req
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let ours = origin
            .to_str()
            .ok()
            .and_then(|o| o.strip_prefix("http://"))
            .is_some_and(|o| o.eq_ignore_ascii_case(host));
        if !ours {
            return Err(Refusal::new(403, "an action from another site is refused"));
        }
    }
    Ok(())
}

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

fn plain(status: StatusCode, text: &str) -> Response<Body> {
    let mut r = Response::new(full(text.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn html(page: String) -> Response<Body> {
    let mut r = Response::new(full(page));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

fn asset(kind: &'static str, text: &'static str) -> Response<Body> {
    let mut r = Response::new(full(Bytes::from_static(text.as_bytes())));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    r
}

/// The headers of every answer.
fn secured(mut r: Response<Body>) -> Response<Body> {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

fn refusal(r: Refusal) -> Response<Body> {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut text = r.message;
    text.push('\n');
    secured(plain(status, &text))
}

/// A stream of server-sent events; `permit` is held while it is open.
fn events(
    rx: tokio::sync::mpsc::Receiver<String>,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> Response<Body> {
    let stream = futures_util::stream::unfold((rx, permit), |(mut rx, permit)| async move {
        let text = rx.recv().await?;
        Some((
            Ok::<_, Infallible>(Frame::data(Bytes::from(text))),
            (rx, permit),
        ))
    });
    let mut r = Response::new(StreamBody::new(stream).boxed());
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// One server-sent event.
fn event(name: &str, data: &str) -> String {
    // `data` is JSON or a token: one line.
    format!("event: {name}\ndata: {}\n\n", data.replace('\n', " "))
}

/// The runs page's stream: the newest runs' summaries (as JSON) whenever they
/// change.
fn runs_stream(app: Arc<App>, limit: Option<&str>) -> tokio::sync::mpsc::Receiver<String> {
    let limit = limit
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(pages::RUNS_SHOWN)
        .clamp(1, pages::MAX_RUNS_SHOWN);
    watch("runs", move || {
        let app = app.clone();
        async move {
            match app.summaries(limit).await {
                Ok(s) => serde_json::to_string(&s).unwrap_or_default(),
                Err(r) => serde_json::json!({ "error": r.message }).to_string(),
            }
        }
    })
}

/// A run page's stream: `change` with a fingerprint of the run whenever it
/// changes (the page then fetches its body again).
fn run_stream(app: Arc<App>, run_id: String) -> tokio::sync::mpsc::Receiver<String> {
    watch("change", move || {
        let (app, run_id) = (app.clone(), run_id.clone());
        async move {
            match app.record(&run_id).await {
                // Whether a process still drives it changes too.
                Ok(r) => format!(
                    "{}{}",
                    pages::fingerprint(&r),
                    if app.summary_of(&run_id).is_some_and(|s| s.interrupted) {
                        " interrupted"
                    } else {
                        ""
                    }
                ),
                Err(r) => serde_json::json!({ "error": r.message }).to_string(),
            }
        }
    })
}

/// Reads `read` every [`POLL`] until the client goes, sending event `name` with
/// what it read whenever that differs from the last (and a comment every
/// [`KEEP_ALIVE`] otherwise).
fn watch<F, Fut>(name: &'static str, read: F) -> tokio::sync::mpsc::Receiver<String>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = String> + Send,
{
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    tokio::spawn(async move {
        let mut last = None;
        let mut quiet = std::time::Instant::now();
        loop {
            let now = read().await;
            let msg = if last.as_ref() != Some(&now) {
                let msg = event(name, &now);
                last = Some(now);
                Some(msg)
            } else if quiet.elapsed() >= KEEP_ALIVE {
                Some(": still here\n\n".to_string())
            } else {
                None
            };
            if let Some(msg) = msg {
                quiet = std::time::Instant::now();
                if tx.send(msg).await.is_err() {
                    return;
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = tx.closed() => return,
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "abcd"));
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("x=1; dag_ui_token=secret-token-123"),
        );
        assert!(carries(&h, "secret-token-123"));
        assert!(!carries(&h, "secret-token-12"));
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer secret-token-123"),
        );
        assert!(carries(&h, "secret-token-123"));
    }
}
