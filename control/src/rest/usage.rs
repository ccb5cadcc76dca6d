//! `metrics.k8s.io/v1beta1`, as metrics-server serves it, for `kubectl top`: PodMetrics
//! (`/apis/metrics.k8s.io/v1beta1/[namespaces/NS/]pods[/NAME]`) and NodeMetrics
//! (`.../nodes[/NAME]`), read live from the agents through the MetricsService (and so
//! authorized as `list` of metrics.k8s.io `pods` or `nodes`). Read-only.

use serde_json::{Value, json};
use skiff_pki::Identity;
use skiff_proto::grpc::api::metrics_service_server::MetricsService;
use skiff_proto::grpc::api::{NodeMetricsRequest, NodeUsage, PodMetricsRequest, PodUsage};
use tonic::Status;

use super::objects::as_caller;
use super::reply::{Reply, json_reply};
use super::{Call, Rest};

pub const GROUP: &str = "metrics.k8s.io";
pub const VERSION: &str = "v1beta1";

/// The resources of the group: plural, kind, namespaced.
pub const RESOURCES: [(&str, &str, bool); 2] = [
    ("pods", "PodMetrics", true),
    ("nodes", "NodeMetrics", false),
];

/// A request for the group's objects.
#[derive(Debug, PartialEq, Eq)]
pub struct At {
    pub pods: bool,
    /// Empty: every namespace (pods), or none (nodes).
    pub namespace: String,
    pub name: Option<String>,
}

/// The request `path` makes, if it is one of this group's.
pub fn at(path: &str) -> Option<At> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let at = |pods, namespace: &str, name: Option<&str>| {
        Some(At {
            pods,
            namespace: namespace.to_owned(),
            name: name.map(str::to_owned),
        })
    };
    match segs.as_slice() {
        ["apis", GROUP, VERSION, "pods"] => at(true, "", None),
        ["apis", GROUP, VERSION, "nodes"] => at(false, "", None),
        ["apis", GROUP, VERSION, "nodes", name] => at(false, "", Some(name)),
        ["apis", GROUP, VERSION, "namespaces", ns, "pods"] => at(true, ns, None),
        ["apis", GROUP, VERSION, "namespaces", ns, "pods", name] => at(true, ns, Some(name)),
        _ => None,
    }
}

fn time(unix_millis: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(unix_millis.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

fn window(millis: u32) -> String {
    format!("{}s", f64::from(millis) / 1000.0)
}

fn memory(bytes: u64) -> String {
    format!("{}Ki", bytes.div_ceil(1024))
}

fn pod_json(p: &PodUsage) -> Value {
    let containers: Vec<Value> = p
        .containers
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "usage": {"cpu": format!("{}m", c.cpu_millicores), "memory": memory(c.memory_bytes)},
            })
        })
        .collect();
    json!({
        "metadata": {"name": p.name, "namespace": p.namespace, "creationTimestamp": time(p.unix_millis)},
        "timestamp": time(p.unix_millis),
        "window": window(p.window_millis),
        "containers": containers,
    })
}

fn node_json(n: &NodeUsage) -> Value {
    json!({
        "metadata": {"name": n.name, "creationTimestamp": time(n.unix_millis)},
        "timestamp": time(n.unix_millis),
        "window": window(n.window_millis),
        "usage": {"cpu": format!("{}m", n.cpu_millicores), "memory": memory(n.memory_bytes)},
    })
}

/// Answers a GET of the group's objects.
pub async fn serve(rest: &Rest, who: Identity, at: At, call: &Call) -> Result<Reply, Status> {
    if call.method != "GET" {
        return Err(Status::unimplemented(format!(
            "{GROUP} is read-only: {} is not allowed",
            call.method
        )));
    }
    let selector = call
        .query_str("labelSelector")
        .unwrap_or_default()
        .to_owned();
    let api_version = format!("{GROUP}/{VERSION}");
    let (kind, items) = if at.pods {
        let r = MetricsService::pod_metrics(
            &*rest.usage,
            as_caller(
                &who,
                PodMetricsRequest {
                    namespace: at.namespace.clone(),
                    label_selector: selector,
                },
            ),
        )
        .await?
        .into_inner();
        let items: Vec<Value> = r
            .pods
            .iter()
            .filter(|p| at.name.as_ref().is_none_or(|n| *n == p.name))
            .map(pod_json)
            .collect();
        ("PodMetrics", items)
    } else {
        let r = MetricsService::node_metrics(
            &*rest.usage,
            as_caller(
                &who,
                NodeMetricsRequest {
                    label_selector: selector,
                    with_requests: false,
                },
            ),
        )
        .await?
        .into_inner();
        let items: Vec<Value> = r
            .nodes
            .iter()
            .filter(|n| at.name.as_ref().is_none_or(|x| *x == n.name))
            .map(node_json)
            .collect();
        ("NodeMetrics", items)
    };
    if let Some(name) = &at.name {
        let Some(mut one) = items.into_iter().next() else {
            let what = if at.pods { "pods" } else { "nodes" };
            return Err(Status::not_found(format!(
                "{what}.{GROUP} {name:?} not found (not running, or its node did not answer)"
            )));
        };
        one["kind"] = json!(kind);
        one["apiVersion"] = json!(api_version);
        return Ok(json_reply(200, &one));
    }
    Ok(json_reply(
        200,
        &json!({
            "kind": format!("{kind}List"),
            "apiVersion": api_version,
            "metadata": {},
            "items": items,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_pods_and_nodes() {
        let p = |s| at(s);
        assert_eq!(
            p("/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods"),
            Some(At {
                pods: true,
                namespace: "shop".into(),
                name: None
            })
        );
        assert_eq!(
            p("/apis/metrics.k8s.io/v1beta1/nodes/n1"),
            Some(At {
                pods: false,
                namespace: String::new(),
                name: Some("n1".into())
            })
        );
        assert!(p("/apis/metrics.k8s.io/v1beta1/services").is_none());
        assert!(p("/apis/apps/v1/deployments").is_none());
    }

    #[test]
    fn usage_is_written_as_metrics_server_writes_it() {
        let v = pod_json(&PodUsage {
            namespace: "ns".into(),
            name: "p".into(),
            unix_millis: 0,
            window_millis: 5_250,
            containers: vec![skiff_proto::grpc::api::ContainerUsage {
                name: "c".into(),
                cpu_millicores: 12,
                memory_bytes: 48 * 1024 + 1,
            }],
        });
        assert_eq!(v["window"], "5.25s");
        assert_eq!(v["timestamp"], "1970-01-01T00:00:00Z");
        assert_eq!(
            v["containers"][0]["usage"],
            json!({"cpu": "12m", "memory": "49Ki"})
        );
    }
}
