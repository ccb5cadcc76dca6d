//! Rules for ResourceQuotas and LimitRanges: resource names Skiff counts, and bounds
//! that make sense (min ≤ default ≤ max).

use super::Violations;
use crate::manifest::FieldPath;
use crate::model::quota::{LimitRange, ResourceQuota};

/// What a ResourceQuota may limit.
pub fn quota_resource(name: &str) -> bool {
    matches!(
        name,
        "pods"
            | "services"
            | "configmaps"
            | "secrets"
            | "cpu"
            | "memory"
            | "requests.cpu"
            | "requests.memory"
            | "limits.cpu"
            | "limits.memory"
    ) || name.strip_prefix("count/").is_some_and(|r| !r.is_empty())
}

pub(crate) fn resource_quota(q: &ResourceQuota, v: &mut Violations) {
    for (name, value) in &q.spec.hard {
        let at = FieldPath::root().field("spec").field("hard").field(name);
        if !quota_resource(name) {
            v.add_hint(
                at,
                format!("unknown quota resource {name:?}"),
                "pods, services, configmaps, secrets, requests.cpu, requests.memory, limits.cpu, limits.memory, or count/<resource> (count/deployments.apps)",
            );
        } else if value.milli_value() < 0 {
            v.add(at, format!("{name} is negative"));
        }
    }
}

pub(crate) fn limit_range(l: &LimitRange, v: &mut Violations) {
    for (i, item) in l.spec.limits.iter().enumerate() {
        let at = FieldPath::root().field("spec").field("limits").index(i);
        if !matches!(item.type_.as_str(), "Container" | "Pod") {
            v.add_hint(
                at.field("type"),
                format!("unknown limit type {:?}", item.type_),
                "Container or Pod",
            );
        }
        if item.type_ == "Pod" && !(item.default.is_empty() && item.default_request.is_empty()) {
            v.add(
                at.clone(),
                "a Pod limit has no defaults (only Container limits do)",
            );
        }
        for (field, map) in [
            ("default", &item.default),
            ("defaultRequest", &item.default_request),
            ("max", &item.max),
            ("min", &item.min),
        ] {
            for r in map
                .keys()
                .filter(|r| !matches!(r.as_str(), "cpu" | "memory"))
            {
                v.add_hint(
                    at.field(field).field(r),
                    format!("unknown resource {r:?}"),
                    "cpu or memory",
                );
            }
        }
        for (r, min) in &item.min {
            if let Some(max) = item.max.get(r)
                && min.milli_value() > max.milli_value()
            {
                v.add(
                    at.field("min").field(r),
                    format!("min {min} is above max {max}"),
                );
            }
        }
        for (field, map) in [
            ("default", &item.default),
            ("defaultRequest", &item.default_request),
        ] {
            for (r, d) in map {
                let below = item
                    .min
                    .get(r)
                    .is_some_and(|m| d.milli_value() < m.milli_value());
                let above = item
                    .max
                    .get(r)
                    .is_some_and(|m| d.milli_value() > m.milli_value());
                if below || above {
                    v.add(
                        at.field(field).field(r),
                        format!("{field} {d} is outside min..max"),
                    );
                }
            }
        }
    }
}
