//! What one run may use, from the container's `resources` and the pod's deadline. The Wasm
//! runtime meters a guest against these itself; the container runtime writes them into the
//! container's cgroup.

use std::time::Duration;

/// What a run may use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    /// Memory: a Wasm instance's linear memory (and tables); a container's cgroup.
    pub memory_bytes: Option<u64>,
    /// `limits.cpu`, in thousandths of one core.
    pub cpu_millis: Option<u64>,
    /// `requests.cpu`, in thousandths of one core: a container's CPU shares (weight).
    pub cpu_request_millis: Option<u64>,
    /// Wall-clock time from the start of the run (`activeDeadlineSeconds`).
    pub deadline: Option<Duration>,
}
