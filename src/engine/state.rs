//! Task and run states, and the one place where their transitions are checked.

use serde::{Deserialize, Serialize};

/// The state of one task instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Waiting for its upstream tasks.
    Pending,
    /// Ready, waiting for a free slot (or a worker).
    Queued,
    /// An attempt is running.
    Running,
    /// An attempt failed and another will start after the retry delay.
    UpForRetry,
    /// Finished successfully.
    Success,
    /// Every allowed attempt failed.
    Failed,
    /// Its trigger rule can no longer hold because of failures upstream.
    UpstreamFailed,
    /// Its trigger rule can no longer hold and nothing failed upstream.
    Skipped,
    /// Stopped by the user (Ctrl-C, `dag cancel`) or by `--fail-fast`.
    Cancelled,
}

impl TaskState {
    /// True for the states a task never leaves during a run.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Success
                | TaskState::Failed
                | TaskState::UpstreamFailed
                | TaskState::Skipped
                | TaskState::Cancelled
        )
    }

    /// The file/JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Pending => "pending",
            TaskState::Queued => "queued",
            TaskState::Running => "running",
            TaskState::UpForRetry => "up_for_retry",
            TaskState::Success => "success",
            TaskState::Failed => "failed",
            TaskState::UpstreamFailed => "upstream_failed",
            TaskState::Skipped => "skipped",
            TaskState::Cancelled => "cancelled",
        }
    }

    /// Whether a task may go from `self` to `to`. This is the only definition of
    /// legal task transitions; the run record refuses everything else.
    pub fn can_become(self, to: TaskState) -> bool {
        use TaskState::*;
        match (self, to) {
            (Pending, Queued | UpstreamFailed | Skipped | Cancelled) => true,
            (Queued, Running | Cancelled) => true,
            (Running, Success | Failed | UpForRetry | Cancelled | Skipped) => true,
            (UpForRetry, Queued | Cancelled) => true,
            // `dag retry` gives unfinished and failed tasks new attempts.
            (Failed | UpstreamFailed | Cancelled | Skipped, Pending) => true,
            _ => false,
        }
    }
}

impl std::fmt::Display for TaskState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state of a whole run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Created, not started.
    Queued,
    /// Being driven by a `dag run` process.
    Running,
    /// Every task ended without failure.
    Success,
    /// A task ended `failed` or `upstream_failed`.
    Failed,
    /// Stopped by the user.
    Cancelled,
}

impl RunState {
    /// True once the run is over.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunState::Success | RunState::Failed | RunState::Cancelled
        )
    }

    /// The file/JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Queued => "queued",
            RunState::Running => "running",
            RunState::Success => "success",
            RunState::Failed => "failed",
            RunState::Cancelled => "cancelled",
        }
    }

    /// Whether a run may go from `self` to `to`.
    pub fn can_become(self, to: RunState) -> bool {
        use RunState::*;
        matches!(
            (self, to),
            (Queued, Running | Cancelled)
                | (Running, Success | Failed | Cancelled)
                // Another process takes over a run whose driver is gone.
                | (Running, Running)
                // `dag retry` drives a finished run again.
                | (Failed | Cancelled, Running)
        )
    }
}

impl std::fmt::Display for RunState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::TaskState::*;
    use super::*;

    const ALL: [TaskState; 9] = [
        Pending,
        Queued,
        Running,
        UpForRetry,
        Success,
        Failed,
        UpstreamFailed,
        Skipped,
        Cancelled,
    ];

    #[test]
    fn task_transition_table() {
        let legal: &[(TaskState, TaskState)] = &[
            (Pending, Queued),
            (Pending, UpstreamFailed),
            (Pending, Skipped),
            (Pending, Cancelled),
            (Queued, Running),
            (Queued, Cancelled),
            (Running, Success),
            (Running, Failed),
            (Running, UpForRetry),
            (Running, Cancelled),
            (Running, Skipped),
            (UpForRetry, Queued),
            (UpForRetry, Cancelled),
            (Failed, Pending),
            (UpstreamFailed, Pending),
            (Cancelled, Pending),
            (Skipped, Pending),
        ];
        for from in ALL {
            for to in ALL {
                assert_eq!(
                    from.can_become(to),
                    legal.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
    }

    #[test]
    fn success_is_final() {
        assert!(ALL.iter().all(|&to| !Success.can_become(to)));
    }

    #[test]
    fn terminal_states() {
        let terminal: Vec<TaskState> = ALL.into_iter().filter(|s| s.is_terminal()).collect();
        assert_eq!(
            terminal,
            vec![Success, Failed, UpstreamFailed, Skipped, Cancelled]
        );
    }

    #[test]
    fn run_transitions() {
        assert!(RunState::Running.can_become(RunState::Success));
        assert!(!RunState::Success.can_become(RunState::Running));
        assert!(RunState::Failed.can_become(RunState::Running));
        assert!(!RunState::Running.can_become(RunState::Queued));
    }
}
