//! The DAG file format (version 1), described once: every key, where it may appear,
//! its type (as JSON Schema), its default and a one-line doc. The validator's key
//! checks and did-you-mean lists, `dag schema` and the README's key tables are all
//! derived from [`KEYS`] and [`TYPES`]; a test keeps the README in step.

use serde_json::{Map, Value, json};

use super::spec::{Backoff, PullPolicy, RunOutcome, TriggerRule};

/// Where a key may be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// The top level of the file.
    Top,
    /// A task (and, for keys with [`Key::in_defaults`], the top-level `defaults:`).
    Task,
    /// A task's `cache:` map.
    Cache,
}

/// One key of the format.
#[derive(Debug)]
pub struct Key {
    /// The key as written.
    pub name: &'static str,
    /// Where it may be written.
    pub place: Place,
    /// The task types it applies to; empty: every type.
    pub types: &'static [&'static str],
    /// Whether `defaults:` may give it for every task.
    pub in_defaults: bool,
    /// Whether it must be written (only top-level keys are unconditionally required;
    /// what a task type requires is in [`TaskType::requires`]).
    pub required: bool,
    /// Its type, as a JSON Schema fragment (`#/$defs/...` refers to `defs`).
    pub schema: &'static str,
    /// The value it has when not written, as the README shows it.
    pub default: Option<&'static str>,
    /// What it means, in one line (Markdown: shown by editors and in the README).
    pub doc: &'static str,
}

/// What a task type requires besides `type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requires {
    /// Nothing (docker: the image's default command runs).
    Nothing,
    /// A `command`.
    Command,
    /// A `command` or a `url`.
    CommandOrUrl,
    /// The key named (dag: `file`, the sub-DAG file; wasm: `module`).
    Key(&'static str),
}

/// One task type.
#[derive(Debug)]
pub struct TaskType {
    /// Its name, as written in `type:`.
    pub name: &'static str,
    /// What a task of this type must have.
    pub requires: Requires,
    /// What it runs, in one line.
    pub doc: &'static str,
}

/// The task types, the default first.
pub const TYPES: &[TaskType] = &[
    TaskType {
        name: "bash",
        requires: Requires::Command,
        doc: "`command` runs with bash in its own process group",
    },
    TaskType {
        name: "http",
        requires: Requires::CommandOrUrl,
        doc: "an HTTP request: `command: METHOD URL [BODY]`, or `method`, `url`, `body`, `headers`",
    },
    TaskType {
        name: "docker",
        requires: Requires::Nothing,
        doc: "a container on the Docker engine",
    },
    TaskType {
        name: "fn",
        requires: Requires::Command,
        doc: "a function registered in the binary: `command: NAME [ARGS]`",
    },
    TaskType {
        name: "dag",
        requires: Requires::Key("file"),
        doc: "another DAG file run as a child run: `file`, `params`",
    },
    TaskType {
        name: "wasm",
        requires: Requires::Key("module"),
        doc: "a WebAssembly module run under WASI, in dag's process and isolated: `module`, `args`, `stdin`, `dirs`, `memory_mb`",
    },
];

/// The memory limit of a wasm task that sets no `memory_mb`, in MiB.
pub const WASM_MEMORY_MB: u64 = 256;

/// The most a wasm task's `memory_mb` may be: all a 32-bit module can address.
pub const WASM_MAX_MEMORY_MB: u64 = 4096;

/// The type a task has when it names none.
pub const DEFAULT_TYPE: &str = "bash";

/// The names of the task types, the default first.
pub fn type_names() -> impl Iterator<Item = &'static str> {
    TYPES.iter().map(|t| t.name)
}

const HTTP: &[&str] = &["http"];
const DOCKER: &[&str] = &["docker"];
const EVERY: &[&str] = &[];
const SKIPPABLE: &[&str] = &["bash", "http", "docker", "wasm"];
/// The types that run something themselves (not `dag`, whose tasks do): the
/// types workers run.
pub const RUNS: &[&str] = &["bash", "http", "docker", "fn", "wasm"];
/// The types that take a `command` and a `workdir` (a wasm module has `args`
/// and `dirs` instead).
const COMMANDS: &[&str] = &["bash", "http", "docker", "fn"];
const DAG: &[&str] = &["dag"];
const WASM: &[&str] = &["wasm"];
/// The types with a memory limit.
const LIMITED: &[&str] = &["docker", "wasm"];
/// The types whose attempts can be given GPUs: a process (its environment says
/// which devices) or a container (its device requests do).
pub const GPU_TYPES: &[&str] = &["bash", "docker"];

/// The schema of a string or a list of strings (a single string is a list of one).
/// (A scalar that YAML reads as a number or a boolean is text to dag.)
const STRINGS: &str = r#"{"oneOf": [{"type": ["string", "number"]}, {"type": "array", "items": {"type": ["string", "number"]}}, {"type": "null"}]}"#;
const TEXT: &str = r#"{"type": ["string", "number", "boolean", "null"]}"#;

/// Every key of the format, in the order the README lists them.
pub const KEYS: &[Key] = &[
    // The top level.
    Key {
        name: "name",
        place: Place::Top,
        types: EVERY,
        in_defaults: false,
        required: true,
        schema: r##"{"$ref": "#/$defs/name"}"##,
        default: None,
        doc: "the pipeline's name: letters, digits, `_`, `.`, `-` (a `.` only between others: `a.b`, not `.a`, `a.` or `a..b`), at most 100",
    },
    Key {
        name: "description",
        place: Place::Top,
        types: EVERY,
        in_defaults: false,
        required: false,
        schema: TEXT,
        default: None,
        doc: "free text",
    },
    Key {
        name: "version",
        place: Place::Top,
        types: EVERY,
        in_defaults: false,
        required: false,
        schema: r#"{"enum": [1, "1"]}"#,
        default: Some("1"),
        doc: "the format version; `1`",
    },
    Key {
        name: "secret_env",
        place: Place::Top,
        types: EVERY,
        in_defaults: false,
        required: false,
        schema: STRINGS,
        default: None,
        doc: "names of environment variables whose values are secret, for every task: masked as `***` in logs, live output, errors and reports",
    },
    Key {
        name: "params",
        place: Place::Top,
        types: EVERY,
        in_defaults: false,
        required: false,
        schema: r##"{"type": ["object", "null"], "propertyNames": {"minLength": 1}, "additionalProperties": {"$ref": "#/$defs/scalar"}}"##,
        default: None,
        doc: "map of name to default value; `--param NAME=VALUE` overrides (an undeclared name is an error)",
    },
    Key {
        name: "env",
        place: Place::Top,
        types: EVERY,
        in_defaults: false,
        required: false,
        schema: r##"{"$ref": "#/$defs/env"}"##,
        default: None,
        doc: "environment variables for every task",
    },
    Key {
        name: "timeout",
        place: Place::Top,
        types: EVERY,
        in_defaults: false,
        required: false,
        schema: r##"{"$ref": "#/$defs/duration"}"##,
        default: None,
        doc: "time limit of the whole run: when it passes, nothing new starts, running tasks are stopped and end `cancelled`, and the run ends `failed` (exit 1) saying why",
    },
    Key {
        name: "outcome",
        place: Place::Top,
        types: EVERY,
        in_defaults: false,
        required: false,
        schema: r##"{"$ref": "#/$defs/outcome"}"##,
        default: Some("all_tasks"),
        doc: "which tasks decide whether the run failed: `all_tasks` (any task that ended `failed` or `upstream_failed`) or `leaves` (only the tasks no task depends on, as in Airflow: a failure followed by an `all_done` cleanup that is the last task leaves the run successful)",
    },
    Key {
        name: "pools",
        place: Place::Top,
        types: EVERY,
        in_defaults: false,
        required: false,
        schema: r##"{"type": ["object", "null"], "propertyNames": {"$ref": "#/$defs/queue"}, "additionalProperties": {"type": "integer", "minimum": 1, "maximum": 1000000}}"##,
        default: None,
        doc: "map of pool name to its size (`{db: 2}`): at most that many slots of the pool are held at once by the tasks that name it; `--pool NAME=SIZE` and the config file's `pools` add or resize pools (see Pools)",
    },
    Key {
        name: "outputs",
        place: Place::Top,
        types: EVERY,
        in_defaults: false,
        required: false,
        schema: r##"{"type": ["object", "null"], "additionalProperties": {"$ref": "#/$defs/scalar"}}"##,
        default: None,
        doc: "map of output key to value, usually `${{ tasks.ID.outputs.KEY }}`: what a run of this file publishes when another file calls it as a sub-DAG (read when the run ends; see Sub-DAGs)",
    },
    Key {
        name: "defaults",
        place: Place::Top,
        types: EVERY,
        in_defaults: false,
        required: false,
        schema: r##"{"$ref": "#/$defs/defaults"}"##,
        default: None,
        doc: "defaults for every task: the task keys marked so below",
    },
    Key {
        name: "tasks",
        place: Place::Top,
        types: EVERY,
        in_defaults: false,
        required: true,
        schema: r##"{"type": "object", "minProperties": 1, "propertyNames": {"$ref": "#/$defs/name"}, "additionalProperties": {"$ref": "#/$defs/task"}}"##,
        default: None,
        doc: "non-empty map of task id (written as `name`: ids become NATS subjects and keys) to task",
    },
    // Tasks.
    Key {
        name: "type",
        place: Place::Task,
        types: EVERY,
        in_defaults: false,
        required: false,
        schema: r##"{"$ref": "#/$defs/type"}"##,
        default: Some(DEFAULT_TYPE),
        doc: "what the task is: `bash`, `http`, `docker`, `fn`, `dag` or `wasm`",
    },
    Key {
        name: "command",
        place: Place::Task,
        types: COMMANDS,
        in_defaults: false,
        required: false,
        schema: r##"{"$ref": "#/$defs/scalar"}"##,
        default: None,
        doc: "what to run (its meaning depends on the type)",
    },
    Key {
        name: "depends_on",
        place: Place::Task,
        types: EVERY,
        in_defaults: false,
        required: false,
        schema: STRINGS,
        default: None,
        doc: "a task id, or a list of them, that must end first",
    },
    Key {
        name: "env",
        place: Place::Task,
        types: RUNS,
        in_defaults: false,
        required: false,
        schema: r##"{"$ref": "#/$defs/env"}"##,
        default: None,
        doc: "environment variables for this task",
    },
    Key {
        name: "workdir",
        place: Place::Task,
        types: COMMANDS,
        in_defaults: true,
        required: false,
        schema: TEXT,
        default: None,
        doc: "working directory",
    },
    Key {
        name: "timeout",
        place: Place::Task,
        types: EVERY,
        in_defaults: true,
        required: false,
        schema: r##"{"$ref": "#/$defs/duration"}"##,
        default: Some("30m"),
        doc: "time limit of each attempt",
    },
    Key {
        name: "retries",
        place: Place::Task,
        types: EVERY,
        in_defaults: true,
        required: false,
        schema: r##"{"$ref": "#/$defs/retries"}"##,
        default: Some("0"),
        doc: "extra attempts after a failure (`retries: 3` allows 4 attempts)",
    },
    Key {
        name: "retry_delay",
        place: Place::Task,
        types: EVERY,
        in_defaults: true,
        required: false,
        schema: r##"{"$ref": "#/$defs/duration"}"##,
        default: Some("1s"),
        doc: "wait before the second attempt",
    },
    Key {
        name: "max_retry_delay",
        place: Place::Task,
        types: EVERY,
        in_defaults: true,
        required: false,
        schema: r##"{"$ref": "#/$defs/duration"}"##,
        default: Some("5m"),
        doc: "upper bound of any wait between attempts",
    },
    Key {
        name: "retry_backoff",
        place: Place::Task,
        types: EVERY,
        in_defaults: true,
        required: false,
        schema: r##"{"$ref": "#/$defs/backoff"}"##,
        default: Some("exponential"),
        doc: "`exponential` (the wait doubles each time) or `fixed`",
    },
    Key {
        name: "trigger_rule",
        place: Place::Task,
        types: EVERY,
        in_defaults: true,
        required: false,
        schema: r##"{"$ref": "#/$defs/trigger_rule"}"##,
        default: Some("all_success"),
        doc: "when the task runs, given how its upstream tasks ended: `all_success`, `all_done`, `all_failed`, `one_success`, `one_failed`, `none_failed`",
    },
    Key {
        name: "priority",
        place: Place::Task,
        types: EVERY,
        in_defaults: false,
        required: false,
        schema: r#"{"type": "integer"}"#,
        default: Some("0"),
        doc: "higher starts first among ready tasks",
    },
    Key {
        name: "queue",
        place: Place::Task,
        types: RUNS,
        in_defaults: true,
        required: false,
        schema: r##"{"$ref": "#/$defs/queue"}"##,
        default: Some("default"),
        doc: "the queue distributed workers take the task from",
    },
    Key {
        name: "pool",
        place: Place::Task,
        types: RUNS,
        in_defaults: true,
        required: false,
        schema: r##"{"oneOf": [{"$ref": "#/$defs/queue"}, {"type": "null"}]}"##,
        default: None,
        doc: "a pool of `pools`: each attempt holds `pool_slots` of its slots while it runs, and waits (`waiting for pool NAME`) while they are taken; `null` takes a task out of the pool `defaults` gives",
    },
    Key {
        name: "pool_slots",
        place: Place::Task,
        types: RUNS,
        in_defaults: true,
        required: false,
        schema: r#"{"type": "integer", "minimum": 1}"#,
        default: Some("1"),
        doc: "how many slots of its pool the task holds (at most the pool's size)",
    },
    Key {
        name: "gpus",
        place: Place::Task,
        types: GPU_TYPES,
        in_defaults: false,
        required: false,
        schema: r#"{"type": "integer", "minimum": 0, "maximum": 1024}"#,
        default: Some("0"),
        doc: "how many GPUs each attempt holds while it runs: it waits (`waiting for GPUs`) until that many of the executor's `--gpus` (a worker's) are free; bash tasks get `CUDA_VISIBLE_DEVICES` and `NVIDIA_VISIBLE_DEVICES`, docker tasks a device request for them (see GPU tasks)",
    },
    Key {
        name: "when",
        place: Place::Task,
        types: EVERY,
        in_defaults: false,
        required: false,
        schema: r#"{"type": ["string", "number", "boolean"]}"#,
        default: None,
        doc: "a condition, bare or wrapped in `${{ }}`, checked when the trigger rule lets the task run: when false, the task ends `skipped` without running (see Conditions)",
    },
    Key {
        name: "for_each",
        place: Place::Task,
        types: EVERY,
        in_defaults: false,
        required: false,
        schema: r#"{"oneOf": [{"type": "array"}, {"type": "string", "pattern": "^\\s*\\$\\{\\{.*\\}\\}\\s*$"}]}"#,
        default: None,
        doc: "a list of items (text, numbers or maps), or `${{ tasks.ID.outputs.KEY }}`: an upstream task's output holding a JSON array, read when that task has ended: the task runs once per item (each at most 64 KiB as JSON), as `ID.0`, `ID.1`, ..., each with `${{ item }}` / `${{ item.KEY }}` in its strings (see Fan-out)",
    },
    Key {
        name: "matrix",
        place: Place::Task,
        types: EVERY,
        in_defaults: false,
        required: false,
        schema: r##"{"$ref": "#/$defs/matrix"}"##,
        default: None,
        doc: "axes of values (`{region: [eu, us], size: [s, m]}`), with `exclude` and `include` lists: the task runs once per combination, each with `${{ matrix.AXIS }}` in its strings (see Fan-out)",
    },
    Key {
        name: "max_parallel",
        place: Place::Task,
        types: EVERY,
        in_defaults: false,
        required: false,
        schema: r#"{"type": "integer", "minimum": 1}"#,
        default: None,
        doc: "at most this many instances of a mapped task run at once",
    },
    Key {
        name: "max_items",
        place: Place::Task,
        types: EVERY,
        in_defaults: false,
        required: false,
        schema: r#"{"type": "integer", "minimum": 1, "maximum": 1000000}"#,
        default: Some("10000"),
        doc: "for a `for_each` read from a task's output: the most items the list may hold; a longer list fails the mapped task (at most 1000000)",
    },
    Key {
        name: "skip_exit_code",
        place: Place::Task,
        types: SKIPPABLE,
        in_defaults: false,
        required: false,
        schema: r#"{"oneOf": [{"type": "integer", "minimum": 1, "maximum": 599}, {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 599}}]}"#,
        default: None,
        doc: "an exit code, or a list of them, that ends the task `skipped` instead of `failed` (1–255; for http tasks, response statuses 400–599; fn tasks call `FnContext::skip`, or the built-in `skip`)",
    },
    Key {
        name: "cache",
        place: Place::Task,
        types: RUNS,
        in_defaults: false,
        required: false,
        schema: r##"{"$ref": "#/$defs/cache"}"##,
        default: None,
        doc: "reuse the result of an earlier successful execution when nothing it depends on changed: the keys below (see Caching)",
    },
    Key {
        name: "secret_env",
        place: Place::Task,
        types: RUNS,
        in_defaults: false,
        required: false,
        schema: STRINGS,
        default: None,
        doc: "more secret variable names for this task",
    },
    Key {
        name: "description",
        place: Place::Task,
        types: EVERY,
        in_defaults: false,
        required: false,
        schema: TEXT,
        default: None,
        doc: "free text",
    },
    // dag tasks.
    Key {
        name: "file",
        place: Place::Task,
        types: DAG,
        in_defaults: false,
        required: false,
        schema: r##"{"type": "string"}"##,
        default: None,
        doc: "the sub-DAG file to run, relative to this file's directory",
    },
    Key {
        name: "params",
        place: Place::Task,
        types: DAG,
        in_defaults: false,
        required: false,
        schema: r##"{"type": ["object", "null"], "additionalProperties": {"$ref": "#/$defs/scalar"}}"##,
        default: None,
        doc: "map of the sub-DAG's param to its value (expressions allowed)",
    },
    // wasm tasks.
    Key {
        name: "module",
        place: Place::Task,
        types: WASM,
        in_defaults: false,
        required: false,
        schema: r##"{"type": "string"}"##,
        default: None,
        doc: "the WebAssembly module to run (`.wasm` binary or `.wat` text), relative to this file's directory",
    },
    Key {
        name: "sha256",
        place: Place::Task,
        types: WASM,
        in_defaults: false,
        required: false,
        schema: r##"{"type": "string", "pattern": "^(sha256:)?[0-9a-fA-F]{64}$"}"##,
        default: None,
        doc: "the module file's SHA-256 (hex, optionally `sha256:` first): a module that differs is refused",
    },
    Key {
        name: "args",
        place: Place::Task,
        types: WASM,
        in_defaults: false,
        required: false,
        schema: STRINGS,
        default: None,
        doc: "the module's arguments (after its name, which is its first)",
    },
    Key {
        name: "stdin",
        place: Place::Task,
        types: WASM,
        in_defaults: false,
        required: false,
        schema: TEXT,
        default: None,
        doc: "what the module reads from its standard input (nothing unless set)",
    },
    Key {
        name: "dirs",
        place: Place::Task,
        types: WASM,
        in_defaults: false,
        required: false,
        schema: STRINGS,
        default: None,
        doc: "host directories the module may use, `HOST:GUEST[:ro]` (none unless granted)",
    },
    // http tasks.
    Key {
        name: "method",
        place: Place::Task,
        types: HTTP,
        in_defaults: false,
        required: false,
        schema: r##"{"$ref": "#/$defs/method"}"##,
        default: Some("GET"),
        doc: "the request method",
    },
    Key {
        name: "url",
        place: Place::Task,
        types: HTTP,
        in_defaults: false,
        required: false,
        schema: r#"{"type": "string"}"#,
        default: None,
        doc: "the URL to request (`http` or `https`)",
    },
    Key {
        name: "body",
        place: Place::Task,
        types: HTTP,
        in_defaults: false,
        required: false,
        schema: TEXT,
        default: None,
        doc: "the request body (JSON is sent as `application/json`)",
    },
    Key {
        name: "headers",
        place: Place::Task,
        types: HTTP,
        in_defaults: false,
        required: false,
        schema: r##"{"$ref": "#/$defs/env"}"##,
        default: None,
        doc: "request headers",
    },
    // docker tasks.
    Key {
        name: "image",
        place: Place::Task,
        types: DOCKER,
        in_defaults: true,
        required: false,
        schema: TEXT,
        default: None,
        doc: "the image (required unless a default image is configured)",
    },
    Key {
        name: "volumes",
        place: Place::Task,
        types: DOCKER,
        in_defaults: false,
        required: false,
        schema: STRINGS,
        default: None,
        doc: "bind mounts, `HOST:CONTAINER[:ro]`",
    },
    Key {
        name: "memory_mb",
        place: Place::Task,
        types: LIMITED,
        in_defaults: true,
        required: false,
        schema: r#"{"type": "integer", "minimum": 0}"#,
        default: None,
        doc: "memory limit in MiB (docker: none unless set; wasm: the module's linear memory, 256 unless set, at most 4096)",
    },
    Key {
        name: "cpu_quota",
        place: Place::Task,
        types: DOCKER,
        in_defaults: true,
        required: false,
        schema: r#"{"type": "integer", "minimum": 1, "maximum": 100000}"#,
        default: None,
        doc: "percent of one CPU (`50` is half a CPU)",
    },
    Key {
        name: "network",
        place: Place::Task,
        types: DOCKER,
        in_defaults: true,
        required: false,
        schema: TEXT,
        default: None,
        doc: "the Docker network to join",
    },
    Key {
        name: "pull",
        place: Place::Task,
        types: DOCKER,
        in_defaults: true,
        required: false,
        schema: r##"{"$ref": "#/$defs/pull"}"##,
        default: Some("missing"),
        doc: "`missing` (pull only when the image is not present), `always` or `never`",
    },
    // A task's `cache:`.
    Key {
        name: "inputs",
        place: Place::Cache,
        types: EVERY,
        in_defaults: false,
        required: false,
        schema: STRINGS,
        default: None,
        doc: "files, directories and globs (`src/**/*.rs`) relative to the task's working directory, hashed by content; a pattern that matches nothing is a warning in the task's log",
    },
    Key {
        name: "env",
        place: Place::Cache,
        types: EVERY,
        in_defaults: false,
        required: false,
        schema: STRINGS,
        default: None,
        doc: "names of environment variables (of the task, else of the process that runs it) whose values the result depends on; only their hashes are kept",
    },
    Key {
        name: "ttl",
        place: Place::Cache,
        types: EVERY,
        in_defaults: false,
        required: false,
        schema: r##"{"$ref": "#/$defs/duration"}"##,
        default: None,
        doc: "how long a saved result serves hits (`7d`); without it, until `dag cache rm` or `prune` removes it",
    },
    Key {
        name: "outputs",
        place: Place::Cache,
        types: EVERY,
        in_defaults: false,
        required: false,
        schema: STRINGS,
        default: None,
        doc: "files, directories and globs the task writes, relative to its working directory: saved with the result and put back on a hit",
    },
];

/// The keys that may be written at `place`.
pub fn keys(place: Place) -> impl Iterator<Item = &'static Key> {
    KEYS.iter().filter(move |k| k.place == place)
}

/// The names of the keys that may be written at `place`.
pub fn names(place: Place) -> Vec<&'static str> {
    keys(place).map(|k| k.name).collect()
}

/// The names of the keys `defaults:` may give.
pub fn default_names() -> Vec<&'static str> {
    keys(Place::Task)
        .filter(|k| k.in_defaults)
        .map(|k| k.name)
        .collect()
}

/// The task key `name`, if there is one.
pub fn task_key(name: &str) -> Option<&'static Key> {
    keys(Place::Task).find(|k| k.name == name)
}

/// The values `skip_exit_code` may take for a task of type `type_name`: statuses
/// that fail an http task, exit codes other than 0 for the rest.
pub fn skip_codes(type_name: &str) -> std::ops::RangeInclusive<i64> {
    if type_name == "http" {
        400..=599
    } else {
        1..=255
    }
}

/// The units a duration may use (humantime's), as a regex alternation.
const DURATION_UNITS: &str = "nsec|ns|usec|us|µs|msec|ms|seconds|second|sec|s|minutes|minute|min|m|hours|hour|hrs|hr|h|days|day|d|weeks|week|w|months|month|M|years|year|y";

/// The HTTP methods of http tasks.
pub const HTTP_METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];

/// The choices of `retry_backoff`.
pub const BACKOFFS: [(&str, Backoff); 2] = [
    ("exponential", Backoff::Exponential),
    ("fixed", Backoff::Fixed),
];

/// The choices of `pull`.
pub const PULLS: [(&str, PullPolicy); 3] = [
    ("missing", PullPolicy::Missing),
    ("always", PullPolicy::Always),
    ("never", PullPolicy::Never),
];

fn parse(fragment: &str) -> Value {
    serde_json::from_str(fragment).expect("a schema fragment of the format is valid JSON")
}

fn names_of<T>(choices: &[(&str, T)]) -> Vec<String> {
    choices.iter().map(|(n, _)| n.to_string()).collect()
}

/// The shared definitions the keys' schemas refer to (`#/$defs/NAME`).
fn defs() -> Map<String, Value> {
    // Any case, as dag reads them: `[Gg][Ee][Tt]`.
    let methods: Vec<String> = HTTP_METHODS
        .iter()
        .map(|m| {
            m.chars()
                .map(|c| format!("[{}{}]", c, c.to_ascii_lowercase()))
                .collect()
        })
        .collect();
    let mut defs = Map::new();
    for (name, schema) in [
        (
            "name",
            json!({
                "type": "string",
                "maxLength": 100,
                "pattern": "^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*$"
            }),
        ),
        (
            "queue",
            json!({"type": "string", "pattern": "^[A-Za-z0-9_-]{1,100}$"}),
        ),
        (
            "scalar",
            json!({"type": ["string", "number", "boolean", "null"]}),
        ),
        (
            "env",
            json!({
                "type": ["object", "null"],
                "propertyNames": {"pattern": "^[^=\\u0000]+$"},
                "additionalProperties": {"$ref": "#/$defs/scalar"}
            }),
        ),
        (
            "duration",
            json!({
                "type": "string",
                "description": "A duration such as 500ms, 30s, 10m, 1h30m.",
                "pattern": format!("^\\s*([0-9]+\\s*({DURATION_UNITS})\\s*)+$")
            }),
        ),
        (
            "retries",
            json!({"type": "integer", "minimum": 0, "maximum": 1000}),
        ),
        ("backoff", json!({"enum": names_of(&BACKOFFS)})),
        ("trigger_rule", json!({"enum": names_of(&TriggerRule::ALL)})),
        ("pull", json!({"enum": names_of(&PULLS)})),
        ("outcome", json!({"enum": names_of(&RunOutcome::ALL)})),
        (
            "matrix",
            json!({
                "type": "object",
                "minProperties": 1,
                "properties": {
                    "include": {"type": "array", "description": "Combinations to add (or values to add to the combinations they match), each a map of axis to value.", "items": {"type": "object", "additionalProperties": {"$ref": "#/$defs/scalar"}}},
                    "exclude": {"type": "array", "description": "Combinations to leave out: each map leaves out every combination it matches.", "items": {"type": "object", "additionalProperties": {"$ref": "#/$defs/scalar"}}}
                },
                "additionalProperties": {
                    "oneOf": [
                        {"type": "array", "minItems": 1, "items": {"type": ["string", "number", "boolean"]}},
                        {"type": ["string", "number", "boolean"]}
                    ]
                }
            }),
        ),
        (
            "method",
            json!({"type": "string", "pattern": format!("^({})$", methods.join("|"))}),
        ),
        ("type", json!({"enum": type_names().collect::<Vec<_>>()})),
        (
            "cache",
            json!({
                "type": "object",
                "additionalProperties": false,
                "properties": properties(keys(Place::Cache)),
            }),
        ),
    ] {
        defs.insert(name.into(), schema);
    }
    defs
}

/// A key's schema, with its doc as `description` and its default.
fn property(key: &Key) -> Value {
    let mut schema = parse(key.schema);
    if let Value::Object(map) = &mut schema {
        map.insert("description".into(), Value::String(plain(key.doc)));
        if let Some(default) = key.default {
            let value = default
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::String(default.into()));
            map.insert("default".into(), value);
        }
    }
    schema
}

/// A one-line doc with a capital letter and a full stop, as editors show it.
fn plain(doc: &str) -> String {
    let mut chars = doc.chars();
    let first = chars.next().map(|c| c.to_uppercase().collect::<String>());
    format!("{}{}.", first.unwrap_or_default(), chars.as_str())
}

fn properties<'k>(keys: impl Iterator<Item = &'k Key>) -> Map<String, Value> {
    keys.map(|k| (k.name.to_string(), property(k))).collect()
}

/// What a task of type `t` may not have and must have, as the `then` of an
/// `if type == t`.
fn type_rule(t: &TaskType) -> Value {
    let foreign: Map<String, Value> = keys(Place::Task)
        .filter(|k| !k.types.is_empty() && !k.types.contains(&t.name))
        .map(|k| (k.name.to_string(), Value::Bool(false)))
        .collect();
    let mut properties = foreign;
    if keys(Place::Task).any(|k| k.name == "skip_exit_code" && k.types.contains(&t.name)) {
        let codes = skip_codes(t.name);
        let code = json!({"type": "integer", "minimum": codes.start(), "maximum": codes.end()});
        properties.insert(
            "skip_exit_code".into(),
            json!({"oneOf": [code, {"type": "array", "items": code}]}),
        );
    }
    let mut then = json!({ "properties": properties });
    match t.requires {
        Requires::Nothing => {}
        Requires::Command => {
            then["required"] = json!(["command"]);
        }
        Requires::CommandOrUrl => {
            then["anyOf"] = json!([{"required": ["command"]}, {"required": ["url"]}]);
        }
        Requires::Key(key) => {
            then["required"] = json!([key]);
        }
    }
    let named = json!({"properties": {"type": {"const": t.name}}, "required": ["type"]});
    let condition = if t.name == DEFAULT_TYPE {
        json!({"anyOf": [{"not": {"required": ["type"]}}, named]})
    } else {
        named
    };
    json!({"if": condition, "then": then})
}

/// The JSON Schema of the format, for editors (yaml-language-server) and other
/// tools: every property with its doc as `description`.
pub fn schema() -> Value {
    let mut defs = defs();
    defs.insert(
        "task".into(),
        json!({
            "type": "object",
            "additionalProperties": false,
            "properties": properties(keys(Place::Task)),
            "allOf": TYPES.iter().map(type_rule).collect::<Vec<_>>(),
        }),
    );
    defs.insert(
        "defaults".into(),
        json!({
            "type": "object",
            "additionalProperties": false,
            "properties": properties(keys(Place::Task).filter(|k| k.in_defaults)),
        }),
    );
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "dag DAG file, format version 1",
        "type": "object",
        "required": keys(Place::Top).filter(|k| k.required).map(|k| k.name).collect::<Vec<_>>(),
        "additionalProperties": false,
        "patternProperties": { "^x-": {} },
        "properties": properties(keys(Place::Top)),
        "$defs": defs,
    })
}

/// [`schema`] as the text `dag schema` prints.
pub fn schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&schema()).expect("a JSON value prints");
    text.push('\n');
    text
}

/// The README's table of top-level keys.
pub fn top_table() -> String {
    let mut out = String::from("| key | meaning |\n|---|---|\n");
    for k in keys(Place::Top) {
        let required = if k.required { "required; " } else { "" };
        out.push_str(&format!("| `{}` | {required}{} |\n", k.name, k.doc));
    }
    out.push_str(
        "| `x-…` | top-level keys starting with `x-` are ignored: a place for YAML anchors |\n",
    );
    out
}

/// The README's table of task keys.
pub fn task_table() -> String {
    let mut out = String::from(
        "| key | types | default | in `defaults` | meaning |\n|---|---|---|---|---|\n",
    );
    for k in keys(Place::Task) {
        let types = if k.types.is_empty() {
            "all".to_string()
        } else {
            k.types.join(", ")
        };
        let default = k.default.map(|d| format!("`{d}`")).unwrap_or_default();
        let defaults = if k.in_defaults { "yes" } else { "" };
        out.push_str(&format!(
            "| `{}` | {types} | {default} | {defaults} | {} |\n",
            k.name, k.doc
        ));
    }
    out
}

/// The README's table of the keys of a task's `cache:`.
pub fn cache_table() -> String {
    let mut out = String::from("| key | meaning |\n|---|---|\n");
    for k in keys(Place::Cache) {
        out.push_str(&format!("| `{}` | {} |\n", k.name, k.doc));
    }
    out
}

/// The README's generated blocks: marker name and content.
pub fn readme_blocks() -> [(&'static str, String); 3] {
    [
        ("top-keys", top_table()),
        ("task-keys", task_table()),
        ("cache-keys", cache_table()),
    ]
}

/// `text` with each generated block (between `<!-- NAME -->` and `<!-- /NAME -->`)
/// replaced by what [`readme_blocks`] says; `None` when a marker is missing.
pub fn with_readme_blocks(text: &str) -> Option<String> {
    let mut out = text.to_string();
    for (name, content) in readme_blocks() {
        let (open, close) = (format!("<!-- {name} -->\n"), format!("<!-- /{name} -->"));
        let start = out.find(&open)? + open.len();
        let end = start + out[start..].find(&close)?;
        out.replace_range(start..end, &content);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_has_a_schema_a_doc_and_known_types() {
        for k in KEYS {
            assert!(parse(k.schema).is_object(), "{}", k.name);
            assert!(!k.doc.is_empty() && !k.doc.ends_with('.'), "{}", k.name);
            for t in k.types {
                assert!(type_names().any(|n| n == *t), "{}: {t}", k.name);
            }
            assert!(k.types.is_empty() || k.place == Place::Task, "{}", k.name);
            assert!(!k.in_defaults || k.place == Place::Task, "{}", k.name);
        }
        for place in [Place::Top, Place::Task, Place::Cache] {
            let mut seen = std::collections::HashSet::new();
            for k in keys(place) {
                assert!(seen.insert(k.name), "{} twice", k.name);
            }
        }
    }

    #[test]
    fn every_schema_reference_is_defined() {
        let schema = schema();
        let text = schema.to_string();
        for piece in text.split("\"#/$defs/").skip(1) {
            let name = &piece[..piece.find('"').unwrap()];
            assert!(schema["$defs"].get(name).is_some(), "#/$defs/{name}");
        }
        assert!(
            schema.get("$id").is_none(),
            "an $id must resolve, or be left out"
        );
    }

    #[test]
    fn every_property_has_a_description_for_editors() {
        let schema = schema();
        let maps = [
            &schema["properties"],
            &schema["$defs"]["task"]["properties"],
            &schema["$defs"]["defaults"]["properties"],
            &schema["$defs"]["cache"]["properties"],
            &schema["$defs"]["matrix"]["properties"],
        ];
        for map in maps {
            let map = map.as_object().expect("a map of properties");
            assert!(!map.is_empty());
            for (name, p) in map {
                assert!(
                    p["description"].as_str().is_some_and(|d| !d.is_empty()),
                    "{name} has no description"
                );
            }
        }
    }

    /// The README's key tables are generated: `DAG_BLESS=1 cargo test --lib
    /// readme_key_tables` (or scripts/gen-docs.sh) writes them.
    #[test]
    fn readme_key_tables_are_generated() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
        let text = std::fs::read_to_string(path).unwrap();
        let want = with_readme_blocks(&text).expect("README.md has the key table markers");
        if std::env::var_os("DAG_BLESS").is_some() {
            std::fs::write(path, &want).unwrap();
            return;
        }
        assert!(
            text == want,
            "README.md's key tables are stale: run scripts/gen-docs.sh and commit the result"
        );
    }
}
