//! Tests of the Ingress rules (and the helpers the HTTPRoute tests share): each
//! rejection names its field.

use crate::manifest::{Diagnostic, Source, decode_one};

/// The problems found in a manifest with `header` (apiVersion and kind) and `spec`.
pub(super) fn diagnostics(header: &str, spec: &str) -> Vec<Diagnostic> {
    let text = format!("{header}\nmetadata: {{name: web, namespace: shop}}\nspec:\n{spec}");
    match decode_one(&text, &Source::named("t")) {
        Ok(_) => Vec::new(),
        Err(d) => d.0,
    }
}

fn ingress(spec: &str) -> Vec<Diagnostic> {
    diagnostics("apiVersion: networking.k8s.io/v1\nkind: Ingress", spec)
}

#[track_caller]
pub(super) fn rejected(found: &[Diagnostic], path: &str, message: &str) {
    assert!(
        found
            .iter()
            .any(|d| d.path.to_string() == path && d.message.contains(message)),
        "wanted `{path}`: {message:?}, got:\n{}",
        found
            .iter()
            .map(|d| format!("  {}: {}", d.path, d.message))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

const BACKEND: &str = "backend: {service: {name: web, port: {number: 80}}}";

fn ingress_path(path: &str) -> Vec<Diagnostic> {
    ingress(&format!(
        "  rules:\n  - host: shop.example.com\n    http:\n      paths:\n      - {path}\n        {BACKEND}\n"
    ))
}

#[test]
fn ingress_accepts_what_kubernetes_accepts() {
    let ok = ingress(&format!(
        "  ingressClassName: skiff\n  tls: [{{hosts: ['*.example.com'], secretName: shop-tls}}]\n  rules:\n  - host: '*.example.com'\n    http:\n      paths:\n      - pathType: ImplementationSpecific\n        {BACKEND}\n      - {{path: /api, pathType: Exact, backend: {{service: {{name: api, port: {{name: http}}}}}}}}\n"
    ));
    assert!(ok.is_empty(), "{ok:?}");
    assert!(ingress("  defaultBackend: {service: {name: web, port: {number: 80}}}\n").is_empty());
}

#[test]
fn ingress_hosts_are_dns_names() {
    for bad in [
        "10.0.0.1",
        "Shop.example.com",
        "shop..example.com",
        "a.*.example.com",
        "-a.example.com",
    ] {
        let found = ingress(&format!("  rules: [{{host: '{bad}'}}]\n"));
        rejected(&found, "spec.rules[0].host", "invalid host");
    }
    let found = ingress(
        "  defaultBackend: {service: {name: web, port: {number: 80}}}\n  tls: [{hosts: [1.2.3.4]}]\n",
    );
    rejected(&found, "spec.tls[0].hosts[0]", "IP address");
}

#[test]
fn ingress_paths_start_with_a_slash() {
    let at = "spec.rules[0].http.paths[0].path";
    rejected(
        &ingress_path("pathType: Prefix"),
        at,
        "missing field `path`",
    );
    rejected(
        &ingress_path("pathType: Exact\n        path: api"),
        at,
        "must start with '/'",
    );
    rejected(
        &ingress_path("pathType: ImplementationSpecific\n        path: api"),
        at,
        "must start with '/'",
    );
    rejected(
        &ingress_path("path: /"),
        "spec.rules[0].http.paths[0].pathType",
        "missing field `pathType`",
    );
    let found = ingress("  rules: [{host: a.example.com, http: {paths: []}}]\n");
    rejected(&found, "spec.rules[0].http.paths", "at least one path");
}

#[test]
fn ingress_needs_a_rule_or_a_default_backend() {
    rejected(
        &ingress("  ingressClassName: skiff\n"),
        "spec.rules",
        "at least one rule or a defaultBackend",
    );
}

#[test]
fn ingress_backends_are_services_with_one_port() {
    let backend = |b: &str| ingress(&format!("  defaultBackend: {b}\n"));
    let at = "spec.defaultBackend.service";
    rejected(&backend("{}"), at, "missing field `service`");
    rejected(
        &backend("{resource: {kind: Bucket, name: assets}}"),
        "spec.defaultBackend.resource",
        "unknown field `resource`",
    );
    rejected(
        &backend("{service: {name: 1web, port: {number: 80}}}"),
        "spec.defaultBackend.service.name",
        "invalid Service name",
    );
    rejected(
        &backend("{service: {name: web, port: {name: http, number: 80}}}"),
        "spec.defaultBackend.service.port",
        "both",
    );
    rejected(
        &backend("{service: {name: web, port: {}}}"),
        "spec.defaultBackend.service.port",
        "`name` or a `number`",
    );
    rejected(
        &backend("{service: {name: web, port: {number: 70000}}}"),
        "spec.defaultBackend.service.port.number",
        "invalid value 70000",
    );
    rejected(
        &backend("{service: {name: web, port: {name: HTTP}}}"),
        "spec.defaultBackend.service.port.name",
        "invalid port name",
    );
}
