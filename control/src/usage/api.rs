//! MetricsService: `skiff top`'s figures (and metrics.k8s.io's), read from the nodes that
//! run the pods asked about, all at once, and each route's counts summed over every node's
//! router (the dashboard's charts); a node that does not answer is named in `unreachable`
//! rather than failing the whole answer.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use futures_util::future::join_all;
use skiff_proto::grpc::api::metrics_service_server::MetricsService;
use skiff_proto::grpc::api::*;
use skiff_proto::grpc::node::StatsResponse;
use skiff_proto::model::Node;
use skiff_proto::model::pod::PodPhase;
use skiff_proto::{Kind, Object};
use tonic::{Request, Response, Status};

use super::NodeStats;
use crate::api::objects::selector;
use crate::api::status;
use crate::scheduler::resources::Resources;
use crate::store::StoreHandle;

/// Serves the metrics API of one member.
pub struct MetricsApi {
    pub store: StoreHandle,
    pub nodes: Arc<dyn NodeStats>,
}

impl MetricsApi {
    fn nodes(&self) -> Result<Vec<Node>, Status> {
        let (all, _) = self
            .store
            .state()
            .list(Kind::Node, None, None)
            .map_err(status::store)?;
        Ok(all
            .into_iter()
            .filter_map(|s| match s.object {
                Object::Node(n) => Some(n),
                _ => None,
            })
            .collect())
    }

    /// What the pods placed on each node and not finished request: CPU millicores and
    /// memory bytes, by node name (as `kubectl describe node` sums them).
    fn requested(&self) -> Result<BTreeMap<String, (u64, u64)>, Status> {
        let (pods, _) = self
            .store
            .state()
            .list(Kind::Pod, None, None)
            .map_err(status::store)?;
        let mut out: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for s in pods {
            let Object::Pod(p) = s.object else { continue };
            let finished = p
                .status
                .as_ref()
                .is_some_and(|st| matches!(st.phase, PodPhase::Succeeded | PodPhase::Failed));
            let Some(node) = p.spec.node_name.as_ref().filter(|n| !n.is_empty()) else {
                continue;
            };
            if finished {
                continue;
            }
            let r = Resources::of_pod(&p.spec);
            let sum = out.entry(node.clone()).or_default();
            sum.0 = sum
                .0
                .saturating_add(u64::try_from(r.milli_cpu).unwrap_or(0));
            sum.1 = sum.1.saturating_add(u64::try_from(r.memory).unwrap_or(0));
        }
        Ok(out)
    }

    /// The figures of each of `nodes` that answers; why not for the others, in
    /// `unreachable`.
    async fn ask<'a>(
        &self,
        nodes: &'a [Node],
        unreachable: &mut Vec<String>,
    ) -> Vec<(&'a Node, StatsResponse)> {
        let answers = join_all(nodes.iter().map(|n| self.nodes.stats(n))).await;
        let mut out = Vec::new();
        for (node, answer) in nodes.iter().zip(answers) {
            match answer {
                Ok(s) => out.push((node, s)),
                Err(e) => unreachable.push(format!("{}: {}", node.metadata.name, e.message())),
            }
        }
        out
    }
}

#[tonic::async_trait]
impl MetricsService for MetricsApi {
    async fn pod_metrics(
        &self,
        r: Request<PodMetricsRequest>,
    ) -> Result<Response<PodMetricsResponse>, Status> {
        let r = r.into_inner();
        let sel = selector(&r.label_selector)?;
        let ns = (!r.namespace.is_empty()).then_some(r.namespace.as_str());
        let (pods, _) = self
            .store
            .state()
            .list(Kind::Pod, ns, sel.as_ref())
            .map_err(status::store)?;
        // Only the nodes those pods are on.
        let mut wanted: HashSet<(String, String)> = HashSet::new();
        let mut on: HashSet<String> = HashSet::new();
        for s in &pods {
            if let Object::Pod(p) = &s.object
                && let Some(node) = p.spec.node_name.as_deref().filter(|n| !n.is_empty())
            {
                wanted.insert((p.metadata.namespace.clone(), p.metadata.name.clone()));
                on.insert(node.to_owned());
            }
        }
        let nodes: Vec<Node> = self
            .nodes()?
            .into_iter()
            .filter(|n| on.contains(&n.metadata.name))
            .collect();
        let mut out = PodMetricsResponse::default();
        for (_, stats) in self.ask(&nodes, &mut out.unreachable).await {
            for p in stats.pods {
                if !wanted.contains(&(p.namespace.clone(), p.name.clone())) {
                    continue;
                }
                out.pods.push(PodUsage {
                    containers: vec![ContainerUsage {
                        name: if p.container.is_empty() {
                            p.name.clone()
                        } else {
                            p.container.clone()
                        },
                        cpu_millicores: p.cpu_millicores,
                        memory_bytes: p.memory_bytes,
                    }],
                    namespace: p.namespace,
                    name: p.name,
                    unix_millis: stats.unix_millis,
                    window_millis: p.window_millis,
                });
            }
        }
        out.pods
            .sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        Ok(Response::new(out))
    }

    async fn node_metrics(
        &self,
        r: Request<NodeMetricsRequest>,
    ) -> Result<Response<NodeMetricsResponse>, Status> {
        let with_requests = r.get_ref().with_requests;
        let sel = selector(&r.get_ref().label_selector)?;
        let requested = if with_requests {
            self.requested()?
        } else {
            BTreeMap::new()
        };
        let nodes: Vec<Node> = self
            .nodes()?
            .into_iter()
            .filter(|n| sel.as_ref().is_none_or(|s| s.matches(&n.metadata.labels)))
            .collect();
        let mut out = NodeMetricsResponse {
            with_requests,
            ..Default::default()
        };
        for (node, stats) in self.ask(&nodes, &mut out.unreachable).await {
            let name = node.metadata.name.clone();
            let figures = stats.node.unwrap_or_default();
            let offers = node
                .status
                .as_ref()
                .map(|s| Resources::of_node(&s.allocatable))
                .unwrap_or_default();
            out.nodes.push(NodeUsage {
                name,
                unix_millis: stats.unix_millis,
                window_millis: figures.window_millis,
                cpu_millicores: figures.cpu_millicores,
                memory_bytes: figures.memory_bytes,
                allocatable_cpu_millicores: u64::try_from(offers.milli_cpu).unwrap_or(0),
                allocatable_memory_bytes: u64::try_from(offers.memory).unwrap_or(0),
                wasm_pods: figures.wasm_pods,
                container_pods: figures.container_pods,
                requested_cpu_millicores: requested.get(&node.metadata.name).map_or(0, |r| r.0),
                requested_memory_bytes: requested.get(&node.metadata.name).map_or(0, |r| r.1),
            });
        }
        out.nodes.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Response::new(out))
    }

    async fn route_metrics(
        &self,
        r: Request<RouteMetricsRequest>,
    ) -> Result<Response<RouteMetricsResponse>, Status> {
        let namespace = r.into_inner().namespace;
        let nodes = self.nodes()?;
        let mut out = RouteMetricsResponse::default();
        let mut routes: BTreeMap<(String, String, String), RouteUsage> = BTreeMap::new();
        for (_, stats) in self.ask(&nodes, &mut out.unreachable).await {
            out.unix_millis = out.unix_millis.max(stats.unix_millis);
            for s in stats.routes {
                let (Some((kind, ns, name)), Some(http)) = (route_of(&s.route), s.http) else {
                    continue;
                };
                if !namespace.is_empty() && ns != namespace {
                    continue;
                }
                let sum = routes
                    .entry((ns.to_owned(), kind.to_owned(), name.to_owned()))
                    .or_insert_with(|| RouteUsage {
                        kind: kind.to_owned(),
                        namespace: ns.to_owned(),
                        name: name.to_owned(),
                        latency_bounds_millis: http.latency_bounds_millis.clone(),
                        ..Default::default()
                    });
                sum.requests = sum.requests.saturating_add(http.requests);
                sum.errors = sum.errors.saturating_add(http.errors);
                // Every agent of this build counts in the same buckets; one that does not
                // (another version) adds none rather than wrong ones.
                if http.latency_bounds_millis == sum.latency_bounds_millis {
                    let b = &mut sum.latency_buckets;
                    b.resize(b.len().max(http.latency_buckets.len()), 0);
                    for (s, n) in b.iter_mut().zip(&http.latency_buckets) {
                        *s = s.saturating_add(*n);
                    }
                }
            }
        }
        out.routes = routes.into_values().collect();
        Ok(Response::new(out))
    }
}

/// `httproute/NS/NAME` or `ingress/NS/NAME` (a router's route label) as (kind, NS, NAME).
fn route_of(label: &str) -> Option<(&'static str, &str, &str)> {
    let (kind, rest) = label.split_once('/')?;
    let (ns, name) = rest.split_once('/')?;
    let kind = match kind {
        "httproute" => "HTTPRoute",
        "ingress" => "Ingress",
        _ => return None,
    };
    Some((kind, ns, name))
}

#[cfg(test)]
mod tests {
    use super::route_of;

    #[test]
    fn route_labels_name_their_kind_namespace_and_name() {
        assert_eq!(
            route_of("httproute/default/web"),
            Some(("HTTPRoute", "default", "web"))
        );
        assert_eq!(
            route_of("ingress/shop/front"),
            Some(("Ingress", "shop", "front"))
        );
        assert_eq!(route_of("-"), None);
        assert_eq!(route_of("service/default/web"), None);
    }
}
