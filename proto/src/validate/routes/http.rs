//! HTTPRoute rules (Gateway API): the spec's limits, matches Skiff can serve, Service
//! backends with a port, and timeouts that nest.

use super::{Violations, check_host, names};
use crate::manifest::FieldPath;
use crate::model::httproute::{HttpRouteFilter, parse_duration};
use crate::model::{
    HttpBackendRef, HttpRouteMatch, HttpRouteRule, HttpRouteSpec, HttpRouteTimeouts, MatchType,
    PathMatchType,
};

/// The Gateway API's list limits.
const MAX_HOSTNAMES: usize = 16;
const MAX_RULES: usize = 16;
const MAX_MATCHES: usize = 64;
const MAX_BACKEND_REFS: usize = 16;
/// Header and query parameter matches, each.
const MAX_VALUE_MATCHES: usize = 16;

const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

const REGEX_PATH_HINT: &str =
    "Skiff matches Exact and PathPrefix paths; write the route with those";
const REGEX_VALUE_HINT: &str = "Skiff matches Exact values; write the route with those";

/// An HTTP token (RFC 9110): what header and query parameter names are made of.
fn http_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Reports `at.field` if it holds more than `max` items.
fn limit(v: &mut Violations, at: &FieldPath, field: &str, n: usize, max: usize, hint: &str) {
    if n > max {
        let message = format!("{n} {field}; the limit is {max}");
        v.add_hint(at.field(field), message, hint);
    }
}

pub fn http_route(spec: &HttpRouteSpec, at: &FieldPath, v: &mut Violations) {
    let split = "split the route into several HTTPRoutes";
    limit(
        v,
        at,
        "hostnames",
        spec.hostnames.len(),
        MAX_HOSTNAMES,
        split,
    );
    limit(v, at, "rules", spec.rules.len(), MAX_RULES, split);
    for (i, h) in spec.hostnames.iter().enumerate() {
        check_host(h, at.field("hostnames").index(i), v);
    }
    for (i, p) in spec.parent_refs.iter().enumerate() {
        if let Some(port) = p.port {
            let path = at.field("parentRefs").index(i).field("port");
            v.range(path, port.into(), 1, 65535);
        }
    }
    for (i, rule) in spec.rules.iter().enumerate() {
        route_rule(rule, &at.field("rules").index(i), v);
    }
}

fn route_rule(rule: &HttpRouteRule, at: &FieldPath, v: &mut Violations) {
    let split = "split the rule into several rules";
    limit(v, at, "matches", rule.matches.len(), MAX_MATCHES, split);
    for (i, m) in rule.matches.iter().enumerate() {
        route_match(m, &at.field("matches").index(i), v);
    }
    let n = rule.backend_refs.len();
    limit(v, at, "backendRefs", n, MAX_BACKEND_REFS, split);
    for (i, b) in rule.backend_refs.iter().enumerate() {
        backend_ref(b, &at.field("backendRefs").index(i), v);
    }
    if let Some(t) = &rule.timeouts {
        timeouts(t, &at.field("timeouts"), v);
    }
    for (i, f) in rule.filters.iter().enumerate() {
        filter(f, &at.field("filters").index(i), v);
    }
}

/// A rule's filter: an ExtensionRef to an HttpFilter (`skiff.dev`).
fn filter(f: &HttpRouteFilter, at: &FieldPath, v: &mut Violations) {
    if f.kind != "ExtensionRef" {
        v.add_hint(
            at.field("type"),
            format!("filter type {:?} is not supported", f.kind),
            "use `type: ExtensionRef` with `extensionRef: {group: skiff.dev, kind: HttpFilter, name: NAME}`",
        );
        return;
    }
    match &f.extension_ref {
        None => v.add_hint(
            at.field("extensionRef"),
            "an ExtensionRef filter names its object",
            "add `extensionRef: {group: skiff.dev, kind: HttpFilter, name: NAME}`",
        ),
        Some(r) if r.group != "skiff.dev" || r.kind != "HttpFilter" => v.add_hint(
            at.field("extensionRef"),
            format!("{}/{} is not a filter this router runs", r.group, r.kind),
            "name an HttpFilter: `group: skiff.dev, kind: HttpFilter`",
        ),
        Some(r) => {
            if let Err(why) = names::dns_subdomain(&r.name) {
                v.add(at.field("extensionRef").field("name"), why);
            }
        }
    }
}

fn route_match(m: &HttpRouteMatch, at: &FieldPath, v: &mut Violations) {
    if let Some(p) = &m.path {
        let pat = at.field("path");
        if p.type_ == PathMatchType::RegularExpression {
            v.add_hint(
                pat.field("type"),
                "RegularExpression path matches are not supported",
                REGEX_PATH_HINT,
            );
        } else if !p.value.starts_with('/') {
            v.add_hint(
                pat.field("value"),
                format!("invalid path {:?}: it must start with '/'", p.value),
                "write an absolute path, e.g. `/api`",
            );
        } else if let Some(bad) = ["//", "/./", "/../", "%2f", "%2F", "#"]
            .into_iter()
            .find(|b| p.value.contains(b))
            .or_else(|| ["/..", "/."].into_iter().find(|e| p.value.ends_with(e)))
        {
            v.add_hint(
                pat.field("value"),
                format!("invalid path {:?}: it may not contain `{bad}`", p.value),
                "write the path in its plain form, e.g. `/api/v1`",
            );
        }
    }
    let headers = m.headers.iter().map(|h| (h.type_, &h.name));
    let query = m.query_params.iter().map(|q| (q.type_, &q.name));
    for (field, items) in [
        ("headers", headers.collect::<Vec<_>>()),
        ("queryParams", query.collect()),
    ] {
        let hint = "match on fewer values, or split the match";
        limit(v, at, field, items.len(), MAX_VALUE_MATCHES, hint);
        for (i, (type_, name)) in items.into_iter().enumerate() {
            let iat = at.field(field).index(i);
            if type_ == Some(MatchType::RegularExpression) {
                v.add_hint(
                    iat.field("type"),
                    format!("RegularExpression {field} matches are not supported"),
                    REGEX_VALUE_HINT,
                );
            }
            if !http_token(name) {
                v.add_hint(
                    iat.field("name"),
                    format!("invalid name {name:?}: not an HTTP token"),
                    "use letters, digits and !#$%&'*+-.^_`|~, e.g. `X-Canary`",
                );
            }
        }
    }
    if let Some(method) = &m.method
        && !METHODS.contains(&method.as_str())
    {
        v.add_hint(
            at.field("method"),
            format!("invalid method {method:?}"),
            format!("use one of {}", METHODS.join(", ")),
        );
    }
}

fn backend_ref(b: &HttpBackendRef, at: &FieldPath, v: &mut Violations) {
    if let Some(k) = b.kind.as_deref().filter(|k| *k != "Service") {
        v.add_hint(
            at.field("kind"),
            format!("backend kind {k:?} is not supported"),
            "Skiff routes to Services: remove `kind` or write `kind: Service`",
        );
    }
    if let Some(g) = b.group.as_deref().filter(|g| !g.is_empty()) {
        v.add_hint(
            at.field("group"),
            format!("backend group {g:?} is not supported"),
            "Services are in the core group: remove `group`",
        );
    }
    if let Err(why) = names::dns_label(&b.name) {
        v.add_hint(
            at.field("name"),
            format!("invalid Service name {:?}: {why}", b.name),
            "name a Service, e.g. `web`",
        );
    }
    if let Some(ns) = &b.namespace
        && let Err(why) = names::dns_label(ns)
    {
        v.add(
            at.field("namespace"),
            format!("invalid namespace {ns:?}: {why}"),
        );
    }
    match b.port {
        None => v.add_hint(
            at.field("port"),
            "missing field `port`: the Gateway API requires one for a Service backend",
            "add `port: 80` (the Service's port)",
        ),
        Some(p) => v.range(at.field("port"), p.into(), 1, 65535),
    }
    if let Some(w) = b.weight {
        v.range(at.field("weight"), w.into(), 0, 1_000_000);
    }
}

fn timeouts(t: &HttpRouteTimeouts, at: &FieldPath, v: &mut Violations) {
    let mut parse = |field: &str, value: &Option<String>| {
        let s = value.as_deref()?;
        parse_duration(s)
            .map_err(|why| v.add(at.field(field), why))
            .ok()
    };
    let request = parse("request", &t.request);
    let backend = parse("backendRequest", &t.backend_request);
    if let (Some(r), Some(b)) = (request, backend)
        && !r.is_zero()
        && !b.is_zero()
        && b > r
    {
        let text = |o: &Option<String>| o.clone().unwrap_or_default();
        v.add_hint(
            at.field("backendRequest"),
            format!(
                "backendRequest {} is longer than request {}",
                text(&t.backend_request),
                text(&t.request)
            ),
            "make backendRequest at most the request timeout (one attempt fits in the request)",
        );
    }
}
