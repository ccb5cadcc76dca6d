//! Tests of the HTTPRoute rules: each rejection names its field, and `parse_duration`
//! follows GEP-2257.

use std::time::Duration;

use super::tests::{diagnostics, rejected};
use crate::manifest::Diagnostic;
use crate::model::HttpBackendRef;
use crate::model::httproute::parse_duration;

fn route(spec: &str) -> Vec<Diagnostic> {
    diagnostics(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute",
        spec,
    )
}

/// A rule of one HTTPRoute with `rest` inside it (already indented as a rule's fields).
fn route_rule(rest: &str) -> Vec<Diagnostic> {
    route(&format!("  rules:\n  - {rest}\n"))
}

const CANARY: &str = "  parentRefs: [{name: shop-gateway}]
  hostnames: [shop.example.com]
  rules:
  - matches: [{path: {type: PathPrefix, value: /}, headers: [{name: X-Canary, value: 'on'}], method: GET}]
    backendRefs: [{name: web-v1, port: 80, weight: 90}, {name: web-v2, port: 80, weight: 10}]
    timeouts: {request: 10s, backendRequest: 2s}
";

#[test]
fn http_route_accepts_a_weighted_canary() {
    assert!(route(CANARY).is_empty(), "{:?}", route(CANARY));
    assert!(
        route_rule(
            "matches: [{path: {value: /api}}, {}]\n    backendRefs: [{name: web, port: 80}]"
        )
        .is_empty()
    );
    assert!(route_rule("timeouts: {request: 0s, backendRequest: 30s}").is_empty());
}

#[test]
fn http_route_lists_have_the_gateway_api_limits() {
    let many = |n: usize, item: &str| vec![item; n].join(", ");
    let found = route(&format!("  hostnames: [{}]\n", many(17, "a.example.com")));
    rejected(&found, "spec.hostnames", "17 hostnames; the limit is 16");
    let found = route(&format!("  rules: [{}]\n", many(17, "{}")));
    rejected(&found, "spec.rules", "17 rules; the limit is 16");
    let found = route_rule(&format!("matches: [{}]", many(65, "{}")));
    rejected(
        &found,
        "spec.rules[0].matches",
        "65 matches; the limit is 64",
    );
    let found = route_rule(&format!(
        "backendRefs: [{}]",
        many(17, "{name: web, port: 80}")
    ));
    rejected(
        &found,
        "spec.rules[0].backendRefs",
        "17 backendRefs; the limit is 16",
    );
}

#[test]
fn http_route_hostnames_and_paths() {
    rejected(
        &route("  hostnames: ['10.1.2.3']\n"),
        "spec.hostnames[0]",
        "IP address",
    );
    let path = |p: &str| route_rule(&format!("matches: [{{path: {p}}}]"));
    let at = "spec.rules[0].matches[0].path.value";
    rejected(&path("{value: api}"), at, "must start with '/'");
    rejected(&path("{value: /a//b}"), at, "may not contain `//`");
    rejected(&path("{value: /a/..}"), at, "may not contain `/..`");
    let found = path("{type: RegularExpression, value: '/v[0-9]+'}");
    rejected(
        &found,
        "spec.rules[0].matches[0].path.type",
        "RegularExpression",
    );
    assert_eq!(
        found[0].hint.as_deref(),
        Some("Skiff matches Exact and PathPrefix paths; write the route with those")
    );
}

#[test]
fn http_route_headers_query_params_and_methods() {
    let at = "spec.rules[0].matches[0]";
    let m = |m: &str| route_rule(&format!("matches: [{m}]"));
    rejected(
        &m("{headers: [{type: RegularExpression, name: X-A, value: 'a.*'}]}"),
        &format!("{at}.headers[0].type"),
        "RegularExpression",
    );
    rejected(
        &m("{headers: [{name: 'X A', value: a}]}"),
        &format!("{at}.headers[0].name"),
        "not an HTTP token",
    );
    rejected(
        &m("{queryParams: [{type: RegularExpression, name: q, value: 'a.*'}]}"),
        &format!("{at}.queryParams[0].type"),
        "RegularExpression",
    );
    rejected(
        &m("{method: FETCH}"),
        &format!("{at}.method"),
        "invalid method",
    );
    rejected(
        &m("{method: get}"),
        &format!("{at}.method"),
        "invalid method",
    );
}

#[test]
fn http_route_backends_are_services_with_a_port() {
    let at = "spec.rules[0].backendRefs[0]";
    let b = |b: &str| route_rule(&format!("backendRefs: [{b}]"));
    rejected(
        &b("{kind: ServiceImport, name: web, port: 80}"),
        &format!("{at}.kind"),
        "not supported",
    );
    rejected(
        &b("{group: multicluster.x-k8s.io, name: web, port: 80}"),
        &format!("{at}.group"),
        "not supported",
    );
    assert!(b("{group: '', kind: Service, name: web, port: 80}").is_empty());
    rejected(
        &b("{name: web}"),
        &format!("{at}.port"),
        "missing field `port`",
    );
    rejected(
        &b("{name: web, port: 0}"),
        &format!("{at}.port"),
        "invalid value 0",
    );
    rejected(
        &b("{name: web, port: 80, weight: -1}"),
        &format!("{at}.weight"),
        "invalid value -1",
    );
    rejected(
        &b("{name: web, port: 80, weight: 1000001}"),
        &format!("{at}.weight"),
        "invalid value",
    );
    rejected(
        &b("{name: Web, port: 80}"),
        &format!("{at}.name"),
        "invalid Service name",
    );
}

#[test]
fn http_route_timeouts_parse_and_nest() {
    let at = "spec.rules[0].timeouts";
    let t = |t: &str| route_rule(&format!("timeouts: {t}"));
    rejected(
        &t("{request: '10'}"),
        &format!("{at}.request"),
        "invalid duration",
    );
    rejected(
        &t("{backendRequest: 1.5s}"),
        &format!("{at}.backendRequest"),
        "invalid duration",
    );
    rejected(
        &t("{request: 1s, backendRequest: 2s}"),
        &format!("{at}.backendRequest"),
        "longer than request 1s",
    );
    assert!(t("{request: 1m, backendRequest: 60s}").is_empty());
}

#[test]
fn durations_follow_gep_2257() {
    let ok = |s: &str, d: Duration| assert_eq!(parse_duration(s), Ok(d), "{s}");
    ok("0s", Duration::ZERO);
    ok("10s", Duration::from_secs(10));
    ok("1m30s", Duration::from_secs(90));
    ok("500ms", Duration::from_millis(500));
    ok("01h", Duration::from_secs(3600));
    ok("99999ms", Duration::from_millis(99_999));
    ok("1h30m30s500ms", Duration::from_millis(5_430_500));
    for bad in [
        "",
        "10",
        "s",
        "1.5s",
        "-1s",
        "100000s",
        "1h1m1s1ms1h",
        "1d",
        "1us",
        " 1s",
        "1S",
        "1 s",
    ] {
        assert!(parse_duration(bad).is_err(), "{bad:?} parsed");
    }
}

#[test]
fn backend_weight_defaults_to_one() {
    let w = |weight| {
        HttpBackendRef {
            weight,
            ..Default::default()
        }
        .weight()
    };
    assert_eq!(
        [w(None), w(Some(0)), w(Some(90)), w(Some(-5))],
        [1, 0, 90, 0]
    );
}
