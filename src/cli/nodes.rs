//! `skiff cordon|uncordon|drain NODE`, as kubectl's.
//! - `cordon` marks the node unschedulable: no new pods go there; `uncordon` undoes it.
//! - `drain` cordons, then evicts the node's pods so their controllers recreate them
//!   elsewhere, and waits until they are gone. DaemonSet pods would come straight back,
//!   so drain refuses while there are any unless `--ignore-daemonsets` (then they stay);
//!   a pod without a controller would be lost, so drain refuses it unless `--force`.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use super::client::Conn;
use clap::Args;
use skiff_proto::grpc::api::object_service_client::ObjectServiceClient;
use skiff_proto::grpc::api::{DeleteRequest, ListRequest, ObjectKey, ReadConsistency};
use skiff_proto::model::Pod;
use skiff_proto::{Kind, Object};

use super::ServerArgs;
use super::client::{self, Failure, refused};
use super::edit::Target;
use super::get::object;

#[derive(Debug, Args)]
pub struct NodeVerbArgs {
    pub node: String,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Debug, Args)]
pub struct DrainArgs {
    pub node: String,
    /// Leave DaemonSet pods where they are instead of refusing.
    #[arg(long)]
    pub ignore_daemonsets: bool,
    /// Also delete pods no controller would recreate.
    #[arg(long)]
    pub force: bool,
    /// Seconds to wait for the pods to go (0: as long as it takes).
    #[arg(long, default_value_t = 0)]
    pub timeout: u64,
    #[command(flatten)]
    pub server: ServerArgs,
}

fn node(name: &str) -> Target {
    Target {
        kind: Kind::Node,
        namespace: String::new(),
        name: name.to_owned(),
    }
}

async fn set_unschedulable(
    api: &mut ObjectServiceClient<Conn>,
    name: &str,
    on: bool,
) -> Result<bool, Failure> {
    let (_, changed) = node(name)
        .modify(api, |o| match o {
            Object::Node(n) if (n.spec.unschedulable == Some(true)) != on => {
                n.spec.unschedulable = on.then_some(true);
                Ok(true)
            }
            _ => Ok(false),
        })
        .await?;
    Ok(changed)
}

pub async fn cordon(a: &NodeVerbArgs, on: bool) -> Result<ExitCode, Failure> {
    let mut api = client::connect(&client::server(&a.server)).await?;
    let changed = set_unschedulable(&mut api, &a.node, on).await?;
    let word = if on { "cordoned" } else { "uncordoned" };
    if changed {
        println!("node/{} {word}", a.node);
    } else {
        println!("node/{} already {word}", a.node);
    }
    Ok(ExitCode::SUCCESS)
}

async fn pods_on(api: &mut ObjectServiceClient<Conn>, node: &str) -> Result<Vec<Pod>, Failure> {
    let r = api
        .list(ListRequest {
            kind: Kind::Pod.name().into(),
            field_selector: format!("spec.nodeName={node}"),
            consistency: ReadConsistency::Linearizable as i32,
            ..Default::default()
        })
        .await
        .map_err(|s| refused(&format!("listing the pods on {node}"), &s))?
        .into_inner();
    let mut out = Vec::new();
    for env in &r.items {
        if let Object::Pod(p) = object(env)? {
            out.push(p);
        }
    }
    Ok(out)
}

fn controller_kind(p: &Pod) -> Option<&str> {
    p.metadata.controller().map(|o| o.kind.as_str())
}

pub async fn drain(a: &DrainArgs) -> Result<ExitCode, Failure> {
    let mut api = client::connect(&client::server(&a.server)).await?;
    if set_unschedulable(&mut api, &a.node, true).await? {
        println!("node/{} cordoned", a.node);
    }
    let pods = pods_on(&mut api, &a.node).await?;
    let daemons: Vec<&Pod> = pods
        .iter()
        .filter(|p| controller_kind(p) == Some("DaemonSet"))
        .collect();
    let unmanaged: Vec<&Pod> = pods
        .iter()
        .filter(|p| controller_kind(p).is_none())
        .collect();
    let names = |ps: &[&Pod]| {
        ps.iter()
            .map(|p| format!("{}/{}", p.metadata.namespace, p.metadata.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut problems = Vec::new();
    if !daemons.is_empty() && !a.ignore_daemonsets {
        problems.push(format!(
            "cannot delete DaemonSet-managed pods (use --ignore-daemonsets to leave them): {}",
            names(&daemons)
        ));
    }
    if !unmanaged.is_empty() && !a.force {
        problems.push(format!(
            "cannot delete pods that no controller would recreate (use --force to delete them anyway): {}",
            names(&unmanaged)
        ));
    }
    if !problems.is_empty() {
        return Err(Failure::User(format!(
            "error: unable to drain node {}: {}",
            a.node,
            problems.join("; ")
        )));
    }
    let evict: Vec<&Pod> = pods
        .iter()
        .filter(|p| controller_kind(p) != Some("DaemonSet"))
        .collect();
    for p in &evict {
        println!("evicting pod {}/{}", p.metadata.namespace, p.metadata.name);
        let r = api
            .delete(DeleteRequest {
                key: Some(ObjectKey {
                    kind: Kind::Pod.name().into(),
                    namespace: p.metadata.namespace.clone(),
                    name: p.metadata.name.clone(),
                }),
                ..Default::default()
            })
            .await;
        match r {
            Ok(_) => {}
            Err(s) if s.code() == tonic::Code::NotFound => {}
            Err(s) => return Err(refused(&format!("evicting {}", p.metadata.name), &s)),
        }
    }
    let started = Instant::now();
    loop {
        let left: Vec<Pod> = pods_on(&mut api, &a.node)
            .await?
            .into_iter()
            .filter(|p| {
                controller_kind(p) != Some("DaemonSet")
                    && evict.iter().any(|e| e.metadata.uid == p.metadata.uid)
            })
            .collect();
        if left.is_empty() {
            break;
        }
        if a.timeout > 0 && started.elapsed() >= Duration::from_secs(a.timeout) {
            return Err(Failure::User(format!(
                "error: {} pods still on node {} after {} s",
                left.len(),
                a.node,
                a.timeout
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for p in &evict {
        println!("pod/{} evicted", p.metadata.name);
    }
    println!("node/{} drained", a.node);
    Ok(ExitCode::SUCCESS)
}
