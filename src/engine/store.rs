//! Where runs are kept. The engine writes through these traits; the file store and
//! the NATS KV store implement them in `backends`.

use super::events::Event;
use super::record::{RECORD_VERSION_READ, RunRecord, is_child_run_id, valid_run_id};

/// A store operation that failed: the store is unusable (exit code 3) or the run
/// asked for does not exist.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An I/O error on a path of the store.
    #[error("state store: cannot {action} {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: String,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// No run with this id.
    #[error("no run `{0}` in the state store")]
    NotFound(String),
    /// The store holds no runs at all.
    #[error("the state store holds no runs yet")]
    Empty,
    /// A record that cannot be read.
    #[error("state store: {path} is corrupt: {detail}")]
    Corrupt {
        /// The file.
        path: String,
        /// What is wrong with it.
        detail: String,
    },
    /// A run with this id exists already.
    #[error("run {0} exists already")]
    Exists(String),
    /// The run is being driven by another process.
    #[error(
        "run {0} is being driven by another dag process; wait for it to end, or stop it with `dag cancel {0}`"
    )]
    Locked(String),
    /// Another process took over the run this one was driving: this one had
    /// lost its lease (cut off from the store for longer than the lease lasts)
    /// and writes nothing more.
    #[error(
        "run {0} was taken over by another dag process: this one lost its lease (cut off from the state store for longer than the lease lasts) and stopped driving it; follow it with `dag wait {0}`"
    )]
    TakenOver(String),
}

/// A run id no store could hold (see [`valid_run_id`]) names no run: both stores
/// answer it with [`StoreError::NotFound`] before touching a file or a key.
pub fn check_run_id(run_id: &str) -> Result<(), StoreError> {
    if valid_run_id(run_id) {
        Ok(())
    } else {
        Err(StoreError::NotFound(run_id.to_string()))
    }
}

/// Refuses a record (read from `path`) written in a newer format than this `dag`
/// reads, with a message saying so; older ones are read as they are. Both stores
/// check every record they load.
pub fn check_record_version(record: &RunRecord, path: &str) -> Result<(), StoreError> {
    if record.version > RECORD_VERSION_READ {
        return Err(StoreError::Corrupt {
            path: path.to_string(),
            detail: format!(
                "run {} was written by a newer dag (record format {}; this dag reads up to {RECORD_VERSION_READ})",
                record.run_id, record.version
            ),
        });
    }
    Ok(())
}

/// Refuses a record (read from `path`, kept as run `run_id`) that is not that
/// run's, or whose links to the runs of sub-DAGs no run of dag could hold: the
/// run of a sub-DAG has its parent's id, a dash and more (see
/// [`crate::backends::subdag::child_run_id`]), so a parent link names a run
/// whose id starts `run_id`, a child link one whose id `run_id` starts, and
/// links never loop, nor name the run itself. Views print and link these ids:
/// what passes here is a run id (letters, digits, `_`, `.`, `-`) and a task
/// id, nothing a terminal or a page would read as more. Both stores check
/// every record they load.
pub fn check_links(record: &RunRecord, run_id: &str, path: &str) -> Result<(), StoreError> {
    let corrupt = |detail: String| {
        Err(StoreError::Corrupt {
            path: path.to_string(),
            detail,
        })
    };
    if record.run_id != run_id {
        return corrupt(format!(
            "it holds the record of run `{}`, not of run {run_id}",
            quote(&record.run_id)
        ));
    }
    if let Some(p) = &record.parent
        && !(is_child_run_id(run_id, &p.run) && super::validate::is_valid_name(&p.task))
    {
        return corrupt(format!(
            "its parent link names run `{}` (task `{}`), which cannot have started run {run_id}",
            quote(&p.run),
            quote(&p.task)
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for c in &record.children {
        if !(is_child_run_id(&c.run, run_id) && super::validate::is_valid_name(&c.task)) {
            return corrupt(format!(
                "it links to run `{}` (task `{}`) as the run of a sub-DAG, which run {run_id} cannot have started",
                quote(&c.run),
                quote(&c.task)
            ));
        }
        if !seen.insert(c.run.as_str()) {
            return corrupt(format!(
                "it links to run {} as the run of a sub-DAG twice",
                c.run
            ));
        }
    }
    Ok(())
}

/// `s` as an error message quotes what a damaged record holds: printable, and
/// its first 100 characters at most.
fn quote(s: &str) -> String {
    match s.char_indices().nth(100) {
        Some((end, _)) => format!("{}…", super::text::printable(&s[..end])),
        None => super::text::printable(s),
    }
}

/// Refuses a record (read from `path`) whose mapped tasks claim more instances
/// than a task may have, or than the record holds: the instances of lists read at
/// run time are the last tasks of a record, as many as their counts say.
pub fn check_instances(record: &RunRecord, path: &str) -> Result<(), StoreError> {
    let mut total = 0u64;
    for t in &record.tasks {
        let n = t.instances.unwrap_or(0);
        if n > crate::engine::fanout::MAX_INSTANCES {
            return Err(StoreError::Corrupt {
                path: path.to_string(),
                detail: format!(
                    "task `{}` says it has {n} instances, more than the {} a task may have",
                    t.id,
                    crate::engine::fanout::MAX_INSTANCES
                ),
            });
        }
        total += n as u64;
    }
    if total > record.tasks.len() as u64
        || record.tasks.len() > crate::engine::fanout::MAX_RUN_TASKS
    {
        return Err(StoreError::Corrupt {
            path: path.to_string(),
            detail: format!(
                "its mapped tasks say they have {total} instances, but it holds {} tasks",
                record.tasks.len()
            ),
        });
    }
    Ok(())
}

/// Storage of runs.
pub trait StateStore: Send + Sync {
    /// Creates a new run and returns the handle that records its events.
    fn create_run(&self, record: &RunRecord) -> Result<Box<dyn RunWriter>, StoreError>;

    /// The current record of a run.
    fn load_run(&self, run_id: &str) -> Result<RunRecord, StoreError>;

    /// Takes over an existing run to drive it again (`dag retry`): its record and
    /// the handle that records its events. Fails with [`StoreError::Locked`] while
    /// another process drives it.
    fn open_run(&self, run_id: &str) -> Result<(RunRecord, Box<dyn RunWriter>), StoreError>;

    /// Ids of all runs, oldest first.
    fn run_ids(&self) -> Result<Vec<String>, StoreError>;

    /// A number that changes when a run not driven by any process starts being
    /// driven again (`dag retry`) or its record is rewritten; read without loading
    /// the record (`dag ui` loads a run again only when it changed, or while a
    /// process drives it).
    fn run_version(&self, run_id: &str) -> Result<u64, StoreError>;

    /// Up to `max` bytes of one attempt's log, from byte `offset`; empty past the end
    /// or when the attempt wrote nothing (its log was never created).
    fn read_log(
        &self,
        run_id: &str,
        task: &str,
        attempt: u32,
        offset: u64,
        max: usize,
    ) -> Result<Vec<u8>, StoreError>;

    /// The size of one attempt's log in bytes (0 when it wrote nothing).
    fn log_size(&self, run_id: &str, task: &str, attempt: u32) -> Result<u64, StoreError>;
}

/// Records the events of one run being driven by this process.
pub trait RunWriter: Send {
    /// Adds an event to the run's log. It may be buffered until [`commit`].
    ///
    /// [`commit`]: RunWriter::commit
    fn append(&mut self, event: &Event) -> Result<(), StoreError>;

    /// Makes every appended event durable against a crash of this process; with
    /// `final_record`, also writes the complete record. Called by executors once per
    /// scheduling step (group commit), and at the end of the run.
    fn commit(&mut self, record: &RunRecord, final_record: bool) -> Result<(), StoreError>;

    /// The log of one attempt, for the task's output.
    fn task_log(&mut self, task: &str, attempt: u32) -> Result<super::runner::TaskLog, StoreError>;

    /// Fails when this process may no longer drive the run (another took it
    /// over): checked before each attempt is handed out, so that a driver that
    /// was cut off hands out nothing more. A store where only the creating
    /// process drives a run has nothing to check.
    fn check_driving(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Fires when this process learns that another took the run over, so that
    /// the executor stops at once rather than at its next write. None for a
    /// store where only the creating process drives a run.
    fn taken_over(&self) -> Option<tokio_util::sync::CancellationToken> {
        None
    }

    /// Gives the run up: another process may drive it at once (a submitted run
    /// handed to the schedulers, or a scheduler stopping). Nothing more is
    /// written through this writer. A store where only the creating process
    /// drives a run has nothing to do.
    fn release(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::validate::{LoadOptions, load_str};

    #[test]
    fn a_newer_record_format_is_refused_by_name() {
        let dag = load_str(
            "t.yaml",
            "name: t\ntasks:\n  a: {command: 'true'}\n",
            &LoadOptions::default(),
        )
        .unwrap();
        let mut r = RunRecord::new("r1".into(), &dag, "t.yaml".into());
        assert!(check_record_version(&r, "run.json").is_ok());
        r.version = 1;
        assert!(check_record_version(&r, "run.json").is_ok());
        r.version = crate::engine::record::RECORD_VERSION_READ + 1;
        let why = check_record_version(&r, "run.json")
            .unwrap_err()
            .to_string();
        assert!(why.contains("written by a newer dag"), "{why}");
    }

    /// Attack pass on sub-DAG views: a hand-made record naming runs it cannot
    /// be linked to (itself, a loop, an id with terminal escapes or markup, a
    /// run of another id) is refused by name, quoting what it holds printably;
    /// the links dag writes pass.
    #[test]
    fn links_no_run_could_hold_are_refused() {
        use crate::engine::record::RunLink;
        let dag = load_str(
            "t.yaml",
            "name: t\ntasks:\n  a: {command: 'true'}\n",
            &LoadOptions::default(),
        )
        .unwrap();
        let id = "20261201T000000000Z-abcd";
        let link = |run: &str, task: &str| RunLink {
            run: run.to_string(),
            task: task.to_string(),
        };
        let mut r = RunRecord::new(id.into(), &dag, "t.yaml".into());
        r.parent = Some(link("20261201T000000000Z", "a"));
        r.children = vec![
            link(&format!("{id}-a"), "a"),
            link(&format!("{id}-b-1f2e"), "b"),
        ];
        assert!(check_links(&r, id, "run.json").is_ok());
        let refused = |r: &RunRecord, want: &str| {
            let why = check_links(r, id, "run.json").unwrap_err().to_string();
            assert!(why.contains(want), "{why}");
            assert!(!why.contains('\x1b'), "{why}");
        };
        let evil = "\x1b]0;x\x07<script>alert(1)</script>";
        for parent in [
            id.to_string(),
            format!("{id}-a"),
            "20261201T000000000Z-abc".into(),
            format!("{id}{evil}"),
        ] {
            let mut bad = r.clone();
            bad.parent = Some(link(&parent, "a"));
            refused(&bad, "its parent link names run");
        }
        let mut bad = r.clone();
        bad.parent = Some(link("20261201T000000000Z", evil));
        refused(&bad, "its parent link names run");
        for child in [
            id.to_string(),
            "20261201T000000000Z".into(),
            format!("{id}-"),
            format!("{id}-{evil}"),
            format!("{id}x-a"),
        ] {
            let mut bad = r.clone();
            bad.children.push(link(&child, "a"));
            refused(&bad, "as the run of a sub-DAG");
        }
        let mut bad = r.clone();
        bad.children.push(link(&format!("{id}-a"), "a"));
        refused(&bad, "twice");
        let mut bad = r.clone();
        bad.run_id = format!("{id}{evil}");
        refused(&bad, "it holds the record of run");
        // A whole record under another run's key is not that run's.
        assert!(check_links(&r, "20261201T000000000Z-ffff", "run.json").is_err());
    }
}
