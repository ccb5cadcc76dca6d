//! `skiff scale KIND/NAME --replicas N`: sets the replica count of a Deployment or a
//! ReplicaSet, as `kubectl scale` does.

use std::process::ExitCode;

use clap::Args;
use skiff_proto::Object;

use super::ServerArgs;
use super::client::{self, Failure};
use super::edit::Target;

#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// `deployment/NAME` or `replicaset/NAME` (or the kind and the name as two words).
    pub target: String,
    pub name: Option<String>,
    #[arg(long)]
    pub replicas: u32,
    /// Only scale if the current count is this (a precondition, as kubectl's).
    #[arg(long)]
    pub current_replicas: Option<u32>,
    #[command(flatten)]
    pub server: ServerArgs,
}

pub async fn run(a: &ScaleArgs) -> Result<ExitCode, Failure> {
    let t = Target::parse(&a.target, a.name.as_deref(), a.server.namespace.as_deref())?;
    let want = i32::try_from(a.replicas)
        .map_err(|_| Failure::User(format!("--replicas {} is too large", a.replicas)))?;
    let mut api = client::connect(&client::server(&a.server)).await?;
    t.modify(&mut api, |o| {
        let replicas = match o {
            Object::Deployment(d) => &mut d.spec.replicas,
            Object::ReplicaSet(rs) => &mut rs.spec.replicas,
            other => {
                return Err(Failure::User(format!(
                    "{}: only deployments and replicasets can be scaled",
                    other.display_name()
                )));
            }
        };
        let now = replicas.unwrap_or(1);
        if let Some(expected) = a.current_replicas
            && i64::from(expected) != i64::from(now)
        {
            return Err(Failure::User(format!(
                "{}: expected {expected} replicas (--current-replicas), found {now}",
                t.display()
            )));
        }
        *replicas = Some(want);
        Ok(now != want)
    })
    .await?;
    println!("{} scaled", t.display());
    Ok(ExitCode::SUCCESS)
}
