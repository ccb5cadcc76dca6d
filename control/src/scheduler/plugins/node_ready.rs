//! Filters on the node's own state: it must be Ready, and not cordoned. A pod that
//! tolerates the matching well-known taint (as DaemonSet pods do) may go there anyway.

use super::taints::tolerates_key;
use crate::scheduler::framework::{Cycle, Filter, Unfit};
use crate::scheduler::snapshot::NodeInfo;

/// The taint a NotReady node gets (Kubernetes' `node.kubernetes.io/not-ready`).
pub const NOT_READY_TAINT: &str = "node.kubernetes.io/not-ready";
/// The taint a node whose agent stopped heartbeating gets.
pub const UNREACHABLE_TAINT: &str = "node.kubernetes.io/unreachable";
/// The taint a cordoned node is treated as having.
pub const UNSCHEDULABLE_TAINT: &str = "node.kubernetes.io/unschedulable";

pub struct NodeReady;

impl Filter for NodeReady {
    fn name(&self) -> &'static str {
        "NodeReady"
    }

    fn filter(&self, cx: &Cycle<'_>, node: &NodeInfo) -> Result<(), Vec<Unfit>> {
        if !node.ready && !tolerates_key(cx.pod, NOT_READY_TAINT) {
            return Err(vec![Unfit("node(s) were not ready".into())]);
        }
        Ok(())
    }
}

pub struct NodeUnschedulable;

impl Filter for NodeUnschedulable {
    fn name(&self) -> &'static str {
        "NodeUnschedulable"
    }

    fn filter(&self, cx: &Cycle<'_>, node: &NodeInfo) -> Result<(), Vec<Unfit>> {
        if node.unschedulable && !tolerates_key(cx.pod, UNSCHEDULABLE_TAINT) {
            return Err(vec![Unfit("node(s) were unschedulable".into())]);
        }
        Ok(())
    }
}
