//! MetricsService: `skiff top`'s figures (and metrics.k8s.io's), read from the nodes that
//! run the pods asked about, all at once; a node that does not answer is named in
//! `unreachable` rather than failing the whole answer.

use std::collections::HashSet;
use std::sync::Arc;

use futures_util::future::join_all;
use skiff_proto::grpc::api::metrics_service_server::MetricsService;
use skiff_proto::grpc::api::*;
use skiff_proto::grpc::node::StatsResponse;
use skiff_proto::model::Node;
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

    /// Each of `nodes`' figures, or why not.
    async fn ask(&self, nodes: &[Node]) -> Vec<Result<StatsResponse, Status>> {
        join_all(nodes.iter().map(|n| self.nodes.stats(n))).await
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
        for (node, answer) in nodes.iter().zip(self.ask(&nodes).await) {
            let stats = match answer {
                Ok(s) => s,
                Err(e) => {
                    out.unreachable
                        .push(format!("{}: {}", node.metadata.name, e.message()));
                    continue;
                }
            };
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
        let sel = selector(&r.get_ref().label_selector)?;
        let nodes: Vec<Node> = self
            .nodes()?
            .into_iter()
            .filter(|n| sel.as_ref().is_none_or(|s| s.matches(&n.metadata.labels)))
            .collect();
        let mut out = NodeMetricsResponse::default();
        for (node, answer) in nodes.iter().zip(self.ask(&nodes).await) {
            let name = node.metadata.name.clone();
            let stats = match answer {
                Ok(s) => s,
                Err(e) => {
                    out.unreachable.push(format!("{name}: {}", e.message()));
                    continue;
                }
            };
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
            });
        }
        out.nodes.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Response::new(out))
    }
}
