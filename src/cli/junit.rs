//! `--report FILE`: a JUnit XML report of a run, for CI systems. One test case per
//! task; failed tasks carry the end of their log; attempts, state and host are
//! properties.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::report::log_tail;
use super::text::xml_safe;
use crate::engine::record::RunRecord;
use crate::engine::state::TaskState;
use crate::engine::store::StateStore;

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

/// Characters quick-junit would lose, carried through it as noncharacters (which
/// [`xml_safe`] never lets through) and written back as character references:
/// its strings drop tabs and carriage returns (it strips them as terminal
/// controls), and a line break in an attribute would read back as a space.
const CARRIED: [(char, char, &str); 3] = [
    ('\t', '\u{FDD0}', "&#9;"),
    ('\r', '\u{FDD1}', "&#13;"),
    ('\n', '\u{FDD2}', "&#10;"),
];

/// `s` for the text of an element.
fn xml_text(s: &str) -> String {
    carry(s, &CARRIED[..2])
}

/// `s` for an attribute's value.
fn xml_attr(s: &str) -> String {
    carry(s, &CARRIED)
}

fn carry(s: &str, which: &[(char, char, &str)]) -> String {
    xml_safe(s)
        .chars()
        .map(|c| match which.iter().find(|(k, _, _)| *k == c) {
            Some((_, stand_in, _)) => *stand_in,
            None => c,
        })
        .collect()
}

/// The serialized report with the characters [`carry`] carried written back.
fn carried_back(xml: String) -> String {
    if !xml.contains(|c| CARRIED.iter().any(|(_, s, _)| *s == c)) {
        return xml;
    }
    let mut out = String::with_capacity(xml.len());
    for c in xml.chars() {
        match CARRIED.iter().find(|(_, s, _)| *s == c) {
            Some((_, _, reference)) => out.push_str(reference),
            None => out.push(c),
        }
    }
    out
}

/// The JUnit XML report of `record`; log tails come from `store`.
///
/// The document is quick-junit's, in the dialect of Jenkins' `junit-10.xsd`
/// (which GitLab and GitHub readers accept too): one `<testsuite>` named after the
/// DAG, one `<testcase>` per task.
/// - A failed task has a `<failure>` whose message is its error and whose text is
///   the end of its last attempt's log (once: no `<system-out>` copy).
/// - `upstream_failed`, `skipped` and `cancelled` tasks (and tasks of a run that
///   had not finished when the report was written) are `<skipped>`, with the
///   state as `type` and the reason as message and text (GitLab shows the text).
/// - Earlier failed attempts are `<rerunFailure>` of a failed task and
///   `<flakyFailure>` of one that succeeded in the end, as Maven Surefire writes
///   retried tests.
pub fn report(record: &RunRecord, store: &dyn StateStore) -> String {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestRerun, TestSuite};
    let mut suite = TestSuite::new(xml_attr(&record.dag));
    if let Some(at) = record
        .started_at
        .and_then(|t| chrono::DateTime::from_timestamp_millis(t.0 as i64))
    {
        suite.set_timestamp(at.fixed_offset());
    }
    if let (Some(s), Some(e)) = (record.started_at, record.ended_at) {
        suite.set_time(s.until(e));
    }
    suite.add_property(("run_id", xml_attr(&record.run_id).as_str()));
    suite.add_property(("state", record.state.to_string().as_str()));
    for i in record.in_order() {
        let t = &record.tasks[i];
        let error = record.task_error(i).unwrap_or("");
        // Every attempt but the last that did not succeed.
        let earlier = t
            .attempts
            .iter()
            .rev()
            .skip(1)
            .rev()
            .filter(|a| a.outcome.is_some_and(|o| o != TaskState::Success));
        let reruns = earlier.map(|a| {
            let mut r = TestRerun::new(NonSuccessKind::Failure);
            r.set_type("failed");
            r.set_message(xml_attr(&format!(
                "attempt {}: {}",
                a.attempt,
                a.error.as_deref().unwrap_or("failed")
            )));
            r
        });
        let status = match t.state {
            TaskState::Success => {
                let mut s = TestCaseStatus::success();
                s.add_reruns(reruns);
                s
            }
            TaskState::Failed => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_type("failed").set_message(xml_attr(error));
                if let Some(a) = t.attempts.last() {
                    let tail = log_tail(store, &record.run_id, &t.id, a.attempt);
                    s.set_description(xml_text(&tail.lines.join("\n")));
                }
                s.add_reruns(reruns);
                s
            }
            state => {
                let why = if state.is_terminal() {
                    error.to_string()
                } else {
                    format!("{state} when this report was written")
                };
                let mut s = TestCaseStatus::skipped();
                s.set_type(state.to_string())
                    .set_message(xml_attr(&format!("{state}: {why}")))
                    .set_description(xml_text(&why));
                s
            }
        };
        let mut case = TestCase::new(xml_attr(&t.id), status);
        case.set_classname(xml_attr(&record.dag));
        if t.cached() {
            case.set_system_out(CACHED_NOTE);
        }
        // The time the task ran: its attempts' run times, not the time they waited
        // for a worker nor the retry delays between them.
        if let Some(ms) = t.run_ms() {
            case.set_time(std::time::Duration::from_millis(ms));
        }
        suite.add_test_case(case);
    }
    let mut report = Report::new("dag");
    if let (Some(s), Some(e)) = (record.started_at, record.ended_at) {
        report.set_time(s.until(e));
    }
    report.add_test_suite(suite);
    let text = report
        .to_string()
        .unwrap_or_else(|e| panic!("a JUnit report held in memory cannot fail to serialize: {e}"));
    let mut text = carried_back(junit10(text));
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// What a task whose result came from the cache says (junit-10.xsd has no
/// property on a test case; CI systems show its output).
const CACHED_NOTE: &str =
    "cached: the result of an earlier run was restored (the task did not run)";

/// `junit-10.xsd` allows no `skipped` count on `<testsuites>` (only on each
/// `<testsuite>`), and quick-junit always writes one: it is taken out.
fn junit10(mut text: String) -> String {
    let Some(start) = text.find("<testsuites") else {
        return text;
    };
    let Some(len) = text[start..].find('>') else {
        return text;
    };
    let tag = &text[start..start + len];
    if let Some(at) = tag.find(" skipped=\"") {
        let from = start + at;
        let value_end = text[from + 10..].find('"').map(|e| from + 10 + e + 1);
        if let Some(to) = value_end {
            text.replace_range(from..to, "");
        }
    }
    text
}
