//! A small HTTP/1.1 server on 127.0.0.1:0 for the http task tests: it records every
//! request and answers by path.
//!
//! - `/status/N`: status N (`/status/301` redirects to `/status/200`)
//! - `/echo`: 200 with a JSON document of the request (method, path, headers, body)
//! - `/slow`: waits 5 s, then 200
//! - `/flaky/KEY`: 503 twice for each KEY, then 200
//! - `/big`: 2 MiB of `x`

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: String,
}

pub struct Server {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<Request>>>,
}

impl Server {
    pub fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let flaky: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
        let recorded = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let recorded = recorded.clone();
                let flaky = flaky.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &recorded, &flaky);
                });
            }
        });
        Server { port, requests }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

fn serve(
    stream: TcpStream,
    recorded: &Mutex<Vec<Request>>,
    flaky: &Mutex<HashMap<String, u32>>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let mut headers = HashMap::new();
        loop {
            let mut h = String::new();
            reader.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        reader.read_exact(&mut body)?;
        let req = Request {
            method: method.clone(),
            path: path.clone(),
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        };
        recorded.lock().unwrap().push(req.clone());
        let (status, extra, body): (u16, Vec<(&str, String)>, Vec<u8>) =
            if let Some(code) = path.strip_prefix("/status/") {
                let code: u16 = code.parse().unwrap_or(400);
                if code == 301 {
                    (
                        301,
                        vec![("Location", "/status/200".to_string())],
                        b"moved".to_vec(),
                    )
                } else {
                    (code, vec![], format!("status {code} body").into_bytes())
                }
            } else if path == "/echo" {
                let doc = serde_json::json!({
                    "method": req.method,
                    "path": req.path,
                    "headers": req.headers,
                    "body": req.body,
                });
                (
                    200,
                    vec![("Content-Type", "application/json".to_string())],
                    doc.to_string().into_bytes(),
                )
            } else if path == "/slow" {
                std::thread::sleep(Duration::from_secs(5));
                (200, vec![], b"finally".to_vec())
            } else if let Some(key) = path.strip_prefix("/flaky/") {
                let mut f = flaky.lock().unwrap();
                let n = f.entry(key.to_string()).or_insert(0);
                *n += 1;
                if *n <= 2 {
                    (503, vec![], b"try again".to_vec())
                } else {
                    (200, vec![], format!("ok after {n}").into_bytes())
                }
            } else if path == "/big" {
                (200, vec![], vec![b'x'; 2 * 1024 * 1024])
            } else {
                (404, vec![], b"no such path".to_vec())
            };
        let reason = match status {
            200 => "OK",
            201 => "Created",
            301 => "Moved Permanently",
            404 => "Not Found",
            500 => "Internal Server Error",
            503 => "Service Unavailable",
            _ => "Status",
        };
        let mut head = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in extra {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        writer.write_all(head.as_bytes())?;
        if method != "HEAD" {
            writer.write_all(&body)?;
        }
        writer.flush()?;
    }
}
