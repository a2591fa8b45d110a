//! The cache in a directory: `cache/` beside the file store's runs. An entry is
//! the file `cache/KK/KEY` (KK: the key's first two digits); new entries are
//! written under `cache/tmp/` and renamed into place, so a reader sees a whole
//! entry or none, and two runs saving the same key at once leave one of them.

use std::path::{Path, PathBuf};

use crate::engine::cache::{CacheStore, Listed, entry};
use crate::engine::runner::BoxFuture;

/// Scratch files older than this are left-overs of a killed writer.
const STALE_SCRATCH: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// A cache kept in a directory.
pub struct DirCache {
    dir: PathBuf,
}

impl DirCache {
    /// The cache in `dir` (created when first written).
    pub fn new(dir: impl Into<PathBuf>) -> DirCache {
        DirCache { dir: dir.into() }
    }

    fn path(&self, key: &str) -> Option<PathBuf> {
        entry_path(&self.dir, key)
    }

    /// What [`CacheStore::remove`] removes under `key`: the entry of a key, or a
    /// file `list` found where no key's entry goes, by the name it listed it
    /// under (`SHARD/NAME`).
    fn removable(&self, key: &str) -> Option<PathBuf> {
        if let Some(path) = self.path(key) {
            return Some(path);
        }
        let (shard, name) = key.split_once('/')?;
        let plain = |s: &str| !s.is_empty() && s != "." && s != ".." && !s.contains(['/', '\0']);
        (plain(shard) && plain(name) && self.dir.join(shard) != self.scratch())
            .then(|| self.dir.join(shard).join(name))
    }
}

/// Where the entry of `key` goes in `dir`. Keys are hexadecimal digests:
/// anything else names no entry (and no path).
fn entry_path(dir: &Path, key: &str) -> Option<PathBuf> {
    if key.len() < 3 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(dir.join(&key[..2]).join(key))
}

fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> BoxFuture<'static, Result<T, String>> {
    Box::pin(async move {
        tokio::task::spawn_blocking(f)
            .await
            .unwrap_or_else(|e| Err(e.to_string()))
    })
}

impl CacheStore for DirCache {
    fn scratch(&self) -> PathBuf {
        self.dir.join("tmp")
    }

    fn fetch(&self, key: &str) -> BoxFuture<'static, Result<Option<std::fs::File>, String>> {
        let path = self.path(key);
        blocking(move || {
            let Some(path) = path else { return Ok(None) };
            match crate::engine::capped_read::open_regular(
                &path,
                std::fs::OpenOptions::new().read(true),
            ) {
                Ok(f) => Ok(Some(f)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(format!("{}: {e}", path.display())),
            }
        })
    }

    fn store(
        &self,
        path: PathBuf,
        header: entry::Header,
    ) -> BoxFuture<'static, Result<(), String>> {
        let target = self.path(&header.key);
        blocking(move || {
            let Some(target) = target else {
                let _ = std::fs::remove_file(&path);
                return Err(format!("`{}` is not a cache key", header.key));
            };
            let parent = target.parent().unwrap_or(Path::new("."));
            // Something other than a file where the entry goes (a directory) is
            // cleared first: rename cannot replace it.
            if std::fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir()) {
                let _ = std::fs::remove_dir_all(&target);
            }
            let done = std::fs::create_dir_all(parent)
                .and_then(|()| std::fs::rename(&path, &target))
                .map_err(|e| format!("{}: {e}", target.display()));
            if done.is_err() {
                let _ = std::fs::remove_file(&path);
            }
            done
        })
    }

    fn remove(&self, key: &str) -> BoxFuture<'static, Result<bool, String>> {
        let path = self.removable(key);
        blocking(move || {
            let Some(path) = path else { return Ok(false) };
            let gone = if std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            match gone {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
                Err(e) => Err(format!("{}: {e}", path.display())),
            }
        })
    }

    fn list(&self) -> BoxFuture<'static, Result<Vec<Listed>, String>> {
        let dir = self.dir.clone();
        let scratch = self.scratch();
        blocking(move || {
            let mut out = Vec::new();
            let Ok(shards) = std::fs::read_dir(&dir) else {
                return Ok(out);
            };
            for shard in shards.flatten() {
                if shard.path() == scratch || !shard.file_type().is_ok_and(|t| t.is_dir()) {
                    continue;
                }
                for e in std::fs::read_dir(shard.path())
                    .into_iter()
                    .flatten()
                    .flatten()
                {
                    let path = e.path();
                    let name = e.file_name().to_string_lossy().into_owned();
                    let listed = crate::engine::capped_read::open_regular(
                        &path,
                        std::fs::OpenOptions::new().read(true),
                    )
                    .map_err(|e| e.to_string())
                    .and_then(|mut f| {
                        let bytes = f.metadata().map_err(|e| e.to_string())?.len();
                        entry::header(&mut f).map(|h| Listed::from((&h, bytes)))
                    });
                    out.push(match listed {
                        Ok(l) if l.key == name => l,
                        // A damaged entry is listed by its name, to be removed;
                        // a file where no key's entry goes, as SHARD/NAME.
                        _ => Listed {
                            key: if entry_path(&dir, &name).as_deref() == Some(path.as_path()) {
                                name
                            } else {
                                format!("{}/{name}", shard.file_name().to_string_lossy())
                            },
                            dag: String::new(),
                            task: String::new(),
                            run_id: String::new(),
                            created_ms: 0,
                            bytes: e.metadata().map_or(0, |m| m.len()),
                        },
                    });
                }
            }
            // Scratch files a killed writer left are removed once they are old.
            for e in std::fs::read_dir(&scratch).into_iter().flatten().flatten() {
                let old = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > STALE_SCRATCH);
                if old {
                    let _ = std::fs::remove_file(e.path());
                }
            }
            out.sort_by(|a, b| (a.created_ms, &a.key).cmp(&(b.created_ms, &b.key)));
            Ok(out)
        })
    }

    fn describe(&self) -> String {
        format!("the cache in {}", self.dir.display())
    }
}
