//! A real browser for the tests of dag's pages: headless Chromium driven through
//! chromedriver's W3C WebDriver protocol (plain HTTP and JSON, spoken here over a
//! `TcpStream`). Every request the browser makes to the network goes through a
//! proxy of the test's own that only counts connections: a page that loads
//! nothing has a count of zero.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::wait_for;

/// Where the tests leave screenshots (the README shows some).
pub fn screenshot_path(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// A browser session; the driver and the browser end when it is dropped.
pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
    /// What the browser asked of the network (through the proxy): the first line
    /// of each request.
    pub fetches: Arc<std::sync::Mutex<Vec<String>>>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Where Chromium is, if anywhere.
fn chromium() -> Option<&'static str> {
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session, or returns `None`
    /// (outside CI) when either is missing; in CI a missing browser fails.
    pub fn start() -> Option<Browser> {
        Browser::start_with(true)
    }

    /// As [`Browser::start`], for pages served on loopback (`dag ui`): only
    /// requests to other hosts go to the counting proxy.
    pub fn start_serving_loopback() -> Option<Browser> {
        Browser::start_with(false)
    }

    fn start_with(loopback_too: bool) -> Option<Browser> {
        let binary = chromium();
        let driver_found = Command::new("chromedriver")
            .arg("--version")
            .output()
            .is_ok();
        let Some(binary) = binary.filter(|_| driver_found) else {
            if std::env::var_os("CI").is_some() {
                panic!(
                    "these tests need Chromium and chromedriver (Debian's chromium and chromium-driver; scripts/test.sh installs them), and CI is set"
                );
            }
            eprintln!("no chromium/chromedriver: browser tests not run");
            return None;
        };
        // The proxy: counts every connection and answers none.
        let proxy = TcpListener::bind("127.0.0.1:0").unwrap();
        let proxy_port = proxy.local_addr().unwrap().port();
        let fetches = Arc::new(std::sync::Mutex::new(Vec::new()));
        {
            let fetches = fetches.clone();
            std::thread::spawn(move || {
                for conn in proxy.incoming() {
                    let Ok(mut conn) = conn else { continue };
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
                    let mut buf = [0u8; 512];
                    let n = conn.read(&mut buf).unwrap_or(0);
                    let line = String::from_utf8_lossy(&buf[..n])
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    fetches.lock().unwrap().push(line);
                }
            });
        }
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        assert!(
            wait_for(Duration::from_secs(20), || TcpStream::connect((
                "127.0.0.1",
                port
            ))
            .is_ok()),
            "chromedriver did not come up"
        );
        let mut browser = Browser {
            driver,
            port,
            session: String::new(),
            fetches,
        };
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": binary,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage", "--window-size=1300,1000",
                    "--no-first-run", "--disable-extensions",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--disable-default-apps",
                    format!("--proxy-server=http://127.0.0.1:{proxy_port}"),
                    // Loopback too goes through the proxy (unless a page of the
                    // test is served there).
                    if loopback_too { "--proxy-bypass-list=<-loopback>" } else { "--proxy-bypass-list=<local>" },
                ]
            }
        }}});
        let answer = browser.call("POST", "/session", Some(caps));
        browser.session = answer["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {answer}"))
            .to_string();
        Some(browser)
    }

    /// One WebDriver command; returns its `value`.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        // The driver keeps the connection open: read the head, then as many
        // bytes as it says (or chunks, or to the end).
        let mut raw = Vec::new();
        let mut buf = [0u8; 8192];
        let head_end = loop {
            if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let n = stream.read(&mut buf).unwrap();
            assert!(
                n > 0,
                "chromedriver closed the connection: {}",
                String::from_utf8_lossy(&raw)
            );
            raw.extend_from_slice(&buf[..n]);
        };
        let head = String::from_utf8_lossy(&raw[..head_end]).to_ascii_lowercase();
        let length = head.lines().find_map(|l| {
            l.strip_prefix("content-length:")
                .and_then(|v| v.trim().parse::<usize>().ok())
        });
        let chunked = head.contains("transfer-encoding: chunked");
        loop {
            let body = &raw[head_end..];
            let done = match length {
                Some(n) => body.len() >= n,
                None if chunked => body.windows(5).any(|w| w == b"0\r\n\r\n"),
                None => false,
            };
            if done {
                break;
            }
            let n = stream.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            raw.extend_from_slice(&buf[..n]);
        }
        let body = String::from_utf8_lossy(&raw[head_end..]).into_owned();
        let rest = if chunked { dechunk(&body) } else { body };
        let head = head.lines().next().unwrap_or_default().to_string();
        let doc: Value = serde_json::from_str(&rest)
            .unwrap_or_else(|e| panic!("chromedriver answered {head} / {rest}: {e}"));
        let value = doc.get("value").cloned().unwrap_or(Value::Null);
        // Errors come with a status other than 200 (a script's result may well
        // hold an `error` key of its own).
        if !head.starts_with("http/1.1 200") {
            panic!(
                "WebDriver {method} {path}: {head}: {}: {}",
                value["error"], value["message"]
            );
        }
        value
    }

    fn session_path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    /// Opens `url` and waits for it to load.
    pub fn goto(&self, url: &str) {
        self.call(
            "POST",
            &self.session_path("/url"),
            Some(json!({"url": url})),
        );
    }

    /// Runs `script` (a function body: `return ...`) in the page; returns its value.
    pub fn eval(&self, script: &str) -> Value {
        self.call(
            "POST",
            &self.session_path("/execute/sync"),
            Some(json!({"script": script, "args": []})),
        )
    }

    /// Clicks the first element matching the CSS `selector`.
    pub fn click(&self, selector: &str) {
        let el = self.call(
            "POST",
            &self.session_path("/element"),
            Some(json!({"using": "css selector", "value": selector})),
        );
        let id = el
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {selector}"))
            .to_string();
        self.call(
            "POST",
            &self.session_path(&format!("/element/{id}/click")),
            Some(json!({})),
        );
    }

    /// What the open page fetched or tried to: the requests the proxy saw,
    /// without Chromium's own calls home (its update, time and account services
    /// at Google, made whatever the page), the resources the page loaded
    /// (`performance` entries), and every `src`/`href` in its DOM that points
    /// anywhere but into the page itself or a `data:` URL.
    pub fn page_fetches(&self) -> Vec<String> {
        let own = |line: &str| {
            let host = line
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .trim_start_matches("http://")
                .trim_start_matches("https://");
            let host = host.split(['/', ':']).next().unwrap_or_default();
            ["google.com", "googleapis.com", "gvt1.com", "gstatic.com"]
                .iter()
                .any(|d| host == *d || host.ends_with(&format!(".{d}")))
        };
        let mut out: Vec<String> = self
            .fetches
            .lock()
            .unwrap()
            .iter()
            .filter(|l| !own(l))
            .cloned()
            .collect();
        let page = self.eval(
            "const links = Array.from(document.querySelectorAll('*')).flatMap(e =>
               ['src', 'href', 'xlink:href', 'action', 'poster', 'data']
                 .map(a => e.getAttribute(a)).filter(v => v !== null));
             return performance.getEntriesByType('resource').map(r => 'loaded ' + r.name)
               .concat(links.filter(v => !v.startsWith('#') && !v.startsWith('data:')).map(v => 'links ' + v));",
        );
        out.extend(
            page.as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string)),
        );
        out
    }

    /// Saves a PNG screenshot of the window at `path`.
    pub fn screenshot(&self, path: &std::path::Path) {
        let b64 = self.call("GET", &self.session_path("/screenshot"), None);
        let bytes = data_encoding::BASE64
            .decode(b64.as_str().unwrap_or_default().as_bytes())
            .unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

/// The body of a chunked HTTP/1.1 answer.
pub fn dechunk(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let path = self.session_path("");
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.call("DELETE", &path, None)
            }));
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
