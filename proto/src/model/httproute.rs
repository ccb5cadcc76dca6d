//! HTTPRoute (gateway.networking.k8s.io/v1): Gateway API HTTP routing, as Kubernetes
//! users write it. Rules match paths, headers, query parameters and methods, and split
//! traffic between Service backends by weight. Filters are Skiff's Wasm HTTP filters
//! (`type: ExtensionRef` naming an HttpFilter); Gateway API's built-in filter types are
//! not supported yet.

use skiff_proto_macros::model;
use std::time::Duration;

use super::condition::Condition;
use super::meta::ObjectMeta;

mod matches;
pub use matches::{
    HttpHeaderMatch, HttpPathMatch, HttpQueryParamMatch, HttpRouteMatch, MatchType, PathMatchType,
};

#[model]
pub struct HttpRoute {
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: HttpRouteSpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<HttpRouteStatus>,
}

#[model]
pub struct HttpRouteSpec {
    /// The Gateways (or other parents) the route attaches to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parent_refs: Vec<ParentReference>,
    /// Host names the route serves (empty: every host). A leading `*.` is a wildcard.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hostnames: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<HttpRouteRule>,
}

/// A parent of the route, usually a Gateway in the route's namespace.
#[model]
pub struct ParentReference {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    /// A listener of the Gateway, by name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub section_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
}

/// Requests that match any of `matches` (none: every request) go to `backend_refs`.
#[model]
pub struct HttpRouteRule {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<HttpRouteMatch>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backend_refs: Vec<HttpBackendRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<HttpRouteTimeouts>,
    /// Run in order on the rule's requests (and in reverse on their responses).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<HttpRouteFilter>,
}

/// A filter of a rule: `type: ExtensionRef` and the HttpFilter it names.
#[model]
pub struct HttpRouteFilter {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension_ref: Option<LocalObjectRef>,
}

/// An object of the route's namespace, by group, kind and name.
#[model]
pub struct LocalObjectRef {
    pub group: String,
    pub kind: String,
    pub name: String,
}

/// A Service and port that gets a `weight` share of the rule's requests.
#[model]
pub struct HttpBackendRef {
    /// Absent or empty: the core group (Services).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Absent: `Service`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub name: String,
    /// Absent: the route's namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
}

impl HttpBackendRef {
    /// The backend's share of the rule's requests, relative to the others (default 1;
    /// 0: none).
    pub fn weight(&self) -> u32 {
        self.weight.map_or(1, |w| u32::try_from(w).unwrap_or(0))
    }
}

/// Gateway API durations (see [`parse_duration`]); `"0s"` means no timeout.
#[model]
pub struct HttpRouteTimeouts {
    /// From the request's arrival to the end of the response sent to the client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// One attempt at a backend; at most `request`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend_request: Option<String>,
}

#[model]
pub struct HttpRouteStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parents: Vec<RouteParentStatus>,
}

/// How one parent's controller took the route (`Accepted`, `ResolvedRefs`, ...).
#[model]
pub struct RouteParentStatus {
    pub parent_ref: ParentReference,
    pub controller_name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// Parses a Gateway API Duration (GEP-2257: `^([0-9]{1,5}(h|m|s|ms)){1,4}$`, e.g. "10s",
/// "1m30s", "500ms"; "0s" means no timeout).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "invalid duration {s:?}: write 1 to 4 parts, each up to 5 digits and a unit \
             (h, m, s or ms), e.g. 10s, 1m30s or 500ms"
        )
    };
    let (mut rest, mut total, mut parts) = (s, Duration::ZERO, 0);
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if !(1..=5).contains(&digits) || parts == 4 {
            return Err(bad());
        }
        let n: u32 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let (unit, len) = if rest.starts_with("ms") {
            (Duration::from_millis(1), 2)
        } else {
            match rest.bytes().next() {
                Some(b'h') => (Duration::from_secs(3600), 1),
                Some(b'm') => (Duration::from_secs(60), 1),
                Some(b's') => (Duration::from_secs(1), 1),
                _ => return Err(bad()),
            }
        };
        rest = &rest[len..];
        total += unit * n;
        parts += 1;
    }
    if parts == 0 {
        return Err(bad());
    }
    Ok(total)
}
