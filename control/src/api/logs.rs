//! LogService: a pod's container log, read on the pod's node and relayed by whichever
//! member the client asked, as the Kubernetes API server proxies `pods/log` to the kubelet.

use std::pin::Pin;

use skiff_proto::Kind;
use skiff_proto::Object;
use skiff_proto::grpc::api::log_service_server::LogService;
use skiff_proto::grpc::api::{LogChunk, LogsRequest};
use skiff_proto::grpc::node::ContainerLogsRequest;
use skiff_proto::grpc::node::node_service_client::NodeServiceClient;
use skiff_proto::model::pod::Pod;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::status;
use crate::store::{StoreHandle, key};

/// Serves the log API of one member.
pub struct LogApi {
    pub store: StoreHandle,
    /// Dials the node agents (TLS, this member's certificate).
    pub dialer: skiff_pki::Dialer,
}

impl LogApi {
    async fn object(&self, kind: Kind, namespace: &str, name: &str) -> Result<Object, Status> {
        let k = key::make(kind, namespace, name);
        match self.store.state().get(&k).map_err(status::store)? {
            Some(s) => Ok(s.object),
            None if namespace.is_empty() => {
                Err(Status::not_found(format!("{kind} {name} not found")))
            }
            None => Err(Status::not_found(format!(
                "{kind} {namespace}/{name} not found"
            ))),
        }
    }
}

/// The container to read: the one named, or the pod's only one.
fn container(pod: &Pod, asked: &str) -> Result<String, Status> {
    let names: Vec<&str> = pod
        .spec
        .init_containers
        .iter()
        .chain(&pod.spec.containers)
        .map(|c| c.name.as_str())
        .collect();
    let listed = || format!("[{}]", names.join(" "));
    if asked.is_empty() {
        return match pod.spec.containers.as_slice() {
            [only] => Ok(only.name.clone()),
            _ => Err(Status::invalid_argument(format!(
                "a container name must be specified for pod {}, choose one of: {}",
                pod.metadata.name,
                listed()
            ))),
        };
    }
    if names.contains(&asked) {
        Ok(asked.to_owned())
    } else {
        Err(Status::invalid_argument(format!(
            "container {asked} is not valid for pod {}, choose one of: {}",
            pod.metadata.name,
            listed()
        )))
    }
}

type Chunks = Pin<Box<dyn Stream<Item = Result<LogChunk, Status>> + Send>>;

#[tonic::async_trait]
impl LogService for LogApi {
    type LogsStream = Chunks;

    async fn logs(&self, request: Request<LogsRequest>) -> Result<Response<Chunks>, Status> {
        let r = request.into_inner();
        let namespace = if r.namespace.is_empty() {
            "default".to_owned()
        } else {
            r.namespace.clone()
        };
        self.store.linearizable().await.map_err(status::write)?;
        let Object::Pod(pod) = self.object(Kind::Pod, &namespace, &r.pod).await? else {
            return Err(Status::internal("a pod key held another kind"));
        };
        let container = container(&pod, &r.container)?;
        let Some(node_name) = pod.spec.node_name.clone().filter(|n| !n.is_empty()) else {
            return Err(Status::failed_precondition(format!(
                "pod {namespace}/{} is not on a node yet, so it has no logs; `skiff describe pod {}` shows why",
                r.pod, r.pod
            )));
        };
        let node = match self.object(Kind::Node, "", &node_name).await {
            Ok(Object::Node(n)) => n,
            Ok(_) => return Err(Status::internal("a node key held another kind")),
            Err(_) => {
                return Err(Status::unavailable(format!(
                    "pod {namespace}/{} is bound to node {node_name}, which is not registered",
                    r.pod
                )));
            }
        };
        let Some(address) = node.status.as_ref().and_then(|s| s.agent_address()) else {
            return Err(Status::unavailable(format!(
                "node {node_name} reports no agent endpoint (an agent older than this server?)"
            )));
        };
        let channel = self.dialer.node(&node_name, &address).await.map_err(|e| {
            Status::unavailable(format!(
                "node {node_name}'s agent at {address} cannot be reached: {e}"
            ))
        })?;
        let forwarded = ContainerLogsRequest {
            namespace: namespace.clone(),
            pod: r.pod.clone(),
            pod_uid: pod.metadata.uid.clone().unwrap_or_default(),
            container,
            query: Some(LogsRequest { namespace, ..r }),
        };
        let stream = NodeServiceClient::new(channel)
            .container_logs(forwarded)
            .await?
            .into_inner();
        Ok(Response::new(Box::pin(stream)))
    }
}
