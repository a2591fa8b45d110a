//! Secret values (`secret_env`): masked as `***` wherever task output, outputs and
//! errors go: logs, live output, progress, JSON, JUnit, run records, the NATS log
//! stream and task records.
//!
//! A secret that spans several lines (a PEM key) is matched line by line, as GitHub
//! Actions does: output is handled a line at a time (the `-v` stream, a log written
//! in pieces), so a multi-line value as a whole would seldom be seen in one piece.
//! Lines of fewer than [`MIN_LINE`] non-blank characters (`}`, `--`, an empty line)
//! are not masked: they carry next to nothing of the secret, and masking every `}`
//! of the output would make it unreadable.

use std::collections::BTreeMap;

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// The shortest line of a multi-line secret that is masked on its own.
pub const MIN_LINE: usize = 4;

/// What to look for: each secret, also without surrounding blanks; for a multi-line
/// secret, each of its lines that has at least [`MIN_LINE`] non-blank characters
/// (trimmed of surrounding blanks and `\r`), so the output shows one `***` per line
/// however it was cut into chunks. Longest first.
pub fn patterns(secrets: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        // A value read from a YAML block or a file often ends with a newline that
        // the shell drops when it prints it: the value without surrounding blanks
        // is a secret too, however short.
        let trimmed = s.trim();
        let lines: Vec<&str> = trimmed
            .split('\n')
            .map(str::trim)
            .filter(|l| l.chars().count() >= MIN_LINE)
            .collect();
        if trimmed.contains('\n') && !lines.is_empty() {
            out.extend(lines.into_iter().map(str::to_string));
        } else {
            out.push(s.clone());
            if !trimmed.is_empty() && trimmed != s {
                out.push(trimmed.to_string());
            }
        }
    }
    out.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    out.dedup();
    out
}

/// Replaces every occurrence of a secret (and of each line of a multi-line one) in
/// `text`.
pub fn mask(text: &str, secrets: &[String]) -> String {
    if secrets.is_empty() {
        return text.to_string();
    }
    let finder = Finder::new(patterns(secrets));
    let (masked, _) = finder.replace(text.as_bytes(), text.len());
    // Secrets are whole UTF-8 strings replaced by ASCII: the result is UTF-8 too.
    String::from_utf8(masked).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into())
}

/// `outputs` with secrets masked in keys and values: what a task publishes is stored,
/// shown and handed on masked, like its log.
pub fn mask_outputs(
    outputs: BTreeMap<String, String>,
    secrets: &[String],
) -> BTreeMap<String, String> {
    if secrets.is_empty() {
        return outputs;
    }
    outputs
        .into_iter()
        .map(|(k, v)| (mask(&k, secrets), mask(&v, secrets)))
        .collect()
}

/// `text` with the user information of every URL in it (`http://user:pass@host/`)
/// replaced by `***`, as for `Authorization` headers: for logs, errors and plans.
pub fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        // The authority ends at the path, query or fragment (or at a blank or a
        // quote, in free text), or at a `,` that starts the next URL of a list
        // (`nats://a@h1,nats://b@h2`).
        let mut end = tail
            .find(|c: char| matches!(c, '/' | '?' | '#' | '"' | '\'' | ')') || c.is_whitespace())
            .unwrap_or(tail.len());
        if let Some(comma) = tail[..end].rfind(',').filter(|&c| {
            let next = &tail[c + 1..];
            next.find("://").is_some_and(|s| {
                s > 0
                    && next[..s]
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
            })
        }) {
            end = comma;
        }
        match tail[..end].rfind('@') {
            Some(userinfo) => {
                out.push_str(MASK);
                out.push_str(&tail[userinfo..end]);
            }
            None => out.push_str(&tail[..end]),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Finds patterns in bytes, longest first at each position.
#[derive(Debug, Default)]
struct Finder {
    patterns: Vec<Vec<u8>>,
    /// Whether some pattern starts with this byte: most positions are skipped at once.
    first: Vec<bool>,
    longest: usize,
}

impl Finder {
    fn new(patterns: Vec<String>) -> Finder {
        let mut first = vec![false; 256];
        for p in &patterns {
            first[usize::from(p.as_bytes()[0])] = true;
        }
        Finder {
            longest: patterns.iter().map(String::len).max().unwrap_or(0),
            patterns: patterns.into_iter().map(String::into_bytes).collect(),
            first,
        }
    }

    /// Masks `bytes` from the start; a match is looked for only at positions before
    /// `stop` (and a position that is not the start of a UTF-8 character is never
    /// a stop). Returns the masked bytes and how many input bytes they stand for.
    fn replace(&self, bytes: &[u8], stop: usize) -> (Vec<u8>, usize) {
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if i >= stop && !is_continuation(bytes[i]) {
                break;
            }
            if self.first[usize::from(bytes[i])]
                && let Some(p) = self.patterns.iter().find(|p| bytes[i..].starts_with(p))
            {
                out.extend_from_slice(MASK.as_bytes());
                i += p.len();
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        (out, i)
    }
}

fn is_continuation(b: u8) -> bool {
    b & 0xC0 == 0x80
}

/// Masks a stream of output that arrives in arbitrary chunks: whole lines are
/// released, so a secret split between two chunks is still found. A line longer than
/// [`Masker::MAX_CARRY`] is released in pieces, each time holding back its last bytes
/// (one less than the longest secret), so that a secret straddling the cut is found
/// in the next piece; a cut never splits a UTF-8 character.
#[derive(Debug, Default)]
pub struct Masker {
    finder: Finder,
    carry: Vec<u8>,
}

impl Masker {
    /// The longest unfinished line held back.
    pub const MAX_CARRY: usize = 256 * 1024;

    /// A masker for `secrets` (empty ones are ignored).
    pub fn new(secrets: Vec<String>) -> Masker {
        Masker {
            finder: Finder::new(patterns(&secrets)),
            carry: Vec::new(),
        }
    }

    /// Whether there is anything to mask at all.
    pub fn is_active(&self) -> bool {
        !self.finder.patterns.is_empty()
    }

    /// Takes a chunk; returns what can be written now.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        if !self.is_active() {
            return chunk.to_vec();
        }
        self.carry.extend_from_slice(chunk);
        let (out, used) = match self.carry.iter().rposition(|&b| b == b'\n') {
            // Up to the end of the last whole line: a secret's line never spans a
            // line end.
            Some(nl) => self.finder.replace(&self.carry[..=nl], nl + 1),
            None if self.carry.len() > Self::MAX_CARRY => {
                let hold = self.finder.longest.saturating_sub(1).min(Self::MAX_CARRY);
                self.finder.replace(&self.carry, self.carry.len() - hold)
            }
            None => return Vec::new(),
        };
        self.carry.drain(..used);
        out
    }

    /// Everything still held back.
    pub fn finish(&mut self) -> Vec<u8> {
        let rest = std::mem::take(&mut self.carry);
        self.finder.replace(&rest, rest.len()).0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(secrets: &[&str], chunks: &[&[u8]]) -> String {
        let mut m = Masker::new(secrets.iter().map(|s| s.to_string()).collect());
        let mut out = Vec::new();
        for c in chunks {
            out.extend(m.push(c));
        }
        out.extend(m.finish());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn secrets_split_between_chunks_are_masked() {
        assert_eq!(
            stream(&["hunter2"], &[b"pass=hun", b"ter2 ok\nnext hunter", b"2"]),
            "pass=*** ok\nnext ***"
        );
        assert_eq!(mask("a hunter2 b", &["hunter2".into()]), "a *** b");
        let mut none = Masker::new(vec![String::new()]);
        assert_eq!(none.push(b"abc"), b"abc");
    }

    const PEM: &str = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\nAB==\n-----END PRIVATE KEY-----\n";

    #[test]
    fn issue_13_multi_line_secrets_are_masked_line_by_line() {
        // Printed whole, line by line, or one line in a sentence: no line shows.
        let whole = format!("key:\n{PEM}done\n");
        assert_eq!(
            mask(&whole, &[PEM.into()]),
            "key:\n***\n***\n***\n***\n***\ndone\n"
        );
        let lines: Vec<&[u8]> = PEM.split_inclusive('\n').map(str::as_bytes).collect();
        let out = stream(&[PEM], &lines);
        assert_eq!(out, "***\n***\n***\n***\n***\n");
        assert_eq!(
            mask(
                "the body is BKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj.",
                &[PEM.into()]
            ),
            "the body is ***."
        );
        // Short lines are not secrets of their own.
        let p = patterns(&["{\n  \"k\": \"s3cr3t-value\"\n}\n".into()]);
        assert!(p.iter().all(|l| l.len() >= MIN_LINE), "{p:?}");
        assert!(p.contains(&"\"k\": \"s3cr3t-value\"".to_string()), "{p:?}");
        assert_eq!(mask("{ } ok", &["{\n}".into()]), "{ } ok");
        // Unless no line is long enough: then the value is one secret.
        assert_eq!(mask("a ab\ncd b", &["ab\ncd".into()]), "a *** b");
        // A short value with a trailing newline (a YAML block) is found without it.
        assert_eq!(mask("pin=abc.", &["abc\n".into()]), "pin=***.");
    }

    #[test]
    fn issue_13_secrets_straddling_a_long_line_cut_are_masked() {
        // Progress output: one line far longer than the carry, the secret across
        // every possible cut, and a multi-byte character at the cut.
        let secret = "tok-0123456789abcdef";
        let cut = Masker::MAX_CARRY + 4096 - (secret.len() - 1);
        for before in cut - secret.len() - 2..cut + 2 {
            let line = format!("{}{}", "a".repeat(before % 2), "é".repeat(before / 2));
            let text = format!("{line}{secret}\rmore {secret} end");
            let chunks: Vec<&[u8]> = text.as_bytes().chunks(4096).collect();
            let out = stream(&[secret], &chunks);
            assert_eq!(out, text.replace(secret, MASK), "{before} bytes before");
        }
        // A long line without secrets still comes out in bounded pieces.
        let mut m = Masker::new(vec!["x".repeat(10)]);
        let first = m.push(&vec![b'a'; Masker::MAX_CARRY + 100]);
        assert_eq!(first.len(), Masker::MAX_CARRY + 100 - 9);
    }

    #[test]
    fn issue_13_outputs_and_urls_are_masked() {
        let outputs = BTreeMap::from([("tok".to_string(), "tok=hunter2".to_string())]);
        assert_eq!(mask_outputs(outputs, &["hunter2".into()])["tok"], "tok=***");
        assert_eq!(
            redact_urls("GET http://user:pa%40ss@host:8080/p?q=a@b x"),
            "GET http://***@host:8080/p?q=a@b x"
        );
        assert_eq!(
            redact_urls("error sending request for url (https://tok@h/)"),
            "error sending request for url (https://***@h/)"
        );
        assert_eq!(redact_urls("http://host/a@b"), "http://host/a@b");
        assert_eq!(
            redact_urls("nats://a:b@h1:1,nats://tok@h2:2,nats://h3"),
            "nats://***@h1:1,nats://***@h2:2,nats://h3"
        );
        assert_eq!(redact_urls("no url: a@b"), "no url: a@b");
    }
}
