//! The one table of kinds: every fact about a kind that is not code (its names, group and
//! version, scope, status, subresources). [`Kind`], [`Object`] and their dispatch are
//! generated from it; the manifest decoder, the API, the CLI's kind words, discovery and
//! the OpenAPI documents read [`Kind::info`] and [`Kind::schema`]. Adding a kind is one model file and one line here.
//!
//! THE ORDER IS THE STORED FORM: an `Object`'s variant index is its rkyv discriminant and
//! store keys carry `kind` names. Append new kinds at the end; never rename one.

use serde::{Serialize, Serializer};

use crate::model::*;

/// What may be asked of an object apart from the object itself (`pods/log`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subresource {
    /// `*/status`: what agents and controllers write, apart from the desired state.
    Status,
    /// `pods/log`.
    Log,
    /// `serviceaccounts/token`.
    Token,
    /// `deployments/scale`: the replica count alone, as an `autoscaling/v1` Scale.
    Scale,
    /// `pods/eviction`: a deletion that respects disruption limits (`kubectl drain`).
    Eviction,
}

impl Subresource {
    /// The name in URLs and RBAC rules.
    pub fn name(self) -> &'static str {
        match self {
            Subresource::Status => "status",
            Subresource::Log => "log",
            Subresource::Token => "token",
            Subresource::Scale => "scale",
            Subresource::Eviction => "eviction",
        }
    }
}

/// One line of the table.
#[derive(Debug, PartialEq, Eq)]
pub struct KindInfo {
    pub kind: Kind,
    /// What `kind:` says (`HTTPRoute`).
    pub name: &'static str,
    /// `group/version`, or the version alone for the core group.
    pub api_version: &'static str,
    /// The resource name in URLs and RBAC rules (`ingresses`).
    pub plural: &'static str,
    pub singular: &'static str,
    /// kubectl's short names (`deploy`).
    pub short_names: &'static [&'static str],
    /// Groups of kinds a word names at once (`all`).
    pub categories: &'static [&'static str],
    /// Whether objects live in a namespace (else cluster-wide).
    pub namespaced: bool,
    pub subresources: &'static [Subresource],
}

/// `true` for `namespaced`, `false` for `cluster`.
macro_rules! scope {
    (namespaced) => {
        true
    };
    (cluster) => {
        false
    };
}

/// The subresources of a line: `status` (when the status column says so) and the rest.
macro_rules! subresources {
    (status [$($sub:ident),*]) => {
        &[Subresource::Status $(, Subresource::$sub)*]
    };
    (- [$($sub:ident),*]) => {
        &[$(Subresource::$sub),*]
    };
}

/// Copies `$from`'s status (`Option<&T>`; `None` clears it) into `$to`, for kinds with one.
macro_rules! copy_status {
    (status, $to:expr, $from:expr) => {
        $to.status = $from.and_then(|f| f.status.clone())
    };
    (-, $to:expr, $from:expr) => {{
        let _ = ($to, $from);
    }};
}

macro_rules! kinds {
    ($(
        $v:ident $name:literal $api:literal $plural:literal $singular:literal
        [$($short:literal),*] [$($cat:literal),*] $scope:ident $status:tt [$($sub:ident),*];
    )*) => {
        /// Every kind Skiff knows.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Kind {
            $($v,)*
        }

        /// How many kinds there are.
        const COUNT: usize = [$(stringify!($v)),*].len();

        static TABLE: [KindInfo; COUNT] = [$(KindInfo {
            kind: Kind::$v,
            name: $name,
            api_version: $api,
            plural: $plural,
            singular: $singular,
            short_names: &[$($short),*],
            categories: &[$($cat),*],
            namespaced: scope!($scope),
            subresources: subresources!($status [$($sub),*]),
        },)*];

        impl Kind {
            /// Every kind, in the table's order.
            pub const ALL: [Kind; COUNT] = [$(Kind::$v),*];
        }

        /// Any object of any kind.
        #[derive(Debug, Clone, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
        #[cfg_attr(test, derive(proptest_derive::Arbitrary))]
        pub enum Object {
            $($v($v),)*
        }

        $(impl From<$v> for Object {
            fn from(o: $v) -> Object {
                Object::$v(o)
            }
        })*

        impl Object {
            pub fn kind(&self) -> Kind {
                match self {
                    $(Object::$v(_) => Kind::$v,)*
                }
            }

            pub fn metadata(&self) -> &ObjectMeta {
                match self {
                    $(Object::$v(o) => &o.metadata,)*
                }
            }

            pub fn metadata_mut(&mut self) -> &mut ObjectMeta {
                match self {
                    $(Object::$v(o) => &mut o.metadata,)*
                }
            }

            /// Gives this object `from`'s status (`None` clears it). Kinds without a
            /// status, or a `from` of another kind, leave it as it is.
            pub fn set_status_from(&mut self, from: Option<&Object>) {
                match (self, from) {
                    $(
                        (Object::$v(to), Some(Object::$v(f))) => copy_status!($status, to, Some(f)),
                        (Object::$v(to), None) => copy_status!($status, to, None::<&$v>),
                    )*
                    _ => {}
                }
            }
        }

        /// The manifest form: `apiVersion` and `kind` first, then the object's own fields.
        impl Serialize for Object {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let kind = self.kind();
                match self {
                    $(Object::$v(o) => Typed {
                        api_version: kind.api_version(),
                        kind: kind.name(),
                        object: o,
                    }
                    .serialize(s),)*
                }
            }
        }

        impl Kind {
            /// The kind's JSON schema: a reference into `generator`'s definitions, which
            /// gain the kind's type and every type it uses.
            pub fn schema(self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
                match self {
                    $(Kind::$v => generator.subschema_for::<$v>(),)*
                }
            }
        }

        /// An empty object of `kind`, for tests that go through every kind.
        #[cfg(test)]
        pub(crate) fn default_object(kind: Kind) -> Object {
            match kind {
                $(Kind::$v => Object::$v(Default::default()),)*
            }
        }

        /// Strict typed decoding of a manifest whose header named `kind`.
        pub(crate) fn decode(
            kind: Kind,
            v: serde_json::Value,
        ) -> Result<Object, (crate::manifest::FieldPath, String)> {
            Ok(match kind {
                $(Kind::$v => Object::$v(crate::manifest::from_value(v)?),)*
            })
        }
    };
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

impl Kind {
    /// The kind's line of the table.
    pub fn info(self) -> &'static KindInfo {
        &TABLE[self as usize]
    }
}

#[rustfmt::skip]
kinds! {
//  variant             kind                   apiVersion                      plural                  singular               short names categories scope      status subresources
    Namespace           "Namespace"            "v1"                            "namespaces"            "namespace"            ["ns"]      []         cluster    status [];
    Node                "Node"                 "v1"                            "nodes"                 "node"                 ["no"]      []         cluster    status [];
    Pod                 "Pod"                  "v1"                            "pods"                  "pod"                  ["po"]      ["all"]    namespaced status [Log, Eviction];
    ReplicaSet          "ReplicaSet"           "apps/v1"                       "replicasets"           "replicaset"           ["rs"]      ["all"]    namespaced status [Scale];
    Deployment          "Deployment"           "apps/v1"                       "deployments"           "deployment"           ["deploy"]  ["all"]    namespaced status [Scale];
    Job                 "Job"                  "batch/v1"                      "jobs"                  "job"                  []          ["all"]    namespaced status [];
    DaemonSet           "DaemonSet"            "apps/v1"                       "daemonsets"            "daemonset"            ["ds"]      ["all"]    namespaced status [];
    Service             "Service"              "v1"                            "services"              "service"              ["svc"]     ["all"]    namespaced status [];
    Endpoints           "Endpoints"            "v1"                            "endpoints"             "endpoints"            ["ep"]      []         namespaced -      [];
    ConfigMap           "ConfigMap"            "v1"                            "configmaps"            "configmap"            ["cm"]      []         namespaced -      [];
    Secret              "Secret"               "v1"                            "secrets"               "secret"               []          []         namespaced -      [];
    Event               "Event"                "v1"                            "events"                "event"                ["ev"]      []         namespaced -      [];
    PriorityClass       "PriorityClass"        "scheduling.k8s.io/v1"          "priorityclasses"       "priorityclass"        ["pc"]      []         cluster    -      [];
    Ingress             "Ingress"              "networking.k8s.io/v1"          "ingresses"             "ingress"              ["ing"]     []         namespaced status [];
    HttpRoute           "HTTPRoute"            "gateway.networking.k8s.io/v1"  "httproutes"            "httproute"            []          []         namespaced status [];
    ServiceAccount      "ServiceAccount"       "v1"                            "serviceaccounts"       "serviceaccount"       ["sa"]      []         namespaced -      [Token];
    Role                "Role"                 "rbac.authorization.k8s.io/v1"  "roles"                 "role"                 []          []         namespaced -      [];
    ClusterRole         "ClusterRole"          "rbac.authorization.k8s.io/v1"  "clusterroles"          "clusterrole"          []          []         cluster    -      [];
    RoleBinding         "RoleBinding"          "rbac.authorization.k8s.io/v1"  "rolebindings"          "rolebinding"          []          []         namespaced -      [];
    ClusterRoleBinding  "ClusterRoleBinding"   "rbac.authorization.k8s.io/v1"  "clusterrolebindings"   "clusterrolebinding"   []          []         cluster    -      [];
    ResourceQuota       "ResourceQuota"        "v1"                            "resourcequotas"        "resourcequota"        ["quota"]   []         namespaced status [];
    LimitRange          "LimitRange"           "v1"                            "limitranges"           "limitrange"           ["limits"]  []         namespaced -      [];
    KeyValue            "KeyValue"             "skiff.dev/v1"                  "keyvalues"             "keyvalue"             []          []         namespaced -      [];
    HttpFilter          "HttpFilter"           "skiff.dev/v1"                  "httpfilters"           "httpfilter"           []          []         namespaced -      [];
    WasmAdmissionPolicy "WasmAdmissionPolicy"  "skiff.dev/v1"                  "wasmadmissionpolicies" "wasmadmissionpolicy"  []          []         cluster    -      [];
    HorizontalPodAutoscaler "HorizontalPodAutoscaler" "autoscaling/v2"        "horizontalpodautoscalers" "horizontalpodautoscaler" ["hpa"] ["all"] namespaced status [];
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn each_line_is_its_kinds_and_names_are_unique() {
        for (i, k) in Kind::ALL.into_iter().enumerate() {
            assert_eq!(k as usize, i);
            assert_eq!(k.info().kind, k);
        }
        // Every word a person may type names one kind only.
        let mut words: HashMap<String, Kind> = HashMap::new();
        for k in Kind::ALL {
            let i = k.info();
            let own = [
                i.name.to_ascii_lowercase(),
                i.plural.into(),
                i.singular.into(),
            ];
            let short = i.short_names.iter().map(|s| (*s).to_owned());
            for w in own.into_iter().chain(short) {
                if let Some(other) = words.insert(w.clone(), k) {
                    assert_eq!(other, k, "{w:?} names both {other} and {k}");
                }
            }
        }
    }

    #[test]
    fn kubectls_words_find_their_kinds() {
        for (word, kind) in [
            ("po", Kind::Pod),
            ("Pods", Kind::Pod),
            ("deploy", Kind::Deployment),
            ("deployments.apps", Kind::Deployment),
            ("httproute", Kind::HttpRoute),
            ("HTTPRoute", Kind::HttpRoute),
            ("quota", Kind::ResourceQuota),
            ("wasmadmissionpolicies", Kind::WasmAdmissionPolicy),
            ("endpoints", Kind::Endpoints),
        ] {
            assert_eq!(Kind::lookup(word), Some(kind), "{word}");
        }
        assert_eq!(Kind::lookup("deployments.batch"), None, "the wrong group");
        assert_eq!(Kind::lookup("widgets"), None);
        assert_eq!(Kind::HttpRoute.group(), "gateway.networking.k8s.io");
        assert_eq!((Kind::Pod.group(), Kind::Pod.version()), ("", "v1"));
    }

    #[test]
    fn status_is_copied_only_for_kinds_that_have_one() {
        let mut pod = Object::Pod(Pod::default());
        let running = Pod {
            status: Some(PodStatus {
                phase: PodPhase::Running,
                ..Default::default()
            }),
            ..Default::default()
        };
        pod.set_status_from(Some(&Object::Pod(running.clone())));
        assert_eq!(pod, Object::Pod(running));
        assert!(pod.has_status() && !Object::ConfigMap(ConfigMap::default()).has_status());
        pod.set_status_from(None);
        assert_eq!(pod, Object::Pod(Pod::default()));
        assert_eq!(
            Kind::ALL
                .iter()
                .filter(|k| k.has(Subresource::Status))
                .count(),
            12
        );
    }
}
