//! Rules for Ingresses and HTTPRoutes: host names, paths, Service backends and their
//! ports, and the Gateway API's limits. What Skiff does not serve (regular expressions,
//! backends other than Services) is refused with a way to write it instead.

mod http;
#[cfg(test)]
mod http_tests;
#[cfg(test)]
mod tests;

use std::net::IpAddr;

use super::{Violations, names};
use crate::manifest::FieldPath;
use crate::model::{IngressBackend, IngressSpec, PathType};

pub use http::http_route;

/// A host an Ingress or HTTPRoute serves: a DNS-1123 subdomain, optionally with a
/// leading `*.` wildcard; not an IP address.
fn host(s: &str) -> Result<(), String> {
    if s.parse::<IpAddr>().is_ok() {
        return Err("it is an IP address, not a DNS name".into());
    }
    let name = s.strip_prefix("*.").unwrap_or(s);
    names::dns_subdomain(name)?;
    for label in name.split('.') {
        names::dns_label(label).map_err(|e| format!("its part {label:?} is invalid: {e}"))?;
    }
    Ok(())
}

fn check_host(s: &str, at: FieldPath, v: &mut Violations) {
    if let Err(why) = host(s) {
        v.add_hint(
            at,
            format!("invalid host {s:?}: {why}"),
            "write a DNS name such as `shop.example.com` or `*.example.com`",
        );
    }
}

pub fn ingress(spec: &IngressSpec, at: &FieldPath, v: &mut Violations) {
    if spec.rules.is_empty() && spec.default_backend.is_none() {
        v.add_hint(
            at.field("rules"),
            "an Ingress needs at least one rule or a defaultBackend",
            "add `rules:` with a host and paths, or `defaultBackend: {service: {name: web, port: {number: 80}}}`",
        );
    }
    if let Some(b) = &spec.default_backend {
        ingress_backend(b, &at.field("defaultBackend"), v);
    }
    for (i, rule) in spec.rules.iter().enumerate() {
        let rat = at.field("rules").index(i);
        if let Some(h) = &rule.host {
            check_host(h, rat.field("host"), v);
        }
        let Some(http) = &rule.http else { continue };
        let pat = rat.field("http").field("paths");
        if http.paths.is_empty() {
            v.add_hint(
                pat.clone(),
                "a rule's `http` needs at least one path",
                "add `paths: [{path: /, pathType: Prefix, backend: ...}]`",
            );
        }
        for (j, p) in http.paths.iter().enumerate() {
            let at = pat.index(j);
            let needs_path = p.path_type != PathType::ImplementationSpecific;
            match p.path.as_deref() {
                None if needs_path => v.add_hint(
                    at.field("path"),
                    format!("missing field `path`: pathType {:?} needs one", p.path_type),
                    "add `path: /` (or the path to match)",
                ),
                Some(s) if !s.starts_with('/') && (needs_path || !s.is_empty()) => v.add_hint(
                    at.field("path"),
                    format!("invalid path {s:?}: it must start with '/'"),
                    "write an absolute path, e.g. `/api`",
                ),
                _ => {}
            }
            ingress_backend(&p.backend, &at.field("backend"), v);
        }
    }
    for (i, t) in spec.tls.iter().enumerate() {
        let tat = at.field("tls").index(i);
        for (j, h) in t.hosts.iter().enumerate() {
            check_host(h, tat.field("hosts").index(j), v);
        }
        if let Some(s) = &t.secret_name
            && let Err(why) = names::dns_subdomain(s)
        {
            v.add(
                tat.field("secretName"),
                format!("invalid Secret name {s:?}: {why}"),
            );
        }
    }
}

fn ingress_backend(b: &IngressBackend, at: &FieldPath, v: &mut Violations) {
    let Some(s) = &b.service else {
        v.add_hint(
            at.field("service"),
            "missing field `service`: a backend needs a Service",
            "add `service: {name: web, port: {number: 80}}`",
        );
        return;
    };
    let sat = at.field("service");
    if let Err(why) = names::dns_1035_label(&s.name) {
        v.add_hint(
            sat.field("name"),
            format!("invalid Service name {:?}: {why}", s.name),
            "name a Service in the Ingress's namespace, e.g. `web`",
        );
    }
    let pat = sat.field("port");
    match (&s.port.name, s.port.number) {
        (Some(_), Some(_)) => v.add_hint(
            pat,
            "a backend port has both `name` and `number`",
            "keep one of them",
        ),
        (None, None) => v.add_hint(
            pat,
            "a backend port needs a `name` or a `number`",
            "add `number: 80` (the Service's port) or `name: http`",
        ),
        (Some(n), None) => {
            if let Err(why) = names::port_name(n) {
                v.add(pat.field("name"), format!("invalid port name {n:?}: {why}"));
            }
        }
        (None, Some(n)) => v.range(pat.field("number"), n.into(), 1, 65535),
    }
}
