//! The ClusterRoles every Kubernetes cluster has, so bindings can name them: `cluster-admin`
//! (everything), `admin` (everything in a namespace, roles included), `edit` (workloads,
//! config and secrets, no roles) and `view` (read, secrets excepted); and `cluster-admin`
//! bound to `system:masters`. Members create them at start when missing; an edited one is
//! left as it is. Also the `skiff-system` namespace, where bootstrap tokens live.

use skiff_proto::Object;
use skiff_proto::model::meta::ObjectMeta;
use skiff_proto::model::rbac::GROUP;
use skiff_proto::model::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject};

use crate::store::StoreHandle;

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

/// Creates the defaults that are missing (see [`defaults`]).
pub async fn ensure(store: StoreHandle) {
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
