//! Reading files whose path a user or a task chooses, with a bound on the bytes read
//! and on the time spent waiting.
//!
//! A size taken from `metadata()` bounds nothing: it is 0 for `/dev/zero`, a FIFO or
//! `/dev/stdin`, and a file can grow after it was measured. So the read itself is
//! capped (at most `cap + 1` bytes are ever taken, which is how "over the cap" is
//! told from "exactly the cap"), and what is read is what was opened (`fstat` of the
//! handle, never a second lookup of the path).

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;
use std::time::Duration;

use nix::libc;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

/// How long a pipe, FIFO or device given as a file may stay silent before the read
/// gives up: a generator (`dag validate <(make-dag)`) has that long between writes.
pub const STREAM_IDLE: Duration = Duration::from_secs(30);

/// Why a capped read failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The OS refused (missing file, no permission, a symbolic link where none may be…).
    #[error("{0}")]
    Io(#[from] io::Error),
    /// More than `cap` bytes were there to read.
    #[error("holds more than {cap} bytes")]
    TooBig {
        /// The cap that was passed.
        cap: u64,
    },
    /// The path names something other than a regular file where only one may be read.
    #[error("is {0}, not a regular file")]
    NotRegular(&'static str),
    /// A pipe, FIFO or device gave nothing for this long.
    #[error("gave no data for {}", humantime::format_duration(*.0))]
    Idle(Duration),
}

/// What kind of file `file_type` is, in words.
pub fn describe(file_type: std::fs::FileType) -> &'static str {
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_symlink() {
        "a symbolic link"
    } else {
        "a regular file"
    }
}

/// Reads `path` to its end, taking at most `cap` bytes. The path may be a regular
/// file or, given explicitly by the user, a pipe, FIFO or device (`<(cat f)`,
/// `/dev/stdin`): those are read until their end as `cat` would, but a read that
/// waits more than `idle` for the next bytes (a FIFO nobody writes) fails rather
/// than hanging, and `/dev/zero` stops at the cap.
pub fn read_capped(path: &Path, cap: u64, idle: Duration) -> Result<Vec<u8>, ReadError> {
    // Non-blocking, so that opening a FIFO with no writer returns at once.
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let kind = file.metadata()?.file_type();
    if kind.is_dir() {
        return Err(ReadError::NotRegular("a directory"));
    }
    if kind.is_file() {
        return read_file(&file, cap);
    }
    let limit = cap.saturating_add(1);
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    while (out.len() as u64) < limit {
        // Waiting in `poll` rather than in `read`: a FIFO that never had a writer
        // reads as its end, but polls as "not ready" until a writer comes.
        let mut fds = [PollFd::new(file.as_fd(), PollFlags::POLLIN)];
        let timeout = PollTimeout::try_from(idle).unwrap_or(PollTimeout::MAX);
        match poll(&mut fds, timeout) {
            Ok(0) => return Err(ReadError::Idle(idle)),
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(io::Error::from(e).into()),
        }
        let want = buf.len().min((limit - out.len() as u64) as usize);
        match (&file).read(&mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if out.len() as u64 > cap {
        return Err(ReadError::TooBig { cap });
    }
    Ok(out)
}

/// Reads the regular file at `path`, taking at most `cap` bytes; `Ok(None)` when there
/// is no file. For a file that someone else (a task) may have replaced: the final
/// component is never followed if it is a symbolic link, opening never blocks (a
/// FIFO), and anything but a regular file is refused without reading it.
pub fn read_regular(path: &Path, cap: u64) -> Result<Option<Vec<u8>>, ReadError> {
    let file = match File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        // O_NOFOLLOW on a symbolic link.
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(ReadError::NotRegular("a symbolic link"));
        }
        Err(e) => return Err(e.into()),
    };
    let kind = file.metadata()?.file_type();
    if !kind.is_file() {
        return Err(ReadError::NotRegular(describe(kind)));
    }
    read_file(&file, cap).map(Some)
}

/// Opens `path` with `options` and refuses anything but a regular file, judged on
/// the opened handle. `O_NONBLOCK` is added so that a FIFO put where a file is
/// expected cannot block the open itself (a FIFO opened for writing with no reader
/// fails with "no such device or address" instead); it changes nothing for regular
/// files. `O_NOFOLLOW` is added so that a symbolic link put there is refused ("is a
/// symbolic link") rather than followed to a file elsewhere. For state and log
/// files, which a task running as the same user could replace.
pub fn open_regular(path: &Path, options: &mut std::fs::OpenOptions) -> io::Result<File> {
    open_checked(path, options, libc::O_NOFOLLOW)
}

/// Opens the regular file at `path` for reading, through symbolic links, refusing
/// FIFOs and devices without blocking (see [`open_regular`]): for files a user names
/// for dag to read whole, such as a cached task's inputs.
pub fn open_regular_target(path: &Path) -> io::Result<File> {
    open_checked(path, File::options().read(true), 0)
}

fn open_checked(path: &Path, options: &mut std::fs::OpenOptions, extra: i32) -> io::Result<File> {
    let file = match options
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | extra)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if extra & libc::O_NOFOLLOW != 0 && e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "is a symbolic link, not a regular file",
            ));
        }
        Err(e) => return Err(e),
    };
    let kind = file.metadata()?.file_type();
    if !kind.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("is {}, not a regular file", describe(kind)),
        ));
    }
    Ok(file)
}

/// Reads the regular file at `path` (through symbolic links: a certificate store
/// links its files), taking at most `cap` bytes, refusing FIFOs and devices. For
/// files the user names for a library to read (credentials, CA certificates), checked
/// here first so that `/dev/zero` or a FIFO there is an error, not a hang.
pub fn read_file_capped(path: &Path, cap: u64) -> Result<Vec<u8>, ReadError> {
    let file = open_checked(path, File::options().read(true), 0)?;
    read_file(&file, cap)
}

fn read_file(file: &File, cap: u64) -> Result<Vec<u8>, ReadError> {
    // A file already known to be too big is refused without reading it; one that
    // grows while being read is still stopped by the cap on the read.
    if file.metadata()?.len() > cap {
        return Err(ReadError::TooBig { cap });
    }
    let mut out = Vec::new();
    file.take(cap.saturating_add(1)).read_to_end(&mut out)?;
    if out.len() as u64 > cap {
        return Err(ReadError::TooBig { cap });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn fifo(dir: &Path) -> std::path::PathBuf {
        let path = dir.join("fifo");
        let status = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success());
        path
    }

    #[test]
    fn dev_zero_stops_at_the_cap() {
        let err = read_capped(Path::new("/dev/zero"), 1000, STREAM_IDLE).unwrap_err();
        assert!(matches!(err, ReadError::TooBig { cap: 1000 }), "{err}");
    }

    #[test]
    fn a_regular_file_exactly_at_the_cap_is_read_and_one_more_byte_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, [b'x'; 10]).unwrap();
        assert_eq!(read_capped(&path, 10, STREAM_IDLE).unwrap().len(), 10);
        assert_eq!(read_regular(&path, 10).unwrap().unwrap().len(), 10);
        assert!(matches!(
            read_capped(&path, 9, STREAM_IDLE),
            Err(ReadError::TooBig { cap: 9 })
        ));
        assert!(matches!(
            read_regular(&path, 9),
            Err(ReadError::TooBig { cap: 9 })
        ));
    }

    #[test]
    fn a_fifo_nobody_writes_gives_up_after_the_idle_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = fifo(dir.path());
        let start = Instant::now();
        let err = read_capped(&path, 1000, Duration::from_millis(200)).unwrap_err();
        assert!(matches!(err, ReadError::Idle(_)), "{err}");
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_fifo_is_read_to_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = fifo(dir.path());
        let writer = {
            let path = path.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(100));
                let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
                std::io::Write::write_all(&mut f, b"name: x\n").unwrap();
            })
        };
        let bytes = read_capped(&path, 1000, Duration::from_secs(10)).unwrap();
        writer.join().unwrap();
        assert_eq!(bytes, b"name: x\n");
    }

    #[test]
    fn open_regular_refuses_a_fifo_or_a_symlink_for_reading_and_writing_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let path = fifo(dir.path());
        let err = open_regular(&path, File::options().read(true)).unwrap_err();
        assert!(err.to_string().contains("is a FIFO"), "{err}");
        assert!(open_regular(&path, File::options().append(true)).is_err());
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(dir.path().join("target"), &link).unwrap();
        let err = open_regular(&link, File::options().create(true).append(true)).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert!(!dir.path().join("target").exists());
        let err = open_regular(Path::new("/dev/zero"), File::options().read(true)).unwrap_err();
        assert!(err.to_string().contains("a character device"), "{err}");
        let file = dir.path().join("f");
        let mut f = open_regular(&file, File::options().create(true).append(true)).unwrap();
        std::io::Write::write_all(&mut f, b"ok").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"ok");
    }

    #[test]
    fn read_regular_refuses_fifos_and_symlinks_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let path = fifo(dir.path());
        assert!(matches!(
            read_regular(&path, 10),
            Err(ReadError::NotRegular("a FIFO"))
        ));
        let link = dir.path().join("link");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        assert!(matches!(
            read_regular(&link, 10),
            Err(ReadError::NotRegular("a symbolic link"))
        ));
        assert!(
            read_regular(&dir.path().join("missing"), 10)
                .unwrap()
                .is_none()
        );
    }
}
