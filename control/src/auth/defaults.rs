//! The ClusterRoles every Kubernetes cluster has, so bindings can name them: `cluster-admin`
//! (everything), `admin` (everything in a namespace, roles included), `edit` (workloads,
//! config and secrets, no roles) and `view` (read, secrets excepted); and `cluster-admin`
//! bound to `system:masters`. Members create them at start when missing, and add to a
//! default role the rules a newer release gave it (an edited role keeps its own rules too;
//! one annotated `rbac.authorization.kubernetes.io/autoupdate: "false"` is left alone). Also the `skiff-system` namespace, where bootstrap tokens live.

use skiff_proto::Object;
use skiff_proto::model::meta::ObjectMeta;
use skiff_proto::model::rbac::GROUP;
use skiff_proto::model::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject};

use std::sync::Arc;
use std::time::Duration;

use crate::api::ObjectApi;
use crate::machinery::client::Client;
use crate::store::{StoreHandle, key};

/// Namespaced resources a namespace's users work with, by API group.
const WORKLOADS: [(&str, &[&str]); 6] = [
    (
        "",
        &[
            "pods",
            "pods/log",
            "services",
            "endpoints",
            "configmaps",
            "serviceaccounts",
            "events",
        ],
    ),
    (
        "apps",
        &[
            "deployments",
            "deployments/scale",
            "replicasets",
            "replicasets/scale",
            "daemonsets",
        ],
    ),
    ("batch", &["jobs"]),
    ("autoscaling", &["horizontalpodautoscalers"]),
    ("networking.k8s.io", &["ingresses"]),
    ("gateway.networking.k8s.io", &["httproutes"]),
];

const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &[
    "get", "list", "watch", "create", "update", "patch", "delete",
];

fn rule(verbs: &[&str], group: &str, resources: &[&str]) -> PolicyRule {
    let own = |x: &[&str]| x.iter().map(|s| (*s).to_owned()).collect();
    PolicyRule {
        verbs: own(verbs),
        api_groups: vec![group.to_owned()],
        resources: own(resources),
        ..Default::default()
    }
}

fn role(name: &str, rules: Vec<PolicyRule>) -> Object {
    Object::ClusterRole(ClusterRole {
        metadata: ObjectMeta {
            name: name.to_owned(),
            ..Default::default()
        },
        rules,
    })
}

fn workloads(verbs: &[&str]) -> Vec<PolicyRule> {
    WORKLOADS
        .iter()
        .map(|(group, resources)| rule(verbs, group, resources))
        .collect()
}

/// The default ClusterRoles and the `system:masters` binding.
pub fn defaults() -> Vec<Object> {
    let status = rule(READ, "*", &["*/status"]);
    let limits = rule(READ, "", &["resourcequotas", "limitranges"]);
    // `kubectl top pods` (Kubernetes' aggregated metrics reader).
    let usage = rule(READ, "metrics.k8s.io", &["pods"]);
    let view = {
        let mut r = workloads(READ);
        r.push(limits.clone());
        r.push(status.clone());
        r.push(usage.clone());
        r
    };
    let edit = {
        let mut r = workloads(WRITE);
        r.push(rule(WRITE, "", &["secrets"]));
        r.push(limits);
        r.push(status);
        r.push(usage);
        r
    };
    let admin = {
        let mut r = edit.clone();
        r.push(rule(WRITE, GROUP, &["roles", "rolebindings"]));
        r
    };
    let everything = PolicyRule {
        verbs: vec!["*".into()],
        api_groups: vec!["*".into()],
        resources: vec!["*".into()],
        ..Default::default()
    };
    let urls = PolicyRule {
        verbs: vec!["*".into()],
        non_resource_urls: vec!["*".into()],
        ..Default::default()
    };
    vec![
        role("cluster-admin", vec![everything, urls]),
        role("admin", admin),
        role("edit", edit),
        role("view", view),
        Object::ClusterRoleBinding(ClusterRoleBinding {
            metadata: ObjectMeta {
                name: "cluster-admin".into(),
                ..Default::default()
            },
            subjects: vec![Subject {
                kind: "Group".into(),
                name: skiff_pki::identity::MASTERS.into(),
                api_group: GROUP.into(),
                ..Default::default()
            }],
            role_ref: RoleRef {
                api_group: GROUP.into(),
                kind: "ClusterRole".into(),
                name: "cluster-admin".into(),
            },
        }),
    ]
}

/// The annotation that keeps a default ClusterRole as its owner edited it (`"false"`), as
/// in Kubernetes.
pub const AUTOUPDATE: &str = "rbac.authorization.kubernetes.io/autoupdate";

/// Creates the defaults that are missing (see [`defaults`]), then gives each default
/// ClusterRole the rules a newer release added to it (a role created by an older member
/// lacks `deployments/scale`, say), unless it is annotated [`AUTOUPDATE`]`: "false"`.
/// Rules an admin added stay.
pub async fn ensure(store: StoreHandle, api: Arc<ObjectApi>) {
    create_missing(store.clone()).await;
    let client = Client::new(api);
    for wanted in defaults() {
        let Object::ClusterRole(wanted) = wanted else {
            continue;
        };
        let key = key::of(&Object::ClusterRole(wanted.clone()));
        // Members race to do this: a conflict means another did; read again.
        for _ in 0..10 {
            let Ok(Some(current)) = store.state().get(&key) else {
                break;
            };
            let Some(role) = with_missing_rules(&current.object, &wanted) else {
                break;
            };
            match client.update(&role, current.revision).await {
                Ok(_) => break,
                Err(e) => {
                    tracing::debug!(role = %wanted.metadata.name, error = %e, "updating a default role");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }
}

/// `current` with the rules of `wanted` it lacks, or None when it lacks none or its owner
/// asked to keep it as it is.
fn with_missing_rules(current: &Object, wanted: &ClusterRole) -> Option<Object> {
    let Object::ClusterRole(current) = current else {
        return None;
    };
    if current
        .metadata
        .annotations
        .get(AUTOUPDATE)
        .map(String::as_str)
        == Some("false")
    {
        return None;
    }
    let missing: Vec<PolicyRule> = wanted
        .rules
        .iter()
        .filter(|r| !current.rules.contains(r))
        .cloned()
        .collect();
    if missing.is_empty() {
        return None;
    }
    let mut role = current.clone();
    role.rules.extend(missing);
    Some(Object::ClusterRole(role))
}

async fn create_missing(store: StoreHandle) {
    let system = Object::Namespace(skiff_proto::model::namespace::Namespace {
        metadata: ObjectMeta {
            name: skiff_proto::model::bootstrap::NAMESPACE.into(),
            ..Default::default()
        },
        ..Default::default()
    });
    let mut all = vec![system];
    all.extend(defaults());
    crate::api::ensure(store, all).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role_named(name: &str) -> ClusterRole {
        defaults()
            .into_iter()
            .find_map(|o| match o {
                Object::ClusterRole(r) if r.metadata.name == name => Some(r),
                _ => None,
            })
            .unwrap()
    }

    #[test]
    fn an_older_default_role_gains_the_new_rules_and_keeps_its_own() {
        let wanted = role_named("edit");
        let mut old = wanted.clone();
        // As an older member made it: no scale subresources; and a rule an admin added.
        for r in &mut old.rules {
            r.resources.retain(|x| !x.ends_with("/scale"));
        }
        let own = rule(READ, "example.com", &["widgets"]);
        old.rules.push(own.clone());
        let Some(Object::ClusterRole(now)) =
            with_missing_rules(&Object::ClusterRole(old.clone()), &wanted)
        else {
            panic!("the old role lacks rules")
        };
        assert!(now.rules.contains(&own));
        for r in &wanted.rules {
            assert!(now.rules.contains(r), "{r:?}");
        }
        // Once whole, nothing more to add.
        assert!(with_missing_rules(&Object::ClusterRole(now), &wanted).is_none());
        // An owner who says so keeps it as it is.
        old.metadata
            .annotations
            .insert(AUTOUPDATE.into(), "false".into());
        assert!(with_missing_rules(&Object::ClusterRole(old), &wanted).is_none());
    }
}
