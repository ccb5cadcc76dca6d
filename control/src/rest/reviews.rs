//! The reviews kubectl asks about the caller, answered by the same authorizer every
//! request meets: `authorization.k8s.io/v1` SelfSubjectAccessReview (`kubectl auth
//! can-i`) and SelfSubjectRulesReview (`kubectl auth can-i --list`, k9s), and
//! `authentication.k8s.io/v1` SelfSubjectReview (`kubectl auth whoami`).
//! They are not stored objects, so they live here rather than in the table of kinds.

use axum::body::Body;
use serde_json::{Value, json};
use skiff_pki::Identity;
use skiff_proto::grpc::api::AccessReviewRequest;
use skiff_proto::grpc::api::auth_service_server::AuthService;
use tonic::Status;

use super::bodies::read_body;
use super::objects::as_caller;
use super::reply::{Reply, json_reply};
use super::{Call, Rest};

/// A review resource: its group, version, plural and kind.
pub struct Review {
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub kind: &'static str,
}

/// The reviews served (create only, cluster-scoped).
pub const REVIEWS: [Review; 3] = [
    Review {
        group: "authorization.k8s.io",
        version: "v1",
        plural: "selfsubjectaccessreviews",
        kind: "SelfSubjectAccessReview",
    },
    Review {
        group: "authorization.k8s.io",
        version: "v1",
        plural: "selfsubjectrulesreviews",
        kind: "SelfSubjectRulesReview",
    },
    Review {
        group: "authentication.k8s.io",
        version: "v1",
        plural: "selfsubjectreviews",
        kind: "SelfSubjectReview",
    },
];

/// The review at `/apis/GROUP/VERSION/PLURAL`, if `path` is one.
pub fn at(path: &str) -> Option<&'static Review> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segs.as_slice() {
        ["apis", g, v, plural] => REVIEWS
            .iter()
            .find(|r| r.group == *g && r.version == *v && r.plural == *plural),
        _ => None,
    }
}

/// Answers a review (POST only).
pub async fn serve(
    rest: &Rest,
    who: Identity,
    review: &Review,
    call: &Call,
    body: Body,
) -> Result<Reply, Status> {
    if call.method != "POST" {
        return Err(Status::unimplemented(format!(
            "{} only takes POST (create)",
            review.plural
        )));
    }
    let asked = if call.content_type.starts_with(PROTOBUF) {
        let bytes = axum::body::to_bytes(body, 1 << 20)
            .await
            .map_err(|e| Status::invalid_argument(format!("reading the body: {e}")))?;
        from_protobuf(&bytes, review.kind)?
    } else {
        read_body(call, body).await?
    };
    let status = match review.kind {
        "SelfSubjectReview" => json!({"userInfo": {"username": who.user, "groups": who.groups}}),
        "SelfSubjectRulesReview" => rules(rest, &who, &asked["spec"])?,
        _ => access(rest, &who, &asked["spec"]).await?,
    };
    Ok(json_reply(
        201,
        &json!({
            "kind": review.kind,
            "apiVersion": format!("{}/{}", review.group, review.version),
            "metadata": {},
            "spec": asked.get("spec").cloned().unwrap_or(json!({})),
            "status": status,
        }),
    ))
}

/// Kubernetes' protobuf encoding, which kubectl's typed clients send these reviews in.
const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

/// The envelope of a protobuf-encoded object (`runtime.Unknown` after the magic `k8s\0`).
#[derive(Clone, PartialEq, prost::Message)]
struct Unknown {
    #[prost(bytes = "vec", optional, tag = "2")]
    raw: Option<Vec<u8>>,
}

/// A SelfSubjectAccessReview, as far as the review reads it (`authorization/v1`).
#[derive(Clone, PartialEq, prost::Message)]
struct AccessReview {
    #[prost(message, optional, tag = "2")]
    spec: Option<AccessReviewSpec>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct AccessReviewSpec {
    #[prost(message, optional, tag = "1")]
    resource_attributes: Option<ResourceAttributes>,
    #[prost(message, optional, tag = "2")]
    non_resource_attributes: Option<NonResourceAttributes>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ResourceAttributes {
    #[prost(string, optional, tag = "1")]
    namespace: Option<String>,
    #[prost(string, optional, tag = "2")]
    verb: Option<String>,
    #[prost(string, optional, tag = "3")]
    group: Option<String>,
    #[prost(string, optional, tag = "4")]
    version: Option<String>,
    #[prost(string, optional, tag = "5")]
    resource: Option<String>,
    #[prost(string, optional, tag = "6")]
    subresource: Option<String>,
    #[prost(string, optional, tag = "7")]
    name: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct NonResourceAttributes {
    #[prost(string, optional, tag = "1")]
    path: Option<String>,
    #[prost(string, optional, tag = "2")]
    verb: Option<String>,
}

/// A SelfSubjectRulesReview, as far as the review reads it: the namespace.
#[derive(Clone, PartialEq, prost::Message)]
struct RulesReview {
    #[prost(message, optional, tag = "2")]
    spec: Option<RulesReviewSpec>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct RulesReviewSpec {
    #[prost(string, optional, tag = "1")]
    namespace: Option<String>,
}

/// A protobuf review body (of `kind`), as the JSON the review reads (`{"spec": ...}`).
fn from_protobuf(bytes: &[u8], kind: &str) -> Result<Value, Status> {
    use prost::Message as _;
    let bad = |why: String| Status::invalid_argument(format!("the protobuf body: {why}"));
    let rest = bytes
        .strip_prefix(b"k8s\0")
        .ok_or_else(|| bad("it does not start with Kubernetes' magic bytes".into()))?;
    let unknown = Unknown::decode(rest).map_err(|e| bad(e.to_string()))?;
    let raw = unknown.raw.unwrap_or_default();
    if kind == "SelfSubjectRulesReview" {
        let review = RulesReview::decode(raw.as_slice()).map_err(|e| bad(e.to_string()))?;
        let ns = review.spec.and_then(|s| s.namespace).unwrap_or_default();
        return Ok(json!({"spec": {"namespace": ns}}));
    }
    let review = AccessReview::decode(raw.as_slice()).map_err(|e| bad(e.to_string()))?;
    let spec = review.spec.unwrap_or_default();
    let mut out = json!({});
    if let Some(a) = spec.resource_attributes {
        out["resourceAttributes"] = json!({
            "namespace": a.namespace, "verb": a.verb, "group": a.group, "version": a.version,
            "resource": a.resource, "subresource": a.subresource, "name": a.name,
        });
    }
    if let Some(n) = spec.non_resource_attributes {
        out["nonResourceAttributes"] = json!({"path": n.path, "verb": n.verb});
    }
    Ok(json!({"spec": out}))
}

/// What the caller may do in `spec.namespace`: the rules of every binding that names
/// them there or cluster-wide, as RBAC holds them.
fn rules(rest: &Rest, who: &Identity, spec: &Value) -> Result<Value, Status> {
    if crate::auth::is_privileged(who) {
        return Ok(json!({
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": false,
        }));
    }
    let namespace = spec["namespace"].as_str().unwrap_or_default();
    let policy = rest.auth.authz.policy()?;
    let (mut resources, mut urls) = (Vec::new(), Vec::new());
    for r in policy.rules_for(who, namespace) {
        if r.non_resource_urls.is_empty() {
            resources.push(json!({
                "verbs": r.verbs, "apiGroups": r.api_groups, "resources": r.resources,
                "resourceNames": r.resource_names,
            }));
        } else {
            urls.push(json!({"verbs": r.verbs, "nonResourceURLs": r.non_resource_urls}));
        }
    }
    // Discovery, health and version are every authenticated caller's.
    urls.push(json!({"verbs": ["get"], "nonResourceURLs": PUBLIC_URLS}));
    Ok(json!({"resourceRules": resources, "nonResourceRules": urls, "incomplete": false}))
}

/// The non-resource URLs every authenticated caller may get (Kubernetes' `system:discovery`
/// and `system:public-info-viewer` roles).
const PUBLIC_URLS: [&str; 10] = [
    "/api",
    "/api/*",
    "/apis",
    "/apis/*",
    "/healthz",
    "/livez",
    "/readyz",
    "/version",
    "/openapi",
    "/openapi/*",
];

/// Whether a rule's `nonResourceURLs` entry covers `path`: equal, or a prefix ending in `*`.
fn url_matches(pattern: &str, path: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => pattern == path,
    }
}

/// Whether `verb` on the non-resource URL `path` is allowed: for everyone on the public
/// ones, else by a ClusterRole bound to the caller (only cluster roles name URLs).
fn url_allowed(rest: &Rest, who: &Identity, verb: &str, path: &str) -> Result<bool, Status> {
    if crate::auth::is_privileged(who)
        || (verb == "get" && PUBLIC_URLS.iter().any(|p| url_matches(p, path)))
    {
        return Ok(true);
    }
    let policy = rest.auth.authz.policy()?;
    Ok(policy.rules_for(who, "").any(|r| {
        r.verbs.iter().any(|v| v == "*" || v == verb)
            && r.non_resource_urls.iter().any(|u| url_matches(u, path))
    }))
}

async fn access(rest: &Rest, who: &Identity, spec: &Value) -> Result<Value, Status> {
    let Some(a) = spec.get("resourceAttributes") else {
        let n = &spec["nonResourceAttributes"];
        let (Some(path), Some(verb)) = (n["path"].as_str(), n["verb"].as_str()) else {
            return Err(Status::invalid_argument(
                "spec: give resourceAttributes, or nonResourceAttributes with a path and a verb",
            ));
        };
        let allowed = url_allowed(rest, who, verb, path)?;
        let reason = if allowed {
            "allowed by a public URL or a ClusterRole's nonResourceURLs"
        } else {
            "no ClusterRole bound to the caller allows it"
        };
        return Ok(json!({"allowed": allowed, "reason": reason}));
    };
    let s = |k: &str| a[k].as_str().unwrap_or_default().to_owned();
    let request = AccessReviewRequest {
        verb: s("verb"),
        group: s("group"),
        resource: s("resource"),
        subresource: s("subresource"),
        namespace: s("namespace"),
        name: s("name"),
        ..Default::default()
    };
    let r = AuthService::review(&*rest.auth, as_caller(who, request))
        .await?
        .into_inner();
    Ok(json!({"allowed": r.allowed, "reason": r.reason}))
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;

    #[test]
    fn a_protobuf_review_reads_as_its_json() {
        let review = AccessReview {
            spec: Some(AccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    verb: Some("create".into()),
                    resource: Some("pods".into()),
                    namespace: Some("default".into()),
                    ..Default::default()
                }),
                non_resource_attributes: None,
            }),
        };
        let envelope = Unknown {
            raw: Some(review.encode_to_vec()),
        };
        let mut bytes = b"k8s\0".to_vec();
        bytes.extend(envelope.encode_to_vec());
        let v = from_protobuf(&bytes, "SelfSubjectAccessReview").unwrap();
        assert_eq!(v["spec"]["resourceAttributes"]["verb"], "create");
        assert_eq!(v["spec"]["resourceAttributes"]["resource"], "pods");
        assert!(from_protobuf(b"nope", "SelfSubjectAccessReview").is_err());
        let rules = RulesReview {
            spec: Some(RulesReviewSpec {
                namespace: Some("team-a".into()),
            }),
        };
        let envelope = Unknown {
            raw: Some(rules.encode_to_vec()),
        };
        let mut bytes = b"k8s\0".to_vec();
        bytes.extend(envelope.encode_to_vec());
        let v = from_protobuf(&bytes, "SelfSubjectRulesReview").unwrap();
        assert_eq!(v["spec"]["namespace"], "team-a");
    }
}
