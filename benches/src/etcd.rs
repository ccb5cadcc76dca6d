//! The etcd client side, over etcd's v3 gRPC API: `KV.Put` for writes and
//! `Maintenance.Status` for the leader. The messages are generated from
//! `proto/etcd_kv.proto`, a wire-compatible slice of etcd's `rpc.proto`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use tonic::transport::Channel;

use crate::cluster::Cluster;
use crate::{System, Writer};

/// Generated from `proto/etcd_kv.proto` (see `build.rs`).
#[allow(clippy::all, missing_docs)]
pub mod pb {
    tonic::include_proto!("etcdserverpb");
}

use pb::kv_client::KvClient;
use pb::maintenance_client::MaintenanceClient;
use pb::{PutRequest, StatusRequest, StatusResponse};

/// etcd, driven through its v3 API.
pub struct Etcd;

static PLAINTEXT: AtomicBool = AtomicBool::new(false);

/// From now on etcd clusters start, and are dialled, without TLS (`true`) or with mutual
/// TLS on client and peer links (`false`, the default).
pub fn set_plaintext(plaintext: bool) {
    PLAINTEXT.store(plaintext, Ordering::Relaxed);
}

/// Whether etcd runs without TLS (see [`set_plaintext`]).
pub fn plaintext() -> bool {
    PLAINTEXT.load(Ordering::Relaxed)
}

/// A gRPC channel to the etcd member at `addr`: plaintext, or TLS as the bench's admin
/// (etcd's serving certificate names the control plane, see [`crate::pki::etcd`]).
pub async fn channel(addr: &str) -> Result<Channel> {
    if plaintext() {
        return crate::plain_channel(addr).await;
    }
    crate::pki::admin_dialer()?
        .member(addr)
        .await
        .with_context(|| format!("connecting to etcd at {addr} over TLS"))
}

#[derive(Clone)]
pub struct EtcdWriter {
    kv: KvClient<Channel>,
}

impl Writer for EtcdWriter {
    /// Puts the same 1 KiB bytes Skiff stores ([`crate::skiff::manifest`]) under
    /// `/skiff-bench/NAME`.
    async fn write(&self, name: String) -> Result<(), tonic::Status> {
        let mut c = self.kv.clone();
        c.put(PutRequest {
            key: format!("/skiff-bench/{name}").into_bytes(),
            value: crate::skiff::manifest(&name),
        })
        .await
        .map(|_| ())
    }
}

/// `Maintenance.Status` from the member at `addr`, within a second.
pub async fn status(addr: &str) -> Result<StatusResponse> {
    let ask = async {
        let mut c = MaintenanceClient::new(channel(addr).await?);
        let r = c
            .status(StatusRequest {})
            .await
            .with_context(|| format!("Maintenance.Status on {addr}"))?;
        anyhow::Ok(r.into_inner())
    };
    tokio::time::timeout(Duration::from_secs(1), ask)
        .await
        .with_context(|| format!("Maintenance.Status on {addr}: no answer within 1 s"))?
}

fn own_id(s: &StatusResponse) -> u64 {
    s.header.as_ref().map_or(0, |h| h.member_id)
}

impl System for Etcd {
    type W = EtcdWriter;
    const NAME: &'static str = "etcd";

    async fn connect(addr: &str) -> Result<EtcdWriter> {
        Ok(EtcdWriter {
            kv: KvClient::new(channel(addr).await?),
        })
    }

    async fn leader(cluster: &Cluster, among: &[usize]) -> Result<Option<usize>> {
        let mut seen = Vec::new();
        for &i in among {
            if let Ok(s) = status(&cluster.api[i]).await {
                seen.push((i, own_id(&s), s.leader));
            }
        }
        // The member whose own id is the leader someone reports.
        for &(_, _, leader) in &seen {
            if leader == 0 {
                continue;
            }
            if let Some(&(i, _, _)) = seen.iter().find(|(_, id, _)| *id == leader) {
                return Ok(Some(i));
            }
        }
        Ok(None)
    }

    async fn caught_up(cluster: &Cluster, member: usize) -> Result<bool> {
        let own = status(&cluster.api[member]).await?;
        if own.leader == 0 {
            return Ok(false);
        }
        let all: Vec<usize> = (0..cluster.api.len()).collect();
        let Some(leader) = Self::leader(cluster, &all).await? else {
            return Ok(false);
        };
        let lead = status(&cluster.api[leader]).await?;
        Ok(own.raft_index >= lead.raft_index)
    }
}
