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
    if let Ok(store) = js.get_object_store(CACHE_BUCKET).await {
        return Ok(store);
    }
    match js
        .create_object_store(object_store::Config {
            bucket: CACHE_BUCKET.into(),
            description: Some("dag: task results saved for `cache:`".into()),
            storage: jetstream::stream::StorageType::File,
            num_replicas: replicas.count(),
            ..Default::default()
        })
        .await
    {
        Ok(store) => Ok(store),
        Err(e) => js.get_object_store(CACHE_BUCKET).await.map_err(|_| {
            super::creating(&format!("the {CACHE_BUCKET} bucket"), replicas, e).to_string()
        }),
    }
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
            let mut object = match store.get(&key).await {
                Ok(o) => o,
                Err(e) if e.kind() == object_store::GetErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(format!("{CACHE_BUCKET}: {key}: {e}")),
            };
            if object.info.size as u64 > MAX_ENTRY_BYTES {
                return Err(format!(
                    "{} bytes, more than an entry may have",
                    object.info.size
                ));
            }
            // A local copy, unlinked at once: it goes when the file is closed.
            let (path, file) =
                entry::scratch_file(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
            let _ = std::fs::remove_file(&path);
            let mut out = tokio::fs::File::from_std(
                file.try_clone()
                    .map_err(|e| format!("{}: {e}", scratch.display()))?,
            );
            {
                use tokio::io::AsyncReadExt;
                let mut limited = (&mut object).take(MAX_ENTRY_BYTES);
                tokio::io::copy(&mut limited, &mut out)
                    .await
                    .map_err(|e| format!("{CACHE_BUCKET}: {key}: {e}"))?;
            }
            use tokio::io::AsyncWriteExt;
            out.flush().await.map_err(|e| e.to_string())?;
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
