//! Rules for RBAC objects: every rule names verbs and what they apply to; bindings name a
//! role of a kind that can be bound, and subjects Kubernetes knows.

use super::{Violations, names};
use crate::manifest::FieldPath;
use crate::model::rbac::{GROUP, PolicyRule, RoleRef, Subject};

/// Checks `rules` (at `rules[i]`); `cluster` allows `nonResourceURLs`.
pub fn rules(rules: &[PolicyRule], cluster: bool, v: &mut Violations) {
    for (i, r) in rules.iter().enumerate() {
        let at = FieldPath::root().field("rules").index(i);
        if r.verbs.is_empty() {
            v.add_hint(
                at.field("verbs"),
                "a rule needs at least one verb",
                "e.g. verbs: [get, list, watch]",
            );
        }
        if r.verbs.iter().any(|x| x.is_empty()) {
            v.add(at.field("verbs"), "a verb cannot be empty");
        }
        match (r.resources.is_empty(), r.non_resource_urls.is_empty()) {
            (true, true) => v.add_hint(
                at.field("resources"),
                "a rule needs resources (or, in a ClusterRole, nonResourceURLs)",
                "e.g. apiGroups: [\"\"] and resources: [pods]",
            ),
            (false, _) if r.api_groups.is_empty() => v.add_hint(
                at.field("apiGroups"),
                "a rule for resources needs apiGroups",
                "\"\" is the core group (pods, secrets, services); apps, batch, ...; \"*\" for all",
            ),
            (_, false) if !cluster => v.add(
                at.field("nonResourceURLs"),
                "only a ClusterRole may grant nonResourceURLs",
            ),
            (_, false) if !r.resources.is_empty() => v.add(
                at.field("nonResourceURLs"),
                "a rule grants resources or nonResourceURLs, not both",
            ),
            _ => {}
        }
    }
}

/// Checks a binding's `roleRef`; `cluster` is a ClusterRoleBinding, which can only give a
/// ClusterRole.
pub fn role_ref(r: &RoleRef, cluster: bool, v: &mut Violations) {
    let at = FieldPath::root().field("roleRef");
    if r.api_group != GROUP {
        v.add_hint(
            at.field("apiGroup"),
            format!("roleRef.apiGroup must be {GROUP}, not {:?}", r.api_group),
            format!("apiGroup: {GROUP}"),
        );
    }
    match r.kind.as_str() {
        "ClusterRole" => {}
        "Role" if !cluster => {}
        "Role" => v.add(
            at.field("kind"),
            "a ClusterRoleBinding can only give a ClusterRole",
        ),
        other => v.add_hint(
            at.field("kind"),
            format!("unknown roleRef.kind {other:?}"),
            "Role or ClusterRole",
        ),
    }
    if r.name.is_empty() {
        v.add(at.field("name"), "roleRef needs the role's name");
    } else if let Err(why) = names::path_segment(&r.name) {
        v.add(
            at.field("name"),
            format!("invalid role name {:?}: {why}", r.name),
        );
    }
}

/// Checks a binding's subjects; `cluster` bindings must name a ServiceAccount's namespace.
pub fn subjects(subjects: &[Subject], cluster: bool, v: &mut Violations) {
    for (i, s) in subjects.iter().enumerate() {
        let at = FieldPath::root().field("subjects").index(i);
        if s.name.is_empty() {
            v.add(at.field("name"), "a subject needs a name");
        }
        match s.kind.as_str() {
            "User" | "Group" => {
                if !s.api_group.is_empty() && s.api_group != GROUP {
                    v.add(
                        at.field("apiGroup"),
                        format!("a {} subject's apiGroup is {GROUP}", s.kind),
                    );
                }
            }
            "ServiceAccount" => {
                if !s.api_group.is_empty() {
                    v.add(
                        at.field("apiGroup"),
                        "a ServiceAccount subject has no apiGroup",
                    );
                }
                if cluster && s.namespace.is_empty() {
                    v.add_hint(
                        at.field("namespace"),
                        "a ServiceAccount subject of a ClusterRoleBinding needs its namespace",
                        "namespace: NS",
                    );
                }
            }
            other => v.add_hint(
                at.field("kind"),
                format!("unknown subject kind {other:?}"),
                "User, Group or ServiceAccount",
            ),
        }
    }
}
