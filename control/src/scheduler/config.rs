//! The cluster-wide scheduling policy, kept where every member reads it: the ConfigMap
//! `default/skiff-scheduler`, key `policy` (`auto`, `binpack` or `spread`).

use skiff_proto::{Kind, Object};

use super::framework::Policy;
use crate::machinery::cache::Cache;

pub const CONFIG_NAMESPACE: &str = "default";
pub const CONFIG_NAME: &str = "skiff-scheduler";
pub const POLICY_KEY: &str = "policy";

/// The policy in force; a missing or unreadable setting is `auto` (and logged).
pub fn policy(cache: &Cache) -> Policy {
    let Some(s) = cache.get(Kind::ConfigMap, CONFIG_NAMESPACE, CONFIG_NAME) else {
        return Policy::Auto;
    };
    let Object::ConfigMap(cm) = &s.object else {
        return Policy::Auto;
    };
    let text = cm.data.get(POLICY_KEY).map(String::as_str).unwrap_or("");
    Policy::parse(text).unwrap_or_else(|e| {
        tracing::warn!(configmap = CONFIG_NAME, error = %e, "using the auto policy");
        Policy::Auto
    })
}

/// Whether the pod's PriorityClass lets it evict others (`preemptionPolicy` is not
/// `Never`); a pod without a class may.
pub fn may_preempt(cache: &Cache, pod: &super::snapshot::PodInfo) -> bool {
    let Some(name) = pod.spec().priority_class_name.as_deref() else {
        return true;
    };
    match cache
        .get(Kind::PriorityClass, "", name)
        .map(|s| s.object.clone())
    {
        Some(Object::PriorityClass(c)) => {
            c.preemption_policy != Some(skiff_proto::model::priorityclass::PreemptionPolicy::Never)
        }
        _ => true,
    }
}
