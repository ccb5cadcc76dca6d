//! Scores by what is already allocated on a node (CPU and memory, with scoring's
//! non-zero defaults, the pod itself included): most allocated first when the pod is
//! bin-packed, least allocated first when it is spread (see [`Policy`](crate::scheduler::framework::Policy)).

use crate::scheduler::framework::{Cycle, Score};
use crate::scheduler::snapshot::NodeInfo;

pub struct Allocation;

/// Percent of `have` that `used` takes, 0..=100.
fn percent(used: i64, have: i64) -> i64 {
    if have <= 0 {
        return 100;
    }
    (used.saturating_mul(100) / have).clamp(0, 100)
}

impl Score for Allocation {
    fn name(&self) -> &'static str {
        "Allocation"
    }

    fn weight(&self) -> i64 {
        1
    }

    fn score(&self, cx: &Cycle<'_>, node: &NodeInfo) -> i64 {
        let want = cx.pod.requests.for_scoring(cx.pod.wasm);
        let used = node.scoring;
        let cpu = percent(
            used.milli_cpu.saturating_add(want.milli_cpu),
            node.allocatable.milli_cpu,
        );
        let mem = percent(
            used.memory.saturating_add(want.memory),
            node.allocatable.memory,
        );
        let allocated = (cpu + mem) / 2;
        if cx.policy.packs(cx.pod) {
            allocated
        } else {
            100 - allocated
        }
    }
}
