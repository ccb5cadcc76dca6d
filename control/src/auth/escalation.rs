//! No escalation through RBAC's own objects, as Kubernetes enforces it: a Role or
//! ClusterRole may only grant what its writer holds (or the writer may `escalate`), and a
//! binding may only give a role whose rules its writer holds (or the writer may `bind`
//! that role).

use skiff_pki::Identity;
use skiff_proto::Object;
use skiff_proto::model::{PolicyRule, RoleRef};
use tonic::Status;

use super::attributes::{Attributes, verb};
use super::authorizer::{Authorizer, forbidden, is_privileged};
use super::rbac::Policy;
use super::rules;

/// Refuses `o` (a Role, ClusterRole or binding `who` writes) if it would give more than
/// `who` holds. Other kinds pass.
pub fn check(authz: &Authorizer, who: &Identity, o: &Object) -> Result<(), Status> {
    if is_privileged(who) {
        return Ok(());
    }
    let m = o.metadata();
    match o {
        Object::Role(r) => grants(authz, who, o, &m.namespace, &r.rules),
        Object::ClusterRole(r) => grants(authz, who, o, "", &r.rules),
        Object::RoleBinding(b) => binds(authz, who, o, &m.namespace, &b.role_ref),
        Object::ClusterRoleBinding(b) => binds(authz, who, o, "", &b.role_ref),
        _ => Ok(()),
    }
}

fn holds_all(policy: &Policy, who: &Identity, ns: &str, wanted: &[PolicyRule]) -> Vec<String> {
    wanted
        .iter()
        .filter(|r| !rules::covers(policy.rules_for(who, ns), r))
        .map(|r| {
            format!(
                "{{verbs: {:?}, apiGroups: {:?}, resources: {:?}{}}}",
                r.verbs,
                r.api_groups,
                if r.resources.is_empty() {
                    &r.non_resource_urls
                } else {
                    &r.resources
                },
                if r.resource_names.is_empty() {
                    String::new()
                } else {
                    format!(", resourceNames: {:?}", r.resource_names)
                }
            )
        })
        .collect()
}

fn grants(
    authz: &Authorizer,
    who: &Identity,
    o: &Object,
    ns: &str,
    wanted: &[PolicyRule],
) -> Result<(), Status> {
    let kind = o.kind();
    let escalate = Attributes::kind(verb::ESCALATE, kind, ns, &o.metadata().name);
    if authz.decide(who, &escalate)?.allowed {
        return Ok(());
    }
    let policy = authz.policy()?;
    let missing = holds_all(&policy, who, ns, wanted);
    if missing.is_empty() {
        return Ok(());
    }
    Err(forbidden(
        who,
        &format!(
            "write {} {}: it grants {} that {} does not hold (no escalation: grant only rules you have, or be given `escalate` on {})",
            kind,
            o.display_name(),
            missing.join(", "),
            who.user,
            kind.resource()
        ),
    ))
}

fn binds(
    authz: &Authorizer,
    who: &Identity,
    o: &Object,
    ns: &str,
    role: &RoleRef,
) -> Result<(), Status> {
    let role_kind = if role.kind == "Role" {
        skiff_proto::Kind::Role
    } else {
        skiff_proto::Kind::ClusterRole
    };
    let bind = Attributes::kind(verb::BIND, role_kind, ns, &role.name);
    if authz.decide(who, &bind)?.allowed {
        return Ok(());
    }
    let policy = authz.policy()?;
    let scope = (!ns.is_empty()).then_some(ns);
    let Some(wanted) = policy.role(role, scope) else {
        return Err(forbidden(
            who,
            &format!(
                "write {}: it binds {} {:?}, which does not exist (create the role first, or be given `bind` on it)",
                o.display_name(),
                role.kind,
                role.name
            ),
        ));
    };
    let missing = holds_all(&policy, who, ns, wanted);
    if missing.is_empty() {
        return Ok(());
    }
    Err(forbidden(
        who,
        &format!(
            "write {}: {} {:?} grants {} that {} does not hold (no escalation: bind only roles whose rules you have, or be given `bind` on it)",
            o.display_name(),
            role.kind,
            role.name,
            missing.join(", "),
            who.user
        ),
    ))
}
