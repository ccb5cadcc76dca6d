//! Rules for Services, Endpoints and Nodes.

use std::collections::HashSet;
use std::net::IpAddr;

use super::{Violations, meta, names};
use crate::manifest::FieldPath;
use crate::model::{Endpoints, IntOrString, Node, ServiceSpec};

pub fn service(spec: &ServiceSpec, at: &FieldPath, v: &mut Violations) {
    meta::labels(&spec.selector, &at.field("selector"), v);
    let headless = spec.cluster_ip.as_deref() == Some("None");
    if spec.ports.is_empty() && !headless {
        v.add_hint(
            at.field("ports"),
            "a Service needs at least one port",
            "add `ports: [{port: 80, targetPort: 8080}]`",
        );
    }
    let mut seen = HashSet::new();
    for (i, p) in spec.ports.iter().enumerate() {
        let pat = at.field("ports").index(i);
        v.range(pat.field("port"), p.port.into(), 1, 65535);
        match &p.name {
            Some(n) => {
                if let Err(why) = names::dns_label(n) {
                    v.add(pat.field("name"), format!("invalid name {n:?}: {why}"));
                } else if !seen.insert(n.as_str()) {
                    v.add_hint(
                        pat.field("name"),
                        format!("duplicate port name {n:?}"),
                        "each port of a Service needs its own name",
                    );
                }
            }
            None if spec.ports.len() > 1 => v.add_hint(
                pat.field("name"),
                "missing field `name`: a Service with several ports must name each",
                "add `name: http` (or similar)",
            ),
            None => {}
        }
        match &p.target_port {
            Some(IntOrString::Int(n)) => v.range(pat.field("targetPort"), (*n).into(), 1, 65535),
            Some(IntOrString::String(s)) => {
                if let Err(why) = names::port_name(s) {
                    v.add(
                        pat.field("targetPort"),
                        format!("invalid port name {s:?}: {why}"),
                    );
                }
            }
            None => {}
        }
        if let Some(n) = p.node_port {
            v.range(pat.field("nodePort"), n.into(), 1, 65535);
        }
    }
    if let Some(ip) = &spec.cluster_ip
        && !headless
        && !ip.is_empty()
        && ip.parse::<IpAddr>().is_err()
    {
        v.add(
            at.field("clusterIP"),
            format!("invalid value {ip:?}: must be an IP address or `None`"),
        );
    }
}

pub fn endpoints(e: &Endpoints, v: &mut Violations) {
    for (i, s) in e.subsets.iter().enumerate() {
        let sat = FieldPath::root().field("subsets").index(i);
        for (list, field) in [
            (&s.addresses, "addresses"),
            (&s.not_ready_addresses, "notReadyAddresses"),
        ] {
            for (j, a) in list.iter().enumerate() {
                if a.ip.parse::<IpAddr>().is_err() {
                    v.add(
                        sat.field(field).index(j).field("ip"),
                        format!("invalid value {:?}: not an IP address", a.ip),
                    );
                }
            }
        }
        for (j, p) in s.ports.iter().enumerate() {
            v.range(
                sat.field("ports").index(j).field("port"),
                p.port.into(),
                1,
                65535,
            );
        }
    }
}

pub fn node(n: &Node, v: &mut Violations) {
    for (i, t) in n.spec.taints.iter().enumerate() {
        if let Err(why) = names::label_key(&t.key) {
            v.add(
                FieldPath::parse_dotted("spec.taints").index(i).field("key"),
                format!("invalid taint key {:?}: {why}", t.key),
            );
        }
    }
}
