//! `skiff logs POD [-c CONTAINER] [-f] [--previous] [--since D] [--tail N]`: a container's
//! log, read on the pod's node and relayed by the API server, as `kubectl logs` prints it.

use std::io::Write;
use std::process::ExitCode;

use skiff_proto::Kind;
use skiff_proto::grpc::api::LogsRequest;
use skiff_proto::grpc::api::log_service_client::LogServiceClient;

use super::LogsArgs;
use super::client::{self, Failure, refused};

/// `NAME`, `pod/NAME` or `po/NAME`.
fn pod_name(arg: &str) -> Result<&str, Failure> {
    match arg.split_once('/') {
        None => Ok(arg),
        Some((kind, name)) if Kind::lookup(kind) == Some(Kind::Pod) && !name.is_empty() => Ok(name),
        Some(_) => Err(Failure::User(format!(
            "{arg:?}: logs are read from pods; name one as NAME or pod/NAME"
        ))),
    }
}

/// kubectl's duration words: `30s`, `5m`, `2h`, `1h30m`.
fn since_seconds(text: &str) -> Result<i64, Failure> {
    let d = humantime::parse_duration(text).map_err(|e| {
        Failure::User(format!(
            "--since {text:?}: {e}; write a duration such as 30s, 5m or 2h"
        ))
    })?;
    Ok(i64::try_from(d.as_secs()).unwrap_or(i64::MAX).max(1))
}

pub async fn run(a: &LogsArgs) -> Result<ExitCode, Failure> {
    let pod = pod_name(&a.pod)?.to_owned();
    if a.since.is_some() && a.since_time.is_some() {
        return Err(Failure::User(
            "give --since or --since-time, not both".into(),
        ));
    }
    let request = LogsRequest {
        namespace: a
            .server
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into()),
        pod,
        container: a.container.clone().unwrap_or_default(),
        follow: a.follow,
        previous: a.previous,
        since_seconds: a
            .since
            .as_deref()
            .map(since_seconds)
            .transpose()?
            .unwrap_or(0),
        since_time: a.since_time.clone().unwrap_or_default(),
        tail_lines: a.tail.filter(|n| *n >= 0),
        timestamps: a.timestamps,
    };
    let channel = client::channel(&client::server(&a.server)).await?;
    let mut stream = LogServiceClient::new(channel)
        .logs(request)
        .await
        .map_err(|s| refused("reading logs", &s))?
        .into_inner();
    let mut out = std::io::stdout().lock();
    loop {
        match stream.message().await {
            Ok(Some(chunk)) => {
                // A closed pipe (`skiff logs ... | head`) ends the command quietly.
                if out
                    .write_all(&chunk.data)
                    .and_then(|()| out.flush())
                    .is_err()
                {
                    return Ok(ExitCode::SUCCESS);
                }
            }
            Ok(None) => return Ok(ExitCode::SUCCESS),
            Err(s) => return Err(refused("reading logs", &s)),
        }
    }
}
