//! `skiff control`: run a control-plane member. `skiff members`: list the members.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use skiff_control::peer::parse_initial_cluster;
use skiff_control::server::{self, MemberConfig};
use skiff_proto::grpc::raft::membership_client::MembershipClient;
use skiff_proto::grpc::raft::{MembersRequest, Role};

use super::{ControlArgs, MembersArgs};

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

pub fn run_member(a: ControlArgs) -> Result<ExitCode> {
    if a.id == 0 {
        bail!("--id 0 is reserved; number members from 1");
    }
    let Some(cluster) = &a.initial_cluster else {
        if a.join.is_some() {
            bail!(
                "--join is not available yet: start every member with the same --initial-cluster"
            );
        }
        bail!("give --initial-cluster 1=ADDR1,2=ADDR2,3=ADDR3 (the same on every founding member)");
    };
    let book =
        parse_initial_cluster(cluster).map_err(|e| anyhow::anyhow!("--initial-cluster: {e}"))?;
    let config = MemberConfig {
        id: a.id,
        data_dir: a.data_dir,
        listen: a.listen,
        initial_cluster: book,
        tick: Duration::from_millis(a.tick_ms.max(1)),
    };
    runtime()?.block_on(async {
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        server::run(config, shutdown).await
    })?;
    Ok(ExitCode::SUCCESS)
}

fn role_name(r: i32) -> &'static str {
    match Role::try_from(r).unwrap_or(Role::Unspecified) {
        Role::Leader => "leader",
        Role::Follower => "follower",
        Role::Learner => "learner",
        Role::Candidate => "candidate",
        Role::Unspecified => "?",
    }
}

pub fn members(a: &MembersArgs) -> Result<ExitCode> {
    runtime()?.block_on(async {
        let url = format!("http://{}", a.server);
        let Ok(mut client) = MembershipClient::connect(url).await else {
            eprintln!("cannot reach a control-plane member at {}: start one with `skiff control` (or `skiff dev`), or pass --server", a.server);
            return Ok(ExitCode::from(2));
        };
        let book = client.members(MembersRequest {}).await.context("asking for the members")?.into_inner();
        println!("{:<4} {:<22} {:<10} {:>6} {:>10}", "ID", "ADDRESS", "ROLE", "TERM", "APPLIED");
        for m in book.members {
            // Each member reports its own role, term and applied index.
            let own = async {
                let mut c = MembershipClient::connect(format!("http://{}", m.address)).await.ok()?;
                let r = tokio::time::timeout(Duration::from_secs(2), c.members(MembersRequest {})).await.ok()?.ok()?;
                r.into_inner().members.into_iter().find(|x| x.id == m.id)
            };
            match own.await {
                Some(s) => println!("{:<4} {:<22} {:<10} {:>6} {:>10}", m.id, m.address, role_name(s.role), s.term, s.applied_index),
                None => println!("{:<4} {:<22} {:<10} {:>6} {:>10}", m.id, m.address, "unreachable", "-", "-"),
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
