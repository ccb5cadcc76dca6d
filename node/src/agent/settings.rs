//! What a container runs with, read from its pod's spec: its limits, its security
//! context over the pod's, and the pod's grace period.

use std::time::Duration;

use skiff_proto::model::container::Container;
use skiff_proto::model::pod::PodSpec;

use crate::runtime::{Limits, Security};

/// A container's limits, as the pod spec sets them.
pub fn limits(spec: &PodSpec, c: &Container) -> Limits {
    let (l, r) = (&c.resources.limits, &c.resources.requests);
    let millis = |q: &skiff_proto::model::quantity::Quantity| u64::try_from(q.milli_value()).ok();
    Limits {
        memory_bytes: l.get("memory").and_then(|q| u64::try_from(q.value()).ok()),
        cpu_millis: l.get("cpu").and_then(millis),
        // Kubernetes defaults a request to its limit.
        cpu_request_millis: r.get("cpu").or_else(|| l.get("cpu")).and_then(millis),
        deadline: spec
            .active_deadline_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map(Duration::from_secs),
    }
}

/// What the container's `securityContext` asks for, over its pod's.
pub fn security(spec: &PodSpec, c: &Container) -> Security {
    let pod = spec.security_context.clone().unwrap_or_default();
    let own = c.security_context.clone().unwrap_or_default();
    let id = |v: Option<i64>| v.and_then(|n| u32::try_from(n).ok());
    let caps = own.capabilities.unwrap_or_default();
    Security {
        run_as_user: id(own.run_as_user.or(pod.run_as_user)),
        run_as_group: id(own.run_as_group.or(pod.run_as_group)),
        run_as_non_root: own.run_as_non_root.or(pod.run_as_non_root).unwrap_or(false),
        supplemental_groups: pod
            .supplemental_groups
            .iter()
            .chain(pod.fs_group.iter())
            .filter_map(|g| u32::try_from(*g).ok())
            .collect(),
        read_only_root_filesystem: own.read_only_root_filesystem.unwrap_or(false),
        privileged: own.privileged.unwrap_or(false),
        allow_privilege_escalation: own.allow_privilege_escalation,
        add_capabilities: caps.add,
        drop_capabilities: caps.drop,
    }
}

/// The pod's `terminationGracePeriodSeconds` (30 s when unset, as in Kubernetes).
pub fn grace(spec: &PodSpec) -> Duration {
    Duration::from_secs(
        spec.termination_grace_period_seconds
            .and_then(|s| u64::try_from(s).ok())
            .unwrap_or(30),
    )
}
