//! The JSON messages exchanged over NATS. Every message carries `v`, the protocol
//! version; a peer that speaks another version is refused with an error saying so.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::engine::runner::Outputs;
use crate::engine::spec::TaskSpec;
use crate::engine::time::Timestamp;

/// The protocol version this build speaks.
pub const PROTOCOL: u32 = 1;

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

/// Decodes a message, refusing other protocol versions with a clear error.
pub fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, String> {
    #[derive(Deserialize)]
    struct Version {
        v: Option<u32>,
    }
    let version: Version =
        serde_json::from_slice(bytes).map_err(|e| format!("undecodable {what} message: {e}"))?;
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
    serde_json::from_slice(bytes).map_err(|e| format!("undecodable {what} message: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_versions_are_refused() {
        let msg = ControlMsg {
            v: PROTOCOL,
            run_id: "r".into(),
            action: ControlAction::Cancel,
        };
        let bytes = encode(&msg);
        assert_eq!(decode::<ControlMsg>("control", &bytes).unwrap(), msg);
        let v2 = br#"{"v": 2, "run_id": "r", "action": "cancel"}"#;
        let err = decode::<ControlMsg>("control", v2).unwrap_err();
        assert!(err.contains("protocol version 2"), "{err}");
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
