//! `pods/NAME/log`: a container's log as plain text, streamed while `follow=true`, read
//! through the same guarded log service `skiff logs` uses (the pod's node serves it),
//! with kubectl's options: `container`, `follow`, `previous`, `sinceSeconds`, `sinceTime`,
//! `tailLines`, `timestamps`.

use std::convert::Infallible;

use bytes::Bytes;
use futures_util::StreamExt;
use skiff_pki::Identity;
use skiff_proto::grpc::api::LogsRequest;
use skiff_proto::grpc::api::log_service_server::LogService;
use tonic::Status;

use super::objects::as_caller;
use super::paths::Objects;
use super::reply::Reply;
use super::{Call, Rest};

fn number<T: std::str::FromStr>(call: &Call, name: &str) -> Result<Option<T>, Status> {
    call.query_str(name)
        .map(|v| {
            v.parse()
                .map_err(|_| Status::invalid_argument(format!("{name}={v:?} is not a number")))
        })
        .transpose()
}

/// Serves the log of the pod `at`.
pub async fn serve(rest: &Rest, who: Identity, at: &Objects, call: &Call) -> Result<Reply, Status> {
    let request = LogsRequest {
        namespace: at.namespace.clone().unwrap_or_default(),
        pod: at.name.clone().unwrap_or_default(),
        container: call.query_str("container").unwrap_or_default().into(),
        follow: call.flag("follow"),
        previous: call.flag("previous"),
        since_seconds: number(call, "sinceSeconds")?.unwrap_or(0),
        since_time: call.query_str("sinceTime").unwrap_or_default().into(),
        tail_lines: number(call, "tailLines")?,
        timestamps: call.flag("timestamps"),
    };
    // No such run (none before this one, say) is a 400, as in Kubernetes.
    let chunks = LogService::logs(&*rest.logs, as_caller(&who, request))
        .await
        .map_err(|s| match s.code() {
            tonic::Code::InvalidArgument => super::errors::bad_request(s.message()),
            _ => s,
        })?
        .into_inner();
    // A failure after the first bytes can only end the body.
    let body = chunks
        .take_while(|c| std::future::ready(c.is_ok()))
        .filter_map(|c| {
            std::future::ready(c.ok().map(|c| Ok::<_, Infallible>(Bytes::from(c.data))))
        });
    let mut r = Reply::new(axum::body::Body::from_stream(body));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain"),
    );
    Ok(r)
}
