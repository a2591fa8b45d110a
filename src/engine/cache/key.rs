//! The cache key of an attempt: one SHA-256 over everything its result depends
//! on. The key material is hashed as it is read and never kept: a secret value
//! in the task's environment enters the key only through the hash.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use ring::digest::{Context, SHA256};

use super::walk::{self, Found};
use crate::engine::runner::Outputs;
use crate::engine::spec::{CacheSpec, TaskSpec};

/// Changes when what the key covers changes: older entries are then misses.
const KEY_VERSION: &str = "dag-cache-key 2";

/// Variables every attempt gets that differ from run to run and attempt to
/// attempt; they do not enter the key.
const PER_RUN_ENV: [&str; 2] = ["DAG_RUN_ID", "DAG_ATTEMPT"];

/// What the result of an attempt depends on, as the runner sees the attempt.
pub struct KeyInput<'a> {
    /// The DAG's name.
    pub dag: &'a str,
    /// The task as it runs (strings substituted).
    pub task: &'a TaskSpec,
    /// Its `cache:`.
    pub cache: &'a CacheSpec,
    /// The environment the attempt gets.
    pub env: &'a [(String, String)],
    /// For fn tasks, the outputs of their upstream tasks.
    pub upstream: &'a BTreeMap<String, Outputs>,
    /// The run's params (fn tasks are given them all; other tasks see them only
    /// through substitution, which their definition already holds).
    pub params: &'a [(String, String)],
    /// The names of the run's secret params.
    pub secret_params: &'a [String],
    /// Where relative input paths are read.
    pub base: &'a Path,
    /// Set when nobody waits for the key any more (the attempt timed out or was
    /// stopped): hashing stops at its next piece.
    pub abandoned: &'a std::sync::atomic::AtomicBool,
}

/// A key, with what was worth a warning on the way (a pattern that matched
/// nothing).
#[derive(Debug)]
pub struct Keyed {
    /// The key: 64 hexadecimal digits.
    pub key: String,
    /// Warnings for the task's log.
    pub warnings: Vec<String>,
}

/// Feeds length-prefixed fields to a hasher, so that no two different inputs
/// make the same stream.
struct Fields(Context);

impl Fields {
    fn field(&mut self, bytes: &[u8]) {
        self.0.update(&(bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
    }

    /// How many items a list or map of fields that follows holds: without it,
    /// `{a: {}, x: {1: b}}` and `{a: {x: 1}, b: {}}` fed the same stream.
    fn count(&mut self, n: usize) {
        self.field(&(n as u64).to_le_bytes());
    }
}

/// The SHA-256 of a file's content, read in pieces (a file of gigabytes is never
/// held whole). The file is opened without blocking and must be regular: a FIFO
/// swapped in after it was listed is refused, not waited on.
pub fn file_digest(
    path: &Path,
    abandoned: &std::sync::atomic::AtomicBool,
) -> Result<[u8; 32], String> {
    let mut file = crate::engine::capped_read::open_regular_target(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut ctx = Context::new(&SHA256);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        if abandoned.load(std::sync::atomic::Ordering::Relaxed) {
            return Err("abandoned".into());
        }
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => ctx.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("{}: {e}", path.display())),
        }
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    Ok(out)
}

/// The key of an attempt (blocking: it reads the input files).
pub fn key(input: &KeyInput<'_>) -> Result<Keyed, String> {
    let mut h = Fields(Context::new(&SHA256));
    let mut warnings = Vec::new();
    h.field(KEY_VERSION.as_bytes());
    h.field(input.dag.as_bytes());
    h.field(input.task.id.as_bytes());
    // The definition as it runs: type, command after substitution, image, URL,
    // body, headers ... (serde's form of the kind names the type).
    let kind = serde_json::to_vec(&input.task.kind).map_err(|e| e.to_string())?;
    h.field(&kind);
    h.field(input.task.workdir.as_deref().unwrap_or("").as_bytes());
    let mut env: Vec<&(String, String)> = input
        .env
        .iter()
        .filter(|(k, _)| !PER_RUN_ENV.contains(&k.as_str()))
        .collect();
    env.sort();
    h.field(b"env");
    h.count(env.len());
    for (k, v) in env {
        h.field(k.as_bytes());
        h.field(v.as_bytes());
    }
    h.field(b"cache.env");
    h.count(input.cache.env.len());
    for name in &input.cache.env {
        h.field(name.as_bytes());
        let value = input
            .env
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone().into_bytes())
            .or_else(|| std::env::var_os(name).map(|v| v.into_encoded_bytes()));
        match value {
            Some(v) => {
                h.field(b"set");
                h.field(&v);
            }
            None => h.field(b"unset"),
        }
    }
    h.field(b"upstream");
    h.count(input.upstream.len());
    for (task, outputs) in input.upstream {
        h.field(task.as_bytes());
        h.count(outputs.len());
        for (k, v) in outputs {
            h.field(k.as_bytes());
            h.field(v.as_bytes());
        }
    }
    let fn_params: &[(String, String)] = match input.task.kind {
        crate::engine::spec::TaskKind::Fn { .. } => input.params,
        _ => &[],
    };
    let mut params: Vec<&(String, String)> = fn_params.iter().collect();
    params.sort();
    h.field(b"params");
    h.count(params.len());
    for (k, v) in params {
        h.field(k.as_bytes());
        h.field(v.as_bytes());
    }
    // What is masked: a result saved while a value was not secret (its log
    // holds it in clear) must not serve a run in which it is.
    h.field(b"secrets");
    h.count(input.task.secret_env.len() + input.secret_params.len());
    for name in input.task.secret_env.iter().chain(input.secret_params) {
        h.field(name.as_bytes());
    }
    h.field(b"cache.outputs");
    h.count(input.cache.outputs.len());
    for pattern in &input.cache.outputs {
        h.field(pattern.as_bytes());
    }
    h.field(b"cache.inputs");
    h.count(input.cache.inputs.len());
    let mut seen = 0;
    for pattern in &input.cache.inputs {
        h.field(pattern.as_bytes());
        let found = walk::expand(input.base, pattern, &mut seen)?;
        h.count(found.len());
        if found.is_empty() {
            warnings.push(format!("`cache.inputs`: `{pattern}` matches no file"));
        }
        for f in found {
            h.field(walk::shown(input.base, f.path()).as_bytes());
            match &f {
                Found::File(p) => {
                    h.field(b"file");
                    h.field(&file_digest(p, input.abandoned)?);
                }
                Found::Link(_, target) => {
                    h.field(b"link");
                    h.field(target.as_os_str().as_encoded_bytes());
                }
                Found::Special(_, what) => {
                    h.field(b"special");
                    h.field(what.as_bytes());
                }
            }
        }
    }
    Ok(Keyed {
        key: crate::engine::text::hex(h.0.finish().as_ref()),
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(command: &str) -> TaskSpec {
        let text = format!("name: d\ntasks:\n  t:\n    command: {command}\n");
        let dag = crate::engine::validate::load_str("d.yaml", &text, &Default::default()).unwrap();
        dag.task(0).clone()
    }

    #[test]
    fn the_key_follows_what_the_result_depends_on() {
        let dir = std::env::temp_dir().join(format!("dag-key-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("in.txt"), "one").unwrap();
        let cache = CacheSpec {
            inputs: vec!["*.txt".into()],
            env: vec!["DAG_TEST_CACHE_KEY_VAR".into()],
            ..CacheSpec::default()
        };
        let upstream = BTreeMap::new();
        let run = |command: &str, env: &[(String, String)]| {
            key(&KeyInput {
                dag: "d",
                task: &task(command),
                cache: &cache,
                env,
                upstream: &upstream,
                params: &[],
                secret_params: &[],
                base: &dir,
                abandoned: &std::sync::atomic::AtomicBool::new(false),
            })
            .unwrap()
            .key
        };
        let base = run("make", &[]);
        assert_eq!(base.len(), 64);
        assert_eq!(base, run("make", &[]));
        // Per-run variables do not count; others do.
        assert_eq!(base, run("make", &[("DAG_RUN_ID".into(), "r2".into())]));
        assert_ne!(base, run("make", &[("A".into(), "1".into())]));
        assert_ne!(base, run("make all", &[]));
        assert_ne!(
            base,
            run("make", &[("DAG_TEST_CACHE_KEY_VAR".into(), "".into())])
        );
        std::fs::write(dir.join("in.txt"), "two").unwrap();
        assert_ne!(base, run("make", &[]));
        std::fs::write(dir.join("in.txt"), "one").unwrap();
        assert_eq!(base, run("make", &[]));
        std::fs::write(dir.join("more.txt"), "").unwrap();
        assert_ne!(base, run("make", &[]));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn fn_tasks_key_their_upstream_outputs_and_params_without_ambiguity() {
        let text = "name: d\ntasks:\n  t:\n    type: fn\n    command: f\n";
        let dag = crate::engine::validate::load_str("d.yaml", text, &Default::default()).unwrap();
        let task = dag.task(0).clone();
        let cache = CacheSpec::default();
        let base = std::env::temp_dir();
        let key_of = |upstream: &[(&str, &[(&str, &str)])], params: &[(String, String)]| {
            let upstream: BTreeMap<String, Outputs> = upstream
                .iter()
                .map(|(t, o)| {
                    (
                        t.to_string(),
                        o.iter()
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect(),
                    )
                })
                .collect();
            key(&KeyInput {
                dag: "d",
                task: &task,
                cache: &cache,
                env: &[],
                upstream: &upstream,
                params,
                secret_params: &[],
                base: &base,
                abandoned: &std::sync::atomic::AtomicBool::new(false),
            })
            .unwrap()
            .key
        };
        // Two different sets of upstream outputs, the same fields in a row.
        assert_ne!(
            key_of(&[("a", &[]), ("x", &[("1", "b")])], &[]),
            key_of(&[("a", &[("x", "1")]), ("b", &[])], &[])
        );
        // A function is given every param: each counts.
        let p = |v: &str| vec![("day".to_string(), v.to_string())];
        assert_ne!(key_of(&[], &p("mon")), key_of(&[], &p("tue")));
        assert_eq!(key_of(&[], &p("mon")), key_of(&[], &p("mon")));
    }

    #[test]
    fn hashing_stops_once_nobody_waits_for_the_key() {
        let path = std::env::temp_dir().join(format!("dag-abandon-{}", std::process::id()));
        std::fs::write(&path, vec![1u8; 1 << 20]).unwrap();
        let waiting = std::sync::atomic::AtomicBool::new(false);
        assert!(file_digest(&path, &waiting).is_ok());
        let abandoned = std::sync::atomic::AtomicBool::new(true);
        assert_eq!(file_digest(&path, &abandoned).unwrap_err(), "abandoned");
        std::fs::remove_file(&path).unwrap();
    }
}
