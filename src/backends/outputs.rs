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

use crate::engine::capped_read::{ReadError, read_regular};
use crate::engine::expr::is_key;
use crate::engine::runner::{Outputs, check_output_size, describe_cap};

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
            super::process::reaper::private_temp_dir("outputs")
                .map(TempDir)
                .map_err(|e| {
                    format!(
                        "cannot create a private directory in {}: {e}",
                        std::env::temp_dir().display()
                    )
                })
        });
        match dir {
            Ok(d) => Ok(d.0.join(format!("{run_id}.{task}.{attempt}"))),
            Err(e) => Err(e.clone()),
        }
    }
}

/// Creates the output file at `path` afresh, for a runner that must make it before
/// the task starts (Docker mounts it; a missing file would be made a directory).
///
/// The directory is private to this user, but a task running as the same user can
/// reach it and may have put something at this name (a FIFO, whose open for writing
/// would block the thread forever; a symbolic link to a file elsewhere). Whatever is
/// there is unlinked (a link itself, never what it points to; a directory is not
/// removed and makes the creation fail), and the file is created exclusively
/// (`O_EXCL`, `O_NOFOLLOW`, `O_NONBLOCK`): never an existing file, and the call never
/// waits, so it is safe on a runtime thread.
pub fn create_fresh(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK | nix::libc::O_NOCTTY)
        .open(path)
        .map(drop)
}

/// How long reading an output file may take before the task fails: the file is
/// local and at most a little over 1 MiB, so only a wedged filesystem takes long.
const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Reads and removes an output file; a missing file means no outputs.
///
/// The task may have replaced the file with anything: a FIFO (whose read would
/// block forever), a symbolic link to `/dev/zero` (which never ends) or to a file of
/// someone else's. Only a regular file is read, never through a symbolic link, never
/// more than the cap plus one byte, and on a blocking-pool thread with a timeout, so
/// no file can stall the runtime that drives the other tasks and the heartbeats.
pub async fn take(path: &Path, cap: usize) -> Result<Outputs, String> {
    let owned = path.to_path_buf();
    let read = tokio::task::spawn_blocking(move || {
        let result = take_now(&owned, cap);
        remove(&owned);
        result
    });
    match tokio::time::timeout(READ_TIMEOUT, read).await {
        Ok(Ok(result)) => result,
        Ok(Err(e)) => Err(format!("cannot read $DAG_OUTPUT: {e}")),
        Err(_) => Err(format!(
            "cannot read $DAG_OUTPUT: no answer from the filesystem in {}",
            humantime::format_duration(READ_TIMEOUT)
        )),
    }
}

/// Removes whatever the task left at its output path, so that a long-lived worker
/// does not fill its disk: a file, a link (never what it points to), or a whole
/// directory tree (`remove_dir_all` does not follow the links inside it).
fn remove(path: &Path) {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => {
            let _ = std::fs::remove_dir_all(path);
        }
        Ok(_) => {
            let _ = std::fs::remove_file(path);
        }
        Err(_) => {}
    }
}

/// The bytes over the output cap that are read before refusing: the file has
/// `key=` and delimiter lines on top of the keys and values that the cap counts.
const FILE_SLACK: u64 = 64 * 1024;

fn take_now(path: &Path, cap: usize) -> Result<Outputs, String> {
    let most = cap as u64 + FILE_SLACK;
    let bytes = match read_regular(path, most) {
        Ok(None) => return Ok(Outputs::new()),
        Ok(Some(bytes)) => bytes,
        Err(ReadError::TooBig { .. }) => {
            return Err(format!(
                "$DAG_OUTPUT holds more than {most} bytes, over the cap of {}",
                describe_cap(cap)
            ));
        }
        Err(ReadError::NotRegular(what)) => {
            return Err(format!(
                "$DAG_OUTPUT is {what}, not a regular file; write outputs to the file itself"
            ));
        }
        Err(e) => return Err(format!("cannot read $DAG_OUTPUT: {e}")),
    };
    let text = String::from_utf8(bytes).map_err(|_| "$DAG_OUTPUT is not UTF-8 text".to_string())?;
    let outputs = parse(&text)?;
    check_output_size(&outputs, cap)?;
    Ok(outputs)
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
    use super::{parse, take};

    #[tokio::test]
    async fn a_fifo_or_a_link_to_dev_zero_fails_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let err = take(&fifo, crate::engine::runner::MAX_OUTPUT_BYTES)
            .await
            .unwrap_err();
        assert!(err.contains("is a FIFO, not a regular file"), "{err}");
        assert!(!fifo.exists(), "the FIFO is removed");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        let err = take(&link, crate::engine::runner::MAX_OUTPUT_BYTES)
            .await
            .unwrap_err();
        assert!(err.contains("is a symbolic link"), "{err}");
        let big = dir.path().join("big");
        std::fs::write(&big, format!("k={}\n", "x".repeat(2 * 1024 * 1024))).unwrap();
        let err = take(&big, crate::engine::runner::MAX_OUTPUT_BYTES)
            .await
            .unwrap_err();
        assert!(err.contains("over the cap"), "{err}");
        assert!(
            take(
                &dir.path().join("none"),
                crate::engine::runner::MAX_OUTPUT_BYTES
            )
            .await
            .unwrap()
            .is_empty()
        );
        let tree = dir.path().join("tree");
        std::fs::create_dir_all(tree.join("sub/deeper")).unwrap();
        std::fs::write(tree.join("sub/deeper/f"), "x").unwrap();
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("keep"), "x").unwrap();
        std::os::unix::fs::symlink(&outside, tree.join("sub/link")).unwrap();
        let err = take(&tree, crate::engine::runner::MAX_OUTPUT_BYTES)
            .await
            .unwrap_err();
        assert!(err.contains("a directory"), "{err}");
        assert!(!tree.exists(), "the directory a task left is removed");
        assert!(
            outside.join("keep").exists(),
            "links inside are not followed"
        );
    }

    #[test]
    fn create_fresh_replaces_a_fifo_or_a_link_without_blocking_or_following() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&path)
                .status()
                .unwrap()
                .success()
        );
        super::create_fresh(&path).unwrap();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.is_file() && meta.len() == 0);
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        super::create_fresh(&path).unwrap();
        assert!(std::fs::symlink_metadata(&path).unwrap().is_file());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        assert!(super::create_fresh(&path).is_err());
    }

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
