//! The JSON messages exchanged over NATS. Every message carries `v`, the protocol
//! version; a peer that speaks another version is refused with an error saying so.
//! Every identifier a message carries (run id, task id, queue, attempt, worker) is
//! checked when it is decoded: they become NATS subjects and keys, and a message
//! whose identifiers cannot is refused as a whole, with the reason.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::engine::runner::{MAX_OUTPUT_BYTES, Outputs, Status};
use crate::engine::spec::TaskSpec;
use crate::engine::text::printable;
use crate::engine::time::Timestamp;

/// The protocol version this build speaks. Version 2: a task message carries its
/// attempt's token in the `Dag-Token` header and a result proves it (`Dag-Proof`), a
/// message over the server's max payload travels through the `dag_payloads` object
/// store, and identifiers are checked on decode.
pub const PROTOCOL: u32 = 2;

/// The longest attempt number a message may carry.
pub const MAX_ATTEMPT: u32 = 1_000_000;

/// The most bytes of a refused message's text quoted in an error or a log line.
pub const QUOTE_BYTES: usize = 200;

/// A task attempt to run, on `dag.tasks.<queue>` (`.docker` for docker tasks).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TaskMsg {
    /// Protocol version.
    pub v: u32,
    /// The run.
    pub run_id: String,
    /// The DAG's name.
    pub dag: String,
    /// The task, with its expressions already substituted.
    pub task: TaskSpec,
    /// Attempt number.
    pub attempt: u32,
    /// The complete environment to set (DAG env, task env, `DAG_*`).
    pub env: Vec<(String, String)>,
    /// The attempt's time limit, when the task or DAG sets one (else the worker's).
    pub timeout_ms: Option<u64>,
    /// The run's params.
    pub params: Vec<(String, String)>,
    /// Outputs of the task's direct upstream tasks.
    pub upstream: BTreeMap<String, Outputs>,
    /// The most the attempt may publish (a worker takes at most
    /// [`crate::engine::runner::MAX_LIST_OUTPUT_BYTES`]); absent: [`MAX_OUTPUT_BYTES`].
    #[serde(default = "default_output_cap")]
    pub output_cap: usize,
    /// The names of the run's secret params: the worker masks their values in
    /// the attempt's output, whichever task holds the secret they are part of.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_params: Vec<String>,
    /// `--no-cache`: a task with `cache:` runs even when a saved result matches.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_cache: bool,
}

fn default_output_cap() -> usize {
    MAX_OUTPUT_BYTES
}

/// What a worker reports about an attempt, on `dag.results.<run>`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResultMsg {
    /// Protocol version.
    pub v: u32,
    /// The run.
    pub run_id: String,
    /// The task id.
    pub task: String,
    /// Attempt number.
    pub attempt: u32,
    /// Started or finished.
    pub kind: ResultKind,
    /// Worker id.
    pub worker: String,
    /// Worker host.
    pub host: String,
    /// How many times the task message was delivered.
    pub delivery: u64,
    /// The task message's sequence in the task queue (0 when not said): with
    /// `worker` and `delivery`, which execution of the attempt this is.
    #[serde(default)]
    pub message: u64,
    /// When.
    pub at: Timestamp,
    /// For `finished`: `success`, `failed` or `cancelled`.
    #[serde(default)]
    pub status: Option<String>,
    /// Exit code (or HTTP status).
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// What went wrong.
    #[serde(default)]
    pub error: Option<String>,
    /// What the attempt published.
    #[serde(default)]
    pub outputs: Outputs,
    /// Bytes of output the worker published on the attempt's log subject.
    #[serde(default)]
    pub log_bytes: u64,
    /// The result was restored from the worker's cache: the task did not run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cached: bool,
}

/// The two reports of an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResultKind {
    /// A worker started it.
    Started,
    /// It ended.
    Finished,
}

/// A worker's heartbeat, the value of its key in the `dag_workers` bucket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Protocol version.
    pub v: u32,
    /// Worker id.
    pub id: String,
    /// Host name.
    pub hostname: String,
    /// Queues served.
    pub queues: Vec<String>,
    /// Whether it runs docker tasks.
    pub docker: bool,
    /// Concurrent task slots.
    pub slots: usize,
    /// Tasks running now.
    pub active: usize,
    /// dag version.
    pub version: String,
    /// When the worker started.
    pub started_at: Timestamp,
    /// When this heartbeat was written.
    pub updated_at: Timestamp,
    /// The task types it runs (`--allow-types`); empty from a dag that did not
    /// say.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<String>,
    /// How many GPUs it gives to tasks (`--gpus`); 0 from a dag that did not
    /// say.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub gpus: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// A control message on `dag.control.<run>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlMsg {
    /// Protocol version.
    pub v: u32,
    /// The run.
    pub run_id: String,
    /// What to do.
    pub action: ControlAction,
}

/// Control actions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlAction {
    /// Stop every task of the run.
    Cancel,
}

/// Encodes a message.
pub fn encode<T: Serialize>(msg: &T) -> bytes::Bytes {
    // Serialising these plain structs cannot fail.
    bytes::Bytes::from(serde_json::to_vec(msg).unwrap_or_default())
}

/// A wire message: decoded, then checked.
pub trait Message: DeserializeOwned {
    /// Checks the identifiers the message carries.
    fn check(&self) -> Result<(), String>;
}

/// `text` cut to [`QUOTE_BYTES`] (on a character boundary), saying how long it was.
pub fn excerpt(text: &str) -> String {
    // What a message carries may hold escapes meant for the reader's terminal.
    if text.len() <= QUOTE_BYTES {
        return printable(text);
    }
    let mut end = QUOTE_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", printable(&text[..end]), text.len())
}

/// Decodes a message, refusing other protocol versions and invalid identifiers with
/// a clear error (which quotes at most [`QUOTE_BYTES`] of what it refuses).
pub fn decode<T: Message>(what: &str, bytes: &[u8]) -> Result<T, String> {
    #[derive(Deserialize)]
    struct Version {
        v: Option<u32>,
    }
    let undecodable = |e: serde_json::Error| excerpt(&format!("undecodable {what} message: {e}"));
    let version: Version = serde_json::from_slice(bytes).map_err(undecodable)?;
    match version.v {
        Some(PROTOCOL) => {}
        Some(other) => {
            return Err(format!(
                "{what} message of protocol version {other}, but this dag ({}) speaks version {PROTOCOL}: run the same dag version on both sides",
                env!("CARGO_PKG_VERSION")
            ));
        }
        None => return Err(format!("{what} message without a protocol version")),
    }
    let msg: T = serde_json::from_slice(bytes).map_err(undecodable)?;
    msg.check()
        .map_err(|e| format!("invalid {what} message: {e}"))?;
    Ok(msg)
}

/// What a run id is made of: it is one subject token (`dag.results.<run>`).
pub const RUN_ID_RULE: &str = "letters, digits, `_` and `-`, at most 100";
/// What a task id is made of (as the DAG file allows).
pub const TASK_ID_RULE: &str =
    "letters, digits, `_`, `.` and `-`, at most 100, no empty part between dots";
/// What a queue name is made of (as the DAG file and `dag worker --queue` allow).
pub const QUEUE_RULE: &str = "letters, digits, `_` and `-`, at most 100";
/// What a worker name is made of: it is a key of the `dag_workers` bucket.
pub const WORKER_RULE: &str =
    "letters, digits, `_`, `.` and `-`, at most 100, no empty part between dots";

fn is_token(s: &str) -> bool {
    crate::engine::validate::is_valid_name(s) && !s.contains('.')
}

/// Whether `s` is a valid run id.
pub fn valid_run_id(s: &str) -> bool {
    crate::engine::record::valid_run_id(s)
}

/// Whether `s` is a valid queue name.
pub fn valid_queue(s: &str) -> bool {
    is_token(s)
}

/// The most queues one worker serves (its heartbeat lists them all).
pub const MAX_QUEUES: usize = 64;

/// Whether `s` is a valid task id.
pub fn valid_task_id(s: &str) -> bool {
    crate::engine::validate::is_valid_name(s)
}

/// Whether `s` is a valid worker name.
pub fn valid_worker(s: &str) -> bool {
    crate::engine::validate::is_valid_name(s)
}

/// Whether `s` is a valid host name in a message (it is only shown).
pub fn valid_host(s: &str) -> bool {
    !s.is_empty() && s.len() <= 255 && !s.chars().any(char::is_control)
}

fn need(ok: bool, what: &str, value: &str, rule: &str) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("{what} `{}` is not valid ({rule})", excerpt(value)))
    }
}

fn check_run(run_id: &str) -> Result<(), String> {
    need(valid_run_id(run_id), "run id", run_id, RUN_ID_RULE)
}

fn check_task(task: &str) -> Result<(), String> {
    need(valid_task_id(task), "task id", task, TASK_ID_RULE)
}

fn check_attempt(attempt: u32) -> Result<(), String> {
    if (1..=MAX_ATTEMPT).contains(&attempt) {
        Ok(())
    } else {
        Err(format!(
            "attempt {attempt} is not valid (from 1 to {MAX_ATTEMPT})"
        ))
    }
}

fn check_worker(worker: &str, host: &str) -> Result<(), String> {
    need(valid_worker(worker), "worker name", worker, WORKER_RULE)?;
    need(
        valid_host(host),
        "host name",
        host,
        "1 to 255 characters, no control characters",
    )
}

impl Message for TaskMsg {
    fn check(&self) -> Result<(), String> {
        check_run(&self.run_id)?;
        need(
            crate::engine::validate::is_valid_name(&self.dag),
            "DAG name",
            &self.dag,
            TASK_ID_RULE,
        )?;
        check_task(&self.task.id)?;
        need(
            valid_queue(&self.task.queue),
            "queue",
            &self.task.queue,
            QUEUE_RULE,
        )?;
        check_attempt(self.attempt)?;
        self.upstream.keys().try_for_each(|t| check_task(t))
    }
}

impl Message for ResultMsg {
    fn check(&self) -> Result<(), String> {
        check_run(&self.run_id)?;
        check_task(&self.task)?;
        check_attempt(self.attempt)?;
        check_worker(&self.worker, &self.host)?;
        match (self.kind, self.status.as_deref()) {
            (ResultKind::Started, None) => Ok(()),
            (ResultKind::Finished, Some(s)) if Status::from_name(s).is_some() => Ok(()),
            (kind, status) => Err(format!(
                "a {kind:?} result with status {}",
                excerpt(&format!("{status:?}"))
            )),
        }
    }
}

impl Message for Heartbeat {
    fn check(&self) -> Result<(), String> {
        check_worker(&self.id, &self.hostname)?;
        if self.queues.len() > MAX_QUEUES {
            return Err(format!(
                "{} queues (a worker serves at most {MAX_QUEUES})",
                self.queues.len()
            ));
        }
        if self.types.len() > 16 || self.types.iter().any(|t| !valid_queue(t)) {
            return Err(format!(
                "task types {}",
                excerpt(&format!("{:?}", self.types))
            ));
        }
        self.queues
            .iter()
            .try_for_each(|q| need(valid_queue(q), "queue", q, QUEUE_RULE))
    }
}

impl Message for ControlMsg {
    fn check(&self) -> Result<(), String> {
        check_run(&self.run_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file of the `wire` fuzz target's seed corpus.
    fn corpus(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/corpus/wire")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn messages_of_this_version_decode() {
        decode::<TaskMsg>("task", &corpus("task-v2.json")).unwrap();
        decode::<ResultMsg>("result", &corpus("result-v2.json")).unwrap();
        decode::<Heartbeat>("heartbeat", &corpus("heartbeat-v2.json")).unwrap();
        decode::<ControlMsg>("control", &corpus("control-v2.json")).unwrap();
    }

    #[test]
    fn identifiers_that_cannot_be_subjects_or_keys_are_refused() {
        type Decoder = fn(&[u8]) -> Result<(), String>;
        let cases: [(&str, Decoder, &str); 10] = [
            (
                "task-poison-run-id.json",
                |b| decode::<TaskMsg>("task", b).map(drop),
                "run id `a b*>.c` is not valid",
            ),
            (
                "task-poison-task-id.json",
                |b| decode::<TaskMsg>("task", b).map(drop),
                "task id `a..b` is not valid",
            ),
            (
                "task-poison-queue.json",
                |b| decode::<TaskMsg>("task", b).map(drop),
                "queue `gpu.>` is not valid",
            ),
            (
                "task-poison-attempt.json",
                |b| decode::<TaskMsg>("task", b).map(drop),
                "attempt 0 is not valid",
            ),
            (
                "task-poison-upstream.json",
                |b| decode::<TaskMsg>("task", b).map(drop),
                "task id `up stream` is not valid",
            ),
            (
                "result-poison-worker.json",
                |b| decode::<ResultMsg>("result", b).map(drop),
                "worker name `w*` is not valid",
            ),
            (
                "result-poison-run-id.json",
                |b| decode::<ResultMsg>("result", b).map(drop),
                "run id `r.x` is not valid",
            ),
            (
                "result-poison-status.json",
                |b| decode::<ResultMsg>("result", b).map(drop),
                "a Finished result with status Some(\"maybe\")",
            ),
            (
                "heartbeat-poison-queue.json",
                |b| decode::<Heartbeat>("heartbeat", b).map(drop),
                "queue `a b` is not valid",
            ),
            (
                "control-poison-run-id.json",
                |b| decode::<ControlMsg>("control", b).map(drop),
                "run id `>` is not valid",
            ),
        ];
        for (file, decode, says) in cases {
            let err = decode(&corpus(file)).unwrap_err();
            assert!(err.contains(says), "{file}: {err}");
            assert!(err.starts_with("invalid "), "{file}: {err}");
        }
    }

    #[test]
    fn a_refused_message_is_quoted_short() {
        let huge = "x".repeat(900_000);
        for body in [
            format!(r#"{{"v": 2, "run_id": "{huge}", "action": "cancel"}}"#),
            format!(r#"{{"v": 2, "run_id": "r", "action": "{huge}"}}"#),
            format!(r#"{{"v": 2, "run_id": 1, "action": ["{huge}"]}}"#),
        ] {
            let err = decode::<ControlMsg>("control", body.as_bytes()).unwrap_err();
            assert!(
                err.len() < 2 * QUOTE_BYTES,
                "{} bytes: {}",
                err.len(),
                &err[..300]
            );
        }
        assert_eq!(excerpt("short"), "short");
        let cut = excerpt(&"é".repeat(QUOTE_BYTES));
        assert!(
            cut.ends_with(&format!("… ({} bytes in all)", 2 * QUOTE_BYTES)),
            "{cut}"
        );
    }

    #[test]
    fn other_versions_are_refused() {
        let msg = ControlMsg {
            v: PROTOCOL,
            run_id: "r".into(),
            action: ControlAction::Cancel,
        };
        let bytes = encode(&msg);
        assert_eq!(decode::<ControlMsg>("control", &bytes).unwrap(), msg);
        let v1 = br#"{"v": 1, "run_id": "r", "action": "cancel"}"#;
        let err = decode::<ControlMsg>("control", v1).unwrap_err();
        assert!(err.contains("protocol version 1"), "{err}");
        assert!(
            decode::<ControlMsg>("control", b"{}")
                .unwrap_err()
                .contains("without a protocol version")
        );
        assert!(
            decode::<ControlMsg>("control", b"\xff")
                .unwrap_err()
                .contains("undecodable")
        );
    }
}
