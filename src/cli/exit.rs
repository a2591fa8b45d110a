//! Exit codes and the errors that lead to them.

use std::process::ExitCode;

use crate::engine::executor::ExecError;
use crate::engine::store::StoreError;
use crate::engine::validate::{InvalidDag, LoadError};

/// Every task succeeded.
pub const SUCCESS: u8 = 0;
/// The run finished and a task failed.
pub const TASK_FAILED: u8 = 1;
/// Bad invocation or invalid DAG file.
pub const USAGE: u8 = 2;
/// Infrastructure unavailable: state store, NATS, Docker daemon.
pub const INFRASTRUCTURE: u8 = 3;
/// An internal error: a bug in dag (an illegal state transition, a panic).
pub const INTERNAL: u8 = 70;
/// Interrupted by SIGINT.
pub const SIGINT: u8 = 130;
/// Interrupted by SIGTERM.
pub const SIGTERM: u8 = 143;

/// The exit code of a run that ended (`dag run`, `dag wait`): 0 when it
/// succeeded, 130 when it was cancelled (Ctrl-C, `dag cancel`), 1 otherwise.
pub fn of_run(state: crate::engine::state::RunState) -> u8 {
    use crate::engine::state::RunState;
    match state {
        RunState::Success => SUCCESS,
        RunState::Cancelled => SIGINT,
        _ => TASK_FAILED,
    }
}

/// Every exit code and what it means in short (the man pages' EXIT STATUS; the
/// README's table says more).
pub const CODES: &[(u8, &str)] = &[
    (SUCCESS, "success"),
    (
        TASK_FAILED,
        "the run finished and a task failed (or `dag status` of a failed run)",
    ),
    (
        USAGE,
        "bad invocation or invalid DAG file (an unknown run, task or option value)",
    ),
    (
        INFRASTRUCTURE,
        "infrastructure unavailable: the state store, the Docker daemon or NATS",
    ),
    (INTERNAL, "internal error: a bug in dag (please report it)"),
    (
        SIGINT,
        "interrupted by SIGINT, or cancelled with `dag cancel`",
    ),
    (SIGTERM, "interrupted by SIGTERM"),
];

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command line does not make sense.
    #[error("{message}")]
    Usage {
        /// What is wrong.
        message: String,
        /// How to fix it.
        help: Option<String>,
    },
    /// A DAG file could not be read.
    #[error(transparent)]
    Load(LoadError),
    /// One or more DAG files are invalid (already rendered when `rendered`).
    #[error("invalid DAG file")]
    Invalid(Vec<InvalidDag>),
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Running failed for a reason other than a task.
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// Something this command needs is unavailable.
    #[error("{0}")]
    Infrastructure(String),
    /// Writing output failed.
    #[error("cannot write output")]
    Output(#[source] std::io::Error),
}

impl CliError {
    /// A usage error with a hint.
    pub fn usage(message: impl Into<String>, help: Option<String>) -> CliError {
        CliError::Usage {
            message: message.into(),
            help,
        }
    }

    /// The exit code this error leads to.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage { .. } | CliError::Load(_) | CliError::Invalid(_) => USAGE,
            CliError::Store(
                StoreError::NotFound(_) | StoreError::Empty | StoreError::Locked(_),
            ) => USAGE,
            CliError::Store(_) | CliError::Output(_) | CliError::Infrastructure(_) => {
                INFRASTRUCTURE
            }
            CliError::Exec(ExecError::Store(_) | ExecError::Unavailable(..)) => INFRASTRUCTURE,
            CliError::Exec(ExecError::NoRunner(_)) => USAGE,
            CliError::Exec(ExecError::Illegal(_) | ExecError::Panicked(_)) => INTERNAL,
        }
    }
}

impl From<crate::embed::Error> for CliError {
    fn from(e: crate::embed::Error) -> CliError {
        use crate::embed::Error;
        match e {
            Error::Load(e) => e.into(),
            Error::Store(e) => CliError::Store(e),
            Error::Exec(e) => CliError::Exec(e),
            Error::Setup(e) => CliError::Infrastructure(e),
            Error::Retry(e) => CliError::usage(e, None),
        }
    }
}

impl From<LoadError> for CliError {
    fn from(e: LoadError) -> CliError {
        match e {
            LoadError::Invalid(invalid) => CliError::Invalid(invalid.flatten()),
            other => CliError::Load(other),
        }
    }
}

/// Converts an exit code for `main`.
pub fn code(c: u8) -> ExitCode {
    ExitCode::from(c)
}
