//! The agent's own API (`proto/node.proto`), which the control plane calls: container logs
//! read from this node's disk, and what the node and its pods use and are asked.

use std::path::PathBuf;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use skiff_proto::grpc::api::{LogChunk, LogsRequest};
use skiff_proto::grpc::node::node_service_server::NodeService;
use skiff_proto::grpc::node::{ContainerLogsRequest, StatsRequest, StatsResponse};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use crate::Error;
use crate::logs::{self, LogPolicy, LogQuery};

/// Serves one node's API.
pub struct NodeApi {
    pub data_dir: PathBuf,
    pub logs: LogPolicy,
    pub stats: std::sync::Arc<super::stats::Stats>,
}

/// A name that is one path component: not empty, no `/`, not `.` or `..`.
fn component<'a>(what: &str, s: &'a str) -> Result<&'a str, Status> {
    if s.is_empty() || s.contains('/') || s == "." || s == ".." || s.contains('\0') {
        return Err(Status::invalid_argument(format!(
            "{what} {s:?} is not a valid name"
        )));
    }
    Ok(s)
}

/// The query as the log reader takes it.
pub fn query(q: &LogsRequest, now: SystemTime) -> Result<LogQuery, Status> {
    let mut since = None;
    if q.since_seconds > 0 {
        since = now.checked_sub(Duration::from_secs(q.since_seconds.unsigned_abs()));
    }
    if !q.since_time.is_empty() {
        let t = humantime::parse_rfc3339_weak(&q.since_time).map_err(|e| {
            Status::invalid_argument(format!(
                "since time {:?}: {e}; write it as RFC 3339, e.g. 2026-11-26T08:00:00Z",
                q.since_time
            ))
        })?;
        since = Some(since.map_or(t, |s: SystemTime| s.max(t)));
    }
    let tail = match q.tail_lines {
        Some(n) if n < 0 => None,
        Some(n) => Some(n.unsigned_abs()),
        None => None,
    };
    Ok(LogQuery {
        previous: q.previous,
        since,
        tail,
        timestamps: q.timestamps,
        follow: q.follow,
    })
}

type Chunks = Pin<Box<dyn Stream<Item = Result<LogChunk, Status>> + Send>>;

#[tonic::async_trait]
impl NodeService for NodeApi {
    async fn stats(&self, _: Request<StatsRequest>) -> Result<Response<StatsResponse>, Status> {
        Ok(Response::new(self.stats.answer()))
    }

    type ContainerLogsStream = Chunks;

    async fn container_logs(
        &self,
        request: Request<ContainerLogsRequest>,
    ) -> Result<Response<Chunks>, Status> {
        let r = request.into_inner();
        let folder = format!(
            "{}_{}_{}",
            component("namespace", &r.namespace)?,
            component("pod", &r.pod)?,
            component("pod uid", &r.pod_uid)?
        );
        let container = component("container", &r.container)?;
        let pod_dir = self.data_dir.join("pods").join(folder);
        let q = query(&r.query.unwrap_or_default(), SystemTime::now())?;
        let rx = logs::read(logs::container_dir(&pod_dir, container), q, self.logs).map_err(
            |e| match e {
                // Not the pod's absence: a run that is not there (the REST API answers 400,
                // BadRequest, as Kubernetes does).
                Error::LogNotFound { what } => Status::invalid_argument(format!(
                    "container {container} of pod {}/{}: {what}",
                    r.namespace, r.pod
                )),
                other => Status::internal(other.to_string()),
            },
        )?;
        let chunks = ReceiverStream::new(rx).map(|data| Ok(LogChunk { data }));
        Ok(Response::new(Box::pin(chunks)))
    }
}
