//! The `http` task runner: one request per attempt through a client shared by every
//! task of the process (connections are reused), over rustls.
//!
//! 2xx and 3xx answers succeed (redirects are followed, up to 10); 4xx and 5xx fail
//! with the status and the start of the body. The status code is recorded as the
//! attempt's exit code. The request line, the response status, headers and body go to
//! the task log; the body is the task's `output` (`${{ tasks.ID.output }}`) when it
//! fits the 1 MiB output cap.

use std::error::Error as _;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue};

use crate::engine::expr::DEFAULT_OUTPUT;
use crate::engine::runner::{BoxFuture, Outcome, Outputs, TaskContext, TaskLog, TaskRunner};
use crate::engine::secrets::{Secrets, redact_url, redact_urls};
use crate::engine::spec::{HttpSpec, TaskKind};

/// Bytes of the response body written to the task log; the rest is counted only.
pub const LOG_BODY_CAP: usize = 1024 * 1024;

/// Bytes of an error response's body quoted in the task's error.
const ERROR_BODY_QUOTE: usize = 200;

/// Runs `http` tasks.
#[derive(Clone, Debug)]
pub struct HttpRunner {
    client: reqwest::Client,
}

impl HttpRunner {
    /// A runner with its own connection pool.
    pub fn new() -> Result<HttpRunner, String> {
        reqwest::Client::builder()
            .user_agent(concat!("dag/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map(|client| HttpRunner { client })
            .map_err(|e| format!("cannot set up the HTTP client: {e}"))
    }
}

impl TaskRunner for HttpRunner {
    fn run(&self, ctx: TaskContext) -> BoxFuture<'static, Outcome> {
        let client = self.client.clone();
        Box::pin(async move {
            let TaskKind::Http(spec) = &ctx.task().kind else {
                return Outcome::failed(None, "not an http task");
            };
            let spec = spec.clone();
            let limit = ctx.timeout;
            tokio::select! {
                outcome = request(&client, &spec, &ctx.log, ctx.output_cap) => outcome,
                _ = tokio::time::sleep(limit) => {
                    let msg = format!("timed out after {}", humantime::format_duration(limit));
                    ctx.log.line(&format!("dag: {msg}"));
                    Outcome::failed(None, msg)
                }
                _ = ctx.stop.graceful.cancelled() => Outcome::cancelled("cancelled"),
                _ = ctx.stop.hard.cancelled() => Outcome::cancelled("killed"),
            }
        })
    }
}

/// Headers whose values are credentials, hidden in logs: those a request sends and
/// the cookies a response sets.
fn is_credential(header: &str) -> bool {
    matches!(
        header.to_ascii_lowercase().as_str(),
        "authorization" | "proxy-authorization" | "cookie" | "set-cookie"
    )
}

/// Whether `body` is JSON, so that it is sent as `application/json`.
fn is_json(body: &str) -> bool {
    let t = body.trim_start();
    (t.starts_with('{') || t.starts_with('['))
        && serde_json::from_str::<serde::de::IgnoredAny>(body).is_ok()
}

async fn request(
    client: &reqwest::Client,
    spec: &HttpSpec,
    log: &TaskLog,
    output_cap: usize,
) -> Outcome {
    let method = match reqwest::Method::from_bytes(spec.method.as_bytes()) {
        Ok(m) => m,
        Err(_) => return Outcome::failed(None, format!("invalid HTTP method `{}`", spec.method)),
    };
    let mut request = client.request(method, &spec.url);
    let mut has_content_type = false;
    // Credentials in the URL stay out of logs, like `Authorization` headers.
    log.line(&format!("> {} {}", spec.method, redact_url(&spec.url)));
    for (name, value) in &spec.headers {
        let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) else {
            return Outcome::failed(None, format!("invalid header `{name}`"));
        };
        has_content_type |= n == CONTENT_TYPE;
        // Credentials stay out of logs.
        let shown = if is_credential(name) {
            "<hidden>"
        } else {
            value.as_str()
        };
        log.line(&format!("> {name}: {shown}"));
        request = request.header(n, v);
    }
    if let Some(body) = &spec.body {
        if !has_content_type && is_json(body) {
            request = request.header(CONTENT_TYPE, "application/json");
            log.line("> content-type: application/json");
        }
        log.line(&format!("> ({} bytes of body)", body.len()));
        request = request.body(body.clone());
    }
    let mut response = match request.send().await {
        Ok(r) => r,
        Err(e) => {
            let msg = describe(&e, &spec.url);
            log.line(&format!("dag: {msg}"));
            return Outcome::failed(None, msg);
        }
    };
    let status = response.status();
    log.line(&format!("< {:?} {status}", response.version()));
    for (name, value) in response.headers() {
        let shown = if is_credential(name.as_str()) {
            "<hidden>"
        } else {
            value.to_str().unwrap_or("<binary>")
        };
        log.line(&format!("< {name}: {shown}"));
    }
    log.line("");
    // Keep at most the output cap in memory; log up to the log cap; count the rest.
    let mut kept: Vec<u8> = Vec::new();
    let mut total: usize = 0;
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                // (A secret's length more, so one across the log's cut is
                // masked before the cut.)
                let room = (output_cap.max(LOG_BODY_CAP) + log.secrets().longest())
                    .saturating_sub(kept.len());
                kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
                total += chunk.len();
            }
            Ok(None) => break,
            Err(e) => {
                let msg = format!(
                    "reading the response body failed: {}",
                    describe(&e, &spec.url)
                );
                log.line(&format!("dag: {msg}"));
                return Outcome::failed(Some(i32::from(status.as_u16())), msg);
            }
        }
    }
    if let Ok(mut f) = log.file() {
        use std::io::Write;
        let shown = logged_body(&kept, log.secrets());
        let _ = f.write_all(&shown);
        if !shown.is_empty() && !shown.ends_with(b"\n") {
            let _ = f.write_all(b"\n");
        }
    }
    if total > LOG_BODY_CAP {
        log.line(&format!(
            "dag: the body is {total} bytes; this log keeps the first {LOG_BODY_CAP} bytes"
        ));
    }
    let code = Some(i32::from(status.as_u16()));
    if status.is_client_error() || status.is_server_error() {
        let quote = error_quote(&kept, log.secrets());
        let mut msg = format!("HTTP {status}");
        if !quote.is_empty() {
            msg.push_str(&format!(": {quote}"));
            if total > ERROR_BODY_QUOTE {
                msg.push('…');
            }
        }
        return Outcome::failed(code, msg);
    }
    let mut outputs = Outputs::new();
    if total <= output_cap {
        outputs.insert(
            DEFAULT_OUTPUT.to_string(),
            String::from_utf8_lossy(&kept).into_owned(),
        );
    } else {
        log.line(&format!(
            "dag: the body is not kept as the task's output: it is over the cap of {}",
            crate::engine::runner::describe_cap(output_cap)
        ));
    }
    Outcome::success(code).with_outputs(outputs)
}

/// The part of the body the log keeps, secrets masked before it is cut at
/// [`LOG_BODY_CAP`], so a secret across the cut cannot show in part.
fn logged_body(kept: &[u8], secrets: &Secrets) -> Vec<u8> {
    let mut masker = secrets.masker();
    let mut shown = masker.push(&kept[..kept.len().min(LOG_BODY_CAP + secrets.longest())]);
    shown.extend(masker.finish());
    shown.truncate(LOG_BODY_CAP);
    shown
}

/// The start of an error response's body, for the task's error: secrets are masked
/// before it is cut, so a secret across the cut cannot show in part.
fn error_quote(body: &[u8], secrets: &Secrets) -> String {
    let head =
        String::from_utf8_lossy(&body[..body.len().min(ERROR_BODY_QUOTE + secrets.longest())]);
    let masked = secrets.mask(&head);
    String::from_utf8_lossy(&masked.as_bytes()[..masked.len().min(ERROR_BODY_QUOTE)])
        .trim()
        .replace('\n', " ")
}

/// A message that names the cause: refused connection, unknown host, TLS, timeout.
/// User information in URLs (`user:pass@`) is masked: the task's URL as a whole
/// first (its password may hold a blank), then any URL the error quotes.
fn describe(e: &reqwest::Error, url: &str) -> String {
    redact_urls(&explain(e, url).replace(url, &redact_url(url)))
}

fn explain(e: &reqwest::Error, url: &str) -> String {
    let target = e
        .url()
        .and_then(|u| {
            u.host_str()
                .map(|h| format!("{h}:{}", u.port_or_known_default().unwrap_or(0)))
        })
        .unwrap_or_else(|| url.to_string());
    let mut chain = Vec::new();
    let mut source = e.source();
    let mut refused = false;
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            refused |= io.kind() == std::io::ErrorKind::ConnectionRefused;
        }
        chain.push(s.to_string());
        source = s.source();
    }
    let detail = chain.last().cloned().unwrap_or_else(|| e.to_string());
    let all = chain.join(": ").to_lowercase();
    if e.is_timeout() {
        format!("request to {target} timed out")
    } else if refused || all.contains("connection refused") {
        format!("connection refused by {target}")
    } else if all.contains("dns error")
        || all.contains("failed to lookup address")
        || all.contains("name or service not known")
    {
        format!("cannot resolve the host of {url}: {detail}")
    } else if all.contains("certificate") || all.contains("tls") || all.contains("handshake") {
        format!("TLS with {target} failed: {detail}")
    } else if e.is_connect() {
        format!("cannot connect to {target}: {detail}")
    } else if e.is_builder() {
        format!("invalid request to {url}: {detail}")
    } else {
        format!("request to {target} failed: {detail}")
    }
}

/// The longest a connection attempt may take; the whole request is bounded by the
/// task's timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

#[cfg(test)]
mod tests {
    use super::{ERROR_BODY_QUOTE, error_quote, is_json};

    #[test]
    fn issue_13_a_secret_across_the_error_quote_cut_does_not_show_in_part() {
        let secret = "s3cr3t-0123456789".to_string();
        let body = format!("{}{secret} tail", "x".repeat(ERROR_BODY_QUOTE - 6));
        let secrets = super::Secrets::new(std::slice::from_ref(&secret));
        let none = super::Secrets::default();
        let quote = error_quote(body.as_bytes(), &secrets);
        assert!(!quote.contains("s3cr3t"), "{quote}");
        assert!(quote.contains("xxx***"), "{quote}");
        assert_eq!(error_quote(b" plain\nbody ", &none), "plain body");
        assert!(super::is_credential("Set-Cookie") && !super::is_credential("Content-Type"));
        // The same at the log's cut.
        let mut body = vec![b'x'; super::LOG_BODY_CAP - 4];
        body.extend_from_slice(secret.as_bytes());
        let logged = super::logged_body(&body, &secrets);
        assert!(logged.ends_with(b"xxx***"));
        assert_eq!(super::logged_body(&body, &none).len(), super::LOG_BODY_CAP);
    }

    #[test]
    fn json_bodies_are_recognised() {
        assert!(is_json(r#"{"a": 1}"#));
        assert!(is_json("[1, 2]"));
        assert!(!is_json("a=1&b=2"));
        assert!(!is_json("{not json"));
        assert!(!is_json("42"));
    }
}
