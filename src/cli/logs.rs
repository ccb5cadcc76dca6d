//! `skiff logs POD|KIND/NAME|-l SELECTOR [-c CONTAINER] [-f] [--previous] [--since D]
//! [--tail N]`: containers' logs, read on the pods' nodes and relayed by the API server,
//! as `kubectl logs` prints them. A workload or a selector names many pods: each is
//! read (and with `-f` followed) at once, each line prefixed `[pod/NAME/CONTAINER]`.

use std::io::Write;
use std::process::ExitCode;

use skiff_proto::grpc::api::log_service_client::LogServiceClient;
use skiff_proto::grpc::api::{GetRequest, ListRequest, LogsRequest, ObjectKey};
use skiff_proto::model::selector::LabelSelector;
use skiff_proto::{Kind, Object};
use tokio::sync::mpsc;

use super::LogsArgs;
use super::client::{self, Conn, Failure, refused};
use super::get::object;

/// What the argument names: one pod, or the pods of a workload.
#[derive(Debug, PartialEq, Eq)]
enum Named<'a> {
    Pod(&'a str),
    Workload(Kind, &'a str),
}

/// `NAME`, `pod/NAME`, or `KIND/NAME` of a workload with pods.
fn named(arg: &str) -> Result<Named<'_>, Failure> {
    let Some((kind, name)) = arg.split_once('/') else {
        return Ok(Named::Pod(arg));
    };
    let bad = || {
        Failure::User(format!(
            "{arg:?}: logs are read from pods; name one as NAME or pod/NAME, or a workload as deploy/NAME, rs/NAME, job/NAME or ds/NAME"
        ))
    };
    if name.is_empty() {
        return Err(bad());
    }
    match Kind::lookup(kind) {
        Some(Kind::Pod) => Ok(Named::Pod(name)),
        Some(k @ (Kind::Deployment | Kind::ReplicaSet | Kind::Job | Kind::DaemonSet)) => {
            Ok(Named::Workload(k, name))
        }
        _ => Err(bad()),
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

/// The pod names (and each one's containers) a workload or selector names.
async fn pods_of(
    channel: &Conn,
    namespace: &str,
    workload: Option<(Kind, &str)>,
    labels: Option<&str>,
) -> Result<Vec<(String, Vec<String>)>, Failure> {
    let mut api =
        skiff_proto::grpc::api::object_service_client::ObjectServiceClient::new(channel.clone());
    let selector: Option<LabelSelector> = match workload {
        Some((kind, name)) => {
            let r = api
                .get(GetRequest {
                    key: Some(ObjectKey {
                        kind: kind.name().into(),
                        namespace: namespace.into(),
                        name: name.into(),
                    }),
                    ..Default::default()
                })
                .await
                .map_err(|s| refused(&format!("{}/{name}", kind.name().to_lowercase()), &s))?;
            let o = match r.into_inner().object {
                Some(env) => object(&env)?,
                None => return Ok(Vec::new()),
            };
            Some(match o {
                Object::Deployment(d) => d.spec.selector,
                Object::ReplicaSet(rs) => rs.spec.selector,
                Object::DaemonSet(ds) => ds.spec.selector,
                Object::Job(j) => j.spec.selector.unwrap_or_default(),
                _ => return Ok(Vec::new()),
            })
        }
        None => None,
    };
    let list = api
        .list(ListRequest {
            kind: Kind::Pod.name().into(),
            namespace: namespace.into(),
            label_selector: labels.unwrap_or_default().into(),
            ..Default::default()
        })
        .await
        .map_err(|s| refused("listing pods", &s))?
        .into_inner();
    let mut out = Vec::new();
    for env in &list.items {
        if let Object::Pod(p) = object(env)?
            && selector
                .as_ref()
                .is_none_or(|s| !s.is_empty() && s.matches(&p.metadata.labels))
        {
            let containers = p.spec.containers.iter().map(|c| c.name.clone()).collect();
            out.push((p.metadata.name, containers));
        }
    }
    out.sort();
    Ok(out)
}

pub async fn run(a: &LogsArgs) -> Result<ExitCode, Failure> {
    if a.since.is_some() && a.since_time.is_some() {
        return Err(Failure::User(
            "give --since or --since-time, not both".into(),
        ));
    }
    let namespace = a
        .server
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let request = LogsRequest {
        namespace: namespace.clone(),
        pod: String::new(),
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
    let named = a.pod.as_deref().map(named).transpose()?;
    let (workload, one) = match named {
        Some(Named::Pod(p)) => (None, Some(p)),
        Some(Named::Workload(k, n)) => (Some((k, n)), None),
        None => (None, None),
    };
    if let Some(pod) = one {
        let r = LogsRequest {
            pod: pod.to_owned(),
            ..request
        };
        return one_pod(&channel, r).await;
    }
    let pods = pods_of(&channel, &namespace, workload, a.selector.as_deref()).await?;
    let streams: Vec<(String, String)> = pods
        .into_iter()
        .flat_map(|(pod, containers)| {
            let chosen = match &a.container {
                Some(c) => vec![c.clone()],
                None => containers,
            };
            chosen.into_iter().map(move |c| (pod.clone(), c))
        })
        .collect();
    if streams.is_empty() {
        eprintln!("No pods found in namespace {namespace}.");
        return Ok(ExitCode::SUCCESS);
    }
    if a.follow && streams.len() > a.max_log_requests {
        return Err(Failure::User(format!(
            "you are attempting to follow {} log streams, but the most allowed at once is {}; use --max-log-requests to raise it",
            streams.len(),
            a.max_log_requests
        )));
    }
    many_pods(&channel, &request, streams).await
}

/// One pod's log, copied as it comes.
async fn one_pod(channel: &Conn, request: LogsRequest) -> Result<ExitCode, Failure> {
    let mut stream = LogServiceClient::new(channel.clone())
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

/// Many pods' logs at once, line by line, each prefixed with its pod and container.
async fn many_pods(
    channel: &Conn,
    request: &LogsRequest,
    streams: Vec<(String, String)>,
) -> Result<ExitCode, Failure> {
    let (tx, mut rx) = mpsc::channel::<Result<Vec<u8>, String>>(256);
    for (pod, container) in streams {
        let prefix = format!("[pod/{pod}/{container}] ");
        let r = LogsRequest {
            pod,
            container,
            ..request.clone()
        };
        let (channel, tx) = (channel.clone(), tx.clone());
        tokio::spawn(async move {
            let stream = LogServiceClient::new(channel).logs(r).await;
            let mut stream = match stream {
                Ok(s) => s.into_inner(),
                Err(s) => {
                    let _ = tx.send(Err(format!("{prefix}{}", s.message()))).await;
                    return;
                }
            };
            let mut partial: Vec<u8> = Vec::new();
            while let Ok(Some(chunk)) = stream.message().await {
                partial.extend_from_slice(&chunk.data);
                while let Some(i) = partial.iter().position(|b| *b == b'\n') {
                    let mut line = prefix.clone().into_bytes();
                    line.extend(partial.drain(..=i));
                    if tx.send(Ok(line)).await.is_err() {
                        return;
                    }
                }
            }
            if !partial.is_empty() {
                let mut line = prefix.into_bytes();
                line.append(&mut partial);
                line.push(b'\n');
                let _ = tx.send(Ok(line)).await;
            }
        });
    }
    drop(tx);
    let mut failed = false;
    let mut out = std::io::stdout().lock();
    while let Some(m) = rx.recv().await {
        match m {
            Ok(line) => {
                if out.write_all(&line).and_then(|()| out.flush()).is_err() {
                    return Ok(ExitCode::SUCCESS);
                }
            }
            Err(why) => {
                eprintln!("{why}");
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_and_workloads_are_told_apart() {
        assert_eq!(named("web-1").unwrap(), Named::Pod("web-1"));
        assert_eq!(named("po/web-1").unwrap(), Named::Pod("web-1"));
        assert_eq!(
            named("deploy/web").unwrap(),
            Named::Workload(Kind::Deployment, "web")
        );
        assert_eq!(named("job/j").unwrap(), Named::Workload(Kind::Job, "j"));
        for bad in ["svc/web", "deploy/", "nosuch/x"] {
            assert!(named(bad).is_err(), "{bad}");
        }
    }
}
