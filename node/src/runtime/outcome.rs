//! How a run ended, in the words `status.containerStatuses[].state.terminated` uses, plus
//! Skiff's own for what only a Wasm guest can do (`Trapped`).

use std::time::Duration;

/// Exit code reported for a run stopped by its memory limit (128 + SIGKILL, as a
/// container killed by the OOM killer reports).
pub const OOM_EXIT_CODE: i32 = 137;

/// Why a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Exit code 0.
    Completed,
    /// Another exit code.
    Error,
    /// Past `limits.memory`.
    OomKilled,
    /// A trap: `unreachable`, stack overflow, out-of-bounds access...
    Trapped,
    /// Past its deadline.
    DeadlineExceeded,
    /// Started by an earlier agent and not to be found since (the kubelet's word for a
    /// container it cannot locate).
    Lost,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Completed => "Completed",
            Reason::Error => "Error",
            Reason::OomKilled => "OOMKilled",
            Reason::Trapped => "Trapped",
            Reason::DeadlineExceeded => "DeadlineExceeded",
            Reason::Lost => "ContainerStatusUnknown",
        }
    }
}

/// How a run ended, and what it used.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub reason: Reason,
    pub exit_code: i32,
    /// For traps and failures: what happened (with a guest's backtrace).
    pub message: Option<String>,
    pub cpu: Duration,
    pub peak_memory: u64,
}

impl Outcome {
    /// A run that ended without measuring anything (it failed around the workload).
    pub fn ended(reason: Reason, exit_code: i32, message: impl Into<String>) -> Outcome {
        Outcome {
            reason,
            exit_code,
            message: Some(message.into()),
            cpu: Duration::ZERO,
            peak_memory: 0,
        }
    }

    /// A process's exit: 0 is `Completed`, anything else `Error`.
    pub fn exited(exit_code: i32) -> Outcome {
        Outcome {
            reason: if exit_code == 0 {
                Reason::Completed
            } else {
                Reason::Error
            },
            exit_code,
            message: None,
            cpu: Duration::ZERO,
            peak_memory: 0,
        }
    }
}
