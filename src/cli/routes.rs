//! What to curl for each route: the URLs an Ingress's or HTTPRoute's rules answer on, at
//! a node's ingress address (`skiff dev` prints them).

use skiff_proto::Object;
use skiff_proto::model::httproute::PathMatchType;

/// `curl` arguments for every host and path `o` routes, at the ingress `addr`.
pub fn curls(o: &Object, addr: &str) -> Vec<String> {
    let mut pairs: Vec<(Option<String>, String)> = Vec::new();
    match o {
        Object::Ingress(i) => {
            for rule in &i.spec.rules {
                for p in rule.http.iter().flat_map(|h| &h.paths) {
                    let path = p.path.clone().unwrap_or_else(|| "/".into());
                    pairs.push((rule.host.clone(), path));
                }
            }
            if i.spec.default_backend.is_some() {
                pairs.push((None, "/".into()));
            }
        }
        Object::HttpRoute(r) => {
            let paths: Vec<String> = r
                .spec
                .rules
                .iter()
                .flat_map(|rule| {
                    let mut v: Vec<String> = rule
                        .matches
                        .iter()
                        .map(|m| match &m.path {
                            Some(p) if p.type_ != PathMatchType::RegularExpression => {
                                p.value.clone()
                            }
                            _ => "/".into(),
                        })
                        .collect();
                    if v.is_empty() {
                        v.push("/".into());
                    }
                    v
                })
                .collect();
            let hosts: Vec<Option<String>> = if r.spec.hostnames.is_empty() {
                vec![None]
            } else {
                r.spec.hostnames.iter().cloned().map(Some).collect()
            };
            for h in hosts {
                for p in &paths {
                    pairs.push((h.clone(), p.clone()));
                }
            }
        }
        _ => {}
    }
    let port = addr.rsplit_once(':').map_or("80", |(_, p)| p);
    let mut out: Vec<String> = pairs
        .into_iter()
        .map(|(host, path)| match host {
            // Wildcards: any host will do.
            None => format!("http://{addr}{path}"),
            Some(h) if h.starts_with('*') => format!("http://{addr}{path}"),
            // curl resolves *.localhost to the loopback address itself.
            Some(h) if h == "localhost" || h.ends_with(".localhost") => {
                format!("http://{h}:{port}{path}")
            }
            Some(h) => format!("-H 'Host: {h}' http://{addr}{path}"),
        })
        .collect();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_proto::manifest::{Source, decode_one};

    fn object(yaml: &str) -> Object {
        decode_one(yaml, &Source::named("t.yaml")).expect("a manifest")
    }

    #[test]
    fn every_host_and_path_gets_a_curl() {
        let i = object(
            "apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: site}
spec:
  rules:
  - http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}
  - host: app.localhost
    http: {paths: [{path: /api, pathType: Prefix, backend: {service: {name: api, port: {number: 80}}}}]}
  - host: example.com
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}
",
        );
        assert_eq!(
            curls(&i, "127.0.0.1:8080"),
            [
                "http://127.0.0.1:8080/",
                "http://app.localhost:8080/api",
                "-H 'Host: example.com' http://127.0.0.1:8080/",
            ]
        );
        let r = object(
            "apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: canary}
spec:
  hostnames: ['*.example.com']
  rules: [{backendRefs: [{name: web, port: 80}]}]
",
        );
        assert_eq!(curls(&r, "127.0.0.1:8080"), ["http://127.0.0.1:8080/"]);
    }
}
