//! The workers' cache: the NATS Object Store bucket [`CACHE_BUCKET`], one object
//! per entry named by its key, with the DAG, task, run and time it was saved as
//! the object's metadata (so that listing reads no entry). An entry is fetched
//! into a local file before it is checked and put back; a put replaces any
//! object of the same name whole (the object store publishes an object's
//! description after its chunks), so two workers saving one key at once leave
//! one whole entry.

use std::collections::HashMap;
use std::path::PathBuf;

use async_nats::jetstream;
use async_nats::jetstream::object_store::{self, ObjectMetadata};

use crate::engine::cache::{CacheStore, Listed, entry};
use crate::engine::runner::BoxFuture;

/// Object store bucket of cache entries.
pub const CACHE_BUCKET: &str = "dag_cache";

/// The largest entry fetched: past it, an object is no entry of ours.
pub const MAX_ENTRY_BYTES: u64 = 64 * 1024 * 1024 * 1024;

/// The longest the server may take to describe an entry, or to send the next
/// piece of one: chunks that never come (an object whose description was
/// written without them) make the entry unusable, never a task that waits for
/// ever.
pub const WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Whether `nuid` can name an object's chunks: one subject token, no wildcard.
pub(super) fn valid_nuid(nuid: &str) -> bool {
    !nuid.is_empty() && nuid.len() <= 64 && nuid.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Removes the description of object `key` of `bucket` when it names its
/// chunks by something other than one subject token: `put` and `delete` purge
/// the chunks the description they replace names, and `>` names every entry's.
pub(super) async fn drop_forged(
    js: &jetstream::Context,
    bucket: &str,
    store: &object_store::ObjectStore,
    key: &str,
) -> Result<(), String> {
    let Ok(Ok(info)) = tokio::time::timeout(WAIT, store.info(key)).await else {
        return Ok(());
    };
    if valid_nuid(&info.nuid) {
        return Ok(());
    }
    let purge = async {
        js.get_stream(format!("OBJ_{bucket}"))
            .await
            .map_err(|e| e.to_string())?
            .purge()
            .filter(format!(
                "$O.{bucket}.M.{}",
                super::transport::base64_url(key.as_bytes())
            ))
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    tokio::time::timeout(WAIT, purge)
        .await
        .map_err(|_| "no answer from the server".to_string())?
        .map_err(|e| format!("{bucket}: {key}: {e}"))
}

/// Copies the chunks of the object `info` of `bucket` describes to `out`:
/// exactly the size it claims, each chunk within [`WAIT`].
pub(super) async fn read_chunks(
    js: &jetstream::Context,
    bucket: &str,
    info: &object_store::ObjectInfo,
    mut out: impl tokio::io::AsyncWrite + Unpin,
) -> Result<(), String> {
    use futures_util::StreamExt;
    use tokio::io::AsyncWriteExt;
    let want = info.size as u64;
    let mut got = 0u64;
    if info.chunks > 0 {
        let subscribe = async {
            js.get_stream(format!("OBJ_{bucket}"))
                .await
                .map_err(|e| e.to_string())?
                .create_consumer(jetstream::consumer::push::OrderedConfig {
                    deliver_subject: js.client().new_inbox(),
                    filter_subject: format!("$O.{bucket}.C.{}", info.nuid),
                    ..Default::default()
                })
                .await
                .map_err(|e| e.to_string())?
                .messages()
                .await
                .map_err(|e| e.to_string())
        };
        let mut chunks = tokio::time::timeout(WAIT, subscribe)
            .await
            .map_err(|_| "no answer from the server".to_string())??;
        let mut count = 0usize;
        loop {
            let message = match tokio::time::timeout(WAIT, chunks.next()).await {
                Err(_) => {
                    return Err(format!(
                        "chunk {} of {} did not come within {}",
                        count + 1,
                        info.chunks,
                        humantime::format_duration(WAIT)
                    ));
                }
                Ok(None) => return Err("its chunks ended early".into()),
                Ok(Some(m)) => m.map_err(|e| e.to_string())?,
            };
            count += 1;
            got += message.payload.len() as u64;
            if got > want || count > info.chunks {
                return Err(format!("more than the {want} bytes its description says"));
            }
            out.write_all(&message.payload)
                .await
                .map_err(|e| e.to_string())?;
            if message.info().map_err(|e| e.to_string())?.pending == 0 {
                break;
            }
        }
    }
    if got != want {
        return Err(format!("{got} bytes, where its description says {want}"));
    }
    out.flush().await.map_err(|e| e.to_string())
}

/// The cache in the deployment's [`CACHE_BUCKET`].
pub struct ObjectCache {
    js: jetstream::Context,
    replicas: super::Replicas,
    scratch: PathBuf,
}

impl ObjectCache {
    /// The cache reached through `js`; a bucket made here has `replicas` copies.
    /// Entries are fetched to and written in `scratch` first.
    pub fn new(js: jetstream::Context, replicas: super::Replicas, scratch: PathBuf) -> ObjectCache {
        ObjectCache {
            js,
            replicas,
            scratch,
        }
    }
}

/// The bucket, made when missing.
async fn bucket(
    js: &jetstream::Context,
    replicas: super::Replicas,
) -> Result<object_store::ObjectStore, String> {
    super::object_store(
        js,
        object_store::Config {
            bucket: CACHE_BUCKET.into(),
            description: Some("dag: task results saved for `cache:`".into()),
            ..Default::default()
        },
        replicas,
    )
    .await
    .map_err(|e| e.to_string())
}

/// The bucket if it exists (reading makes nothing).
async fn existing(js: &jetstream::Context) -> Option<object_store::ObjectStore> {
    js.get_object_store(CACHE_BUCKET).await.ok()
}

impl CacheStore for ObjectCache {
    fn scratch(&self) -> PathBuf {
        self.scratch.clone()
    }

    fn fetch(&self, key: &str) -> BoxFuture<'static, Result<Option<std::fs::File>, String>> {
        let (js, key, scratch) = (self.js.clone(), key.to_string(), self.scratch.clone());
        Box::pin(async move {
            let Some(store) = existing(&js).await else {
                return Ok(None);
            };
            // The description first, and never `get`, which follows an object that
            // is a link to the object it names, without end (a link to itself
            // overflowed the worker's stack).
            let info = match tokio::time::timeout(WAIT, store.info(&key)).await {
                Err(_) => return Err(format!("{CACHE_BUCKET}: {key}: no answer from the server")),
                Ok(Err(e)) if e.kind() == object_store::InfoErrorKind::NotFound => {
                    return Ok(None);
                }
                Ok(Err(e)) => return Err(format!("{CACHE_BUCKET}: {key}: {e}")),
                Ok(Ok(info)) => info,
            };
            if info.deleted {
                return Ok(None);
            }
            if super::transport::is_link(&info) {
                return Err("a link to another object, not an entry".into());
            }
            if info.size as u64 > MAX_ENTRY_BYTES {
                return Err(format!("{} bytes, more than an entry may have", info.size));
            }
            if !valid_nuid(&info.nuid) {
                return Err(format!("its chunks are named {:?}", info.nuid));
            }
            // A local copy, unlinked at once: it goes when the file is closed.
            let (path, file) =
                entry::scratch_file(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
            let _ = std::fs::remove_file(&path);
            let out = tokio::fs::File::from_std(
                file.try_clone()
                    .map_err(|e| format!("{}: {e}", scratch.display()))?,
            );
            read_chunks(&js, CACHE_BUCKET, &info, out)
                .await
                .map_err(|e| format!("{CACHE_BUCKET}: {key}: {e}"))?;
            Ok(Some(file))
        })
    }

    fn store(
        &self,
        path: PathBuf,
        header: entry::Header,
    ) -> BoxFuture<'static, Result<(), String>> {
        let (js, replicas) = (self.js.clone(), self.replicas);
        Box::pin(async move {
            let put = async {
                let store = bucket(&js, replicas).await?;
                drop_forged(&js, CACHE_BUCKET, &store, &header.key).await?;
                let mut file = tokio::fs::File::open(&path)
                    .await
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                let meta = ObjectMetadata {
                    name: header.key.clone(),
                    metadata: HashMap::from([
                        ("dag".to_string(), header.dag.clone()),
                        ("task".to_string(), header.task.clone()),
                        ("run".to_string(), header.run_id.clone()),
                        ("created_ms".to_string(), header.created_ms.to_string()),
                    ]),
                    ..Default::default()
                };
                store
                    .put(meta, &mut file)
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("{CACHE_BUCKET}: {}: {e}", header.key))
            };
            let done = put.await;
            let _ = tokio::fs::remove_file(&path).await;
            done
        })
    }

    fn remove(&self, key: &str) -> BoxFuture<'static, Result<bool, String>> {
        let (js, key) = (self.js.clone(), key.to_string());
        Box::pin(async move {
            let Some(store) = existing(&js).await else {
                return Ok(false);
            };
            drop_forged(&js, CACHE_BUCKET, &store, &key).await?;
            match store.delete(&key).await {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == object_store::DeleteErrorKind::NotFound => Ok(false),
                Err(e) => Err(format!("{CACHE_BUCKET}: {key}: {e}")),
            }
        })
    }

    fn list(&self) -> BoxFuture<'static, Result<Vec<Listed>, String>> {
        let js = self.js.clone();
        Box::pin(async move {
            use futures_util::StreamExt;
            let Some(store) = existing(&js).await else {
                return Ok(Vec::new());
            };
            let mut list = store
                .list()
                .await
                .map_err(|e| format!("{CACHE_BUCKET}: {e}"))?;
            let mut out = Vec::new();
            while let Some(info) = list.next().await {
                let info = info.map_err(|e| format!("{CACHE_BUCKET}: {e}"))?;
                if info.deleted {
                    continue;
                }
                let get = |k: &str| info.metadata.get(k).cloned().unwrap_or_default();
                out.push(Listed {
                    key: info.name.clone(),
                    dag: get("dag"),
                    task: get("task"),
                    run_id: get("run"),
                    created_ms: get("created_ms").parse().unwrap_or(0),
                    bytes: info.size as u64,
                });
            }
            out.sort_by(|a, b| (a.created_ms, &a.key).cmp(&(b.created_ms, &b.key)));
            Ok(out)
        })
    }

    fn describe(&self) -> String {
        format!("the NATS object store bucket {CACHE_BUCKET}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_named_by_one_token_and_names_encoded_as_the_store_does() {
        assert!(valid_nuid("2B9MaNbQ3f7K1Jq0yZx8Pw"));
        for bad in ["", ">", "*", "a.b", "a b", "a>", &"a".repeat(65)] {
            assert!(!valid_nuid(bad), "{bad:?}");
        }
        use super::super::transport::base64_url;
        assert_eq!(base64_url(b"ab"), "YWI=");
        assert_eq!(base64_url(b"abc?"), "YWJjPw==");
        assert_eq!(base64_url(&[0xfb, 0xff]), "-_8=");
    }
}
