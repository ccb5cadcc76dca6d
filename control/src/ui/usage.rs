//! The overview's figures that are not objects, read through the metrics API as the
//! logged-in user (so with their right to read metrics): each route's counts summed over
//! the nodes' routers, and each node's usage with its running Wasm and container pods and
//! what its pods request.

use axum::extract::{Request, State};
use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};
use skiff_proto::grpc::api::metrics_service_server::MetricsService;
use skiff_proto::grpc::api::{NodeMetricsRequest, RouteMetricsRequest};

use skiff_pki::Identity;

use super::{Ui, failure, json, unauthenticated};
use crate::auth::audit::Origin;

/// Who calls with `req`, and from where; or why they are not known.
fn caller(ui: &Ui, req: &Request) -> Result<(Identity, Origin), tonic::Status> {
    let who = ui.authenticate.identify_http(req)?;
    Ok((who, Origin::of_http(req)))
}

/// Calls the metrics API with `body` as `caller`; answers with `shown` of its answer, or
/// its refusal.
async fn as_caller<B, R, F>(
    caller: Result<(Identity, Origin), tonic::Status>,
    body: B,
    call: impl FnOnce(tonic::Request<B>) -> F,
    shown: impl FnOnce(R) -> Value,
) -> Response
where
    F: std::future::Future<Output = Result<tonic::Response<R>, tonic::Status>>,
{
    let (who, from) = match caller {
        Ok(c) => c,
        Err(s) => return unauthenticated(&s),
    };
    let mut r = tonic::Request::new(body);
    r.extensions_mut().insert(who);
    r.extensions_mut().insert(from);
    match call(r).await {
        Ok(r) => json(StatusCode::OK, &shown(r.into_inner())),
        Err(s) => {
            let (code, _) = crate::rest::code_and_reason(s.code());
            let code = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            failure(code, s.message().to_owned())
        }
    }
}

/// What each route was asked, summed over the nodes' routers
/// (`?namespace=NS`: one namespace's), as the logged-in user may read it.
pub(super) async fn routes(State(ui): State<Ui>, req: Request) -> Response {
    let namespace = crate::rest::query_map(req.uri().query())
        .remove("namespace")
        .unwrap_or_default();
    let body = RouteMetricsRequest { namespace };
    let usage = ui.usage.clone();
    as_caller(
        caller(&ui, &req),
        body,
        |r| async move { usage.route_metrics(r).await },
        |r| {
            let routes: Vec<_> = r
                .routes
                .into_iter()
                .map(|u| {
                    json!({
                        "kind": u.kind,
                        "namespace": u.namespace,
                        "name": u.name,
                        "requests": u.requests,
                        "errors": u.errors,
                        "latencyBuckets": u.latency_buckets,
                        "latencyBoundsMillis": u.latency_bounds_millis,
                    })
                })
                .collect();
            json!({
                "unixMillis": r.unix_millis,
                "routes": routes,
                "unreachable": r.unreachable,
            })
        },
    )
    .await
}

/// Each node's usage as metrics.k8s.io's NodeMetrics give it (`metadata.name`,
/// `usage.cpu`, `usage.memory`), with its running pods (`pods.wasm`, `pods.containers`)
/// and what its pods request beside what it offers (`requested`, for a caller who may
/// list every pod; `allocatable`).
pub(super) async fn nodes(State(ui): State<Ui>, req: Request) -> Response {
    let body = NodeMetricsRequest {
        label_selector: String::new(),
        with_requests: true,
    };
    let usage = ui.usage.clone();
    as_caller(
        caller(&ui, &req),
        body,
        |r| async move { usage.node_metrics(r).await },
        |r| {
            let with_requests = r.with_requests;
            let items: Vec<_> = r
                .nodes
                .into_iter()
                .map(|n| {
                    let mut item = json!({
                        "metadata": { "name": n.name },
                        "usage": {
                            "cpu": format!("{}m", n.cpu_millicores),
                            "memory": n.memory_bytes.to_string(),
                        },
                        "pods": { "wasm": n.wasm_pods, "containers": n.container_pods },
                        "allocatable": {
                            "cpu": format!("{}m", n.allocatable_cpu_millicores),
                            "memory": n.allocatable_memory_bytes.to_string(),
                        },
                    });
                    // Only for a caller who may list every pod.
                    if with_requests {
                        item["requested"] = json!({
                            "cpu": format!("{}m", n.requested_cpu_millicores),
                            "memory": n.requested_memory_bytes.to_string(),
                        });
                    }
                    item
                })
                .collect();
            json!({ "items": items, "unreachable": r.unreachable })
        },
    )
    .await
}
