//! Rules for security contexts: ids in range, capability names as Kubernetes writes them,
//! and no privileged container that also forbids privilege escalation.

use super::Violations;
use crate::manifest::FieldPath;
use crate::model::security::{PodSecurityContext, SecurityContext};

/// The largest uid or gid Kubernetes accepts.
const MAX_ID: i64 = i32::MAX as i64;

pub fn container(sc: &SecurityContext, at: &FieldPath, v: &mut Violations) {
    ids(sc.run_as_user, sc.run_as_group, at, v);
    if sc.privileged == Some(true) && sc.allow_privilege_escalation == Some(false) {
        v.add_hint(
            at.field("allowPrivilegeEscalation"),
            "cannot set allowPrivilegeEscalation to false and privileged to true",
            "a privileged container always may; drop `privileged` or this field",
        );
    }
    if let Some(caps) = &sc.capabilities {
        for (list, field) in [(&caps.add, "add"), (&caps.drop, "drop")] {
            for (i, c) in list.iter().enumerate() {
                let name = c.strip_prefix("CAP_").unwrap_or(c);
                if name.is_empty() || !name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
                    v.add_hint(
                        at.field("capabilities").field(field).index(i),
                        format!("{c:?} is not a capability name"),
                        "write capabilities in capitals without CAP_, e.g. NET_ADMIN (or ALL to drop)",
                    );
                }
            }
        }
    }
}

pub fn pod(sc: &PodSecurityContext, at: &FieldPath, v: &mut Violations) {
    ids(sc.run_as_user, sc.run_as_group, at, v);
    for (i, g) in sc.supplemental_groups.iter().enumerate() {
        v.range(at.field("supplementalGroups").index(i), *g, 0, MAX_ID);
    }
    if let Some(g) = sc.fs_group {
        v.range(at.field("fsGroup"), g, 0, MAX_ID);
    }
}

fn ids(user: Option<i64>, group: Option<i64>, at: &FieldPath, v: &mut Violations) {
    if let Some(u) = user {
        v.range(at.field("runAsUser"), u, 0, MAX_ID);
    }
    if let Some(g) = group {
        v.range(at.field("runAsGroup"), g, 0, MAX_ID);
    }
}
