//! RBAC's decision: the rules every binding that names a caller gives it, read from the
//! store. The compiled policy is cached and rebuilt only when a Role, ClusterRole or
//! binding changed (the store tells by kind), so a check costs a few hash lookups and no
//! read of the store, and a binding written is in force for the next request on every
//! member that applied it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use skiff_pki::Identity;
use skiff_proto::model::serviceaccount;
use skiff_proto::model::{PolicyRule, RoleRef, Subject};
use skiff_proto::{Kind, Object};

use super::attributes::Attributes;
use super::rules;
use crate::Error;
use crate::store::StateMachine;

/// Every authenticated caller is in this group.
pub const AUTHENTICATED: &str = "system:authenticated";

const KINDS: [Kind; 4] = [
    Kind::Role,
    Kind::ClusterRole,
    Kind::RoleBinding,
    Kind::ClusterRoleBinding,
];

struct Binding {
    /// The namespace a RoleBinding gives its role in (`None`: everywhere).
    namespace: Option<String>,
    subjects: Vec<Subject>,
    role_ref: RoleRef,
}

/// The RBAC objects as of one store revision.
#[derive(Default)]
pub struct Policy {
    roles: HashMap<(String, String), Vec<PolicyRule>>,
    cluster_roles: HashMap<String, Vec<PolicyRule>>,
    bindings: Vec<Binding>,
}

fn names(s: &Subject, binding_ns: Option<&str>, who: &Identity) -> bool {
    match s.kind.as_str() {
        "User" => s.name == who.user,
        "Group" => s.name == AUTHENTICATED || who.in_group(&s.name),
        "ServiceAccount" => {
            let ns = if s.namespace.is_empty() {
                binding_ns.unwrap_or_default()
            } else {
                &s.namespace
            };
            who.user == serviceaccount::user_name(ns, &s.name)
        }
        _ => false,
    }
}

impl Policy {
    /// Reads every Role, ClusterRole and binding.
    pub fn read(state: &StateMachine) -> Result<Policy, Error> {
        let mut p = Policy::default();
        for kind in KINDS {
            for s in state.list(kind, None, None)?.0 {
                match s.object {
                    Object::Role(r) => {
                        let m = r.metadata;
                        p.roles.insert((m.namespace, m.name), r.rules);
                    }
                    Object::ClusterRole(r) => {
                        p.cluster_roles.insert(r.metadata.name, r.rules);
                    }
                    Object::RoleBinding(b) => p.bindings.push(Binding {
                        namespace: Some(b.metadata.namespace),
                        subjects: b.subjects,
                        role_ref: b.role_ref,
                    }),
                    Object::ClusterRoleBinding(b) => p.bindings.push(Binding {
                        namespace: None,
                        subjects: b.subjects,
                        role_ref: b.role_ref,
                    }),
                    _ => {}
                }
            }
        }
        Ok(p)
    }

    /// The rules of the role `r` names, as seen from a binding in `namespace`.
    pub fn role(&self, r: &RoleRef, namespace: Option<&str>) -> Option<&[PolicyRule]> {
        match (r.kind.as_str(), namespace) {
            ("ClusterRole", _) => self.cluster_roles.get(&r.name).map(Vec::as_slice),
            ("Role", Some(ns)) => self
                .roles
                .get(&(ns.to_owned(), r.name.clone()))
                .map(Vec::as_slice),
            _ => None,
        }
    }

    /// Every rule `who` holds in `namespace` (empty: the cluster scope, where only
    /// ClusterRoleBindings count).
    pub fn rules_for<'a>(
        &'a self,
        who: &'a Identity,
        namespace: &'a str,
    ) -> impl Iterator<Item = &'a PolicyRule> + Clone + 'a {
        self.bindings
            .iter()
            .filter(move |b| match &b.namespace {
                None => true,
                Some(ns) => !namespace.is_empty() && ns == namespace,
            })
            .filter(move |b| {
                b.subjects
                    .iter()
                    .any(|s| names(s, b.namespace.as_deref(), who))
            })
            .flat_map(move |b| {
                self.role(&b.role_ref, b.namespace.as_deref())
                    .unwrap_or(&[])
            })
    }

    /// Whether some rule `who` holds allows `a`.
    pub fn allows(&self, who: &Identity, a: &Attributes) -> bool {
        self.rules_for(who, &a.namespace)
            .any(|r| rules::allows(r, a))
    }
}

/// The policy, compiled once per change of the RBAC kinds.
#[derive(Default)]
pub struct Cache {
    current: Mutex<Option<([u64; 4], Arc<Policy>)>>,
}

impl Cache {
    /// The policy as of the store's applied state.
    pub fn policy(&self, state: &StateMachine) -> Result<Arc<Policy>, Error> {
        let epochs = KINDS.map(|k| state.kind_changed(k));
        let mut cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, p)) = cur.as_ref()
            && *at == epochs
        {
            return Ok(p.clone());
        }
        let p = Arc::new(Policy::read(state)?);
        *cur = Some((epochs, p.clone()));
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::attributes::verb;

    fn rule(verbs: &[&str], resources: &[&str]) -> PolicyRule {
        PolicyRule {
            verbs: verbs.iter().map(|s| s.to_string()).collect(),
            api_groups: vec![String::new()],
            resources: resources.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    fn subject(kind: &str, name: &str, ns: &str) -> Subject {
        Subject {
            kind: kind.into(),
            name: name.into(),
            namespace: ns.into(),
            api_group: String::new(),
        }
    }

    fn role_ref(kind: &str, name: &str) -> RoleRef {
        RoleRef {
            api_group: skiff_proto::model::rbac::GROUP.into(),
            kind: kind.into(),
            name: name.into(),
        }
    }

    fn who(user: &str, groups: &[&str]) -> Identity {
        Identity {
            user: user.into(),
            groups: groups.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn policy() -> Policy {
        let mut p = Policy::default();
        p.roles.insert(
            ("a".into(), "reader".into()),
            vec![rule(&["get"], &["pods"])],
        );
        p.cluster_roles
            .insert("secrets".into(), vec![rule(&["list"], &["secrets"])]);
        p.bindings = vec![
            Binding {
                namespace: Some("a".into()),
                subjects: vec![subject("Group", "devs", "")],
                role_ref: role_ref("Role", "reader"),
            },
            // A ClusterRole through a RoleBinding: only in that namespace.
            Binding {
                namespace: Some("a".into()),
                subjects: vec![subject("ServiceAccount", "bot", "")],
                role_ref: role_ref("ClusterRole", "secrets"),
            },
            Binding {
                namespace: None,
                subjects: vec![subject("User", "root", "")],
                role_ref: role_ref("ClusterRole", "secrets"),
            },
        ];
        p
    }

    #[test]
    fn bindings_give_their_role_to_their_subjects_in_their_scope() {
        let p = policy();
        let get_pod = |ns: &str| Attributes::kind(verb::GET, Kind::Pod, ns, "x");
        let list_secrets = |ns: &str| Attributes::kind(verb::LIST, Kind::Secret, ns, "");
        let dev = who("carol", &["devs"]);
        assert!(p.allows(&dev, &get_pod("a")));
        assert!(!p.allows(&dev, &get_pod("b")));
        assert!(!p.allows(&who("carol", &[]), &get_pod("a")));
        // A ServiceAccount subject without a namespace is the binding's own.
        let bot = who("system:serviceaccount:a:bot", &[]);
        assert!(p.allows(&bot, &list_secrets("a")));
        assert!(!p.allows(&bot, &list_secrets("b")));
        assert!(!p.allows(&who("system:serviceaccount:b:bot", &[]), &list_secrets("a")));
        // A ClusterRoleBinding counts in every namespace and at the cluster scope.
        let root = who("root", &[]);
        assert!(p.allows(&root, &list_secrets("b")));
        assert!(p.allows(&root, &list_secrets("")));
        // A RoleBinding never reaches the cluster scope (every namespace at once).
        assert!(!p.allows(&bot, &list_secrets("")));
        // A binding to a role that does not exist gives nothing.
        let mut p = p;
        p.roles.clear();
        assert!(!p.allows(&dev, &get_pod("a")));
    }
}
