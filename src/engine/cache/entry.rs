//! A cache entry: one file holding a successful execution's log and output
//! files, then a header that describes them (exit code, outputs, each piece's
//! length and SHA-256), then the header's length and a magic marker. Writing
//! streams each piece once, hashing as it goes; reading checks the layout and
//! every digest before anything is put back, so a truncated or altered entry is
//! a miss, never a half-restored result.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};

use ring::digest::{Context, SHA256};
use serde::{Deserialize, Serialize};

use crate::engine::runner::{Outputs, TaskLog};

/// The first and last bytes of every entry.
const MAGIC: &[u8; 10] = b"DAGCACHE1\n";

/// The header's length (u64, little-endian) and the magic, at the end.
const TRAILER: u64 = 8 + MAGIC.len() as u64;

/// The largest header read: outputs of up to 32 MiB, escaped.
pub const MAX_HEADER_BYTES: u64 = 256 * 1024 * 1024;

/// The most files one entry may hold.
pub const MAX_FILES: usize = 100_000;

/// What an entry says of itself.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Header {
    /// The key it is stored under.
    pub key: String,
    /// The DAG and task that saved it.
    pub dag: String,
    /// The task (instance) id.
    pub task: String,
    /// The run that saved it.
    pub run_id: String,
    /// When it was saved, in milliseconds since the epoch.
    pub created_ms: u64,
    /// The execution's exit code.
    pub exit_code: Option<i32>,
    /// What it published (secrets already masked, as the run record keeps them).
    pub outputs: Outputs,
    /// Its log.
    pub log: Piece,
    /// The files of `cache.outputs`, in order.
    pub files: Vec<SavedFile>,
}

/// A stretch of bytes of the entry.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Piece {
    /// Its length.
    pub len: u64,
    /// Its SHA-256, in hexadecimal.
    pub sha256: String,
}

/// One saved output file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SavedFile {
    /// Where it goes, relative to the task's directory.
    pub path: String,
    /// Its permission bits.
    pub mode: u32,
    /// Its content.
    #[serde(flatten)]
    pub piece: Piece,
}

/// What a new entry holds besides its pieces.
pub struct NewEntry<'a> {
    /// Key, DAG, task, run, exit code and outputs; `log` and `files` are filled in.
    pub header: Header,
    /// The attempt's log and where the execution's own lines begin in it.
    pub log: Option<(&'a Path, u64)>,
    /// Output files: relative path (as the header keeps it) and path to read.
    pub files: Vec<(String, PathBuf)>,
}

/// Copies `reader` to `out`, hashing what passes.
fn copy_hashed(reader: &mut impl Read, out: &mut impl Write) -> std::io::Result<Piece> {
    let mut ctx = Context::new(&SHA256);
    let mut buf = vec![0u8; 256 * 1024];
    let mut len = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        ctx.update(&buf[..n]);
        out.write_all(&buf[..n])?;
        len += n as u64;
    }
    Ok(Piece {
        len,
        sha256: crate::engine::text::hex(ctx.finish().as_ref()),
    })
}

/// How the names of files being written start (entries, and output files being
/// put back): such files are never saved as outputs (a killed restore leaves them
/// beside the task's files).
pub const SCRATCH_PREFIX: &str = ".dag-cache-tmp-";

/// A new file in `dir` with a name no other writer uses.
pub fn scratch_file(dir: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    std::fs::create_dir_all(dir)?;
    loop {
        let path = dir.join(format!(
            "{SCRATCH_PREFIX}{}-{:016x}",
            std::process::id(),
            fastrand::u64(..)
        ));
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(f) => return Ok((path, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Writes `entry` to a new file in `dir` and returns its path and header
/// (blocking). The file is removed again when writing fails.
pub fn write(dir: &Path, entry: NewEntry<'_>) -> Result<(PathBuf, Header), String> {
    let (path, file) = scratch_file(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    match write_to(file, entry) {
        Ok(header) => Ok((path, header)),
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            Err(e)
        }
    }
}

fn write_to(file: std::fs::File, entry: NewEntry<'_>) -> Result<Header, String> {
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, file);
    let io = |e: std::io::Error| e.to_string();
    out.write_all(MAGIC).map_err(io)?;
    let mut header = entry.header;
    header.log = match entry.log {
        Some((path, from)) => match std::fs::File::open(path) {
            Ok(mut log) => {
                log.seek(SeekFrom::Start(from)).map_err(io)?;
                copy_hashed(&mut log, &mut out).map_err(io)?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                copy_hashed(&mut std::io::empty(), &mut out).map_err(io)?
            }
            Err(e) => return Err(format!("the log: {e}")),
        },
        None => copy_hashed(&mut std::io::empty(), &mut out).map_err(io)?,
    };
    if entry.files.len() > MAX_FILES {
        return Err(format!(
            "`cache.outputs` name {} files, more than the {MAX_FILES} an entry holds",
            entry.files.len()
        ));
    }
    header.files = Vec::with_capacity(entry.files.len());
    for (rel, path) in entry.files {
        let mut f = crate::engine::capped_read::open_regular_target(&path)
            .map_err(|e| format!("{rel}: {e}"))?;
        use std::os::unix::fs::PermissionsExt;
        let mode = f.metadata().map_err(io)?.permissions().mode() & 0o777;
        let piece = copy_hashed(&mut f, &mut out).map_err(|e| format!("{rel}: {e}"))?;
        header.files.push(SavedFile {
            path: rel,
            mode,
            piece,
        });
    }
    let text = serde_json::to_vec(&header).map_err(|e| e.to_string())?;
    out.write_all(&text).map_err(io)?;
    out.write_all(&(text.len() as u64).to_le_bytes())
        .map_err(io)?;
    out.write_all(MAGIC).map_err(io)?;
    out.into_inner()
        .map_err(|e| e.error().to_string())?
        .flush()
        .map_err(io)?;
    Ok(header)
}

/// Reads an entry's header, checking the entry's layout: its pieces fill it
/// exactly and every file goes below the task's directory (blocking).
pub fn header(file: &mut std::fs::File) -> Result<Header, String> {
    let io = |e: std::io::Error| e.to_string();
    let len = file.metadata().map_err(io)?.len();
    if len < MAGIC.len() as u64 + TRAILER {
        return Err("truncated".into());
    }
    let mut start = [0u8; MAGIC.len()];
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    file.read_exact(&mut start).map_err(io)?;
    let mut end = [0u8; TRAILER as usize];
    file.seek(SeekFrom::Start(len - TRAILER)).map_err(io)?;
    file.read_exact(&mut end).map_err(io)?;
    if &start != MAGIC || &end[8..] != MAGIC {
        return Err("not a dag cache entry, or truncated".into());
    }
    let header_len = u64::from_le_bytes(end[..8].try_into().unwrap_or_default());
    let body = len - MAGIC.len() as u64 - TRAILER;
    if header_len > MAX_HEADER_BYTES || header_len > body {
        return Err(format!("a header of {header_len} bytes does not fit"));
    }
    file.seek(SeekFrom::Start(len - TRAILER - header_len))
        .map_err(io)?;
    let mut text = vec![0u8; header_len as usize];
    file.read_exact(&mut text).map_err(io)?;
    let header: Header = serde_json::from_slice(&text).map_err(|e| format!("its header: {e}"))?;
    if header.files.len() > MAX_FILES {
        return Err(format!("{} files", header.files.len()));
    }
    let pieces = header
        .files
        .iter()
        .map(|f| f.piece.len)
        .try_fold(header.log.len, u64::checked_add);
    if pieces != Some(body - header_len) {
        return Err("its pieces do not fill it".into());
    }
    if let Some(bad) = header.files.iter().find(|f| !safe_path(&f.path)) {
        return Err(format!(
            "a file path that leaves the task's directory: {:?}",
            bad.path
        ));
    }
    // Each place once, and none below another file: such an entry could only be
    // put back in part.
    let places: std::collections::HashSet<PathBuf> = header
        .files
        .iter()
        .map(|f| Path::new(&f.path).components().collect())
        .collect();
    if places.len() != header.files.len() {
        return Err("a file path that appears twice".into());
    }
    if let Some(bad) = places
        .iter()
        .find(|p| p.ancestors().skip(1).any(|a| places.contains(a)))
    {
        return Err(format!(
            "a file path below another saved file: {:?}",
            bad.display()
        ));
    }
    Ok(header)
}

/// Whether `path` is relative, names something, and never goes up.
fn safe_path(path: &str) -> bool {
    !path.is_empty()
        && !path.contains('\0')
        && Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

/// Reads `len` bytes of `file` into `out`, hashing them, and checks the digest.
fn piece(
    file: &mut std::fs::File,
    want: &Piece,
    out: &mut impl Write,
    what: &str,
) -> Result<(), String> {
    let got =
        copy_hashed(&mut (&mut *file).take(want.len), out).map_err(|e| format!("{what}: {e}"))?;
    if got.len != want.len || got.sha256 != want.sha256 {
        return Err(format!("{what} does not match its digest"));
    }
    Ok(())
}

/// Checks every piece of the entry against its digest (blocking).
pub fn verify(file: &mut std::fs::File, header: &Header) -> Result<(), String> {
    file.seek(SeekFrom::Start(MAGIC.len() as u64))
        .map_err(|e| e.to_string())?;
    piece(file, &header.log, &mut std::io::sink(), "the log")?;
    for f in &header.files {
        piece(file, &f.piece, &mut std::io::sink(), &f.path)?;
    }
    Ok(())
}

/// Puts a verified entry's files below `base` (blocking), all or none: each is
/// written beside its place first (checked against its digest), and only when
/// every one is ready are they renamed over their places. A directory on the way
/// that is a symbolic link is refused, not followed.
pub fn restore_files(file: &mut std::fs::File, header: &Header, base: &Path) -> Result<(), String> {
    file.seek(SeekFrom::Start(MAGIC.len() as u64 + header.log.len))
        .map_err(|e| e.to_string())?;
    let mut staged: Vec<(PathBuf, PathBuf)> = Vec::with_capacity(header.files.len());
    let discard = |staged: &[(PathBuf, PathBuf)]| {
        for (tmp, _) in staged {
            let _ = std::fs::remove_file(tmp);
        }
    };
    for f in &header.files {
        match stage(file, f, base) {
            Ok(pair) => staged.push(pair),
            Err(e) => {
                discard(&staged);
                return Err(e);
            }
        }
    }
    for (n, (tmp, target)) in staged.iter().enumerate() {
        if let Err(e) = std::fs::rename(tmp, target) {
            discard(&staged[n..]);
            return Err(format!("{}: {e}", target.display()));
        }
    }
    Ok(())
}

/// Writes the next piece of `file`, saved file `f`, beside its place below
/// `base`: the temporary file and the place.
fn stage(
    file: &mut std::fs::File,
    f: &SavedFile,
    base: &Path,
) -> Result<(PathBuf, PathBuf), String> {
    let target = base.join(&f.path);
    let parent = target.parent().unwrap_or(base);
    no_links_between(base, parent)?;
    std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    no_links_between(base, parent)?;
    if std::fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir()) {
        return Err(format!("{} is a directory", target.display()));
    }
    let (tmp, mut out) = scratch_file(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    let written = piece(file, &f.piece, &mut out, &f.path).and_then(|()| {
        use std::os::unix::fs::PermissionsExt;
        out.set_permissions(std::fs::Permissions::from_mode(f.mode & 0o777))
            .map_err(|e| format!("{}: {e}", target.display()))
    });
    match written {
        Ok(()) => Ok((tmp, target)),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Puts a verified entry's log into `log` (blocking).
pub fn restore_log(file: &mut std::fs::File, header: &Header, log: &TaskLog) -> Result<(), String> {
    file.seek(SeekFrom::Start(MAGIC.len() as u64))
        .map_err(|e| e.to_string())?;
    piece(file, &header.log, &mut LogWriter(log), "the log")
}

/// Puts a verified entry's files below `base` and then its log into `log`
/// (blocking; see [`restore_files`]).
pub fn restore(
    file: &mut std::fs::File,
    header: &Header,
    base: &Path,
    log: &TaskLog,
) -> Result<(), String> {
    restore_files(file, header, base)?;
    restore_log(file, header, log)
}

/// Refuses a symbolic link at any directory from `base` (exclusive) to `dir`.
pub fn no_links_between(base: &Path, dir: &Path) -> Result<(), String> {
    let Ok(rel) = dir.strip_prefix(base) else {
        return Ok(());
    };
    let mut at = base.to_path_buf();
    for c in rel.components() {
        at.push(c);
        if std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(format!(
                "{} is a symbolic link: output files are not put back through it",
                at.display()
            ));
        }
    }
    Ok(())
}

/// Writes into a task's log.
struct LogWriter<'a>(&'a TaskLog);

impl Write for LogWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("dag-entry-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn new_header() -> Header {
        Header {
            key: "k".into(),
            dag: "d".into(),
            task: "t".into(),
            run_id: "r".into(),
            created_ms: 1,
            exit_code: Some(0),
            outputs: [("a".to_string(), "1".to_string())].into(),
            log: Piece {
                len: 0,
                sha256: String::new(),
            },
            files: Vec::new(),
        }
    }

    #[test]
    fn an_entry_reads_back_and_restores_its_log_and_files() {
        let d = dir("round");
        std::fs::write(d.join("log"), "before\nthe task's own line\n").unwrap();
        std::fs::create_dir_all(d.join("work/dist")).unwrap();
        std::fs::write(d.join("work/dist/a.tar"), vec![7u8; 300_000]).unwrap();
        let (path, _) = write(
            &d.join("cache"),
            NewEntry {
                header: new_header(),
                log: Some((&d.join("log"), 7)),
                files: vec![("dist/a.tar".into(), d.join("work/dist/a.tar"))],
            },
        )
        .unwrap();
        let mut f = std::fs::File::open(&path).unwrap();
        let h = header(&mut f).unwrap();
        verify(&mut f, &h).unwrap();
        std::fs::remove_dir_all(d.join("work")).unwrap();
        let log = TaskLog::at(d.join("restored.log"));
        restore(&mut f, &h, &d.join("work"), &log).unwrap();
        assert_eq!(
            std::fs::read_to_string(d.join("restored.log")).unwrap(),
            "the task's own line\n"
        );
        assert_eq!(
            std::fs::read(d.join("work/dist/a.tar")).unwrap(),
            vec![7u8; 300_000]
        );
        assert_eq!(h.outputs["a"], "1");

        // Any byte changed, or the entry cut short, is refused.
        let bytes = std::fs::read(&path).unwrap();
        for cut in [bytes.len() - 1, bytes.len() / 2, 5, 0] {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            let mut f = std::fs::File::open(&path).unwrap();
            assert!(header(&mut f).is_err(), "cut at {cut}");
        }
        let mut flipped = bytes.clone();
        flipped[20] ^= 1;
        std::fs::write(&path, &flipped).unwrap();
        let mut f = std::fs::File::open(&path).unwrap();
        let h = header(&mut f).unwrap();
        assert!(verify(&mut f, &h).unwrap_err().contains("digest"));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn an_entry_is_put_back_whole_or_not_at_all() {
        let d = dir("whole");
        std::fs::write(d.join("f"), "x").unwrap();
        let entry = |files: &[&str]| {
            let (path, _) = write(
                &d.join("cache"),
                NewEntry {
                    header: new_header(),
                    log: None,
                    files: files.iter().map(|f| (f.to_string(), d.join("f"))).collect(),
                },
            )
            .unwrap();
            std::fs::File::open(path).unwrap()
        };
        // Places that could only be put back in part are refused up front.
        for (files, why) in [
            (&["a", "a/b"][..], "below another"),
            (&["a/b", "a"][..], "below another"),
            (&["a/b", "a//b"][..], "twice"),
        ] {
            let e = header(&mut entry(files)).unwrap_err();
            assert!(e.contains(why), "{files:?}: {e}");
        }
        // A place that cannot be written: nothing is put back, nothing left over.
        let mut f = entry(&["one", "two"]);
        let h = header(&mut f).unwrap();
        let work = d.join("work");
        std::fs::create_dir_all(work.join("two")).unwrap();
        std::fs::write(work.join("one"), "before").unwrap();
        let e = restore_files(&mut f, &h, &work).unwrap_err();
        assert!(e.contains("is a directory"), "{e}");
        assert_eq!(std::fs::read_to_string(work.join("one")).unwrap(), "before");
        let names: Vec<_> = std::fs::read_dir(&work)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        std::fs::remove_dir(work.join("two")).unwrap();
        restore_files(&mut f, &h, &work).unwrap();
        assert_eq!(std::fs::read_to_string(work.join("one")).unwrap(), "x");
        assert_eq!(std::fs::read_to_string(work.join("two")).unwrap(), "x");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn files_are_never_put_back_through_a_link_or_outside() {
        let d = dir("links");
        std::fs::write(d.join("f"), "x").unwrap();
        let (path, _) = write(
            &d.join("cache"),
            NewEntry {
                header: new_header(),
                log: None,
                files: vec![("sub/f".into(), d.join("f"))],
            },
        )
        .unwrap();
        std::fs::create_dir_all(d.join("work")).unwrap();
        std::fs::create_dir_all(d.join("elsewhere")).unwrap();
        std::os::unix::fs::symlink(d.join("elsewhere"), d.join("work/sub")).unwrap();
        let mut f = std::fs::File::open(&path).unwrap();
        let h = header(&mut f).unwrap();
        let log = TaskLog::at(d.join("l"));
        let e = restore(&mut f, &h, &d.join("work"), &log).unwrap_err();
        assert!(e.contains("symbolic link"), "{e}");
        assert!(!d.join("elsewhere/f").exists());
        for bad in ["../f", "/etc/f", "", "a/../../f"] {
            assert!(!safe_path(bad), "{bad}");
        }
        std::fs::remove_dir_all(&d).unwrap();
    }
}
