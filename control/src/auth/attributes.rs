//! What a request asks to do, as an authorizer sees it: a verb on a resource (maybe a
//! subresource), in a namespace, on a name. Kubernetes' `authorizer.Attributes`.

use skiff_proto::Kind;

/// The verbs the API's calls map to (RBAC rules may name others: `bind`, `escalate`).
pub mod verb {
    pub const GET: &str = "get";
    pub const LIST: &str = "list";
    pub const WATCH: &str = "watch";
    pub const CREATE: &str = "create";
    pub const UPDATE: &str = "update";
    pub const PATCH: &str = "patch";
    pub const DELETE: &str = "delete";
    pub const BIND: &str = "bind";
    pub const ESCALATE: &str = "escalate";
}

/// The API group of Skiff's own resources (artifacts).
pub const SKIFF_GROUP: &str = "skiff.dev";

/// The API group of pods' and nodes' usage (`kubectl top`'s).
pub const METRICS_GROUP: &str = "metrics.k8s.io";

/// One request, for an authorizer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attributes {
    pub verb: String,
    /// `""` is the core group.
    pub group: String,
    /// Plural: `pods`.
    pub resource: String,
    /// `status`, `log`, or empty.
    pub subresource: String,
    /// Empty for cluster-scoped resources, and for a list or watch of every namespace.
    pub namespace: String,
    /// Empty for create (when the name is not known), list and watch.
    pub name: String,
}

impl Attributes {
    /// `verb` on objects of `kind`.
    pub fn kind(verb: &str, kind: Kind, namespace: &str, name: &str) -> Attributes {
        Attributes {
            verb: verb.to_owned(),
            group: kind.group().to_owned(),
            resource: kind.resource().to_owned(),
            subresource: String::new(),
            namespace: if kind.is_namespaced() {
                namespace.to_owned()
            } else {
                String::new()
            },
            name: name.to_owned(),
        }
    }

    /// The same request on a subresource (`status`, `log`).
    pub fn subresource(mut self, subresource: &str) -> Attributes {
        self.subresource = subresource.to_owned();
        self
    }

    /// `verb` on content-addressed artifacts (cluster-scoped).
    pub fn artifacts(verb: &str, digest: &str) -> Attributes {
        Attributes {
            verb: verb.to_owned(),
            group: SKIFF_GROUP.to_owned(),
            resource: "artifacts".to_owned(),
            subresource: String::new(),
            namespace: String::new(),
            name: digest.to_owned(),
        }
    }

    /// `verb` on metrics.k8s.io's `resource` (`pods` in `namespace`, or `nodes`).
    pub fn metrics(verb: &str, resource: &str, namespace: &str) -> Attributes {
        Attributes {
            verb: verb.to_owned(),
            group: METRICS_GROUP.to_owned(),
            resource: resource.to_owned(),
            subresource: String::new(),
            namespace: namespace.to_owned(),
            name: String::new(),
        }
    }

    /// `pods/log`, or `pods`.
    pub fn resource_path(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }

    /// How a refusal names the request: `list resource "secrets" in namespace "team-b"`.
    pub fn describe(&self) -> String {
        let mut s = format!("{} resource {:?}", self.verb, self.resource_path());
        if !self.group.is_empty() {
            s.push_str(&format!(" in API group {:?}", self.group));
        }
        if !self.name.is_empty() {
            s.push_str(&format!(" named {:?}", self.name));
        }
        if self.namespace.is_empty() {
            s.push_str(" at the cluster scope");
        } else {
            s.push_str(&format!(" in namespace {:?}", self.namespace));
        }
        s
    }

    /// A read that changes nothing.
    pub fn is_read(&self) -> bool {
        matches!(self.verb.as_str(), verb::GET | verb::LIST | verb::WATCH)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_the_verb_resource_and_namespace_as_kubernetes_does() {
        let a = Attributes::kind(verb::LIST, Kind::Secret, "team-b", "");
        assert_eq!(
            a.describe(),
            r#"list resource "secrets" in namespace "team-b""#
        );
        let a = Attributes::kind(verb::GET, Kind::Pod, "a", "web").subresource("log");
        assert_eq!(
            a.describe(),
            r#"get resource "pods/log" named "web" in namespace "a""#
        );
        // A cluster-scoped kind never carries a namespace.
        let a = Attributes::kind(verb::CREATE, Kind::ClusterRole, "ignored", "x");
        assert!(a.namespace.is_empty());
        assert_eq!(a.group, "rbac.authorization.k8s.io");
    }
}
