//! A request as the page handlers see it (method, decoded path and query,
//! headers), and the percent-encoding of what pages put back into addresses.
//!
//! The handlers (`actions`, `dags`, `pages`, `workers`) and the server that routes
//! to them all use these; kept apart from `server` so that no handler imports the
//! module that imports it.

use hyper::Method;
use hyper::header::HeaderMap;

/// A request as the handlers see it.
pub struct Req {
    pub method: Method,
    /// The path's segments, percent-decoded.
    pub segments: Vec<String>,
    /// The query's pairs, percent-decoded.
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
}

impl Req {
    /// The value of query parameter `name`, if given.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Splits `a=1&b=x%20y` into decoded pairs (`+` is a space, as forms send it).
pub fn query_pairs(q: &str) -> Vec<(String, String)> {
    let decode = |s: &str| crate::engine::text::percent_decode(&s.replace('+', " "));
    q.split('&')
        .filter(|p| !p.is_empty())
        .take(32)
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

/// `s` with everything but unreserved characters percent-encoded.
pub fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_decode() {
        assert_eq!(
            query_pairs("a=1&b=x%20y+z&&c"),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y z".into()),
                ("c".into(), String::new())
            ]
        );
        assert_eq!(encode("a b/é"), "a%20b%2F%C3%A9");
    }
}
