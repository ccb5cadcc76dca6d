//! kubectl-like tables for `skiff get`: per kind, the columns users of Kubernetes expect
//! (NAME, READY, STATUS, RESTARTS, AGE, NODE for pods, ...), aligned.

use skiff_proto::Object;
use skiff_proto::model::values::Time;
use skiff_proto::model::{ConditionStatus, Ingress};

/// Column headers for `kind` (`wide` adds the extra ones `-o wide` shows).
fn headers(o: &Object, wide: bool) -> Vec<&'static str> {
    let mut h = vec!["NAME"];
    h.extend(match o {
        Object::Pod(_) => vec!["READY", "STATUS", "RESTARTS", "AGE"],
        Object::Deployment(_) => vec!["READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
        Object::ReplicaSet(_) => vec!["DESIRED", "CURRENT", "READY", "AGE"],
        Object::Service(_) => vec!["TYPE", "CLUSTER-IP", "PORT(S)", "AGE"],
        Object::Node(_) => vec!["STATUS", "AGE"],
        Object::ConfigMap(_) | Object::Secret(_) => vec!["DATA", "AGE"],
        Object::Job(_) => vec!["COMPLETIONS", "AGE"],
        Object::DaemonSet(_) => vec!["DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AGE"],
        Object::PriorityClass(_) => vec!["VALUE", "GLOBAL-DEFAULT", "AGE"],
        Object::Ingress(_) => vec!["CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"],
        Object::HttpRoute(_) => vec!["HOSTNAMES", "AGE"],
        Object::KeyValue(_) => vec!["BUCKET", "KEY", "BYTES", "AGE"],
        _ => vec!["AGE"],
    });
    if wide && matches!(o, Object::Pod(_)) {
        h.push("NODE");
    }
    h
}

fn row(o: &Object, wide: bool, now: Time) -> Vec<String> {
    let m = o.metadata();
    let age = m
        .creation_timestamp
        .map(|t| age(now.unix_seconds.saturating_sub(t.unix_seconds)))
        .unwrap_or_else(|| "<unknown>".into());
    let mut r = vec![m.name.clone()];
    match o {
        Object::Pod(p) => {
            let statuses = p
                .status
                .as_ref()
                .map(|s| &s.container_statuses[..])
                .unwrap_or(&[]);
            let ready = statuses.iter().filter(|c| c.ready).count();
            let restarts: u32 = statuses.iter().map(|c| c.restart_count).sum();
            r.extend([
                format!("{ready}/{}", p.spec.containers.len()),
                pod_status(p),
                restarts.to_string(),
                age,
            ]);
            if wide {
                r.push(p.spec.node_name.clone().unwrap_or_else(|| "<none>".into()));
            }
        }
        Object::Deployment(d) => {
            let s = d.status.clone().unwrap_or_default();
            let want = d.spec.replicas.unwrap_or(1);
            r.extend([
                format!("{}/{want}", s.ready_replicas),
                s.updated_replicas.to_string(),
                s.available_replicas.to_string(),
                age,
            ]);
        }
        Object::ReplicaSet(rs) => {
            let s = rs.status.clone().unwrap_or_default();
            r.extend([
                rs.spec.replicas.unwrap_or(1).to_string(),
                s.replicas.to_string(),
                s.ready_replicas.to_string(),
                age,
            ]);
        }
        Object::Service(s) => {
            let ports: Vec<String> = s
                .spec
                .ports
                .iter()
                .map(|p| format!("{}/{:?}", p.port, p.protocol.unwrap_or_default()).to_uppercase())
                .collect();
            r.extend([
                format!("{:?}", s.spec.type_.unwrap_or_default()),
                s.spec.cluster_ip.clone().unwrap_or_else(|| "<none>".into()),
                if ports.is_empty() {
                    "<none>".into()
                } else {
                    ports.join(",")
                },
                age,
            ]);
        }
        Object::Node(n) => {
            let ready = n
                .status
                .as_ref()
                .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
                .map(|c| c.status);
            let mut status = match ready {
                Some(ConditionStatus::True) => "Ready",
                Some(ConditionStatus::False) => "NotReady",
                _ => "Unknown",
            }
            .to_owned();
            if n.spec.unschedulable == Some(true) {
                status.push_str(",SchedulingDisabled");
            }
            r.extend([status, age]);
        }
        Object::ConfigMap(c) => r.extend([c.data.len().to_string(), age]),
        Object::Secret(s) => r.extend([(s.data.len() + s.string_data.len()).to_string(), age]),
        Object::Job(j) => {
            let done = j.status.as_ref().map_or(0, |s| s.succeeded);
            r.extend([format!("{done}/{}", j.spec.completions.unwrap_or(1)), age]);
        }
        Object::DaemonSet(d) => {
            let s = d.status.clone().unwrap_or_default();
            r.extend([
                s.desired_number_scheduled.to_string(),
                s.current_number_scheduled.to_string(),
                s.number_ready.to_string(),
                s.updated_number_scheduled.to_string(),
                age,
            ]);
        }
        Object::PriorityClass(c) => {
            r.extend([c.value.to_string(), c.global_default.to_string(), age]);
        }
        Object::Ingress(i) => r.extend(ingress_columns(i).into_iter().chain([age])),
        Object::HttpRoute(h) => r.extend([hosts(h.spec.hostnames.iter()), age]),
        Object::KeyValue(kv) => r.extend([
            kv.bucket.clone(),
            kv.key.clone(),
            kv.value.0.len().to_string(),
            age,
        ]),
        _ => r.push(age),
    }
    r
}

/// CLASS, HOSTS, ADDRESS and PORTS of an Ingress, as kubectl shows them.
fn ingress_columns(i: &Ingress) -> [String; 4] {
    let class = i.spec.ingress_class_name.as_deref().unwrap_or("<none>");
    let address: Vec<&str> = i
        .status
        .iter()
        .flat_map(|s| &s.load_balancer.ingress)
        .filter_map(|a| a.ip.as_deref().or(a.hostname.as_deref()))
        .collect();
    let ports = if i.spec.tls.is_empty() {
        "80"
    } else {
        "80, 443"
    };
    [
        class.to_owned(),
        hosts(i.spec.rules.iter().filter_map(|r| r.host.as_ref())),
        address.join(","),
        ports.to_owned(),
    ]
}

/// Host names, as kubectl lists them: `*` for none, the first three and a count.
fn hosts<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let names: Vec<&str> = names.map(String::as_str).collect();
    match names.len() {
        0 => "*".to_owned(),
        n if n > 3 => format!("{} + {} more...", names[..3].join(","), n - 3),
        _ => names.join(","),
    }
}

/// What `STATUS` shows for a pod: the first waiting or terminated reason, else the phase.
fn pod_status(p: &skiff_proto::model::pod::Pod) -> String {
    let Some(s) = &p.status else {
        return "Pending".into();
    };
    for c in &s.container_statuses {
        let waiting = c.state.waiting.as_ref().and_then(|w| w.reason.clone());
        let ended = c.state.terminated.as_ref().and_then(|t| t.reason.clone());
        if let Some(reason) = waiting.or(ended).filter(|r| !r.is_empty()) {
            return reason;
        }
    }
    format!("{:?}", s.phase)
}

/// `45s`, `3m`, `2h`, `5d`, as kubectl prints ages.
pub fn age(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// The table for `objects` (all of one kind), with NAMESPACE first when `namespaces`.
pub fn render(objects: &[Object], wide: bool, namespaces: bool) -> String {
    let Some(first) = objects.first() else {
        return String::new();
    };
    let now = Time::now();
    let mut rows = vec![
        headers(first, wide)
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>(),
    ];
    rows.extend(objects.iter().map(|o| row(o, wide, now)));
    if namespaces {
        rows[0].insert(0, "NAMESPACE".into());
        for (r, o) in rows[1..].iter_mut().zip(objects) {
            r.insert(0, o.metadata().namespace.clone());
        }
    }
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, cell)| format!("{cell:<w$}", w = widths[i]))
            .collect();
        out.push_str(line.join("   ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingress_hosts_read_like_kubectl() {
        let names: Vec<String> = [
            "a.example.com",
            "b.example.com",
            "c.example.com",
            "d.example.com",
        ]
        .map(String::from)
        .into();
        assert_eq!(hosts(names[..0].iter()), "*");
        assert_eq!(hosts(names[..2].iter()), "a.example.com,b.example.com");
        assert_eq!(
            hosts(names.iter()),
            "a.example.com,b.example.com,c.example.com + 1 more..."
        );
    }

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(
            [5, 119, 120, 7199, 7200, 172_800].map(age),
            ["5s", "119s", "2m", "119m", "2h", "2d"]
        );
    }
}
