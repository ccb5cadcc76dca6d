//! Printer columns: what `kubectl get` shows for each kind (NAME, READY, STATUS, RESTARTS,
//! AGE for pods, ...), as column definitions and the cells of one object. The CLI's tables
//! and (with the Kubernetes API) server-side `Table`s are both made from here; a kind
//! with no columns of its own shows NAME and AGE.

mod text;

pub use text::age;
use text::{event_cells, hosts, hpa_targets, ingress_columns, pod_status};

use crate::model::ConditionStatus;
use crate::model::values::Time;
use crate::{Kind, Object};

/// One column, as Kubernetes' `TableColumnDefinition` describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    /// `string` or `integer`, as OpenAPI types.
    pub type_: &'static str,
    /// `0`: always shown; `1`: only with `-o wide`.
    pub priority: u8,
    pub description: &'static str,
}

const fn col(name: &'static str, type_: &'static str, description: &'static str) -> Column {
    Column {
        name,
        type_,
        priority: 0,
        description,
    }
}

const NAME: Column = col("NAME", "string", "Name must be unique within a namespace.");
const AGE: Column = col("AGE", "string", "How long ago the object was created.");

/// The columns of a kind between NAME and AGE, and after AGE those `-o wide` adds.
type Own = (&'static [Column], &'static [Column]);

fn own(kind: Kind) -> Own {
    const S: &str = "string";
    const I: &str = "integer";
    match kind {
        Kind::Pod => {
            const C: Own = (
                &[
                    col("READY", S, "Ready containers of all containers."),
                    col(
                        "STATUS",
                        S,
                        "The first waiting or terminated reason, else the phase.",
                    ),
                    col("RESTARTS", I, "Restarts of all containers."),
                ],
                &[Column {
                    priority: 1,
                    ..col("NODE", S, "The node the pod is bound to.")
                }],
            );
            C
        }
        Kind::Deployment => {
            const C: Own = (
                &[
                    col("READY", S, "Ready replicas of those wanted."),
                    col("UP-TO-DATE", I, "Replicas of the current template."),
                    col("AVAILABLE", I, "Replicas available to serve."),
                ],
                &[],
            );
            C
        }
        Kind::ReplicaSet => {
            const C: Own = (
                &[
                    col("DESIRED", I, "Replicas wanted."),
                    col("CURRENT", I, "Replicas made."),
                    col("READY", I, "Replicas ready."),
                ],
                &[],
            );
            C
        }
        Kind::Service => {
            const C: Own = (
                &[
                    col("TYPE", S, "ClusterIP, NodePort or LoadBalancer."),
                    col("CLUSTER-IP", S, "The virtual address in the cluster."),
                    col("PORT(S)", S, "Ports and protocols."),
                ],
                &[],
            );
            C
        }
        Kind::Node => {
            const C: Own = (
                &[
                    col("STATUS", S, "Ready, NotReady or Unknown; cordoned."),
                    col(
                        "ROLES",
                        S,
                        "The node's node-role.kubernetes.io/<role> labels.",
                    ),
                ],
                &[
                    col("VERSION", S, "The node agent's version."),
                    Column {
                        priority: 1,
                        ..col("INTERNAL-IP", S, "The node's address in the cluster.")
                    },
                    Column {
                        priority: 1,
                        ..col("KERNEL-VERSION", S, "The node's kernel.")
                    },
                    Column {
                        priority: 1,
                        ..col("RUNTIMES", S, "The workload runtimes the node runs.")
                    },
                ],
            );
            C
        }
        Kind::ConfigMap | Kind::Secret => {
            const C: Own = (&[col("DATA", I, "Keys held.")], &[]);
            C
        }
        Kind::Job => {
            const C: Own = (
                &[col("COMPLETIONS", S, "Succeeded pods of those wanted.")],
                &[],
            );
            C
        }
        Kind::DaemonSet => {
            const C: Own = (
                &[
                    col("DESIRED", I, "Nodes that should run the pod."),
                    col("CURRENT", I, "Nodes running it."),
                    col("READY", I, "Nodes where it is ready."),
                    col("UP-TO-DATE", I, "Nodes running the current template."),
                ],
                &[],
            );
            C
        }
        Kind::PriorityClass => {
            const C: Own = (
                &[
                    col("VALUE", I, "The priority."),
                    col("GLOBAL-DEFAULT", S, "Whether pods without a class get it."),
                ],
                &[],
            );
            C
        }
        Kind::Ingress => {
            const C: Own = (
                &[
                    col("CLASS", S, "The ingress class."),
                    col("HOSTS", S, "The hosts of its rules."),
                    col("ADDRESS", S, "Where it is reachable."),
                    col("PORTS", S, "80, and 443 with TLS."),
                ],
                &[],
            );
            C
        }
        Kind::HttpRoute => {
            const C: Own = (&[col("HOSTNAMES", S, "The hostnames it matches.")], &[]);
            C
        }
        Kind::HorizontalPodAutoscaler => {
            const C: Own = (
                &[
                    col("REFERENCE", S, "What it scales (kind/name)."),
                    col("TARGETS", S, "Each metric: current / target."),
                    col("MINPODS", I, "The fewest replicas."),
                    col("MAXPODS", I, "The most replicas."),
                    col("REPLICAS", I, "Replicas now."),
                ],
                &[],
            );
            C
        }
        Kind::KeyValue => {
            const C: Own = (
                &[
                    col("BUCKET", S, "The wasi:keyvalue bucket."),
                    col("KEY", S, "The key."),
                    col("BYTES", I, "The value's length."),
                ],
                &[],
            );
            C
        }
        _ => (&[], &[]),
    }
}

/// An Event's columns, as Kubernetes prints them (no NAME: what happened comes first).
const EVENT: [Column; 5] = [
    col("LAST SEEN", "string", "When it last happened."),
    col("TYPE", "string", "Normal or Warning."),
    col("REASON", "string", "Why, in one word."),
    col("OBJECT", "string", "What it is about (kind/name)."),
    col("MESSAGE", "string", "What happened."),
];

/// Every column of `kind`: NAME, its own, AGE, then the wide ones.
pub fn columns(kind: Kind) -> Vec<Column> {
    if kind == Kind::Event {
        return EVENT.to_vec();
    }
    let (own, wide) = own(kind);
    let mut c = vec![NAME];
    c.extend_from_slice(own);
    c.push(AGE);
    c.extend_from_slice(wide);
    c
}

/// The cells of `o`, one per column of [`columns`] (`now` gives AGE).
pub fn cells(o: &Object, now: Time) -> Vec<String> {
    if let Object::Event(e) = o {
        return event_cells(e, now);
    }
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
            r.push(p.spec.node_name.clone().unwrap_or_else(|| "<none>".into()));
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
            let roles: Vec<&str> = n
                .metadata
                .labels
                .keys()
                .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/"))
                .filter(|r| !r.is_empty())
                .collect();
            let s = n.status.as_ref();
            let info = s.and_then(|s| s.node_info.as_ref());
            let none = || "<none>".to_owned();
            let runtimes: Vec<String> = s
                .map(|s| &s.runtimes[..])
                .unwrap_or_default()
                .iter()
                .map(|r| format!("{r:?}").to_ascii_lowercase())
                .collect();
            r.extend([
                status,
                if roles.is_empty() {
                    none()
                } else {
                    roles.join(",")
                },
                age,
                info.map_or_else(none, |i| i.agent_version.clone()),
                s.and_then(|s| s.addresses.iter().find(|a| a.type_ == "InternalIP"))
                    .map_or_else(none, |a| a.address.clone()),
                info.map_or_else(none, |i| i.kernel_version.clone()),
                if runtimes.is_empty() {
                    none()
                } else {
                    runtimes.join(",")
                },
            ]);
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
        Object::HorizontalPodAutoscaler(h) => {
            let s = h.status.clone().unwrap_or_default();
            r.extend([
                format!(
                    "{}/{}",
                    h.spec.scale_target_ref.kind, h.spec.scale_target_ref.name
                ),
                hpa_targets(h),
                h.spec.min_replicas.unwrap_or(1).to_string(),
                h.spec.max_replicas.to_string(),
                s.current_replicas.to_string(),
                age,
            ]);
        }
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

#[cfg(test)]
mod tests;
