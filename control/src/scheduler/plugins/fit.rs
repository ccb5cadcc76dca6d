//! Filters on room: the pod's requests (not its limits) must fit in what the node has
//! left, in CPU, memory, pods and Wasm instance slots. Each shortfall is its own reason.

use crate::scheduler::framework::{Cycle, Filter, Unfit};
use crate::scheduler::snapshot::NodeInfo;

pub struct ResourcesFit;

impl Filter for ResourcesFit {
    fn name(&self) -> &'static str {
        "ResourcesFit"
    }

    fn filter(&self, cx: &Cycle<'_>, node: &NodeInfo) -> Result<(), Vec<Unfit>> {
        let want = cx.pod.requests;
        let have = node.allocatable;
        let used = node.requested;
        let short = |want: i64, used: i64, have: i64| want > 0 && used.saturating_add(want) > have;
        let mut why = Vec::new();
        if short(want.pods, used.pods, have.pods) {
            why.push(Unfit("too many pods".into()));
        }
        if short(want.milli_cpu, used.milli_cpu, have.milli_cpu) {
            why.push(Unfit("insufficient cpu".into()));
        }
        if short(want.memory, used.memory, have.memory) {
            why.push(Unfit("insufficient memory".into()));
        }
        if short(
            want.wasm_instances,
            used.wasm_instances,
            have.wasm_instances,
        ) {
            why.push(Unfit("insufficient wasm-instances".into()));
        }
        if why.is_empty() { Ok(()) } else { Err(why) }
    }
}
