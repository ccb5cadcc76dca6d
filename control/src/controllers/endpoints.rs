//! The Endpoints controller: each Service with a selector gets an Endpoints object of
//! the same name listing the pods it selects, ready ones in `addresses` and the rest in
//! `notReadyAddresses`, with the Service's ports resolved against each pod (a named
//! `targetPort` is looked up in the pod's container ports). Pods that share resolved
//! ports share a subset. The Endpoints object is owned by its Service, so it goes with
//! it.

use std::collections::BTreeMap;

use skiff_proto::model::container::Protocol;
use skiff_proto::model::meta::ObjectReference;
use skiff_proto::model::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, IntOrString, Pod, Service,
};
use skiff_proto::{Kind, Object};

use super::pods;
use super::runner::{Next, Reconciler, own_key};
use crate::machinery::cache::{Cache, Change};
use crate::machinery::client::Client;
use crate::store::key;

pub struct EndpointsController {
    pub cache: Cache,
    pub client: Client,
}

/// The pod's number for a service port, if it has one.
fn target_port(pod: &Pod, port: &skiff_proto::model::ServicePort) -> Option<i32> {
    match &port.target_port {
        None => Some(port.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(name)) => pod
            .spec
            .containers
            .iter()
            .flat_map(|c| &c.ports)
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .map(|p| p.container_port),
    }
}

/// The subsets of a Service's Endpoints, from the pods it selects.
pub fn subsets(svc: &Service, selected: &[&Pod]) -> Vec<EndpointSubset> {
    let mut by_ports: BTreeMap<Vec<(Option<String>, i32)>, EndpointSubset> = BTreeMap::new();
    for p in selected {
        let Some(ip) = p.status.as_ref().and_then(|s| s.pod_ip.clone()) else {
            continue;
        };
        let ports: Vec<(Option<String>, i32)> = svc
            .spec
            .ports
            .iter()
            .filter_map(|sp| Some((sp.name.clone(), target_port(p, sp)?)))
            .collect();
        if ports.is_empty() && !svc.spec.ports.is_empty() {
            continue;
        }
        let address = EndpointAddress {
            ip,
            hostname: None,
            node_name: p.spec.node_name.clone(),
            target_ref: Some(ObjectReference {
                api_version: None,
                kind: "Pod".into(),
                namespace: p.metadata.namespace.clone(),
                name: p.metadata.name.clone(),
                uid: p.metadata.uid.clone(),
                resource_version: None,
                field_path: None,
            }),
        };
        let subset = by_ports
            .entry(ports.clone())
            .or_insert_with(|| EndpointSubset {
                ports: ports
                    .iter()
                    .map(|(name, port)| EndpointPort {
                        name: name.clone(),
                        port: *port,
                        protocol: Some(Protocol::default()),
                    })
                    .collect(),
                ..Default::default()
            });
        if pods::is_ready(p) {
            subset.addresses.push(address);
        } else {
            subset.not_ready_addresses.push(address);
        }
    }
    by_ports
        .into_values()
        .map(|mut s| {
            s.addresses.sort_by(|a, b| a.ip.cmp(&b.ip));
            s.not_ready_addresses.sort_by(|a, b| a.ip.cmp(&b.ip));
            s
        })
        .collect()
}

impl Reconciler for EndpointsController {
    const NAME: &'static str = "endpoints";
    const KIND: Kind = Kind::Service;

    fn keys(&self, c: &Change, cache: &Cache) -> Vec<String> {
        match c.kind {
            Kind::Service => own_key(c, Kind::Service),
            Kind::Endpoints => {
                let Some(o) = c.latest() else {
                    return Vec::new();
                };
                let m = o.metadata();
                vec![key::make(Kind::Service, &m.namespace, &m.name)]
            }
            Kind::Pod => {
                let Some(o) = c.latest() else {
                    return Vec::new();
                };
                let ns = &o.metadata().namespace;
                let labels: Vec<_> = [&c.old, &c.new]
                    .into_iter()
                    .flatten()
                    .map(|s| s.object.metadata().labels.clone())
                    .collect();
                cache
                    .list(Kind::Service, Some(ns))
                    .into_iter()
                    .filter(|s| match &s.object {
                        Object::Service(svc) => {
                            !svc.spec.selector.is_empty()
                                && labels.iter().any(|l| {
                                    svc.spec.selector.iter().all(|(k, v)| l.get(k) == Some(v))
                                })
                        }
                        _ => false,
                    })
                    .map(|s| key::of(&s.object))
                    .collect()
            }
            _ => Vec::new(),
        }
    }

    async fn reconcile(&self, k: &str) -> Next {
        let Some(s) = self.cache.get_key(Kind::Service, k) else {
            return Ok(None);
        };
        let Object::Service(svc) = &s.object else {
            return Ok(None);
        };
        if svc.spec.selector.is_empty() || svc.metadata.deletion_timestamp.is_some() {
            // Endpoints of a Service without a selector are written by hand.
            return Ok(None);
        }
        let ns = &svc.metadata.namespace;
        let all: Vec<Pod> = self
            .cache
            .list(Kind::Pod, Some(ns))
            .into_iter()
            .filter_map(|s| match &s.object {
                Object::Pod(p) => Some(p.clone()),
                _ => None,
            })
            .collect();
        let selected: Vec<&Pod> = all
            .iter()
            .filter(|p| {
                pods::is_active(p)
                    && svc
                        .spec
                        .selector
                        .iter()
                        .all(|(k, v)| p.metadata.labels.get(k) == Some(v))
            })
            .collect();
        let subsets = subsets(svc, &selected);
        let current = self.cache.get(Kind::Endpoints, ns, &svc.metadata.name);
        match current {
            Some(cur) => {
                let Object::Endpoints(e) = &cur.object else {
                    return Ok(None);
                };
                if e.subsets != subsets {
                    let mut e = e.clone();
                    e.subsets = subsets;
                    self.client
                        .update(&Object::Endpoints(e), cur.revision)
                        .await?;
                }
            }
            None => {
                let mut e = Endpoints::default();
                e.metadata.name = svc.metadata.name.clone();
                e.metadata.namespace = ns.clone();
                e.metadata.labels = svc.metadata.labels.clone();
                e.metadata.owner_references =
                    vec![pods::controller_ref(Kind::Service, &svc.metadata)];
                e.subsets = subsets;
                self.client.create(&Object::Endpoints(e)).await?;
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_proto::model::{
        Condition, ConditionStatus, Container, ContainerPort, PodPhase, PodStatus, ServicePort,
    };

    fn pod(name: &str, ip: &str, ready: bool, port_name: &str, port: i32) -> Pod {
        let mut p = Pod::default();
        p.metadata.name = name.into();
        p.spec.node_name = Some("n1".into());
        p.spec.containers.push(Container {
            name: "c".into(),
            ports: vec![ContainerPort {
                name: Some(port_name.into()),
                container_port: port,
                ..Default::default()
            }],
            ..Default::default()
        });
        p.status = Some(PodStatus {
            phase: PodPhase::Running,
            pod_ip: Some(ip.into()),
            conditions: vec![Condition {
                type_: "Ready".into(),
                status: if ready {
                    ConditionStatus::True
                } else {
                    ConditionStatus::False
                },
                ..Default::default()
            }],
            ..Default::default()
        });
        p
    }

    #[test]
    fn ready_and_unready_pods_are_listed_apart_with_named_ports_resolved() {
        let mut svc = Service::default();
        svc.spec.ports.push(ServicePort {
            name: Some("http".into()),
            port: 80,
            target_port: Some(IntOrString::String("web".into())),
            ..Default::default()
        });
        let a = pod("a", "10.0.0.2", true, "web", 8080);
        let b = pod("b", "10.0.0.1", false, "web", 8080);
        let c = pod("c", "10.0.0.3", true, "web", 9090);
        let no_ip = {
            let mut p = pod("d", "x", true, "web", 8080);
            p.status.as_mut().unwrap().pod_ip = None;
            p
        };
        let s = subsets(&svc, &[&a, &b, &c, &no_ip]);
        assert_eq!(s.len(), 2, "two port sets");
        assert_eq!(s[0].ports[0].port, 8080);
        assert_eq!(s[0].addresses.len(), 1);
        assert_eq!(s[0].addresses[0].ip, "10.0.0.2");
        assert_eq!(s[0].not_ready_addresses[0].ip, "10.0.0.1");
        assert_eq!(s[1].ports[0].port, 9090);
    }
}
