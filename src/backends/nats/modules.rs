//! How a wasm task's module reaches a worker: a module of at most
//! [`INLINE_MODULE_BYTES`] travels in the task message itself; a larger one is
//! put once into the Object Store bucket [`MODULES_BUCKET`], named by its
//! SHA-256, and fetched from there by the workers that have not got it compiled.
//! Either way the worker checks the bytes against the SHA-256 the run validated.

use async_nats::jetstream;
use async_nats::jetstream::object_store;

use super::cache::{WAIT, drop_forged, read_chunks, valid_nuid};
use crate::backends::wasm::ModuleFetch;
use crate::engine::spec::{InlineModule, MAX_MODULE_BYTES, TaskKind, TaskSpec, read_module};

/// Object store bucket of wasm modules, one object per module named by its
/// SHA-256.
pub const MODULES_BUCKET: &str = "dag_modules";

/// The largest module sent inside its task message.
pub const INLINE_MODULE_BYTES: usize = 64 * 1024;

/// How long a module stays in the bucket after it was last put: a run that
/// needs it again puts it again.
pub const MODULE_TTL: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// Makes `task` (a wasm task's, else left alone) ready to send: its module read
/// and checked against the SHA-256 it was validated with, then put inline or
/// into the bucket.
pub async fn attach(
    js: &jetstream::Context,
    replicas: super::Replicas,
    task: &mut TaskSpec,
) -> Result<(), String> {
    let TaskKind::Wasm(spec) = &task.kind else {
        return Ok(());
    };
    let path = std::path::PathBuf::from(&spec.path);
    let (bytes, sha) = tokio::task::spawn_blocking(move || read_module(&path))
        .await
        .map_err(|e| format!("reading the module failed: {e}"))??;
    if sha != spec.sha256 {
        return Err(format!(
            "the module {} has SHA-256 {sha}, not {} as when the run was validated: it changed since",
            spec.path, spec.sha256
        ));
    }
    if bytes.len() <= INLINE_MODULE_BYTES {
        let mut spec = spec.clone();
        spec.inline = Some(InlineModule::new(&bytes));
        task.kind = TaskKind::Wasm(spec);
        return Ok(());
    }
    let put = async {
        let store = super::object_store(
            js,
            object_store::Config {
                bucket: MODULES_BUCKET.into(),
                description: Some("dag: WebAssembly modules of wasm tasks, by SHA-256".into()),
                max_age: MODULE_TTL,
                ..Default::default()
            },
            replicas,
        )
        .await
        .map_err(|e| e.to_string())?;
        // Kept when it is this module, as its description says (a damaged or
        // forged one of the same size is put again, not left to fail every
        // run of the module until it expires).
        let digest = format!(
            "SHA-256={}",
            data_encoding::BASE64URL
                .encode(ring::digest::digest(&ring::digest::SHA256, &bytes).as_ref())
        );
        if let Ok(info) = store.info(&sha).await
            && !info.deleted
            && info.size == bytes.len()
            && info.digest.as_deref() == Some(digest.as_str())
            && valid_nuid(&info.nuid)
            && !super::transport::is_link(&info)
        {
            return Ok(());
        }
        drop_forged(js, MODULES_BUCKET, &store, &sha).await?;
        store
            .put(sha.as_str(), &mut bytes.as_slice())
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    tokio::time::timeout(WAIT, put)
        .await
        .map_err(|_| "no answer from the server".to_string())
        .and_then(|r| r)
        .map_err(|e| format!("cannot put the module into {MODULES_BUCKET}: {e}"))
}

/// What a worker's wasm runner fetches modules with: from [`MODULES_BUCKET`],
/// never more than [`MAX_MODULE_BYTES`] (the runner checks the SHA-256).
pub fn fetcher(js: jetstream::Context) -> ModuleFetch {
    std::sync::Arc::new(move |sha: String| {
        let js = js.clone();
        Box::pin(async move {
            fetch(&js, &sha)
                .await
                .map_err(|e| format!("cannot fetch the module {sha} from {MODULES_BUCKET}: {e}"))
        })
    })
}

async fn fetch(js: &jetstream::Context, sha: &str) -> Result<Vec<u8>, String> {
    let store = tokio::time::timeout(WAIT, js.get_object_store(MODULES_BUCKET))
        .await
        .map_err(|_| "no answer from the server".to_string())?
        .map_err(|e| e.to_string())?;
    // The description first, and never `get`, which follows links.
    let info = match tokio::time::timeout(WAIT, store.info(sha)).await {
        Err(_) => return Err("no answer from the server".into()),
        Ok(Err(e)) if e.kind() == object_store::InfoErrorKind::NotFound => {
            return Err("it is not there (expired, or removed)".into());
        }
        Ok(Err(e)) => return Err(e.to_string()),
        Ok(Ok(info)) => info,
    };
    if info.deleted {
        return Err("it was removed".into());
    }
    if super::transport::is_link(&info) {
        return Err("a link to another object, not a module".into());
    }
    if info.size as u64 > MAX_MODULE_BYTES {
        return Err(format!(
            "{} bytes, more than a module may have ({} MiB)",
            info.size,
            MAX_MODULE_BYTES >> 20
        ));
    }
    if !valid_nuid(&info.nuid) {
        return Err(format!("its chunks are named {:?}", info.nuid));
    }
    let mut bytes = Vec::with_capacity(info.size);
    read_chunks(js, MODULES_BUCKET, &info, &mut bytes).await?;
    Ok(bytes)
}
