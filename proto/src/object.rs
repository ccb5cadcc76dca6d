//! What every kind and object can say of itself, from the table in [`crate::kinds`]:
//! names, group and version, scope; an object's metadata, status and pod spec.

use std::fmt;

pub use crate::kinds::{Kind, KindInfo, Object, Subresource};
use crate::model::*;

impl Kind {
    /// The name written in `kind:`.
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// The `apiVersion` that goes with the kind (group/version, as in Kubernetes).
    pub fn api_version(self) -> &'static str {
        self.info().api_version
    }

    /// The API group (`""` for the core group), as RBAC rules name it.
    pub fn group(self) -> &'static str {
        self.api_version()
            .rsplit_once('/')
            .map_or("", |(group, _)| group)
    }

    /// The version within the group (`v1`).
    pub fn version(self) -> &'static str {
        self.api_version()
            .rsplit_once('/')
            .map_or(self.api_version(), |(_, v)| v)
    }

    /// The plural resource name RBAC rules and URLs use (`pods`, `ingresses`).
    pub fn resource(self) -> &'static str {
        self.info().plural
    }

    /// Cluster-scoped kinds have no namespace.
    pub fn is_namespaced(self) -> bool {
        self.info().namespaced
    }

    /// Whether objects of the kind have `sub` (`Status`: a status agents and controllers
    /// write apart from the desired state users write).
    pub fn has(self, sub: Subresource) -> bool {
        self.info().subresources.contains(&sub)
    }

    /// The kind whose `kind:` is exactly `name`.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The kind a person means by `word`, as kubectl reads it: its name, plural, singular
    /// or a short name, in any case, optionally followed by `.GROUP` (`deployments.apps`).
    pub fn lookup(word: &str) -> Option<Kind> {
        let w = word.to_ascii_lowercase();
        let (w, group) = match w.split_once('.') {
            Some((w, g)) => (w.to_owned(), Some(g.to_owned())),
            None => (w, None),
        };
        Kind::ALL.into_iter().find(|k| {
            let i = k.info();
            let named = i.name.eq_ignore_ascii_case(&w)
                || i.plural == w
                || i.singular == w
                || i.short_names.contains(&w.as_str());
            named && group.as_deref().is_none_or(|g| g == k.group())
        })
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Object {
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
        self.kind().has(Subresource::Status)
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
        crate::model::managed::verbatim(|| serde_json::to_string(self))
    }

    /// The manifest form (YAML), with `apiVersion` and `kind` first.
    pub fn to_yaml(&self) -> Result<String, serde_saphyr::SerializeError> {
        serde_saphyr::to_string(self)
    }
}
