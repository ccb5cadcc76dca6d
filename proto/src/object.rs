//! `Object`: any resource, tagged with its kind; the `apiVersion`/`kind` header that
//! manifests carry; and which kinds are namespaced.

use std::fmt;

use serde::{Serialize, Serializer};

use crate::model::*;

/// Every kind Skiff knows, with the `apiVersion` Kubernetes users write for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Namespace,
    Node,
    Pod,
    ReplicaSet,
    Deployment,
    Job,
    DaemonSet,
    Service,
    Endpoints,
    ConfigMap,
    Secret,
    Event,
    PriorityClass,
    Ingress,
    HttpRoute,
    ServiceAccount,
    Role,
    ClusterRole,
    RoleBinding,
    ClusterRoleBinding,
    ResourceQuota,
    LimitRange,
    KeyValue,
    HttpFilter,
    WasmAdmissionPolicy,
}

impl Kind {
    pub const ALL: [Kind; 25] = [
        Kind::Namespace,
        Kind::Node,
        Kind::Pod,
        Kind::ReplicaSet,
        Kind::Deployment,
        Kind::Job,
        Kind::DaemonSet,
        Kind::Service,
        Kind::Endpoints,
        Kind::ConfigMap,
        Kind::Secret,
        Kind::Event,
        Kind::PriorityClass,
        Kind::Ingress,
        Kind::HttpRoute,
        Kind::ServiceAccount,
        Kind::Role,
        Kind::ClusterRole,
        Kind::RoleBinding,
        Kind::ClusterRoleBinding,
        Kind::ResourceQuota,
        Kind::LimitRange,
        Kind::KeyValue,
        Kind::HttpFilter,
        Kind::WasmAdmissionPolicy,
    ];

    /// The name written in `kind:`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Namespace => "Namespace",
            Kind::Node => "Node",
            Kind::Pod => "Pod",
            Kind::ReplicaSet => "ReplicaSet",
            Kind::Deployment => "Deployment",
            Kind::Job => "Job",
            Kind::DaemonSet => "DaemonSet",
            Kind::Service => "Service",
            Kind::Endpoints => "Endpoints",
            Kind::ConfigMap => "ConfigMap",
            Kind::Secret => "Secret",
            Kind::Event => "Event",
            Kind::PriorityClass => "PriorityClass",
            Kind::Ingress => "Ingress",
            Kind::HttpRoute => "HTTPRoute",
            Kind::ServiceAccount => "ServiceAccount",
            Kind::Role => "Role",
            Kind::ClusterRole => "ClusterRole",
            Kind::RoleBinding => "RoleBinding",
            Kind::ClusterRoleBinding => "ClusterRoleBinding",
            Kind::ResourceQuota => "ResourceQuota",
            Kind::LimitRange => "LimitRange",
            Kind::KeyValue => "KeyValue",
            Kind::HttpFilter => "HttpFilter",
            Kind::WasmAdmissionPolicy => "WasmAdmissionPolicy",
        }
    }

    /// The `apiVersion` that goes with the kind (group/version, as in Kubernetes).
    pub fn api_version(self) -> &'static str {
        match self {
            Kind::ReplicaSet | Kind::Deployment | Kind::DaemonSet => "apps/v1",
            Kind::Job => "batch/v1",
            Kind::KeyValue | Kind::HttpFilter | Kind::WasmAdmissionPolicy => "skiff.dev/v1",
            Kind::PriorityClass => "scheduling.k8s.io/v1",
            Kind::Ingress => "networking.k8s.io/v1",
            Kind::HttpRoute => "gateway.networking.k8s.io/v1",
            Kind::Role | Kind::ClusterRole | Kind::RoleBinding | Kind::ClusterRoleBinding => {
                "rbac.authorization.k8s.io/v1"
            }
            _ => "v1",
        }
    }

    /// The API group (`""` for the core group), as RBAC rules name it.
    pub fn group(self) -> &'static str {
        self.api_version()
            .rsplit_once('/')
            .map_or("", |(group, _)| group)
    }

    /// The plural resource name RBAC rules and URLs use (`pods`, `ingresses`).
    pub fn resource(self) -> &'static str {
        match self {
            Kind::Namespace => "namespaces",
            Kind::Node => "nodes",
            Kind::Pod => "pods",
            Kind::ReplicaSet => "replicasets",
            Kind::Deployment => "deployments",
            Kind::Job => "jobs",
            Kind::DaemonSet => "daemonsets",
            Kind::Service => "services",
            Kind::Endpoints => "endpoints",
            Kind::ConfigMap => "configmaps",
            Kind::Secret => "secrets",
            Kind::Event => "events",
            Kind::PriorityClass => "priorityclasses",
            Kind::Ingress => "ingresses",
            Kind::HttpRoute => "httproutes",
            Kind::ServiceAccount => "serviceaccounts",
            Kind::Role => "roles",
            Kind::ClusterRole => "clusterroles",
            Kind::RoleBinding => "rolebindings",
            Kind::ClusterRoleBinding => "clusterrolebindings",
            Kind::ResourceQuota => "resourcequotas",
            Kind::LimitRange => "limitranges",
            Kind::KeyValue => "keyvalues",
            Kind::HttpFilter => "httpfilters",
            Kind::WasmAdmissionPolicy => "wasmadmissionpolicies",
        }
    }

    /// Cluster-scoped kinds have no namespace.
    pub fn is_namespaced(self) -> bool {
        !matches!(
            self,
            Kind::Namespace
                | Kind::Node
                | Kind::PriorityClass
                | Kind::ClusterRole
                | Kind::ClusterRoleBinding
                | Kind::WasmAdmissionPolicy
        )
    }

    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Any object of any kind.
#[derive(Debug, Clone, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
pub enum Object {
    Namespace(Namespace),
    Node(Node),
    Pod(Pod),
    ReplicaSet(ReplicaSet),
    Deployment(Deployment),
    Job(Job),
    DaemonSet(DaemonSet),
    Service(Service),
    Endpoints(Endpoints),
    ConfigMap(ConfigMap),
    Secret(Secret),
    Event(Event),
    PriorityClass(PriorityClass),
    Ingress(Ingress),
    HttpRoute(HttpRoute),
    ServiceAccount(ServiceAccount),
    Role(Role),
    ClusterRole(ClusterRole),
    RoleBinding(RoleBinding),
    ClusterRoleBinding(ClusterRoleBinding),
    ResourceQuota(ResourceQuota),
    LimitRange(LimitRange),
    KeyValue(KeyValue),
    HttpFilter(HttpFilter),
    WasmAdmissionPolicy(WasmAdmissionPolicy),
}

/// Calls `$body` with `$o` bound to the inner object, whatever its kind.
macro_rules! each_kind {
    ($obj:expr, $o:ident => $body:expr) => {
        match $obj {
            Object::Namespace($o) => $body,
            Object::Node($o) => $body,
            Object::Pod($o) => $body,
            Object::ReplicaSet($o) => $body,
            Object::Deployment($o) => $body,
            Object::Job($o) => $body,
            Object::DaemonSet($o) => $body,
            Object::Service($o) => $body,
            Object::Endpoints($o) => $body,
            Object::ConfigMap($o) => $body,
            Object::Secret($o) => $body,
            Object::Event($o) => $body,
            Object::PriorityClass($o) => $body,
            Object::Ingress($o) => $body,
            Object::HttpRoute($o) => $body,
            Object::ServiceAccount($o) => $body,
            Object::Role($o) => $body,
            Object::ClusterRole($o) => $body,
            Object::RoleBinding($o) => $body,
            Object::ClusterRoleBinding($o) => $body,
            Object::ResourceQuota($o) => $body,
            Object::LimitRange($o) => $body,
            Object::KeyValue($o) => $body,
            Object::HttpFilter($o) => $body,
            Object::WasmAdmissionPolicy($o) => $body,
        }
    };
}

/// `$yes` with `$o` bound to the inner object for kinds with a status, else `$no`.
macro_rules! with_status {
    ($obj:expr, $o:ident => $yes:expr, $no:expr) => {
        match $obj {
            Object::Namespace($o) => $yes,
            Object::Node($o) => $yes,
            Object::Pod($o) => $yes,
            Object::ReplicaSet($o) => $yes,
            Object::Deployment($o) => $yes,
            Object::Job($o) => $yes,
            Object::DaemonSet($o) => $yes,
            Object::Service($o) => $yes,
            Object::Ingress($o) => $yes,
            Object::HttpRoute($o) => $yes,
            Object::ResourceQuota($o) => $yes,
            Object::Endpoints(_)
            | Object::ConfigMap(_)
            | Object::Secret(_)
            | Object::Event(_)
            | Object::PriorityClass(_)
            | Object::ServiceAccount(_)
            | Object::Role(_)
            | Object::ClusterRole(_)
            | Object::RoleBinding(_)
            | Object::ClusterRoleBinding(_)
            | Object::LimitRange(_)
            | Object::KeyValue(_)
            | Object::HttpFilter(_)
            | Object::WasmAdmissionPolicy(_) => $no,
        }
    };
}

impl Object {
    pub fn kind(&self) -> Kind {
        match self {
            Object::Namespace(_) => Kind::Namespace,
            Object::Node(_) => Kind::Node,
            Object::Pod(_) => Kind::Pod,
            Object::ReplicaSet(_) => Kind::ReplicaSet,
            Object::Deployment(_) => Kind::Deployment,
            Object::Job(_) => Kind::Job,
            Object::DaemonSet(_) => Kind::DaemonSet,
            Object::Service(_) => Kind::Service,
            Object::Endpoints(_) => Kind::Endpoints,
            Object::ConfigMap(_) => Kind::ConfigMap,
            Object::Secret(_) => Kind::Secret,
            Object::Event(_) => Kind::Event,
            Object::PriorityClass(_) => Kind::PriorityClass,
            Object::Ingress(_) => Kind::Ingress,
            Object::HttpRoute(_) => Kind::HttpRoute,
            Object::ServiceAccount(_) => Kind::ServiceAccount,
            Object::Role(_) => Kind::Role,
            Object::ClusterRole(_) => Kind::ClusterRole,
            Object::RoleBinding(_) => Kind::RoleBinding,
            Object::ClusterRoleBinding(_) => Kind::ClusterRoleBinding,
            Object::ResourceQuota(_) => Kind::ResourceQuota,
            Object::LimitRange(_) => Kind::LimitRange,
            Object::KeyValue(_) => Kind::KeyValue,
            Object::HttpFilter(_) => Kind::HttpFilter,
            Object::WasmAdmissionPolicy(_) => Kind::WasmAdmissionPolicy,
        }
    }

    pub fn metadata(&self) -> &ObjectMeta {
        each_kind!(self, o => &o.metadata)
    }

    pub fn metadata_mut(&mut self) -> &mut ObjectMeta {
        each_kind!(self, o => &mut o.metadata)
    }

    /// `kind/name` (or `kind/namespace/name`), for messages.
    pub fn display_name(&self) -> String {
        let m = self.metadata();
        match (m.namespace.as_str(), m.name.as_str()) {
            (_, "") => format!("{}/(unnamed)", self.kind()),
            ("", name) => format!("{}/{name}", self.kind()),
            (ns, name) => format!("{}/{ns}/{name}", self.kind()),
        }
    }

    /// Whether this kind has a `status` that agents and controllers write (the status
    /// subresource), apart from the desired state users write.
    pub fn has_status(&self) -> bool {
        with_status!(self, _o => true, false)
    }

    /// Gives this object `from`'s status (`None` clears it). Kinds without a status, or a
    /// `from` of another kind, leave it as it is.
    pub fn set_status_from(&mut self, from: Option<&Object>) {
        macro_rules! copy {
            ($($k:ident),*) => {
                match (self, from) {
                    $((Object::$k(to), Some(Object::$k(f))) => to.status = f.status.clone(),
                    (Object::$k(to), None) => to.status = None,)*
                    _ => {}
                }
            };
        }
        copy!(
            Namespace,
            Node,
            Pod,
            ReplicaSet,
            Deployment,
            Job,
            DaemonSet,
            Service,
            Ingress,
            HttpRoute,
            ResourceQuota
        );
    }

    /// The pod spec this object runs: a Pod's own, or the template of a workload kind.
    pub fn pod_spec(&self) -> Option<&PodSpec> {
        match self {
            Object::Pod(p) => Some(&p.spec),
            Object::ReplicaSet(o) => Some(&o.spec.template.spec),
            Object::Deployment(o) => Some(&o.spec.template.spec),
            Object::Job(o) => Some(&o.spec.template.spec),
            Object::DaemonSet(o) => Some(&o.spec.template.spec),
            _ => None,
        }
    }

    /// [`Object::pod_spec`], to change.
    pub fn pod_spec_mut(&mut self) -> Option<&mut PodSpec> {
        match self {
            Object::Pod(p) => Some(&mut p.spec),
            Object::ReplicaSet(o) => Some(&mut o.spec.template.spec),
            Object::Deployment(o) => Some(&mut o.spec.template.spec),
            Object::Job(o) => Some(&mut o.spec.template.spec),
            Object::DaemonSet(o) => Some(&mut o.spec.template.spec),
            _ => None,
        }
    }

    /// The desired state alone: without metadata and status, so two objects with the same
    /// spec (or data) compare equal whatever their versions, labels or status.
    pub fn desired_state(&self) -> Object {
        let mut o = self.clone();
        *o.metadata_mut() = ObjectMeta::default();
        o.set_status_from(None);
        o
    }

    /// The manifest form (JSON), with `apiVersion` and `kind` first.
    pub fn to_json(&self) -> serde_json::Result<String> {
        serde_json::to_string(self)
    }

    /// The manifest form (YAML), with `apiVersion` and `kind` first.
    pub fn to_yaml(&self) -> Result<String, serde_saphyr::SerializeError> {
        serde_saphyr::to_string(self)
    }
}

/// The header manifests carry, followed by the object's own fields.
#[derive(Serialize)]
struct Typed<'a, T: Serialize> {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    kind: &'static str,
    #[serde(flatten)]
    object: &'a T,
}

impl Serialize for Object {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let kind = self.kind();
        each_kind!(self, o => Typed { api_version: kind.api_version(), kind: kind.name(), object: o }.serialize(s))
    }
}
