//! Discovery: what kinds this server has and what may be done to them, read from the
//! table of kinds (`skiff_proto::Kind::info`), in both of Kubernetes' forms:
//!
//! - the legacy documents: `/api` (APIVersions), `/apis` (APIGroupList), `/apis/GROUP`
//!   and the resource lists of `/api/v1` and `/apis/GROUP/VERSION`;
//! - aggregated discovery (`apidiscovery.k8s.io/v2`): all of one root in one document,
//!   served when the client's `Accept` asks for it (kubectl does), with the content type
//!   that says so.
//!
//! `/version` is here too. Kinds Skiff lacks are simply absent.

use serde_json::{Value, json};
use skiff_proto::Kind;
use skiff_proto::object::Subresource;

use super::reply::{Reply, bytes_reply, json_reply};
use super::reviews::{REVIEWS, Review};
use super::usage;
use super::views::{self, VIEWS, View};

/// The content type of aggregated discovery, which kubectl checks to tell the forms apart.
pub const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// What may be done to every object of every kind, and to its collection.
const VERBS: [&str; 8] = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// The verbs of a subresource.
fn sub_verbs(s: Subresource) -> &'static [&'static str] {
    match s {
        Subresource::Status => &["get", "patch", "update"],
        Subresource::Log => &["get"],
        Subresource::Token => &["create"],
        Subresource::Scale => &["get", "patch", "update"],
        Subresource::Eviction => &["create"],
    }
}

/// What a subresource answers with: the kind itself, or a Scale.
fn sub_kind(s: Subresource, own: &Value) -> Value {
    match s {
        Subresource::Scale => json!({"group": "autoscaling", "version": "v1", "kind": "Scale"}),
        Subresource::Eviction => json!({"group": "policy", "version": "v1", "kind": "Eviction"}),
        _ => own.clone(),
    }
}

/// Whether `accept` asks for aggregated discovery (before any plain JSON).
pub fn wants_aggregated(accept: &str) -> bool {
    accept.split(',').next().is_some_and(|first| {
        first.contains("g=apidiscovery.k8s.io") && first.contains("as=APIGroupDiscoveryList")
    })
}

/// The groups other than the core one, in the table's order, each once, then the
/// reviews' groups.
fn groups() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    let all = Kind::ALL
        .iter()
        .map(|k| k.group())
        .chain(REVIEWS.iter().map(|r| r.group))
        .chain(VIEWS.iter().map(|v| v.group()))
        .chain([usage::GROUP]);
    for g in all {
        if !g.is_empty() && !out.contains(&g) {
            out.push(g);
        }
    }
    out
}

/// The version each kind of `group` is served at (one per group today).
fn version_of(group: &str) -> &'static str {
    Kind::ALL
        .into_iter()
        .map(|k| (k.group(), k.version()))
        .chain(REVIEWS.iter().map(|r| (r.group, r.version)))
        .chain(VIEWS.iter().map(|v| (v.group(), v.version())))
        .chain([(usage::GROUP, usage::VERSION)])
        .find(|(g, _)| *g == group)
        .map_or("v1", |(_, v)| v)
}

/// The reviews of a group-version: create-only, cluster-scoped resources.
fn reviews_in(group: &str, version: &str) -> impl Iterator<Item = &'static Review> {
    let (group, version) = (group.to_owned(), version.to_owned());
    REVIEWS
        .iter()
        .filter(move |r| r.group == group && r.version == version)
}

/// The views of a group-version (see `views`).
fn views_in(group: &str, version: &str) -> impl Iterator<Item = View> {
    let (group, version) = (group.to_owned(), version.to_owned());
    VIEWS
        .into_iter()
        .filter(move |v| v.group() == group && v.version() == version)
}

/// The usage resources (`metrics.k8s.io`) of a group-version.
fn usage_in(
    group: &str,
    version: &str,
) -> impl Iterator<Item = (&'static str, &'static str, bool)> {
    let here = group == usage::GROUP && version == usage::VERSION;
    usage::RESOURCES.into_iter().filter(move |_| here)
}

fn in_group_version(group: &str, version: &str) -> impl Iterator<Item = Kind> {
    let (group, version) = (group.to_owned(), version.to_owned());
    Kind::ALL
        .into_iter()
        .filter(move |k| k.group() == group && k.version() == version)
}

fn group_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    }
}

/// `/version`.
pub fn version() -> Reply {
    json_reply(
        200,
        &json!({
            "major": "1",
            "minor": "36",
            "gitVersion": concat!("v1.36.0-skiff.", env!("CARGO_PKG_VERSION")),
            "gitCommit": "",
            "gitTreeState": "clean",
            "buildDate": "1970-01-01T00:00:00Z",
            "goVersion": "n/a (Skiff is written in Rust)",
            "compiler": "rustc",
            "platform": format!("linux/{}", std::env::consts::ARCH),
        }),
    )
}

/// `/api`.
pub fn core_versions(server: &str) -> Reply {
    json_reply(
        200,
        &json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server}],
        }),
    )
}

fn group_json(group: &str) -> Value {
    let gv = json!({"groupVersion": group_version(group, version_of(group)), "version": version_of(group)});
    json!({"name": group, "versions": [gv.clone()], "preferredVersion": gv})
}

/// `/apis`.
pub fn group_list() -> Reply {
    let groups: Vec<Value> = groups().into_iter().map(group_json).collect();
    json_reply(
        200,
        &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
    )
}

/// `/apis/GROUP`.
pub fn group(group: &str) -> Reply {
    let mut g = group_json(group);
    g["kind"] = json!("APIGroup");
    g["apiVersion"] = json!("v1");
    json_reply(200, &g)
}

/// `/api/v1`, `/apis/GROUP/VERSION`: the legacy resource list.
pub fn resource_list(group: &str, version: &str) -> Reply {
    let mut resources = Vec::new();
    for k in in_group_version(group, version) {
        let i = k.info();
        resources.push(json!({
            "name": i.plural,
            "singularName": i.singular,
            "namespaced": i.namespaced,
            "kind": i.name,
            "verbs": VERBS,
            "shortNames": i.short_names,
            "categories": i.categories,
        }));
        for s in i.subresources {
            let mut sub = json!({
                "name": format!("{}/{}", i.plural, s.name()),
                "singularName": "",
                "namespaced": i.namespaced,
                "kind": i.name,
                "verbs": sub_verbs(*s),
            });
            if matches!(s, Subresource::Scale | Subresource::Eviction) {
                let k = sub_kind(*s, &Value::Null);
                sub["group"] = k["group"].clone();
                sub["version"] = k["version"].clone();
                sub["kind"] = k["kind"].clone();
            }
            resources.push(sub);
        }
    }
    for r in reviews_in(group, version) {
        resources.push(json!({
            "name": r.plural,
            "singularName": r.kind.to_ascii_lowercase(),
            "namespaced": false,
            "kind": r.kind,
            "verbs": ["create"],
        }));
    }
    for (plural, kind, namespaced) in usage_in(group, version) {
        resources.push(json!({
            "name": plural,
            "singularName": "",
            "namespaced": namespaced,
            "kind": kind,
            "verbs": ["get", "list"],
        }));
    }
    for v in views_in(group, version) {
        let i = v.kind().info();
        resources.push(json!({
            "name": i.plural,
            "singularName": i.singular,
            "namespaced": i.namespaced,
            "kind": i.name,
            "verbs": views::VERBS,
            "shortNames": i.short_names,
        }));
    }
    json_reply(
        200,
        &json!({
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": group_version(group, version),
            "resources": resources,
        }),
    )
}

/// One group of aggregated discovery.
fn discovered(group: &str) -> Value {
    let version = version_of(group);
    let reviews = reviews_in(group, version).map(|r| {
        json!({
            "resource": r.plural,
            "responseKind": {"group": group, "version": version, "kind": r.kind},
            "scope": "Cluster",
            "singularResource": r.kind.to_ascii_lowercase(),
            "verbs": ["create"],
        })
    });
    let resources: Vec<Value> = in_group_version(group, version)
        .map(|k| {
            let i = k.info();
            let kind = json!({"group": group, "version": version, "kind": i.name});
            let subs: Vec<Value> = i
                .subresources
                .iter()
                .map(|s| {
                    json!({"subresource": s.name(), "responseKind": sub_kind(*s, &kind), "verbs": sub_verbs(*s)})
                })
                .collect();
            json!({
                "resource": i.plural,
                "responseKind": kind,
                "scope": if i.namespaced { "Namespaced" } else { "Cluster" },
                "singularResource": i.singular,
                "verbs": VERBS,
                "shortNames": i.short_names,
                "categories": i.categories,
                "subresources": subs,
            })
        })
        .chain(reviews)
        .chain(usage_in(group, version).map(|(plural, kind, namespaced)| {
            json!({
                "resource": plural,
                "responseKind": {"group": group, "version": version, "kind": kind},
                "scope": if namespaced { "Namespaced" } else { "Cluster" },
                "singularResource": "",
                "verbs": ["get", "list"],
            })
        }))
        .chain(views_in(group, version).map(|v| {
            let i = v.kind().info();
            json!({
                "resource": i.plural,
                "responseKind": {"group": group, "version": version, "kind": i.name},
                "scope": if i.namespaced { "Namespaced" } else { "Cluster" },
                "singularResource": i.singular,
                "verbs": views::VERBS,
                "shortNames": i.short_names,
            })
        }))
        .collect();
    json!({
        "metadata": {"name": group},
        "versions": [{"version": version, "resources": resources, "freshness": "Current"}],
    })
}

/// Aggregated discovery of `/api` (`core`) or `/apis`.
pub fn aggregated(core: bool) -> Reply {
    let items: Vec<Value> = if core {
        vec![discovered("")]
    } else {
        groups().into_iter().map(discovered).collect()
    };
    let body = json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    });
    bytes_reply(200, AGGREGATED, body.to_string().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectls_accept_header_asks_for_aggregated_discovery() {
        let kubectl = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert!(wants_aggregated(kubectl));
        assert!(!wants_aggregated("application/json"));
        assert!(!wants_aggregated(""));
    }

    #[test]
    fn every_kind_is_discovered_once_in_its_group() {
        let core = discovered("");
        let pods = &core["versions"][0]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == "pods")
            .unwrap()
            .clone();
        assert_eq!(pods["shortNames"], json!(["po"]));
        assert_eq!(pods["scope"], "Namespaced");
        assert_eq!(pods["subresources"][1]["subresource"], "log");
        let mut seen = 0;
        for g in std::iter::once("").chain(groups()) {
            seen += discovered(g)["versions"][0]["resources"]
                .as_array()
                .unwrap()
                .len();
        }
        assert_eq!(
            seen,
            Kind::ALL.len() + REVIEWS.len() + VIEWS.len() + usage::RESOURCES.len()
        );
        let events = &discovered("events.k8s.io")["versions"][0];
        assert_eq!(events["version"], "v1");
        assert_eq!(events["resources"][0]["verbs"], json!(views::VERBS));
        assert!(groups().contains(&"apps") && !groups().contains(&""));
    }
}
