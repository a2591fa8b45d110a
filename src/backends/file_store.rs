//! The file state store: one directory per run under `<state dir>/runs/`.
//!
//! ```text
//! runs/<run id>/run.json      the run record, replaced atomically (write + rename)
//! runs/<run id>/events.jsonl  the events since run.json was written, one per line
//! runs/<run id>/logs/<task>.<attempt>.log
//! runs/<run id>/lock          held (flock) by the process driving the run
//! ```
//!
//! `run.json` is written when the run starts and when it ends; in between, the event
//! log is the truth. Events are buffered and written with one `write` per scheduling
//! step (group commit), so a run of many short tasks is not bound by state writes,
//! while everything committed survives a SIGKILL of `dag run`: the record is
//! `run.json` plus every complete line of the log after its `seq`. A background
//! thread fsyncs the log at most every 100 ms while it changes, so a power loss takes
//! back at most that much; at the end of a run, the log is fsynced before the final
//! record replaces the old one (written, fsynced, renamed). The log then starts
//! afresh (see `FileRunWriter::fold`): the record holds its events, and runs of
//! like instances are blocks in it (see [`crate::engine::compact`]).

use crate::engine::store::check_run_id;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use crate::engine::capped_read::{ReadError, open_regular, read_regular};
use crate::engine::events::Event;
use crate::engine::record::RunRecord;
use crate::engine::runner::TaskLog;
use crate::engine::store::{
    RunWriter, StateStore, StoreError, check_instances, check_links, check_record_version,
};

/// Runs kept in a directory.
#[derive(Clone, Debug)]
pub struct FileStore {
    root: PathBuf,
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + use<> {
    let path = path.display().to_string();
    move |source| StoreError::Io {
        action,
        path,
        source,
    }
}

impl FileStore {
    /// Opens (creating if needed) the store rooted at `root` and checks that it is
    /// writable, so that a bad state directory is reported before anything runs.
    pub fn open(root: &Path) -> Result<FileStore, StoreError> {
        let runs = root.join("runs");
        fs::create_dir_all(&runs).map_err(io_err("create", &runs))?;
        let probe = runs.join(format!(".probe-{}", std::process::id()));
        // One opening at a time in this process: threads of one process (a run
        // and the runs of its sub-DAGs, pipelines run side by side) share the
        // probe's name.
        static PROBING: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _probing = PROBING.lock().unwrap_or_else(|e| e.into_inner());
        // Fresh, like `run.json.tmp`: a task can reach this directory and guess the
        // name; whatever it left there is unlinked, never opened (a FIFO would block).
        let _ = fs::remove_file(&probe);
        {
            use std::os::unix::fs::OpenOptionsExt;
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK | nix::libc::O_NOCTTY)
                .open(&probe)
                .map_err(io_err("write to", &runs))?;
        }
        let _ = fs::remove_file(&probe);
        Ok(FileStore {
            root: root.to_path_buf(),
        })
    }

    /// Opens the store for reading only (history commands): it must exist.
    pub fn open_existing(root: &Path) -> Result<FileStore, StoreError> {
        let runs = root.join("runs");
        // A path that exists but is no directory is a mistake to name, not an
        // empty store.
        for path in [root, runs.as_path()] {
            match std::fs::metadata(path) {
                Ok(m) if !m.is_dir() => {
                    return Err(StoreError::Io {
                        action: "use",
                        path: path.display().to_string(),
                        source: std::io::Error::new(
                            std::io::ErrorKind::NotADirectory,
                            "it is not a directory",
                        ),
                    });
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(StoreError::Empty);
                }
                Err(e) => {
                    return Err(StoreError::Io {
                        action: "open",
                        path: path.display().to_string(),
                        source: e,
                    });
                }
            }
        }
        Ok(FileStore {
            root: root.to_path_buf(),
        })
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn run_dir(&self, run_id: &str) -> PathBuf {
        self.root.join("runs").join(run_id)
    }

    /// Path of an attempt's log file.
    pub fn log_path(&self, run_id: &str, task: &str, attempt: u32) -> PathBuf {
        self.run_dir(run_id)
            .join("logs")
            .join(format!("{task}.{attempt}.log"))
    }

    /// Deletes a run (`dag runs prune`); a run being driven is refused.
    pub fn delete_run(&self, run_id: &str) -> Result<(), StoreError> {
        check_run_id(run_id)?;
        if self.is_driven(run_id) {
            return Err(StoreError::Locked(run_id.to_string()));
        }
        let dir = self.run_dir(run_id);
        fs::remove_dir_all(&dir).map_err(io_err("delete", &dir))
    }

    /// The run record and the events after it; `None` when the event log was
    /// started afresh after the record read (a newer record holds its events).
    fn read_run(&self, run_id: &str) -> Result<Option<RunRecord>, StoreError> {
        let dir = self.run_dir(run_id);
        let record_path = dir.join("run.json");
        let text = match read_regular(&record_path, MAX_RECORD_BYTES) {
            Ok(Some(t)) => t,
            Ok(None) => return Err(StoreError::NotFound(run_id.to_string())),
            Err(ReadError::TooBig { cap }) => {
                return Err(StoreError::Corrupt {
                    path: record_path.display().to_string(),
                    detail: format!("holds more than {cap} bytes, more than dag writes"),
                });
            }
            Err(ReadError::Io(e)) => return Err(io_err("read", &record_path)(e)),
            Err(e) => {
                return Err(io_err("read", &record_path)(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    e.to_string(),
                )));
            }
        };
        let mut record: RunRecord =
            serde_json::from_slice(&text).map_err(|e| StoreError::Corrupt {
                path: record_path.display().to_string(),
                detail: e.to_string(),
            })?;
        check_record_version(&record, &record_path.display().to_string())?;
        check_instances(&record, &record_path.display().to_string())?;
        check_links(&record, run_id, &record_path.display().to_string())?;
        if record.seq == u64::MAX {
            return Err(StoreError::Corrupt {
                path: record_path.display().to_string(),
                detail: "it counts more events than any run has".into(),
            });
        }
        let events_path = dir.join("events.jsonl");
        let file = match open_regular(&events_path, File::options().read(true)) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Some(record)),
            Err(e) => return Err(io_err("read", &events_path)(e)),
        };
        let mut reader = BufReader::new(file);
        let mut line = Vec::new();
        // Events are numbered from 1, or from after the `folded` of the first line;
        // errors name lines of the file.
        let mut number = 0u64;
        let mut line_number = 0u64;
        let mut first = true;
        loop {
            line.clear();
            let n = read_line_capped(&mut reader, &mut line, MAX_EVENT_LINE_BYTES)
                .map_err(io_err("read", &events_path))?;
            if n > MAX_EVENT_LINE_BYTES {
                return Err(StoreError::Corrupt {
                    path: format!("{}:{}", events_path.display(), line_number + 1),
                    detail: format!(
                        "a line of more than {MAX_EVENT_LINE_BYTES} bytes, longer than any event dag writes"
                    ),
                });
            }
            // A last line without its newline was cut short by a crash mid-write: it
            // was never committed.
            if n == 0 || line.last() != Some(&b'\n') {
                break;
            }
            line_number += 1;
            if first {
                first = false;
                if let Ok(Folded { folded }) = serde_json::from_slice(&line) {
                    if folded > record.seq {
                        return Ok(None);
                    }
                    number = folded;
                    continue;
                }
            }
            number = number.checked_add(1).ok_or_else(|| StoreError::Corrupt {
                path: events_path.display().to_string(),
                detail: "its events are numbered past the last number".into(),
            })?;
            if number <= record.seq {
                continue;
            }
            let corrupt = |detail: String| StoreError::Corrupt {
                path: format!("{}:{}", events_path.display(), line_number),
                detail,
            };
            let event: Event = serde_json::from_slice(&line).map_err(|e| corrupt(e.to_string()))?;
            record.apply(&event).map_err(|e| corrupt(e.to_string()))?;
        }
        Ok(Some(record))
    }

    /// Whether a live process holds the run's lock (is driving it now).
    pub fn is_driven(&self, run_id: &str) -> bool {
        let Ok(f) = open_regular(
            &self.run_dir(run_id).join("lock"),
            File::options().read(true),
        ) else {
            return false;
        };
        match f.try_lock() {
            Ok(()) => {
                let _ = f.unlock();
                false
            }
            Err(_) => true,
        }
    }
}

/// Ids of runs are directory names; refuse anything that could leave `runs/`.
/// Truncates a file after its last newline.
fn drop_partial_line(file: &mut File) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let len = file.metadata()?.len();
    let mut end = len;
    let mut buf = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(chunk)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            let keep = start + i as u64 + 1;
            if keep < len {
                file.set_len(keep)?;
            }
            return Ok(());
        }
        end = start;
    }
    if len > 0 {
        file.set_len(0)?;
    }
    Ok(())
}

/// The largest `run.json` read: far above the records dag writes (a run of a
/// million instances is 12 MB; each task's outputs take at most 1 MiB, or 32 MiB
/// for a list a `for_each` reads); a bigger one is refused as corrupt rather than
/// taken into memory.
pub const MAX_RECORD_BYTES: u64 = 1024 * 1024 * 1024;

/// The longest line of `events.jsonl` read: the largest event dag writes carries a
/// task's outputs (at most [`crate::engine::runner::MAX_LIST_OUTPUT_BYTES`],
/// 32 MiB, each byte at most six once escaped in JSON) and its error; a longer
/// line is refused as corrupt rather than taken into memory.
pub const MAX_EVENT_LINE_BYTES: usize =
    6 * crate::engine::runner::MAX_LIST_OUTPUT_BYTES + 16 * 1024 * 1024;

/// `read_until(b'\n')` that stops taking bytes past `cap`: returns the length of the
/// whole line (which may exceed `cap`, the bytes past it being skipped, not kept), so
/// a file of one endless line costs no more than `cap` of memory.
fn read_line_capped(
    reader: &mut impl BufRead,
    line: &mut Vec<u8>,
    cap: usize,
) -> std::io::Result<usize> {
    let mut total = 0usize;
    loop {
        let buf = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok(total);
        }
        let (end, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        let room = cap.saturating_sub(line.len());
        line.extend_from_slice(&buf[..end.min(room)]);
        total = total.saturating_add(end);
        reader.consume(end);
        if done || total > cap {
            return Ok(total);
        }
    }
}

/// Replaces `path` by a fresh file that `write` fills, fsynced when `sync`.
fn write_atomically(
    path: &Path,
    sync: bool,
    write: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    // A task of the same user can reach this directory: whatever it left at the
    // temporary name (a symbolic link to a file elsewhere, a FIFO) is unlinked, never
    // followed or opened, and the file written is a fresh one (`O_EXCL`), opened
    // without blocking.
    // A directory there (a task's doing) goes too, with what it holds (never
    // what links in it point to).
    let removed = match fs::symlink_metadata(&tmp) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(&tmp),
        Ok(_) => fs::remove_file(&tmp),
        Err(e) => Err(e),
    };
    match removed {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err("remove", &tmp)(e)),
    }
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK | nix::libc::O_NOCTTY)
        .open(&tmp)
        .map_err(io_err("write", &tmp))
        .and_then(|mut f| {
            write(&mut f).map_err(io_err("write", &tmp))?;
            if sync {
                f.sync_all().map_err(io_err("sync", &tmp))?;
            }
            Ok(())
        })
        .and_then(|()| fs::rename(&tmp, path).map_err(io_err("replace", path)));
    if written.is_err() {
        // A full disk leaves no half-written (often empty) file behind.
        let _ = fs::remove_file(&tmp);
    }
    written
}

impl StateStore for FileStore {
    fn create_run(&self, record: &RunRecord) -> Result<Box<dyn RunWriter>, StoreError> {
        check_run_id(&record.run_id)?;
        let dir = self.run_dir(&record.run_id);
        // `create_dir`, not `create_dir_all`: two runs must never share a directory.
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(StoreError::Exists(record.run_id.clone()));
            }
            Err(e) => return Err(io_err("create", &dir)(e)),
        }
        let logs = dir.join("logs");
        fs::create_dir(&logs).map_err(io_err("create", &logs))?;
        let lock_path = dir.join("lock");
        let lock = File::create(&lock_path).map_err(io_err("create", &lock_path))?;
        if lock.try_lock().is_err() {
            return Err(StoreError::Locked(record.run_id.clone()));
        }
        let events_path = dir.join("events.jsonl");
        let events = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&events_path)
            .map_err(io_err("open", &events_path))?;
        Ok(Box::new(FileRunWriter {
            dir,
            syncer: Syncer::start(&events),
            events,
            events_path,
            buffer: Vec::with_capacity(64 * 1024),
            _lock: lock,
        }))
    }

    fn open_run(&self, run_id: &str) -> Result<(RunRecord, Box<dyn RunWriter>), StoreError> {
        check_run_id(run_id)?;
        let dir = self.run_dir(run_id);
        if !dir.join("run.json").is_file() {
            return Err(StoreError::NotFound(run_id.to_string()));
        }
        let lock_path = dir.join("lock");
        let lock = open_regular(
            &lock_path,
            OpenOptions::new().create(true).truncate(false).write(true),
        )
        .map_err(io_err("open", &lock_path))?;
        if lock.try_lock().is_err() {
            return Err(StoreError::Locked(run_id.to_string()));
        }
        // Loaded under the lock: nobody else appends now. Written back from now
        // on in this dag's format (blocks: see `crate::engine::compact`).
        let mut record = self.load_run(run_id)?;
        record.version = record.version.max(crate::engine::record::RECORD_VERSION);
        let events_path = dir.join("events.jsonl");
        let mut events = open_regular(
            &events_path,
            OpenOptions::new().create(true).read(true).append(true),
        )
        .map_err(io_err("open", &events_path))?;
        // A line cut short by a crash was never committed; the next event must not
        // be glued onto it.
        drop_partial_line(&mut events).map_err(io_err("repair", &events_path))?;
        let writer = FileRunWriter {
            dir,
            syncer: Syncer::start(&events),
            events,
            events_path,
            buffer: Vec::with_capacity(64 * 1024),
            _lock: lock,
        };
        Ok((record, Box::new(writer)))
    }

    fn load_run(&self, run_id: &str) -> Result<RunRecord, StoreError> {
        check_run_id(run_id)?;
        // The driving process may write a new record and start its event log
        // afresh between our reading one and the other: read again then.
        let mut tries = 0;
        loop {
            match self.read_run(run_id)? {
                Some(record) => return Ok(record),
                None if tries < 5 => tries += 1,
                None => {
                    return Err(StoreError::Corrupt {
                        path: self
                            .run_dir(run_id)
                            .join("events.jsonl")
                            .display()
                            .to_string(),
                        detail: "it starts after events that run.json does not hold".into(),
                    });
                }
            }
        }
    }

    fn run_version(&self, run_id: &str) -> Result<u64, StoreError> {
        use std::hash::{Hash, Hasher};
        use std::os::unix::fs::MetadataExt;
        check_run_id(run_id)?;
        let dir = self.run_dir(run_id);
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for name in ["run.json", "events.jsonl"] {
            // Not followed: a planted link is no file of the run.
            match fs::symlink_metadata(dir.join(name)) {
                Ok(m) => (m.ino(), m.len(), m.mtime(), m.mtime_nsec()).hash(&mut h),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && name == "run.json" => {
                    return Err(StoreError::NotFound(run_id.to_string()));
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0u8.hash(&mut h),
                Err(e) => return Err(io_err("read", &dir.join(name))(e)),
            }
        }
        Ok(h.finish())
    }

    fn run_ids(&self) -> Result<Vec<String>, StoreError> {
        let runs = self.root.join("runs");
        let entries = match fs::read_dir(&runs) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err("list", &runs)(e)),
        };
        let mut ids: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|e| e.path().join("run.json").is_file())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        ids.sort();
        Ok(ids)
    }

    fn read_log(
        &self,
        run_id: &str,
        task: &str,
        attempt: u32,
        offset: u64,
        max: usize,
    ) -> Result<Vec<u8>, StoreError> {
        use std::io::{Read, Seek, SeekFrom};
        check_run_id(run_id)?;
        let path = self.log_path(run_id, task, attempt);
        let mut file = match open_regular(&path, File::options().read(true)) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err("read", &path)(e)),
        };
        file.seek(SeekFrom::Start(offset))
            .map_err(io_err("read", &path))?;
        let mut out = Vec::new();
        file.take(max as u64)
            .read_to_end(&mut out)
            .map_err(io_err("read", &path))?;
        Ok(out)
    }

    fn log_size(&self, run_id: &str, task: &str, attempt: u32) -> Result<u64, StoreError> {
        check_run_id(run_id)?;
        let path = self.log_path(run_id, task, attempt);
        // The link itself, never what a symbolic link put there points to.
        match fs::symlink_metadata(&path) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(io_err("read", &path)(e)),
        }
    }
}

struct FileRunWriter {
    dir: PathBuf,
    events: File,
    events_path: PathBuf,
    buffer: Vec<u8>,
    syncer: Syncer,
    _lock: File,
}

/// How often written events are fsynced: the most a power loss can take back.
pub const SYNC_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// Fsyncs the event log in the background, at most every [`SYNC_EVERY`], when
/// something was written: a crash of `dag` loses nothing written, a power loss at
/// most that much, and the scheduler never waits for the disk.
struct Syncer {
    state: std::sync::Arc<(std::sync::Mutex<SyncState>, std::sync::Condvar)>,
}

#[derive(Default)]
struct SyncState {
    dirty: bool,
    closed: bool,
}

impl Syncer {
    fn start(file: &File) -> Syncer {
        let state: std::sync::Arc<(std::sync::Mutex<SyncState>, std::sync::Condvar)> =
            std::sync::Arc::default();
        if let Ok(file) = file.try_clone() {
            let shared = state.clone();
            std::thread::spawn(move || {
                let (lock, wake) = &*shared;
                loop {
                    let Ok(mut s) = lock.lock() else { return };
                    while !s.dirty && !s.closed {
                        s = match wake.wait(s) {
                            Ok(s) => s,
                            Err(_) => return,
                        };
                    }
                    let closed = s.closed;
                    s.dirty = false;
                    drop(s);
                    let _ = file.sync_data();
                    if closed {
                        return;
                    }
                    std::thread::sleep(SYNC_EVERY);
                }
            });
        }
        Syncer { state }
    }

    fn dirty(&self) {
        let (lock, wake) = &*self.state;
        if let Ok(mut s) = lock.lock() {
            s.dirty = true;
            wake.notify_one();
        }
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        let (lock, wake) = &*self.state;
        if let Ok(mut s) = lock.lock() {
            s.closed = true;
            wake.notify_one();
        }
    }
}

/// Events are encoded into a buffer of this size and written with one `write` per
/// scheduling step ...
const BUFFER: usize = 64 * 1024;

/// ... or sooner, when a step's events reach this many bytes.
const FLUSH_AT: usize = 1024 * 1024;

/// The first line of an event log whose earlier events are in `run.json`: the
/// lines after it are events `folded + 1`, ...
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Folded {
    folded: u64,
}

/// Writes `record` as `path`: encoded straight into a fresh file, fsynced and
/// renamed into place (see [`write_atomically`]).
/// A record larger than dag reads back ([`MAX_RECORD_BYTES`]) is not written:
/// the write fails, and the run stops as on a full disk, readable as last
/// committed.
fn write_record(path: &Path, record: &RunRecord) -> Result<(), StoreError> {
    write_atomically(path, true, |f| {
        let capped = Capped {
            inner: f,
            left: MAX_RECORD_BYTES,
        };
        let mut out = std::io::BufWriter::with_capacity(BUFFER, capped);
        serde_json::to_writer(&mut out, record).map_err(std::io::Error::from)?;
        out.flush()
    })
}

/// A writer that refuses to take more than `left` bytes.
struct Capped<W> {
    inner: W,
    left: u64,
}

impl<W: Write> Write for Capped<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.len() as u64 > self.left {
            return Err(std::io::Error::new(
                std::io::ErrorKind::FileTooLarge,
                format!(
                    "the run's record would be larger than the {MAX_RECORD_BYTES} bytes dag reads back"
                ),
            ));
        }
        let n = self.inner.write(buf)?;
        self.left -= n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl FileRunWriter {
    fn open_events(path: &Path) -> Result<File, StoreError> {
        open_regular(path, OpenOptions::new().create(true).append(true))
            .map_err(io_err("open", path))
    }

    fn write_buffer(&mut self) -> Result<(), StoreError> {
        if !self.buffer.is_empty() {
            self.events
                .write_all(&self.buffer)
                .map_err(io_err("append to", &self.events_path))?;
            self.buffer.clear();
            self.syncer.dirty();
        }
        Ok(())
    }

    /// Starts the event log afresh once `run.json` holds its first `seq` events:
    /// a run's state on disk is its record plus the events since, not every event
    /// it ever had (three per task). The log is replaced atomically: a crash
    /// leaves either log, and both read back the same run.
    fn fold(&mut self, seq: u64) -> Result<(), StoreError> {
        let mut line = serde_json::to_vec(&Folded { folded: seq }).map_err(|e| StoreError::Io {
            action: "encode",
            path: self.events_path.display().to_string(),
            source: e.into(),
        })?;
        line.push(b'\n');
        // Not fsynced: should a power loss take the new log back, an empty log
        // reads as the same run (run.json, fsynced before, holds every event).
        write_atomically(&self.events_path, false, |f| f.write_all(&line))?;
        self.events = Self::open_events(&self.events_path)?;
        self.syncer = Syncer::start(&self.events);
        Ok(())
    }
}

impl RunWriter for FileRunWriter {
    fn append(&mut self, event: &Event) -> Result<(), StoreError> {
        serde_json::to_writer(&mut self.buffer, event).map_err(|e| StoreError::Io {
            action: "encode an event for",
            path: self.events_path.display().to_string(),
            source: e.into(),
        })?;
        self.buffer.push(b'\n');
        // A step of a million events is written as it is encoded, not held.
        if self.buffer.len() >= FLUSH_AT {
            self.write_buffer()?;
        }
        Ok(())
    }

    fn commit(&mut self, record: &RunRecord, final_record: bool) -> Result<(), StoreError> {
        self.write_buffer()?;
        if self.buffer.capacity() > FLUSH_AT {
            self.buffer = Vec::with_capacity(BUFFER);
        }
        if final_record {
            self.events
                .sync_data()
                .map_err(io_err("sync", &self.events_path))?;
            write_record(&self.dir.join("run.json"), record)?;
            // The new record's name is durable before the log it replaces goes.
            File::open(&self.dir)
                .and_then(|d| d.sync_all())
                .map_err(io_err("sync", &self.dir))?;
            self.fold(record.seq)?;
        }
        Ok(())
    }

    fn task_log(&mut self, task: &str, attempt: u32) -> Result<TaskLog, StoreError> {
        Ok(TaskLog::at(
            self.dir.join("logs").join(format!("{task}.{attempt}.log")),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::state::TaskState;
    use crate::engine::time::Timestamp;
    use crate::engine::validate::{LoadOptions, load_str};

    fn new_record() -> RunRecord {
        let dag = load_str(
            "t.yaml",
            "name: t\ntasks:\n  a: {command: x}\n",
            &LoadOptions::default(),
        )
        .unwrap();
        RunRecord::new("20260101T000000000Z-0000".into(), &dag, "t.yaml".into())
    }

    /// A store in a fresh directory with a new run created in it.
    fn created() -> (tempfile::TempDir, FileStore, RunRecord, Box<dyn RunWriter>) {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path()).unwrap();
        let record = new_record();
        let w = store.create_run(&record).unwrap();
        (dir, store, record, w)
    }

    /// A run's start and its task queued.
    fn first_events() -> [Event; 2] {
        [
            Event::RunStarted {
                at: Timestamp(1),
                host: "h".into(),
                pid: 1,
            },
            Event::TaskState {
                task: 0,
                state: TaskState::Queued,
                at: Timestamp(2),
                reason: None,
            },
        ]
    }

    #[test]
    fn a_run_s_version_changes_with_its_events_and_names_only_runs() {
        let (_dir, store, mut record, mut w) = created();
        w.commit(&record, true).unwrap();
        let before = store.run_version(&record.run_id).unwrap();
        assert_eq!(store.run_version(&record.run_id).unwrap(), before);
        for e in first_events() {
            record.apply(&e).unwrap();
            w.append(&e).unwrap();
        }
        w.commit(&record, false).unwrap();
        assert_ne!(store.run_version(&record.run_id).unwrap(), before);
        assert!(matches!(
            store.run_version("latest"),
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            store.run_version("../x"),
            Err(StoreError::NotFound(_))
        ));
    }

    #[test]
    fn committed_events_survive_without_a_final_record() {
        let (dir, store, mut record, mut w) = created();
        w.commit(&record, true).unwrap();
        for e in first_events() {
            record.apply(&e).unwrap();
            w.append(&e).unwrap();
        }
        w.commit(&record, false).unwrap();
        // The process dies here: no final record. A half-written line follows.
        drop(w);
        let events = dir
            .path()
            .join("runs")
            .join(&record.run_id)
            .join("events.jsonl");
        let mut f = OpenOptions::new().append(true).open(&events).unwrap();
        f.write_all(b"{\"event\":\"attempt_sta").unwrap();
        let loaded = store.load_run(&record.run_id).unwrap();
        assert_eq!(loaded, record);
    }

    #[test]
    fn the_log_starts_afresh_after_a_final_record_and_reads_back_the_same() {
        let (dir, store, mut record, mut w) = created();
        w.commit(&record, true).unwrap();
        let run_dir = dir.path().join("runs").join(&record.run_id);
        let first = std::fs::read(run_dir.join("run.json")).unwrap();
        let events = first_events();
        let apply = |w: &mut Box<dyn RunWriter>, record: &mut RunRecord, e: &Event| {
            record.apply(e).unwrap();
            w.append(e).unwrap();
        };
        apply(&mut w, &mut record, &events[0]);
        w.commit(&record, true).unwrap();
        assert_eq!(
            std::fs::read_to_string(run_dir.join("events.jsonl")).unwrap(),
            "{\"folded\":1}\n"
        );
        // Events after a fold are numbered on from it.
        apply(&mut w, &mut record, &events[1]);
        w.commit(&record, false).unwrap();
        assert_eq!(store.load_run(&record.run_id).unwrap(), record);
        drop(w);
        // A reader that took the record before the fold sees a log that starts
        // after it: it reads again, and a record that never catches up is damage.
        std::fs::write(run_dir.join("run.json"), first).unwrap();
        let err = store.load_run(&record.run_id).unwrap_err().to_string();
        assert!(err.contains("events.jsonl"), "{err}");
        assert!(
            err.contains("starts after events that run.json does not hold"),
            "{err}"
        );
    }

    /// Attack pass on issue 14: a directory a task left at a temporary name does
    /// not fail the run's last write; a record over what dag reads back is not
    /// written.
    #[test]
    fn a_directory_at_a_temporary_name_is_removed_and_records_are_capped() {
        let (dir, store, record, mut w) = created();
        let run_dir = dir.path().join("runs").join(&record.run_id);
        for name in ["events.jsonl.tmp", "run.json.tmp"] {
            std::fs::create_dir_all(run_dir.join(name).join("x")).unwrap();
        }
        w.commit(&record, true).unwrap();
        assert_eq!(store.load_run(&record.run_id).unwrap(), record);
        let mut out = Capped {
            inner: Vec::new(),
            left: 5,
        };
        out.write_all(b"12345").unwrap();
        let err = out.write_all(b"6").unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::FileTooLarge);
        assert_eq!(out.inner, b"12345");
    }

    #[test]
    fn a_line_is_read_up_to_the_cap_and_its_whole_length_told() {
        let mut line = Vec::new();
        let mut input: &[u8] = b"abcdef\nxy\nlast";
        assert_eq!(read_line_capped(&mut input, &mut line, 3).unwrap(), 7);
        assert_eq!(line, b"abc");
        line.clear();
        let mut input: &[u8] = b"xy\nlast";
        assert_eq!(read_line_capped(&mut input, &mut line, 3).unwrap(), 3);
        assert_eq!(line, b"xy\n");
        line.clear();
        assert_eq!(read_line_capped(&mut input, &mut line, 10).unwrap(), 4);
        assert_eq!(line, b"last");
    }

    #[test]
    fn threads_open_the_store_at_once() {
        let dir = tempfile::tempdir().unwrap();
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..50 {
                        FileStore::open(dir.path()).unwrap();
                    }
                });
            }
        });
    }

    #[test]
    fn a_fifo_at_the_probe_name_does_not_block_opening_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let runs = dir.path().join("runs");
        std::fs::create_dir(&runs).unwrap();
        let probe = runs.join(format!(".probe-{}", std::process::id()));
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&probe)
                .status()
                .unwrap()
                .success()
        );
        FileStore::open(dir.path()).unwrap();
        assert!(!probe.exists());
    }

    #[test]
    fn a_driven_run_is_locked() {
        let (_dir, store, record, w) = created();
        assert!(store.is_driven(&record.run_id));
        assert!(matches!(
            store.create_run(&record),
            Err(StoreError::Exists(_))
        ));
        drop(w);
        // A process forked by another test in this binary holds the lock's file
        // description until it execs (the descriptor is close-on-exec): allow it
        // that moment.
        let released = (0..100).any(|_| {
            let free = !store.is_driven(&record.run_id);
            if !free {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            free
        });
        assert!(released);
    }

    #[test]
    fn run_ids_cannot_escape_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path()).unwrap();
        assert!(matches!(
            store.load_run("../x"),
            Err(StoreError::NotFound(_))
        ));
    }
}
