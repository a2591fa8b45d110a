//! The DAG file's model (format version 1), after validation and parameter
//! substitution: everything the executors need and nothing about where it came from.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A validated pipeline.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DagSpec {
    /// `name`, matching `[A-Za-z0-9_.-]+`.
    pub name: String,
    /// `description`, if given.
    pub description: Option<String>,
    /// Parameter values after `--param` overrides, in declaration order.
    pub params: Vec<(String, String)>,
    /// The DAG-level `env`, after substitution.
    pub env: Vec<(String, String)>,
    /// Tasks in declaration order.
    pub tasks: Vec<TaskSpec>,
    /// Time limit of the whole run (`timeout`), counted from its start (from each
    /// `dag retry`'s start for a retried run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Which tasks decide whether the run failed (`outcome`).
    #[serde(default)]
    pub outcome: RunOutcome,
    /// Pools and their sizes (`pools`, after `--pool` and the config file).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pools: Vec<(String, u32)>,
    /// `outputs`: what a run of this DAG called as a sub-DAG publishes, by key
    /// (values hold `${{ tasks.ID.outputs.KEY }}`, read when the run ends).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<(String, String)>,
}

impl DagSpec {
    /// Every secret value the tasks name (`secret_env`), looked up in the DAG's and
    /// each task's `env` and then in this process's environment.
    pub fn secret_values(&self) -> Vec<String> {
        let mut values = Vec::new();
        for task in &self.tasks {
            if task.secret_env.is_empty() {
                continue;
            }
            let mut env = self.env.clone();
            env.extend(task.env.iter().cloned());
            values.extend(task.secret_values(&env));
        }
        values
    }

    /// The names of the parameters that are secret (see
    /// [`crate::engine::secrets::with_secret_params`]): shown as `***`.
    pub fn secret_params(&self) -> Vec<String> {
        crate::engine::secrets::secret_params(&self.params, &self.secret_values())
            .into_iter()
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// What is masked in what is shown before or beside a run (plans, graphs): the
    /// secret values and the values of the secret parameters.
    pub fn secrets(&self) -> crate::engine::secrets::Secrets {
        let values = crate::engine::secrets::with_secret_params(self.secret_values(), &self.params);
        crate::engine::secrets::Secrets::new(&values)
    }
}

/// A task's id.
pub type TaskId = compact_str::CompactString;

/// One task of the pipeline: its id, what it is ([`TaskBody`], read through the
/// spec itself), and for an instance of a mapped task, which.
///
/// The body is shared: the instances of a mapped task whose strings do not use
/// their item hold one body between them (a million `noop` instances would
/// otherwise hold a million copies of it). Changing a field through `&mut
/// TaskSpec` changes this spec's own copy.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(from = "FlatTaskSpec")]
pub struct TaskSpec {
    /// The key under `tasks`, matching `[A-Za-z0-9_.-]+` (held inline up to 24
    /// bytes: an instance's id takes no allocation of its own).
    pub id: TaskId,
    /// What the task runs and how (written inline, as the body's own keys; read
    /// through `FlatTaskSpec`).
    #[serde(flatten)]
    pub body: Arc<TaskBody>,
    /// For an instance of a mapped task (`for_each`, `matrix`): which, and of what.
    /// (Boxed: most tasks are not instances, and a spec is kept per task.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map: Option<Box<MapInstance>>,
}

/// Makes [`TaskBody`] and, from the same fields, [`FlatTaskSpec`]: how a spec is
/// read (its body's keys beside its id, as it is written).
macro_rules! task_body {
    (
        $(#[$smeta:meta])*
        pub struct TaskBody {
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty, )*
        }
    ) => {
        $(#[$smeta])*
        pub struct TaskBody {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        /// A [`TaskSpec`] as it is read: its id, instance and body's keys side by
        /// side. (serde's `flatten` would hold every key's value, known or not, in a
        /// generic form first: a forged task message of 60 MB took 1 GB.)
        #[derive(Deserialize)]
        struct FlatTaskSpec {
            id: TaskId,
            #[serde(default)]
            map: Option<Box<MapInstance>>,
            $( $(#[$fmeta])* $field: $ty, )*
        }

        impl From<FlatTaskSpec> for TaskSpec {
            fn from(f: FlatTaskSpec) -> TaskSpec {
                TaskSpec {
                    id: f.id,
                    body: Arc::new(TaskBody { $( $field: f.$field, )* }),
                    map: f.map,
                }
            }
        }
    };
}

task_body! {
/// What a task runs and how: everything of a [`TaskSpec`] but its id and instance.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TaskBody {
    /// `description`, if given.
    pub description: Option<String>,
    /// What the task runs.
    pub kind: TaskKind,
    /// Ids of the tasks this one depends on, as written.
    pub depends_on: Vec<String>,
    /// The task's own `env`, after substitution (DAG env is merged at run time).
    pub env: Vec<(String, String)>,
    /// Working directory for bash (and docker) tasks.
    pub workdir: Option<String>,
    /// Per-attempt time limit; `None` means the executor's default.
    pub timeout: Option<Duration>,
    /// How failed attempts are retried.
    pub retry: RetryPolicy,
    /// When the task may run, given its upstream tasks' final states.
    pub trigger_rule: TriggerRule,
    /// Queue the task is routed to by the distributed executor.
    pub queue: String,
    /// Higher starts first among ready tasks.
    pub priority: i64,
    /// Names of environment variables whose values are secret: masked as `***` in
    /// logs, live output, errors and reports.
    #[serde(default)]
    pub secret_env: Vec<String>,
    /// Exit codes (HTTP statuses for http tasks) that end the task `skipped`
    /// instead of `failed`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip_exit_codes: Vec<i32>,
    /// `when`: the condition (as written, checked when the file was loaded) that
    /// must hold for the task to run; when false, the task ends `skipped`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// `max_parallel` of the mapped task: at most this many of its instances run
    /// at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_parallel: Option<u32>,
    /// `pool`: the pool whose slots the task holds while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// `pool_slots`: how many slots of its pool it holds.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub pool_slots: u32,
    /// `cache`: what the task's result depends on besides its definition; a task
    /// without it is never cached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<Box<CacheSpec>>,
    /// `gpus`: how many GPUs each attempt holds while it runs (0: none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub gpus: u32,
}
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn one() -> u32 {
    1
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

/// A task's `cache:` (see the README's Caching section).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CacheSpec {
    /// Files, directories and globs whose content the result depends on, relative
    /// to the task's working directory.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<String>,
    /// Names of environment variables whose values the result depends on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// How long an entry serves hits; `None`: until it is removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<Duration>,
    /// Files, directories and globs the task writes: saved with the entry and put
    /// back on a hit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<String>,
}

impl std::ops::Deref for TaskSpec {
    type Target = TaskBody;
    fn deref(&self) -> &TaskBody {
        &self.body
    }
}

impl std::ops::DerefMut for TaskSpec {
    /// This spec's own body: copied first when another spec shares it.
    fn deref_mut(&mut self) -> &mut TaskBody {
        Arc::make_mut(&mut self.body)
    }
}

impl TaskSpec {
    /// Shares the body of the spec made before this one (`last`) when the two are
    /// alike (see [`TaskSpec`]), and makes this one's body `last` otherwise: how
    /// the instances of a mapped task, made one after another, come to hold one.
    pub fn share_body(&mut self, last: &mut Option<Arc<TaskBody>>) {
        match last {
            Some(b) if Arc::ptr_eq(&self.body, b) || *self.body == **b => {
                self.body = Arc::clone(b);
            }
            _ => *last = Some(Arc::clone(&self.body)),
        }
    }
}

/// A JSON value (an item, or a field of one) as task strings see it: text as
/// itself, anything else as JSON.
pub fn as_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Where an instance of a mapped task comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MapInstance {
    /// The mapped task's id as written (`convert`); instances are `convert.0`, ...
    /// (shared by the instances).
    pub group: Arc<str>,
    /// Position among the instances; `None` for the stand-in of a mapped task with
    /// no instances (its id is the task's own, and it ends `skipped`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// The `for_each` item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<serde_json::Value>,
    /// The `matrix` values, in axis order.
    #[serde(default, skip_serializing_if = "<[_]>::is_empty")]
    pub matrix: Box<[(String, String)]>,
    /// For a `for_each` read from a task's output (`tasks.ID.outputs.KEY`, the
    /// expression without `${{ }}`): the mapped task stands in for its instances
    /// until that task has ended, and then expands into them (see
    /// [`MapInstance::dynamic`]); its strings keep their `${{ item }}` expressions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Box<str>>,
    /// With `from`: the most items the list may hold (`max_items`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_items: Option<u32>,
}

/// The most items a list read at run time may hold unless `max_items` says
/// otherwise.
pub const DEFAULT_MAX_ITEMS: u32 = 10_000;

impl MapInstance {
    /// Whether this is a mapped task whose items are read at run time (it has not
    /// been expanded: its instances are tasks of their own).
    pub fn dynamic(&self) -> bool {
        self.from.is_some()
    }

    /// For a list read at run time, the task and output key it is read from
    /// (`("list", "files")` for `tasks.list.outputs.files`).
    pub fn source(&self) -> Option<(&str, &str)> {
        match super::expr::parse(self.from.as_deref()?) {
            Ok(super::expr::Expr::Output { task, key }) => Some((task, key)),
            _ => None,
        }
    }

    /// Whether this is the stand-in of a mapped task that has no instances (an
    /// empty list in the file): it ends `skipped` without running.
    pub fn empty(&self) -> bool {
        self.index.is_none() && self.from.is_none()
    }
}

impl TaskSpec {
    /// Its type, and for a mapped task whose list is read at run time, where from
    /// (`bash, for each of tasks.list.outputs.files`): how graphs and plans name it.
    pub fn label(&self) -> String {
        match self.map.as_deref().and_then(|m| m.from.as_deref()) {
            Some(from) => format!("{}, for each of {from}", self.kind.type_name()),
            None => self.kind.type_name().to_string(),
        }
    }

    /// The values of the task's secret variables, looked up in `env` (the attempt's
    /// variables) and then in this process's environment.
    pub fn secret_values(&self, env: &[(String, String)]) -> Vec<String> {
        self.secret_env
            .iter()
            .filter_map(|name| {
                env.iter()
                    .rev()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
                    .or_else(|| std::env::var(name).ok())
            })
            .filter(|v| !v.is_empty())
            .collect()
    }
}

/// The task types.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TaskKind {
    /// `command` run as `bash -c`.
    Bash { command: String },
    /// An HTTP request (boxed, like `Docker`: most tasks are `bash` or `fn`, and a
    /// task spec is kept per task for the whole run).
    Http(Box<HttpSpec>),
    /// A container run on the Docker engine.
    Docker(Box<DockerSpec>),
    /// A function registered in the binary: `command` is `NAME [ARGS]`.
    Fn { name: String, args: String },
    /// Another DAG file, run as a child run of this one (`file`, `params`).
    Dag(Box<SubDagSpec>),
    /// A WebAssembly module run under WASI in this process (`module`, `args`,
    /// `stdin`, `dirs`, `memory_mb`).
    Wasm(Box<WasmSpec>),
}

/// A `wasm` task: the module it runs and what the module is given.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WasmSpec {
    /// `module` as written, relative to the DAG file's directory.
    pub module: String,
    /// Where the module was read from (the DAG file's directory joined with
    /// `module`).
    pub path: String,
    /// The SHA-256 of the module file's bytes (hex), as read when the file was
    /// validated (and equal to the task's `sha256` pin when it has one): what the
    /// runner checks the bytes it runs against.
    pub sha256: String,
    /// `args`: the module's arguments after its name (`argv[0]` is `module`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// `stdin`: what the module reads from its standard input (nothing when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
    /// `dirs`: host directories granted, `HOST:GUEST[:ro]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dirs: Vec<String>,
    /// `memory_mb`: the most linear memory the module may use, in MiB.
    pub memory_mb: u64,
    /// The module's bytes, sent with the task to a worker when the module is
    /// small (never in a spec read from a file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline: Option<InlineModule>,
}

/// A module's bytes in a task message, as base64.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InlineModule(String);

impl InlineModule {
    /// `bytes`, encoded.
    pub fn new(bytes: &[u8]) -> InlineModule {
        InlineModule(data_encoding::BASE64.encode(bytes))
    }

    /// The bytes (an error when the text is not base64: a forged message).
    pub fn bytes(&self) -> Result<Vec<u8>, String> {
        data_encoding::BASE64
            .decode(self.0.as_bytes())
            .map_err(|e| format!("the module sent with the task is not valid base64: {e}"))
    }
}

/// Where a wasm module finds its `$DAG_OUTPUT` file: a directory of its own,
/// granted read-write, holding the file `output`.
pub const WASM_OUTPUT_DIR: &str = "/.dag";

/// The largest module file a wasm task may name.
pub const MAX_MODULE_BYTES: u64 = 64 << 20;

/// The hex SHA-256 of `bytes`: how modules are named and pinned.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    digest
        .as_ref()
        .iter()
        .fold(String::with_capacity(64), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

/// Reads a module file (through symbolic links, refusing FIFOs, devices and
/// files over [`MAX_MODULE_BYTES`] without blocking), with its SHA-256.
pub fn read_module(path: &std::path::Path) -> Result<(Vec<u8>, String), String> {
    match crate::engine::capped_read::read_file_capped(path, MAX_MODULE_BYTES) {
        Ok(bytes) => {
            let sha = sha256_hex(&bytes);
            Ok((bytes, sha))
        }
        Err(crate::engine::capped_read::ReadError::TooBig { .. }) => Err(format!(
            "the module {} is over {} MiB",
            path.display(),
            MAX_MODULE_BYTES >> 20
        )),
        Err(e) => Err(format!("cannot read the module {}: {e}", path.display())),
    }
}

/// One of a wasm task's `dirs`, read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantedDir {
    /// The host directory, as written.
    pub host: String,
    /// The path the module sees it at (absolute).
    pub guest: String,
    /// Whether the module may only read it (`:ro`).
    pub read_only: bool,
}

impl GrantedDir {
    /// Reads `HOST:GUEST[:ro|:rw]`; an error says what is wrong.
    pub fn parse(spec: &str) -> Result<GrantedDir, String> {
        let bad =
            |why: &str| format!("invalid dir `{spec}`: {why} (write HOST_DIR:GUEST_DIR[:ro])");
        let parts: Vec<&str> = spec.split(':').collect();
        let (host, guest, read_only) = match parts.as_slice() {
            [host, guest] => (*host, *guest, false),
            [host, guest, "ro"] => (*host, *guest, true),
            [host, guest, "rw"] => (*host, *guest, false),
            [_, _, other] => return Err(bad(&format!("unknown option `{other}`"))),
            _ => return Err(bad("expected two or three `:`-separated parts")),
        };
        if host.is_empty() || guest.is_empty() {
            return Err(bad("empty path"));
        }
        if !guest.starts_with('/') {
            return Err(bad("the guest path must be absolute"));
        }
        if guest.split('/').any(|c| c == "..") {
            return Err(bad("the guest path cannot hold `..`"));
        }
        let reserved = WASM_OUTPUT_DIR.trim_start_matches('/');
        if guest.split('/').find(|c| !c.is_empty() && *c != ".") == Some(reserved) {
            return Err(bad(&format!(
                "{WASM_OUTPUT_DIR} is where the module finds its $DAG_OUTPUT file"
            )));
        }
        Ok(GrantedDir {
            host: host.to_string(),
            guest: guest.to_string(),
            read_only,
        })
    }
}

/// A `dag` task: the sub-DAG file it runs and the params it passes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubDagSpec {
    /// `file` as written, relative to the calling file's directory.
    pub file: String,
    /// Where the file was read from (the calling file's directory joined with
    /// `file`, as the calling file's path was given).
    pub path: String,
    /// The file's text as it was validated with the calling file: what a new
    /// child run runs.
    pub source: Arc<str>,
    /// `params`, in the order written: values after substitution of params,
    /// items and matrix values (`${{ tasks.ID.outputs.KEY }}` is substituted when
    /// the task starts).
    pub params: Vec<(String, String)>,
    /// How many levels of sub-DAGs the file calls below it (0: none): each
    /// makes the run ids of the child runs under this task's longer.
    #[serde(default)]
    pub nests: usize,
}

impl TaskKind {
    /// The `type:` value of this kind.
    pub fn type_name(&self) -> &'static str {
        match self {
            TaskKind::Bash { .. } => "bash",
            TaskKind::Http(_) => "http",
            TaskKind::Docker(_) => "docker",
            TaskKind::Fn { .. } => "fn",
            TaskKind::Dag(_) => "dag",
            TaskKind::Wasm(_) => "wasm",
        }
    }

    /// A one-line summary of what the task runs, for plans and tables.
    pub fn summary(&self) -> String {
        match self {
            TaskKind::Bash { command } => command.clone(),
            TaskKind::Http(h) => format!(
                "{} {}",
                h.method,
                crate::engine::secrets::redact_url(&h.url)
            ),
            TaskKind::Docker(d) => {
                let image = if d.image.is_empty() {
                    "(default image)"
                } else {
                    &d.image
                };
                match &d.command {
                    Some(c) => format!("{image}: {c}"),
                    None => image.to_string(),
                }
            }
            TaskKind::Fn { name, args } if args.is_empty() => name.clone(),
            TaskKind::Fn { name, args } => format!("{name} {args}"),
            TaskKind::Dag(d) if d.params.is_empty() => d.file.clone(),
            TaskKind::Dag(d) => {
                let params: Vec<String> =
                    d.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("{} {}", d.file, params.join(" "))
            }
            TaskKind::Wasm(w) if w.args.is_empty() => w.module.clone(),
            TaskKind::Wasm(w) => format!("{} {}", w.module, w.args.join(" ")),
        }
    }
}

/// An `http` task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HttpSpec {
    /// Upper-case method: GET POST PUT DELETE PATCH HEAD OPTIONS.
    pub method: String,
    /// Absolute URL.
    pub url: String,
    /// Request body, if any.
    pub body: Option<String>,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
}

/// A `docker` task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DockerSpec {
    /// Image reference; empty when the task leaves it to the runner's default.
    pub image: String,
    /// Command run with `sh -c` in the container; the image's default when `None`.
    pub command: Option<String>,
    /// Bind mounts, `host:container[:ro]`.
    pub volumes: Vec<String>,
    /// Memory limit in MiB.
    pub memory_mb: Option<u64>,
    /// CPU limit in percent of one CPU.
    pub cpu_quota: Option<u64>,
    /// Network to attach to.
    pub network: Option<String>,
    /// When to pull the image.
    pub pull: PullPolicy,
}

/// `pull:` of a docker task.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PullPolicy {
    /// Pull only when the image is not present.
    #[default]
    Missing,
    /// Pull before every run.
    Always,
    /// Never pull; a missing image fails the task.
    Never,
}

/// How a failed attempt is retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Extra attempts after the first.
    pub retries: u32,
    /// Wait before the second attempt.
    pub delay: Duration,
    /// Upper bound of any wait.
    pub max_delay: Duration,
    /// How the wait grows.
    pub backoff: Backoff,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: 0,
            delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(300),
            backoff: Backoff::Exponential,
        }
    }
}

/// `retry_backoff:`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backoff {
    /// `retry_delay * 2^(k-1)` before attempt k+1.
    #[default]
    Exponential,
    /// `retry_delay` before every retry.
    Fixed,
}

/// `outcome:`: which tasks decide whether a run failed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// Any task that ended `failed` or `upstream_failed` fails the run.
    #[default]
    AllTasks,
    /// Only the leaf tasks (those no task depends on) decide, as in Airflow: a
    /// failure handled downstream (an `all_done` cleanup, a `one_failed` alert) leaves
    /// the run successful.
    Leaves,
}

impl RunOutcome {
    /// Every choice with its file spelling.
    pub const ALL: [(&'static str, RunOutcome); 2] = [
        ("all_tasks", RunOutcome::AllTasks),
        ("leaves", RunOutcome::Leaves),
    ];
}

/// `trigger_rule:`: when a task may run given its upstream tasks' final states.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerRule {
    /// Every upstream task succeeded.
    #[default]
    AllSuccess,
    /// Every upstream task finished, whatever the outcome.
    AllDone,
    /// Every upstream task failed (or was upstream_failed).
    AllFailed,
    /// At least one upstream task succeeded; runs as soon as one has.
    OneSuccess,
    /// At least one upstream task failed; runs as soon as one has.
    OneFailed,
    /// No upstream task failed (skipped ones are fine).
    NoneFailed,
}

impl TriggerRule {
    /// Every rule with its file spelling.
    pub const ALL: [(&'static str, TriggerRule); 6] = [
        ("all_success", TriggerRule::AllSuccess),
        ("all_done", TriggerRule::AllDone),
        ("all_failed", TriggerRule::AllFailed),
        ("one_success", TriggerRule::OneSuccess),
        ("one_failed", TriggerRule::OneFailed),
        ("none_failed", TriggerRule::NoneFailed),
    ];
}

impl TaskSpec {
    /// Whether any string of the task still holds an expression to substitute when
    /// it starts (`${{ tasks.ID... }}`).
    pub fn has_expressions(&self) -> bool {
        let has = |s: &str| s.contains("${{");
        let kind = match &self.kind {
            TaskKind::Bash { command } => has(command),
            TaskKind::Fn { args, .. } => has(args),
            TaskKind::Http(h) => {
                has(&h.url)
                    || h.body.as_deref().is_some_and(has)
                    || h.headers.iter().any(|(_, v)| has(v))
            }
            TaskKind::Docker(d) => {
                has(&d.image)
                    || d.command.as_deref().is_some_and(has)
                    || d.volumes.iter().any(|v| has(v))
                    || d.network.as_deref().is_some_and(has)
            }
            TaskKind::Dag(d) => d.params.iter().any(|(_, v)| has(v)),
            TaskKind::Wasm(w) => {
                w.args.iter().any(|a| has(a))
                    || w.stdin.as_deref().is_some_and(has)
                    || w.dirs.iter().any(|d| has(d))
            }
        };
        kind || self.env.iter().any(|(_, v)| has(v))
            || self.workdir.as_deref().is_some_and(has)
            || self
                .cache
                .as_ref()
                .is_some_and(|c| c.inputs.iter().chain(&c.outputs).any(|s| has(s)))
    }

    /// The ids of the tasks whose outputs this task reads: in its strings
    /// (`${{ tasks.ID.outputs.KEY }}`), its `when`, and its `for_each`.
    pub fn output_sources(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.has_expressions() {
            let _ = self.map_strings(&mut |s: &str| {
                let _ = super::expr::substitute(s, |e| {
                    if let super::expr::Expr::Output { task, .. } = e {
                        out.push(task.to_string());
                    }
                    Ok(None)
                });
                Ok(String::new())
            });
        }
        if let Some((task, _)) = self.map.as_ref().and_then(|m| m.source()) {
            out.push(task.to_string());
        }
        if let Some(cond) = self
            .when
            .as_deref()
            .and_then(|w| super::condition::parse(w).ok())
        {
            for operand in cond.operands() {
                if let super::condition::Operand::Output { task, .. } = operand {
                    out.push(task.clone());
                }
            }
        }
        out
    }

    /// A copy with every string value that can hold expressions (command, URL, body,
    /// header values, image, volumes, network, args, stdin, dirs, env values,
    /// workdir) passed through `f`.
    pub fn map_strings(
        &self,
        f: &mut dyn FnMut(&str) -> Result<String, String>,
    ) -> Result<TaskSpec, String> {
        let mut t = self.clone();
        t.kind = match &self.kind {
            TaskKind::Bash { command } => TaskKind::Bash {
                command: f(command)?,
            },
            TaskKind::Fn { name, args } => TaskKind::Fn {
                name: name.clone(),
                args: f(args)?,
            },
            TaskKind::Http(h) => TaskKind::Http(Box::new(HttpSpec {
                method: h.method.clone(),
                url: f(&h.url)?,
                body: h.body.as_deref().map(&mut *f).transpose()?,
                headers: h
                    .headers
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), f(v)?)))
                    .collect::<Result<_, String>>()?,
            })),
            TaskKind::Docker(d) => TaskKind::Docker(Box::new(DockerSpec {
                image: f(&d.image)?,
                command: d.command.as_deref().map(&mut *f).transpose()?,
                volumes: d
                    .volumes
                    .iter()
                    .map(|v| f(v))
                    .collect::<Result<_, String>>()?,
                network: d.network.as_deref().map(&mut *f).transpose()?,
                ..DockerSpec::clone(d)
            })),
            TaskKind::Dag(d) => TaskKind::Dag(Box::new(SubDagSpec {
                params: d
                    .params
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), f(v)?)))
                    .collect::<Result<_, String>>()?,
                ..SubDagSpec::clone(d)
            })),
            TaskKind::Wasm(w) => TaskKind::Wasm(Box::new(WasmSpec {
                args: w.args.iter().map(|a| f(a)).collect::<Result<_, String>>()?,
                stdin: w.stdin.as_deref().map(&mut *f).transpose()?,
                dirs: w.dirs.iter().map(|d| f(d)).collect::<Result<_, String>>()?,
                ..WasmSpec::clone(w)
            })),
        };
        t.env = self
            .env
            .iter()
            .map(|(k, v)| Ok((k.clone(), f(v)?)))
            .collect::<Result<_, String>>()?;
        t.workdir = self.workdir.as_deref().map(&mut *f).transpose()?;
        if let Some(cache) = &self.cache {
            let mut each = |list: &[String]| {
                list.iter()
                    .map(|s| f(s))
                    .collect::<Result<Vec<_>, String>>()
            };
            t.cache = Some(Box::new(CacheSpec {
                inputs: each(&cache.inputs)?,
                outputs: each(&cache.outputs)?,
                ..CacheSpec::clone(cache)
            }));
        }
        Ok(t)
    }
}
