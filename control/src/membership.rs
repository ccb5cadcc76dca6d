//! Changing who is in the cluster, on top of the store's conf-change proposals.
//!
//! Joining follows the raft thesis (§4.2.1) and etcd: the new member is added as a
//! learner (it receives the log, or a snapshot, but does not vote), promoted to voter only
//! once its log matches the leader's commit index, and the promotion goes through joint
//! consensus (ConfChangeV2, left automatically). Removing the leader first hands
//! leadership to another voter so the cluster does not wait out an election timeout.

use std::time::Duration;

use raft::StateRole;
use raft::prelude::{ConfChangeSingle, ConfChangeTransition, ConfChangeType, ConfChangeV2};
use tokio::time::{Instant, sleep, timeout};

use crate::Error;
use crate::cluster::{self, AddressBook};
use crate::store::{Status, StoreHandle, in_conf};

/// Why a membership change was not made.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// The request cannot succeed as asked (bad id or address, an id in use or removed).
    #[error("{0}")]
    Invalid(String),
    /// Joins are run by the leader; this member is not it (the leader's id, if known).
    #[error("this member is not the leader")]
    NotLeader(Option<u64>),
    /// The cluster could not make the change in time (no leader, a slow learner).
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Store(#[from] Error),
}

/// How long each step may take.
#[derive(Debug, Clone)]
pub struct Limits {
    /// For one configuration change to be applied here (retried within it).
    pub change: Duration,
    /// For a learner to catch up with the leader's log.
    pub catch_up: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            change: Duration::from_secs(15),
            catch_up: Duration::from_secs(120),
        }
    }
}

async fn status(store: &StoreHandle) -> Result<Status, ChangeError> {
    store
        .status()
        .await
        .map_err(|e| ChangeError::Unavailable(e.to_string()))
}

/// Checks a join request against the cluster as this member knows it.
pub fn check_join(store: &StoreHandle, id: u64, address: &str) -> Result<(), ChangeError> {
    if id == 0 {
        return Err(ChangeError::Invalid(
            "member id 0 is reserved; number members from 1".into(),
        ));
    }
    cluster::check_address(address).map_err(ChangeError::Invalid)?;
    let state = store.state();
    if state.is_removed(id)? {
        return Err(ChangeError::Invalid(format!(
            "member {id} was removed from this cluster and ids are not reused: join with a new --id"
        )));
    }
    for (other, addr) in state.members()? {
        if other == id && addr != address {
            return Err(ChangeError::Invalid(format!(
                "member {id} already exists at {addr}: pick another --id, or remove member {id} first"
            )));
        }
        if other != id && addr == address {
            return Err(ChangeError::Invalid(format!(
                "{address} is already the address of member {other}"
            )));
        }
    }
    Ok(())
}

/// Adds member `id` listening at `address`: learner, caught up, then voter. Runs on the
/// leader; elsewhere it answers [`ChangeError::NotLeader`]. Joining again is harmless.
pub async fn join(
    store: &StoreHandle,
    id: u64,
    address: &str,
    limits: &Limits,
) -> Result<AddressBook, ChangeError> {
    check_join(store, id, address)?;
    let s = status(store).await?;
    if s.role != StateRole::Leader {
        return Err(ChangeError::NotLeader(s.leader));
    }
    if !in_conf(&s.conf, id) {
        let mut book = AddressBook::new();
        book.insert(id, address.to_owned());
        let add = change(ConfChangeType::AddLearnerNode, id, cluster::encode(&book));
        apply(store, add, limits, |s| s.conf.learners.contains(&id)).await?;
        tracing::info!(id, address, "learner added; catching up");
    }
    catch_up(store, id, limits).await?;
    if !status(store).await?.conf.voters.contains(&id) {
        let mut promote = change(ConfChangeType::AddNode, id, Vec::new());
        promote.set_transition(ConfChangeTransition::Implicit);
        apply(store, promote, limits, |s| {
            s.conf.voters.contains(&id) && s.conf.voters_outgoing.is_empty()
        })
        .await?;
        tracing::info!(id, "promoted to voter");
    }
    Ok(store.state().members()?)
}

/// Waits until the learner's log matches what the leader had committed when it started.
async fn catch_up(store: &StoreHandle, id: u64, limits: &Limits) -> Result<(), ChangeError> {
    let target = status(store).await?.commit;
    let deadline = Instant::now() + limits.catch_up;
    loop {
        let s = status(store).await?;
        if s.role != StateRole::Leader {
            return Err(ChangeError::NotLeader(s.leader));
        }
        let matched = s.matched.get(&id).copied().unwrap_or(0);
        if matched >= target {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(ChangeError::Unavailable(format!(
                "member {id} did not catch up within {:?} (its log matches up to {matched} of {target}); is it running and reachable at the address it gave?",
                limits.catch_up
            )));
        }
        sleep(Duration::from_millis(50)).await;
    }
}

/// Removes member `id` for good. Any member can run it except `id` itself.
pub async fn remove(
    store: &StoreHandle,
    id: u64,
    limits: &Limits,
) -> Result<AddressBook, ChangeError> {
    let s = status(store).await?;
    if !in_conf(&s.conf, id) {
        return Err(ChangeError::Invalid(format!(
            "member {id} is not in the cluster (members: {})",
            describe(&s)
        )));
    }
    let others: Vec<u64> = s.conf.voters.iter().copied().filter(|&v| v != id).collect();
    if others.is_empty() {
        return Err(ChangeError::Invalid(format!(
            "member {id} is the last voter; a cluster cannot remove its last voter"
        )));
    }
    if s.leader == Some(id) {
        // Hand leadership over first, so writes pause for a round trip, not an election.
        let _ = store.transfer_leader(others[0]).await;
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && status(store).await?.leader == Some(id) {
            sleep(Duration::from_millis(20)).await;
        }
    }
    let rm = change(ConfChangeType::RemoveNode, id, Vec::new());
    apply(store, rm, limits, |s| !in_conf(&s.conf, id)).await?;
    tracing::info!(id, "member removed");
    Ok(store.state().members()?)
}

fn describe(s: &Status) -> String {
    let mut ids: Vec<String> = s.conf.voters.iter().map(u64::to_string).collect();
    ids.extend(s.conf.learners.iter().map(|l| format!("{l} (learner)")));
    ids.join(", ")
}

fn change(kind: ConfChangeType, id: u64, context: Vec<u8>) -> ConfChangeV2 {
    let mut single = ConfChangeSingle::default();
    single.set_change_type(kind);
    single.node_id = id;
    let mut cc = ConfChangeV2::default();
    cc.set_changes(vec![single].into());
    cc.context = context.into();
    cc
}

/// Proposes `cc` until `done` holds for this member's configuration. raft refuses a
/// change while another is pending (it commits an empty entry instead), so a refused or
/// lost proposal is simply made again until the time limit; a repeat that lands twice
/// changes nothing the second time.
async fn apply(
    store: &StoreHandle,
    cc: ConfChangeV2,
    limits: &Limits,
    done: impl Fn(&Status) -> bool,
) -> Result<(), ChangeError> {
    let deadline = Instant::now() + limits.change;
    loop {
        let s = status(store).await?;
        if done(&s) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(ChangeError::Unavailable(format!(
                "the configuration change was not applied within {:?} (leader: {}); retry",
                limits.change,
                s.leader.map_or("none".into(), |l| l.to_string())
            )));
        }
        if s.leader.is_some() {
            // A joint configuration must be left before anything else changes. The leader
            // leaves it by itself, unless leadership moved at the wrong moment (raft-rs'
            // auto-leave TODO): then leaving is asked for explicitly.
            let next = if s.conf.voters_outgoing.is_empty() {
                cc.clone()
            } else {
                ConfChangeV2::default()
            };
            // A refused proposal never answers: give it a moment, then look and retry.
            let _ = timeout(Duration::from_millis(500), store.change_membership(next)).await;
        }
        sleep(Duration::from_millis(50)).await;
    }
}
