//! The Skiff client side: the 1 KiB objects both systems store, writes through
//! `skiff.api.v1.ObjectService/Create`, and the leader from `skiff.raft.v1.Membership/Members`.

use std::time::Duration;

use anyhow::{Context, Result};
use skiff_proto::grpc::api::CreateRequest;
use skiff_proto::grpc::api::object_service_client::ObjectServiceClient;
use skiff_proto::grpc::raft::membership_client::MembershipClient;
use skiff_proto::grpc::raft::{MembersRequest, MembersResponse};
use tonic::transport::Channel;

use crate::cluster::Cluster;
use crate::{System, Writer};

/// The size of every object written, to Skiff and to etcd alike.
pub const OBJECT_BYTES: usize = 1024;

/// A ConfigMap named `name` in namespace `default`, as JSON, padded to exactly
/// [`OBJECT_BYTES`] (for names up to ~900 characters). etcd stores these same bytes.
pub fn manifest(name: &str) -> Vec<u8> {
    let head = format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}","namespace":"default"}},"data":{{"v":""#
    );
    let tail = r#""}}"#;
    let pad = OBJECT_BYTES.saturating_sub(head.len() + tail.len());
    let mut out = Vec::with_capacity(OBJECT_BYTES);
    out.extend_from_slice(head.as_bytes());
    out.resize(head.len() + pad, b'x');
    out.extend_from_slice(tail.as_bytes());
    out
}

/// Skiff, driven through its object API.
pub struct Skiff;

#[derive(Clone)]
pub struct SkiffWriter {
    objects: ObjectServiceClient<Channel>,
}

impl Writer for SkiffWriter {
    async fn write(&self, name: String) -> Result<(), tonic::Status> {
        let mut c = self.objects.clone();
        c.create(CreateRequest {
            manifest: manifest(&name),
            ..Default::default()
        })
        .await
        .map(|_| ())
    }
}

/// `Members` from the member at `addr`, within a second.
pub async fn members(addr: &str) -> Result<MembersResponse> {
    let ask = async {
        let mut c = MembershipClient::new(crate::channel(addr).await?);
        let r = c
            .members(MembersRequest {})
            .await
            .with_context(|| format!("Membership/Members on {addr}"))?;
        anyhow::Ok(r.into_inner())
    };
    tokio::time::timeout(Duration::from_secs(1), ask)
        .await
        .with_context(|| format!("Membership/Members on {addr}: no answer within 1 s"))?
}

/// Member `i`'s own view of itself: (knows a leader, its applied index).
async fn own_view(cluster: &Cluster, i: usize) -> Result<(u64, u64)> {
    let r = members(&cluster.api[i]).await?;
    let own = r
        .members
        .iter()
        .find(|m| m.address == cluster.api[i])
        .map_or(0, |m| m.applied_index);
    Ok((r.leader_id, own))
}

impl System for Skiff {
    type W = SkiffWriter;
    const NAME: &'static str = "skiff";

    async fn connect(addr: &str) -> Result<SkiffWriter> {
        Ok(SkiffWriter {
            objects: ObjectServiceClient::new(crate::channel(addr).await?),
        })
    }

    async fn leader(cluster: &Cluster, among: &[usize]) -> Result<Option<usize>> {
        for &i in among {
            let Ok(r) = members(&cluster.api[i]).await else {
                continue;
            };
            if r.leader_id == 0 {
                continue;
            }
            let Some(m) = r.members.iter().find(|m| m.id == r.leader_id) else {
                continue;
            };
            let at = cluster.api.iter().position(|a| *a == m.address);
            if let Some(at) = at.filter(|at| among.contains(at)) {
                return Ok(Some(at));
            }
        }
        Ok(None)
    }

    async fn caught_up(cluster: &Cluster, member: usize) -> Result<bool> {
        let (leader_id, applied) = own_view(cluster, member).await?;
        if leader_id == 0 {
            return Ok(false);
        }
        let all: Vec<usize> = (0..cluster.api.len()).collect();
        let Some(leader) = Self::leader(cluster, &all).await? else {
            return Ok(false);
        };
        let (_, leader_applied) = own_view(cluster, leader).await?;
        Ok(applied >= leader_applied)
    }
}
