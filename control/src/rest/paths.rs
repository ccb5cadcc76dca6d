//! Kubernetes' URL layout, read into what a request is about:
//!
//! - `/api/v1` and `/apis/GROUP/VERSION`: a group-version's resource list;
//! - `.../RESOURCE` (cluster-scoped, or every namespace) and
//!   `.../namespaces/NS/RESOURCE`: a collection;
//! - `.../RESOURCE/NAME` and `.../namespaces/NS/RESOURCE/NAME`: one object;
//! - `.../NAME/SUBRESOURCE` (`status`, `log`, ...).
//!
//! Resources are looked up in the table of kinds, so a kind Skiff lacks is simply not
//! found.

use skiff_proto::Kind;

use super::views::{VIEWS, View};

/// What a path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `/api`: the core group's versions.
    CoreVersions,
    /// `/apis`: every group.
    Groups,
    /// `/apis/GROUP`: one group.
    Group(String),
    /// `/api/v1`, `/apis/GROUP/VERSION`: the resources of a group-version.
    Resources { group: String, version: String },
    /// Objects of one kind: a collection, one object, or its subresource.
    Objects(Objects),
}

/// Objects of one kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Objects {
    pub kind: Kind,
    /// `None`: cluster-scoped, or a namespaced kind across every namespace.
    pub namespace: Option<String>,
    /// `None`: the collection.
    pub name: Option<String>,
    pub subresource: Option<String>,
    /// Set when the kind is served through a view (another group-version, read-only).
    pub view: Option<View>,
}

impl Objects {
    /// The group-version objects are shown in: the view's, else the kind's.
    pub fn api_version(&self) -> &'static str {
        self.view.map_or(self.kind.api_version(), View::api_version)
    }
}

/// Why a path names nothing.
#[derive(Debug, PartialEq, Eq)]
pub struct NotFound(pub String);

/// The target of `path` (without its query).
pub fn parse(path: &str) -> Result<Target, NotFound> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let missing = || {
        NotFound(format!(
            "the server could not find the requested resource ({path})"
        ))
    };
    let (group, version, rest) = match segs.as_slice() {
        ["api"] => return Ok(Target::CoreVersions),
        ["apis"] => return Ok(Target::Groups),
        ["apis", g] => {
            return known_group(g)
                .then(|| Target::Group((*g).to_owned()))
                .ok_or_else(missing);
        }
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(missing()),
    };
    let in_version = |k: &Kind| k.group() == group && k.version() == version;
    let reviewed = super::reviews::REVIEWS
        .iter()
        .any(|r| r.group == group && r.version == version);
    let viewed = VIEWS
        .iter()
        .any(|v| v.group() == group && v.version() == version);
    if !Kind::ALL.iter().any(in_version) && !reviewed && !viewed {
        return Err(missing());
    }
    let lookup = |plural: &str| {
        Kind::ALL
            .into_iter()
            .find(|k| in_version(k) && k.resource() == plural)
            .map(|k| (k, None))
            .or_else(|| View::find(group, version, plural).map(|v| (v.kind(), Some(v))))
    };
    let kind_of = |plural: &str| lookup(plural).map(|(k, _)| k);
    let objects =
        |plural: &str, namespace: Option<&str>, name: Option<&&str>, sub: Option<&&str>| {
            let (kind, view) = lookup(plural).ok_or_else(missing)?;
            Ok(Target::Objects(Objects {
                kind,
                namespace: namespace.map(str::to_owned),
                name: name.map(|n| (*n).to_owned()),
                subresource: sub.map(|s| (*s).to_owned()),
                view,
            }))
        };
    Ok(match rest {
        [] => Target::Resources {
            group: group.to_owned(),
            version: version.to_owned(),
        },
        // `namespaces/NS/RESOURCE[/NAME[/SUB]]`, when RESOURCE is a namespaced kind.
        ["namespaces", ns, plural, more @ ..]
            if more.len() <= 2 && kind_of(plural).is_some_and(Kind::is_namespaced) =>
        {
            objects(plural, Some(ns), more.first(), more.get(1))?
        }
        [plural, more @ ..] if more.len() <= 2 => {
            let kind = kind_of(plural).ok_or_else(missing)?;
            // A namespaced kind named without a namespace: every namespace, collections only.
            if kind.is_namespaced() && !more.is_empty() {
                return Err(missing());
            }
            objects(plural, None, more.first(), more.get(1))?
        }
        _ => return Err(missing()),
    })
}

/// Whether some kind (or review) is in `group` (not the core group, which is `/api`).
pub fn known_group(group: &str) -> bool {
    !group.is_empty()
        && (Kind::ALL.iter().any(|k| k.group() == group)
            || super::reviews::REVIEWS.iter().any(|r| r.group == group)
            || VIEWS.iter().any(|v| v.group() == group))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objects(kind: Kind, ns: Option<&str>, name: Option<&str>, sub: Option<&str>) -> Target {
        Target::Objects(Objects {
            kind,
            namespace: ns.map(Into::into),
            name: name.map(Into::into),
            subresource: sub.map(Into::into),
            view: None,
        })
    }

    #[test]
    fn paths_name_what_kubernetes_names() {
        let cases = [
            ("/api", Target::CoreVersions),
            ("/apis", Target::Groups),
            ("/apis/apps", Target::Group("apps".into())),
            (
                "/api/v1",
                Target::Resources {
                    group: "".into(),
                    version: "v1".into(),
                },
            ),
            ("/api/v1/pods", objects(Kind::Pod, None, None, None)),
            (
                "/api/v1/namespaces/default/pods",
                objects(Kind::Pod, Some("default"), None, None),
            ),
            (
                "/api/v1/namespaces/default/pods/web/log",
                objects(Kind::Pod, Some("default"), Some("web"), Some("log")),
            ),
            // A namespace itself, and its status.
            (
                "/api/v1/namespaces/default",
                objects(Kind::Namespace, None, Some("default"), None),
            ),
            (
                "/api/v1/namespaces/team/status",
                objects(Kind::Namespace, None, Some("team"), Some("status")),
            ),
            (
                "/apis/apps/v1/namespaces/a/deployments/web",
                objects(Kind::Deployment, Some("a"), Some("web"), None),
            ),
            (
                "/api/v1/nodes/n1",
                objects(Kind::Node, None, Some("n1"), None),
            ),
            (
                "/apis/events.k8s.io/v1/namespaces/a/events",
                Target::Objects(Objects {
                    view: Some(View::EventsV1),
                    ..match objects(Kind::Event, Some("a"), None, None) {
                        Target::Objects(o) => o,
                        _ => unreachable!(),
                    }
                }),
            ),
        ];
        for (path, want) in cases {
            assert_eq!(parse(path), Ok(want), "{path}");
        }
        for missing in [
            "/apis/widgets.example.com",
            "/apis/apps/v2",
            "/api/v1/widgets",
            "/apis/apps/v1/pods",
            "/api/v1/pods/web",
            "/",
        ] {
            assert!(parse(missing).is_err(), "{missing}");
        }
    }
}
