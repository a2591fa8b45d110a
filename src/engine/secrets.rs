//! Secret values (`secret_env`): masked as `***` wherever task output, outputs and
//! errors go: logs, live output, progress, JSON, JUnit, run records, the NATS log
//! stream and task records.
//!
//! A secret that spans several lines (a PEM key) is matched line by line, as GitHub
//! Actions does: output is handled a line at a time (the `-v` stream, a log written
//! in pieces), so a multi-line value as a whole would seldom be seen in one piece.
//! Lines of fewer than [`MIN_LINE`] non-blank characters (`}`, `--`, an empty line)
//! are not masked: they carry next to nothing of the secret, and masking every `}`
//! of the output would make it unreadable — unless no line of the value is longer:
//! then every line is masked.
//!
//! The values of a task are turned once into a [`Secrets`] matcher (Aho-Corasick,
//! leftmost-longest), shared by its log, its output stream, its outputs and its
//! error: masking costs time linear in the text, however many lines the secrets
//! have.

use std::collections::BTreeMap;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, MatchKind};

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// The shortest line of a multi-line secret that is masked on its own.
pub const MIN_LINE: usize = 4;

/// What to look for: each secret, also without surrounding blanks; for a multi-line
/// secret, each of its lines that has at least [`MIN_LINE`] non-blank characters
/// (trimmed of surrounding blanks and `\r`), or every non-blank line when none has,
/// so the output shows one `***` per line however it was cut into chunks. Longest
/// first.
pub fn patterns(secrets: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        // A value read from a YAML block or a file often ends with a newline that
        // the shell drops when it prints it: the value without surrounding blanks
        // is a secret too, however short.
        let trimmed = s.trim();
        if trimmed.contains('\n') {
            let lines: Vec<&str> = trimmed
                .split('\n')
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            let long: Vec<&str> = lines
                .iter()
                .copied()
                .filter(|l| l.chars().count() >= MIN_LINE)
                .collect();
            // Output is often written a line at a time (bash line-buffers it): a
            // value whose lines are all short is masked line by line too.
            let chosen = if long.is_empty() { lines } else { long };
            out.extend(chosen.into_iter().map(str::to_string));
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

/// `values` (a task's secret values) with the values of the `params` that are
/// secret too: a parameter that holds a secret, or that is part of one
/// (`TOKEN: "Bearer ${{ params.tok }}"`) and has at least [`MIN_LINE`] characters.
/// The scheduler and a worker apply the same rule, so a secret passed as `--param`
/// is masked in the task's output as in what shows the run.
pub fn with_secret_params(mut values: Vec<String>, params: &[(String, String)]) -> Vec<String> {
    let found = secret_params(params, &values);
    values.extend(found.into_iter().map(|(_, v)| v.clone()));
    values
}

/// What an attempt masks: its task's secret `values`, the `params` that hold or
/// are part of one of them ([`with_secret_params`]), and the params the run holds
/// secret (`run_secret`, by name: a param part of any task's secret is masked in
/// every task's output, not only in that task's).
pub fn attempt_secrets(
    values: Vec<String>,
    params: &[(String, String)],
    run_secret: &[String],
) -> Vec<String> {
    let mut values = with_secret_params(values, params);
    values.extend(
        params
            .iter()
            .filter(|(k, _)| run_secret.contains(k))
            .map(|(_, v)| v.clone()),
    );
    values
}

/// The `params` that are secret given the secret `values` (see
/// [`with_secret_params`]).
pub fn secret_params<'a>(
    params: &'a [(String, String)],
    values: &[String],
) -> Vec<&'a (String, String)> {
    if values.is_empty() {
        return Vec::new();
    }
    // Each test is linear in the sizes involved.
    let secrets = Secrets::new(values);
    params
        .iter()
        .filter(|(_, v)| {
            (v.trim().chars().count() >= MIN_LINE && values.iter().any(|s| s.contains(v.trim())))
                || secrets.is_found_in(v)
        })
        .collect()
}

/// The secret values of a task, ready to be found: built once (per attempt) and
/// shared by everything that masks that attempt's text. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Secrets {
    finder: Option<Arc<Finder>>,
}

impl Secrets {
    /// A matcher for `values` (empty ones are ignored): time linear in their size.
    pub fn new(values: &[String]) -> Secrets {
        let patterns = patterns(values);
        if patterns.is_empty() {
            return Secrets::default();
        }
        Secrets {
            finder: Finder::new(&patterns).map(Arc::new),
        }
    }

    /// Whether there is anything to mask at all.
    pub fn is_empty(&self) -> bool {
        self.finder.is_none()
    }

    /// The length in bytes of the longest thing masked (0 without secrets).
    pub fn longest(&self) -> usize {
        self.finder.as_ref().map_or(0, |f| f.longest)
    }

    /// Whether `text` holds a secret (or a line of a multi-line one).
    pub fn is_found_in(&self, text: &str) -> bool {
        self.finder
            .as_ref()
            .is_some_and(|f| f.matcher.is_match(text.as_bytes()))
    }

    /// `text` with every occurrence of a secret (and of each line of a multi-line
    /// one) replaced by [`MASK`].
    pub fn mask(&self, text: &str) -> String {
        let Some(finder) = &self.finder else {
            return text.to_string();
        };
        let (masked, _) = finder.replace(text.as_bytes(), text.len());
        // Secrets are whole UTF-8 strings replaced by ASCII: the result is UTF-8 too.
        String::from_utf8(masked).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into())
    }

    /// `outputs` with secrets masked in keys and values: what a task publishes is
    /// stored, shown and handed on masked, like its log.
    pub fn mask_outputs(&self, outputs: BTreeMap<String, String>) -> BTreeMap<String, String> {
        if self.is_empty() {
            return outputs;
        }
        outputs
            .into_iter()
            .map(|(k, v)| (self.mask(&k), self.mask(&v)))
            .collect()
    }

    /// A masker for a stream of output.
    pub fn masker(&self) -> Masker {
        Masker {
            finder: self.finder.clone(),
            carry: Vec::new(),
        }
    }
}

/// `url` (a whole URL, as a task gives it) with everything between `scheme://`
/// and its last `@` replaced by `***`: a password holding `/ ? #` or a blank,
/// which a URL should escape but a DAG file may not, is masked whole.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://{MASK}{}", &url[..scheme], &url[at..])
        }
        _ => url.to_string(),
    }
}

/// `text` with the user information of every URL in it (`http://user:pass@host/`)
/// replaced by `***`, as for `Authorization` headers: for logs, errors and plans.
///
/// A URL runs from its `scheme://` to the next blank (or the next `scheme://`,
/// as in `nats://a@h1,nats://b@h2`), and when it holds an `@`, everything up to
/// its last `@` is taken for user information, even past a `/`, `?` or `#` (a
/// password that should have been escaped): a query's `a@b` is masked too, on
/// the safe side. A password holding a blank can only be masked where the URL is
/// known whole ([`redact_url`]).
pub fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let mut end = tail.find(char::is_whitespace).unwrap_or(tail.len());
        // The next URL of a list or of a query starts at its scheme.
        if let Some(next) = tail[..end].find("://") {
            let scheme = tail[..next]
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || "+.-".contains(c)))
                .map_or(0, |i| i + 1);
            if scheme < next {
                end = scheme;
            }
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

/// Finds patterns in bytes in one pass, the longest at the leftmost position.
#[derive(Debug)]
struct Finder {
    matcher: AhoCorasick,
    longest: usize,
}

impl Finder {
    /// `None` only if the automaton would have more than 2^31 states, one per
    /// byte of the patterns at most: secret values come from the environment (a
    /// few MiB at most), the DAG file (256 MiB cap) and outputs (32 MiB cap).
    fn new(patterns: &[String]) -> Option<Finder> {
        let matcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(patterns)
            .ok()?;
        Some(Finder {
            matcher,
            longest: patterns.iter().map(String::len).max().unwrap_or(0),
        })
    }

    /// Masks `bytes` from the start; a match is looked for only at positions before
    /// `stop` (and a position that is not the start of a UTF-8 character is never
    /// a stop). Returns the masked bytes and how many input bytes they stand for.
    fn replace(&self, bytes: &[u8], stop: usize) -> (Vec<u8>, usize) {
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        for m in self.matcher.find_iter(bytes) {
            if m.start() >= stop {
                break;
            }
            out.extend_from_slice(&bytes[i..m.start()]);
            out.extend_from_slice(MASK.as_bytes());
            i = m.end();
        }
        let mut end = i.max(stop).min(bytes.len());
        while end < bytes.len() && is_continuation(bytes[end]) {
            end += 1;
        }
        out.extend_from_slice(&bytes[i..end]);
        (out, end)
    }
}

fn is_continuation(b: u8) -> bool {
    b & 0xC0 == 0x80
}

/// Masks a stream of output that arrives in arbitrary chunks: whole lines are
/// released, so a secret split between two chunks is still found. A line longer than
/// [`Masker::MAX_CARRY`] is released in pieces, each time holding back its last bytes
/// (one less than the longest secret), so that a secret straddling the cut is found
/// in the next piece; a cut never splits a UTF-8 character. Made by
/// [`Secrets::masker`].
#[derive(Debug, Default)]
pub struct Masker {
    finder: Option<Arc<Finder>>,
    carry: Vec<u8>,
}

impl Masker {
    /// The longest unfinished line held back.
    pub const MAX_CARRY: usize = 256 * 1024;

    /// Whether there is anything to mask at all.
    pub fn is_active(&self) -> bool {
        self.finder.is_some()
    }

    /// Takes a chunk; returns what can be written now.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        let Some(finder) = &self.finder else {
            return chunk.to_vec();
        };
        // What is held back never has a line end: only the new chunk is searched.
        let held = self.carry.len();
        self.carry.extend_from_slice(chunk);
        let (out, used) = match chunk.iter().rposition(|&b| b == b'\n') {
            // Up to the end of the last whole line: a secret's line never spans a
            // line end.
            Some(nl) => finder.replace(&self.carry[..=held + nl], held + nl + 1),
            None if self.carry.len() > Self::MAX_CARRY => {
                let hold = finder.longest.saturating_sub(1).min(Self::MAX_CARRY);
                finder.replace(&self.carry, self.carry.len() - hold)
            }
            None => return Vec::new(),
        };
        self.carry.drain(..used);
        out
    }

    /// Everything still held back.
    pub fn finish(&mut self) -> Vec<u8> {
        let rest = std::mem::take(&mut self.carry);
        match &self.finder {
            Some(finder) => finder.replace(&rest, rest.len()).0,
            None => rest,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(values: &[&str]) -> Secrets {
        Secrets::new(&values.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    fn mask(text: &str, values: &[String]) -> String {
        Secrets::new(values).mask(text)
    }

    fn stream(values: &[&str], chunks: &[&[u8]]) -> String {
        let mut m = secrets(values).masker();
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
        let mut none = secrets(&[""]).masker();
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
        assert_eq!(mask("{ } ok", &["{\n long-line\n}".into()]), "{ } ok");
        // Unless no line is long enough: then every line is masked.
        assert_eq!(mask("a ab\ncd b", &["ab\ncd".into()]), "a ***\n*** b");
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
        let mut m = secrets(&[&"x".repeat(10)]).masker();
        let first = m.push(&vec![b'a'; Masker::MAX_CARRY + 100]);
        assert_eq!(first.len(), Masker::MAX_CARRY + 100 - 9);
    }

    #[test]
    fn issue_13_outputs_and_urls_are_masked() {
        let outputs = BTreeMap::from([("tok".to_string(), "tok=hunter2".to_string())]);
        assert_eq!(
            secrets(&["hunter2"]).mask_outputs(outputs)["tok"],
            "tok=***"
        );
        assert_eq!(
            redact_urls("GET http://user:pa%40ss@host:8080/p x"),
            "GET http://***@host:8080/p x"
        );
        assert_eq!(
            redact_urls("error sending request for url (https://tok@h/)"),
            "error sending request for url (https://***@h/)"
        );
        // An `@` in a path or query is taken for the end of user information: the
        // safe side (see `redact_urls`).
        assert_eq!(redact_urls("http://host/a@b"), "http://***@b");
        assert_eq!(redact_urls("http://host/a b@c"), "http://host/a b@c");
        assert_eq!(
            redact_urls("nats://a:b@h1:1,nats://tok@h2:2,nats://h3"),
            "nats://***@h1:1,nats://***@h2:2,nats://h3"
        );
        assert_eq!(redact_urls("no url: a@b"), "no url: a@b");
    }

    #[test]
    fn issue_13_short_lined_secrets_are_masked_when_printed_line_by_line() {
        // bash line-buffers its output: each line of the value comes alone.
        let pin = "9a7\nq2x";
        assert_eq!(stream(&[pin], &[b"9a7\n", b"q2x\n"]), "***\n***\n");
        assert_eq!(mask("pin 9a7\nq2x.", &[pin.into()]), "pin ***\n***.");
        // With a long line beside them, short lines stay readable.
        assert_eq!(mask("q2x", &["q2x\nlong-line".into()]), "q2x");
    }

    /// The four URLs of the attack report: a password with `/`, `#`, `?` or a
    /// blank that the DAG file did not escape.
    pub(crate) const UNESCAPED: [(&str, &str); 4] = [
        ("http://user:Zm9v/YmFy+PASS1==@127.0.0.1:1/path", "PASS1"),
        ("http://user:s3cr#PASS2@127.0.0.1:1/path", "PASS2"),
        ("http://user:ab?PASS3@127.0.0.1:1/path", "PASS3"),
        ("http://user:PASS4 x@127.0.0.1:1/path", "PASS4"),
    ];

    #[test]
    fn issue_13_unescaped_url_passwords_are_masked() {
        for (url, pass) in UNESCAPED {
            let whole = redact_url(url);
            assert_eq!(whole, "http://***@127.0.0.1:1/path", "{url}");
            let text = format!("GET {} (connection refused)", whole);
            assert!(!redact_urls(&text).contains(pass), "{text}");
            if !url.contains(' ') {
                let text = format!("error sending request for url ({url}): refused");
                let red = redact_urls(&text);
                assert!(!red.contains(pass) && !red.contains("user"), "{red}");
                assert!(red.ends_with("@127.0.0.1:1/path): refused"), "{red}");
            }
        }
        assert_eq!(redact_url("http://host/p"), "http://host/p");
        assert_eq!(
            redact_urls("see http://h/?next=https://tok@x/ now"),
            "see http://h/?next=https://***@x/ now"
        );
    }

    #[test]
    fn issue_13_masking_is_linear_in_the_text_whatever_the_secret_lines() {
        // 1,000 base64-like lines of 64 characters (a big key), and 1 MB of output
        // made of such lines and of text near them: the old matcher tried every
        // line at every position (about 15 s in a debug build).
        let line = |i: usize| format!("{:064x}", (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let secret: String = (0..1000).map(|i| line(i) + "\n").collect();
        let mut text = String::new();
        let mut i = 0;
        while text.len() < 1 << 20 {
            // Near misses: the first 60 characters of a secret line, then noise.
            text.push_str(&line(i % 1000)[..60]);
            text.push_str(" x\n");
            if i % 10 == 0 {
                text.push_str(&line(i % 1000));
                text.push('\n');
            }
            i += 1;
        }
        let started = std::time::Instant::now();
        let secrets = Secrets::new(&[secret]);
        let masked = secrets.mask(&text);
        let mut m = secrets.masker();
        let mut streamed = Vec::new();
        for chunk in text.as_bytes().chunks(4096) {
            streamed.extend(m.push(chunk));
        }
        streamed.extend(m.finish());
        let outputs: BTreeMap<String, String> = text
            .lines()
            .take(20_000)
            .enumerate()
            .map(|(i, l)| (format!("k{i}"), l.to_string()))
            .collect();
        let outputs = secrets.mask_outputs(outputs);
        let took = started.elapsed();
        assert!(
            took < std::time::Duration::from_secs(2),
            "masking 1 MB against 1,000 secret lines took {took:?}"
        );
        assert_eq!(masked.as_bytes(), streamed.as_slice());
        assert_eq!(masked.matches(MASK).count(), i.div_ceil(10));
        assert!(!masked.contains(&line(0)) && masked.contains(&line(0)[..60]));
        assert!(outputs.values().all(|v| v.len() != 64 || v == MASK));
        eprintln!("masked {} bytes in {took:?}", text.len());
    }

    #[test]
    fn issue_13_params_that_hold_or_are_part_of_a_secret_are_secret() {
        let params: Vec<(String, String)> = [
            ("tok", "PARAMSECRET99"),
            ("pw", "PWSECRET55"),
            ("day", "2024"),
            ("id", "42"),
            ("url", "http://h/?k=PARAMSECRET99"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let values = vec![
            "PARAMSECRET99".to_string(),
            "Bearer PWSECRET55 42".to_string(),
        ];
        let names: Vec<&str> = secret_params(&params, &values)
            .into_iter()
            .map(|(k, _)| k.as_str())
            .collect();
        // `42` is part of a secret but too short to be one of its own.
        assert_eq!(names, ["tok", "pw", "url"]);
        let all = with_secret_params(values, &params);
        assert_eq!(
            Secrets::new(&all).mask("p=PWSECRET55 d=2024"),
            "p=*** d=2024"
        );
        assert!(secret_params(&params, &[]).is_empty());
    }
}
