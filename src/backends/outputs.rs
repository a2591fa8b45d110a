//! Task outputs written by processes: the `$DAG_OUTPUT` file, in the format GitHub
//! Actions uses for `$GITHUB_OUTPUT`.
//!
//! ```text
//! rows=42
//! summary<<EOF
//! first line
//! second line
//! EOF
//! ```

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::engine::expr::is_key;
use crate::engine::runner::{MAX_OUTPUT_BYTES, Outputs, check_output_size};

/// A private directory, created on first use and removed when the last handle goes,
/// where tasks write their `$DAG_OUTPUT` files.
#[derive(Clone, Debug, Default)]
pub struct OutputDir {
    dir: Arc<OnceLock<Result<TempDir, String>>>,
}

#[derive(Debug)]
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl OutputDir {
    /// The path of one attempt's output file (not created: a task that publishes
    /// nothing costs no file).
    pub fn file(&self, run_id: &str, task: &str, attempt: u32) -> Result<PathBuf, String> {
        let dir = self.dir.get_or_init(|| {
            let path = std::env::temp_dir().join(format!(
                "dag-outputs-{}-{:08x}",
                std::process::id(),
                fastrand::u32(..)
            ));
            let mut builder = std::fs::DirBuilder::new();
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder
                .create(&path)
                .map(|()| TempDir(path.clone()))
                .map_err(|e| format!("cannot create {}: {e}", path.display()))
        });
        match dir {
            Ok(d) => Ok(d.0.join(format!("{run_id}.{task}.{attempt}"))),
            Err(e) => Err(e.clone()),
        }
    }
}

/// Reads and removes an output file; a missing file means no outputs.
pub fn take(path: &Path) -> Result<Outputs, String> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Outputs::new()),
        Err(e) => return Err(format!("cannot read $DAG_OUTPUT: {e}")),
    };
    let result = if meta.len() > MAX_OUTPUT_BYTES as u64 + 64 * 1024 {
        Err(format!(
            "$DAG_OUTPUT holds {} bytes, over the cap of {MAX_OUTPUT_BYTES} bytes (1 MiB) per task",
            meta.len()
        ))
    } else {
        std::fs::read(path)
            .map_err(|e| format!("cannot read $DAG_OUTPUT: {e}"))
            .and_then(|bytes| {
                String::from_utf8(bytes).map_err(|_| "$DAG_OUTPUT is not UTF-8 text".to_string())
            })
            .and_then(|text| parse(&text))
            .and_then(|outputs| check_output_size(&outputs).map(|()| outputs))
    };
    let _ = std::fs::remove_file(path);
    result
}

/// Parses `key=value` lines and `key<<DELIMITER` blocks; a later value of a key
/// replaces an earlier one; blank lines are ignored.
///
/// ```
/// let outputs = dag::backends::outputs::parse("rows=42\nnote<<END\none\ntwo\nEND\n").unwrap();
/// assert_eq!(outputs["rows"], "42");
/// assert_eq!(outputs["note"], "one\ntwo");
/// ```
pub fn parse(text: &str) -> Result<Outputs, String> {
    let mut out = Outputs::new();
    let mut lines = text.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        // Errors name the place and the first offending character, never a piece
        // of the line: a line that is not an output may be a secret printed by
        // mistake, and a piece of one cannot be masked.
        let bad_key = |key: &str| match key
            .char_indices()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-')))
        {
            Some((i, c)) => format!(
                "$DAG_OUTPUT line {}: invalid key: `{}` at column {} (use letters, digits, `_` and `-`)",
                n + 1,
                c.escape_debug(),
                key[..i].chars().count() + 1
            ),
            None => format!("$DAG_OUTPUT line {}: empty key", n + 1),
        };
        if let Some((key, delimiter)) = line.split_once("<<").filter(|(k, _)| !k.contains('=')) {
            if !is_key(key) {
                return Err(bad_key(key));
            }
            if delimiter.is_empty() {
                return Err(format!(
                    "$DAG_OUTPUT line {}: `{key}<<` needs a delimiter",
                    n + 1
                ));
            }
            let mut value: Vec<&str> = Vec::new();
            let mut closed = false;
            for (_, l) in lines.by_ref() {
                let l = l.strip_suffix('\r').unwrap_or(l);
                if l == delimiter {
                    closed = true;
                    break;
                }
                value.push(l);
            }
            if !closed {
                return Err(format!(
                    "$DAG_OUTPUT line {}: `{key}<<{delimiter}` is never closed by a `{delimiter}` line",
                    n + 1
                ));
            }
            out.insert(key.to_string(), value.join("\n"));
        } else if let Some((key, value)) = line.split_once('=') {
            if !is_key(key) {
                return Err(bad_key(key));
            }
            out.insert(key.to_string(), value.to_string());
        } else {
            return Err(format!(
                "$DAG_OUTPUT line {}: expected `key=value` or `key<<DELIMITER`, found a line of {} characters without `=`",
                n + 1,
                line.chars().count()
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn key_values_and_heredocs() {
        let o = parse("a=1\nb=x=y\n\nmulti<<END\none\ntwo\nEND\na=2\n").unwrap();
        assert_eq!(o["a"], "2");
        assert_eq!(o["b"], "x=y");
        assert_eq!(o["multi"], "one\ntwo");
    }

    #[test]
    fn errors_name_the_line() {
        assert!(parse("ok=1\nnot a pair\n").unwrap_err().contains("line 2"));
        assert!(
            parse("bad key=1\n")
                .unwrap_err()
                .contains("invalid key: ` ` at column 4")
        );
        // No piece of a bad line is quoted: it may be part of a secret.
        for line in [
            "MIIEvQIBADANBg+kqhkiG9w0BAQ==",
            "MIIEvQIBADANBgkqhkiG9w0BAQ",
        ] {
            let e = parse(&format!("{line}\n")).unwrap_err();
            assert!(!e.contains("MIIE"), "{e}");
        }
        assert!(parse("=1\n").unwrap_err().contains("empty key"));
        assert!(
            parse("m<<EOF\nno end\n")
                .unwrap_err()
                .contains("never closed")
        );
    }
}
