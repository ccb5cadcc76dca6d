//! Ingress (networking.k8s.io/v1): HTTP routes from hosts and paths to Services, as
//! Kubernetes users write them. Only Service backends are supported.

use skiff_proto_macros::model;

use super::meta::ObjectMeta;

#[model]
pub struct Ingress {
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: IngressSpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<IngressStatus>,
}

#[model]
pub struct IngressSpec {
    /// The IngressClass that serves this Ingress (`None`: the default class).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingress_class_name: Option<String>,
    /// Where requests that match no rule go.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_backend: Option<IngressBackend>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<IngressRule>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tls: Vec<IngressTls>,
}

/// The paths served for one host (`None`: every host).
#[model]
pub struct IngressRule {
    /// A DNS name, optionally with a leading `*.` wildcard; not an IP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpIngressRuleValue>,
}

#[model]
pub struct HttpIngressRuleValue {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<HttpIngressPath>,
}

/// One path of a host, and the backend its requests go to.
#[model]
pub struct HttpIngressPath {
    /// Starts with `/`; required for `Exact` and `Prefix`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub path_type: PathType,
    pub backend: IngressBackend,
}

/// How an Ingress path matches a request path.
#[model]
pub enum PathType {
    /// The whole path, exactly.
    Exact,
    /// Whole `/`-separated segments: `/foo` matches `/foo` and `/foo/bar`, not `/foobar`.
    Prefix,
    /// Up to the implementation.
    #[default]
    ImplementationSpecific,
}

/// Where requests go. Only `service` is supported (no `resource` backends).
#[model]
pub struct IngressBackend {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<IngressServiceBackend>,
}

/// A Service in the Ingress's namespace, and one of its ports.
#[model]
pub struct IngressServiceBackend {
    pub name: String,
    pub port: ServiceBackendPort,
}

/// A Service port, by name or by number (exactly one of them).
#[model]
pub struct ServiceBackendPort {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<i32>,
}

/// Hosts served over TLS, with the Secret that holds their certificate and key.
#[model]
pub struct IngressTls {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
}

#[model]
pub struct IngressStatus {
    #[serde(default)]
    pub load_balancer: IngressLoadBalancerStatus,
}

#[model]
pub struct IngressLoadBalancerStatus {
    /// The addresses where the Ingress is reachable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<IngressLoadBalancerIngress>,
}

/// One address: an IP or a hostname.
#[model]
pub struct IngressLoadBalancerIngress {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
}
