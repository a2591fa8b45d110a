//! `--report FILE`: a JUnit XML report of a run, for CI systems. One test case per
//! task; failed tasks carry the end of their log; attempts, state and host are
//! properties.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::report::log_tail;
use super::text::markup_escape as esc;
use crate::engine::record::RunRecord;
use crate::engine::state::TaskState;
use crate::engine::store::StateStore;

fn secs(ms: u64) -> String {
    format!("{:.3}", ms as f64 / 1000.0)
}

/// The report file, opened before the run starts so that a path that cannot be
/// written (a directory, a missing parent, no permission) is a usage error before
/// anything runs, rather than a surprise after the whole run.
pub struct ReportFile {
    path: PathBuf,
    file: File,
    /// Whether dag created the file: an unwritten new file is removed on drop.
    created: bool,
    written: bool,
}

impl ReportFile {
    /// Opens (creating, but not yet truncating) the report file at `path`. A pipe
    /// or device (`/dev/stdout`) works too; a named pipe that nobody reads is an
    /// error rather than a wait.
    pub fn open(path: &Path) -> std::io::Result<ReportFile> {
        use std::os::unix::fs::OpenOptionsExt;
        use std::os::unix::io::AsRawFd;
        let existed = std::fs::symlink_metadata(path).is_ok();
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .custom_flags(nix::libc::O_NONBLOCK)
            .open(path)?;
        // Writes block as usual from here on.
        // SAFETY: fcntl on a descriptor this function owns; no memory is passed.
        unsafe {
            let fd = file.as_raw_fd();
            let flags = nix::libc::fcntl(fd, nix::libc::F_GETFL);
            if flags >= 0 {
                nix::libc::fcntl(fd, nix::libc::F_SETFL, flags & !nix::libc::O_NONBLOCK);
            }
        }
        Ok(ReportFile {
            path: path.to_path_buf(),
            file,
            created: !existed,
            written: false,
        })
    }

    /// [`ReportFile::open`] for a report flag's value, if it was given; a path that
    /// cannot be written, or that lies in the file store's directory `state`
    /// (writing there would destroy a run), is a usage error.
    pub fn open_arg(
        path: Option<&Path>,
        state: Option<&Path>,
    ) -> Result<Option<ReportFile>, super::exit::CliError> {
        let Some(path) = path else {
            return Ok(None);
        };
        let refuse = |why: String| {
            super::exit::CliError::usage(
                format!("cannot write the report {}: {why}", path.display()),
                None,
            )
        };
        if let Some(state) = state.and_then(|s| s.canonicalize().ok())
            && let Some(target) = target_of(path)
            && target.starts_with(&state)
        {
            return Err(refuse(format!(
                "it is inside the state directory {}",
                state.display()
            )));
        }
        ReportFile::open(path)
            .map(Some)
            .map_err(|e| refuse(e.to_string()))
    }

    /// Refuses reports of several flags that go to the same file (the last would
    /// silently win).
    pub fn distinct(files: &[&Option<ReportFile>]) -> Result<(), super::exit::CliError> {
        let targets: Vec<(&Path, PathBuf)> = files
            .iter()
            .filter_map(|f| f.as_ref())
            .filter_map(|f| Some((f.path(), target_of(f.path())?)))
            .collect();
        for (i, (path, target)) in targets.iter().enumerate() {
            if targets[..i].iter().any(|(_, t)| t == target) {
                return Err(super::exit::CliError::usage(
                    format!(
                        "cannot write the report {}: another report flag names the same file",
                        path.display()
                    ),
                    None,
                ));
            }
        }
        Ok(())
    }

    /// Where the report goes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Replaces the file's contents with `text`. A regular file is replaced whole:
    /// the text goes to a new file beside it (beside a symlink's target), which is
    /// renamed over it once written and synced, so a full disk leaves the old
    /// report as it was. A pipe or device gets the text as it is written.
    pub fn write(mut self, text: &str) -> std::io::Result<()> {
        if !self.file.metadata()?.is_file() {
            self.file.write_all(text.as_bytes())?;
            self.written = true;
            return Ok(());
        }
        let target = target_of(&self.path).unwrap_or_else(|| self.path.clone());
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = target.with_file_name(format!(
            ".{name}.dag-{}-{:08x}",
            std::process::id(),
            fastrand::u32(..)
        ));
        let result = (|| {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&temp)?;
            f.set_permissions(self.file.metadata()?.permissions())?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&temp, &target)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&temp);
        } else {
            self.written = true;
        }
        result
    }
}

/// Where `path` leads: its directory resolved (symlinks and `..`), and its file
/// name resolved too when it is a symlink; `None` when its directory cannot be.
fn target_of(path: &Path) -> Option<PathBuf> {
    if let Ok(full) = std::fs::canonicalize(path) {
        return Some(full);
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    Some(std::fs::canonicalize(dir).ok()?.join(path.file_name()?))
}

impl Drop for ReportFile {
    fn drop(&mut self) {
        if self.created && !self.written {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The report of `record`; log tails come from `store`.
pub fn report(record: &RunRecord, store: &dyn StateStore) -> String {
    let count = |f: &dyn Fn(TaskState) -> bool| record.tasks.iter().filter(|t| f(t.state)).count();
    let failures = count(&|s| matches!(s, TaskState::Failed | TaskState::UpstreamFailed));
    let skipped = count(&|s| matches!(s, TaskState::Skipped | TaskState::Cancelled));
    let total_ms = match (record.started_at, record.ended_at) {
        (Some(s), Some(e)) => s.until(e).as_millis() as u64,
        _ => 0,
    };
    let dag = esc(&record.dag);
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str(&format!(
        "<testsuites name=\"dag\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{}\">\n",
        record.tasks.len(),
        secs(total_ms)
    ));
    x.push_str(&format!(
        "  <testsuite name=\"{dag}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{}\" timestamp=\"{}\">\n",
        record.tasks.len(),
        secs(total_ms),
        record.started_at.map(|t| t.rfc3339()).unwrap_or_default()
    ));
    x.push_str(&format!(
        "    <properties>\n      <property name=\"run_id\" value=\"{}\"/>\n      <property name=\"state\" value=\"{}\"/>\n    </properties>\n",
        esc(&record.run_id),
        record.state
    ));
    for i in record.in_order() {
        let t = &record.tasks[i];
        let ms = match (
            t.attempts.first(),
            t.attempts.last().and_then(|a| a.ended_at),
        ) {
            (Some(a), Some(end)) => a.started_at.until(end).as_millis() as u64,
            _ => 0,
        };
        x.push_str(&format!(
            "    <testcase name=\"{}\" classname=\"{dag}\" time=\"{}\">\n",
            esc(&t.id),
            secs(ms)
        ));
        let host = t.attempts.last().map(|a| &*a.host).unwrap_or("");
        x.push_str(&format!(
            "      <properties>\n        <property name=\"state\" value=\"{}\"/>\n        <property name=\"attempts\" value=\"{}\"/>\n        <property name=\"host\" value=\"{}\"/>\n      </properties>\n",
            t.state,
            t.attempts.len(),
            esc(host)
        ));
        let message = esc(record.task_error(i).unwrap_or(""));
        match t.state {
            TaskState::Failed => {
                let tail = t
                    .attempts
                    .last()
                    .map(|a| {
                        log_tail(store, &record.run_id, &t.id, a.attempt)
                            .lines
                            .join("\n")
                    })
                    .unwrap_or_default();
                x.push_str(&format!(
                    "      <failure message=\"{message}\" type=\"failed\">{}</failure>\n",
                    esc(&tail)
                ));
                if !tail.is_empty() {
                    x.push_str(&format!("      <system-out>{}</system-out>\n", esc(&tail)));
                }
            }
            TaskState::UpstreamFailed => {
                x.push_str(&format!(
                    "      <failure message=\"{message}\" type=\"upstream_failed\"/>\n"
                ));
            }
            TaskState::Skipped | TaskState::Cancelled => {
                x.push_str(&format!(
                    "      <skipped message=\"{}: {message}\"/>\n",
                    t.state
                ));
            }
            _ => {}
        }
        x.push_str("    </testcase>\n");
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}
