//! The receiving side of the raft transport, and the membership service.

use std::time::Duration;

use protobuf::Message as _;
use raft::StateRole;
use raft::prelude::Message;
use skiff_proto::grpc::raft::membership_client::MembershipClient;
use skiff_proto::grpc::raft::membership_server::Membership;
use skiff_proto::grpc::raft::raft_transport_server::RaftTransport;
use skiff_proto::grpc::raft::{
    BackupChunk, JoinRequest, JoinResponse, Member, MembersRequest, MembersResponse, RaftAck,
    RaftBatch, RemoveMemberRequest, RemoveMemberResponse, Role, SaveSnapshotRequest, SnapshotChunk,
};
use tonic::{Request, Response, Status, Streaming};

use super::client::REMOVED_MARK;
use crate::membership::{self, ChangeError, Limits};
use crate::store::{StoreHandle, WriteError};

/// Largest snapshot a member accepts (it is assembled in memory before it is applied).
const MAX_SNAPSHOT: usize = 8 << 30;

fn unavailable(e: WriteError) -> Status {
    Status::unavailable(e.to_string())
}

/// Feeds raft messages from peers into the local store.
pub struct RaftService {
    pub store: StoreHandle,
}

#[tonic::async_trait]
impl RaftTransport for RaftService {
    async fn send(
        &self,
        request: Request<Streaming<RaftBatch>>,
    ) -> Result<Response<RaftAck>, Status> {
        let mut stream = request.into_inner();
        while let Some(batch) = stream.message().await? {
            // Checked on every batch: a stream opened before the removal stays open.
            if self.store.state().is_removed(batch.from).unwrap_or(false) {
                return Err(Status::failed_precondition(format!(
                    "member {} was {REMOVED_MARK}",
                    batch.from
                )));
            }
            for bytes in batch.messages {
                let msg = Message::parse_from_bytes(&bytes).map_err(|e| {
                    Status::invalid_argument(format!(
                        "undecodable raft message from member {}: {e}",
                        batch.from
                    ))
                })?;
                self.store.step(msg).await.map_err(unavailable)?;
            }
        }
        Ok(Response::new(RaftAck {}))
    }

    /// Reassembles a snapshot from its chunks and hands the message to raft.
    async fn install_snapshot(
        &self,
        request: Request<Streaming<SnapshotChunk>>,
    ) -> Result<Response<RaftAck>, Status> {
        let mut stream = request.into_inner();
        let mut header = None;
        let mut data = Vec::new();
        loop {
            let Some(chunk) = stream.message().await? else {
                return Err(Status::invalid_argument(
                    "the snapshot stream ended before its last chunk",
                ));
            };
            if header.is_none() {
                header = Some(Message::parse_from_bytes(&chunk.message).map_err(|e| {
                    Status::invalid_argument(format!("undecodable snapshot message: {e}"))
                })?);
            }
            if chunk.offset != data.len() as u64 {
                return Err(Status::invalid_argument(format!(
                    "snapshot chunk at offset {} where {} was expected",
                    chunk.offset,
                    data.len()
                )));
            }
            if data.len() + chunk.data.len() > MAX_SNAPSHOT {
                return Err(Status::resource_exhausted(format!(
                    "snapshot larger than {MAX_SNAPSHOT} bytes"
                )));
            }
            data.extend_from_slice(&chunk.data);
            if chunk.last {
                break;
            }
        }
        let Some(mut msg) = header else {
            return Err(Status::invalid_argument("empty snapshot stream"));
        };
        msg.mut_snapshot().data = data.into();
        self.store.step(msg).await.map_err(unavailable)?;
        Ok(Response::new(RaftAck {}))
    }
}

/// Answers `skiff members`, and runs joins and removals.
pub struct MembershipService {
    pub store: StoreHandle,
    pub limits: Limits,
    pub dialer: skiff_pki::Dialer,
}

type Reply<T> = Result<Response<T>, Status>;

fn refused(e: ChangeError) -> Status {
    match e {
        ChangeError::Invalid(m) => Status::failed_precondition(m),
        ChangeError::NotLeader(_) => Status::unavailable("no leader right now; retry"),
        ChangeError::Unavailable(m) => Status::unavailable(m),
        ChangeError::Store(e) => Status::internal(e.to_string()),
    }
}

/// A client for member `id`, from the replicated address book.
async fn client_for(
    store: &StoreHandle,
    dialer: &skiff_pki::Dialer,
    id: u64,
) -> Result<MembershipClient<tonic::transport::Channel>, Status> {
    let members = store
        .state()
        .members()
        .map_err(|e| Status::internal(e.to_string()))?;
    let addr = members
        .get(&id)
        .ok_or_else(|| Status::unavailable(format!("no address known for member {id}; retry")))?;
    let channel = dialer
        .member(addr)
        .await
        .map_err(|e| Status::unavailable(format!("member {id} at {addr}: {e}")))?;
    Ok(MembershipClient::new(channel))
}

impl MembershipService {
    async fn members_now(&self) -> Result<Vec<Member>, Status> {
        members_now(&self.store).await
    }
}

/// The members as `store`'s member sees them: roles from its raft view, and its own term
/// and applied index (`skiff members`, the dashboard).
pub async fn members_now(store: &StoreHandle) -> Result<Vec<Member>, Status> {
    let s = store.status().await.map_err(unavailable)?;
    let book = store
        .state()
        .members()
        .map_err(|e| Status::internal(e.to_string()))?;
    Ok(book
        .into_iter()
        .map(|(id, address)| {
            let me = id == s.id;
            let role = if me {
                match s.role {
                    _ if s.conf.learners.contains(&id) => Role::Learner,
                    StateRole::Leader => Role::Leader,
                    StateRole::Follower => Role::Follower,
                    StateRole::Candidate | StateRole::PreCandidate => Role::Candidate,
                }
            } else if s.leader == Some(id) {
                Role::Leader
            } else if s.conf.learners.contains(&id) {
                Role::Learner
            } else {
                Role::Follower
            };
            Member {
                id,
                address,
                role: role as i32,
                term: if me { s.term } else { 0 },
                applied_index: if me { s.applied } else { 0 },
            }
        })
        .collect())
}

/// A backup file, in chunks.
type BackupStream =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<BackupChunk, Status>> + Send>>;

/// Chunks of a backup file on the wire.
const BACKUP_CHUNK: usize = 1 << 20;

#[tonic::async_trait]
impl Membership for MembershipService {
    type SaveSnapshotStream = BackupStream;

    /// The state as of a linearizable read, as a backup file (members and admins only:
    /// it holds every object, Secrets sealed).
    async fn save_snapshot(&self, request: Request<SaveSnapshotRequest>) -> Reply<BackupStream> {
        let id = crate::auth::caller(request.extensions())?;
        if !crate::auth::is_member_or_admin(id) {
            return Err(crate::auth::forbidden(id, "save snapshots of the store"));
        }
        self.store.linearizable().await.map_err(unavailable)?;
        let state = self.store.state().clone();
        let file = tokio::task::spawn_blocking(move || {
            use crate::store::SnapshotSource as _;
            state.snapshot().map(|s| crate::store::backup::encode(&s))
        })
        .await
        .map_err(|e| Status::internal(format!("taking the snapshot: {e}")))?
        .map_err(|e| Status::internal(format!("taking the snapshot: {e}")))?;
        tracing::info!(bytes = file.len(), "snapshot saved for a client");
        let chunks: Vec<Result<BackupChunk, Status>> = file
            .chunks(BACKUP_CHUNK)
            .map(|c| Ok(BackupChunk { data: c.to_vec() }))
            .collect();
        Ok(Response::new(Box::pin(futures_util::stream::iter(chunks))))
    }

    /// Runs the join on the leader (forwarding there from any other member).
    async fn join(&self, request: Request<JoinRequest>) -> Reply<JoinResponse> {
        let id = crate::auth::caller(request.extensions())?;
        // A new member joins as itself; a member forwards a join to the leader.
        if id.member_id().is_none() {
            return Err(crate::auth::forbidden(
                id,
                "join the control plane (only a member's certificate may)",
            ));
        }
        let req = request.into_inner();
        match membership::join(&self.store, req.id, &req.address, &self.limits).await {
            Ok(_) => Ok(Response::new(JoinResponse {
                members: self.members_now().await?,
            })),
            Err(ChangeError::NotLeader(Some(leader))) if leader != self.store.id() => {
                let mut c = client_for(&self.store, &self.dialer, leader).await?;
                let limit = self.limits.catch_up + self.limits.change * 2;
                match tokio::time::timeout(limit, c.join(req)).await {
                    Ok(r) => r,
                    Err(_) => Err(Status::deadline_exceeded(
                        "the leader did not finish the join",
                    )),
                }
            }
            Err(e) => Err(refused(e)),
        }
    }

    /// This member's own view: its role, term and applied index, and the address book.
    async fn members(&self, _: Request<MembersRequest>) -> Reply<MembersResponse> {
        let s = self.store.status().await.map_err(unavailable)?;
        Ok(Response::new(MembersResponse {
            members: self.members_now().await?,
            leader_id: s.leader.unwrap_or(0),
        }))
    }

    /// Removes a member; a member asked to remove itself asks another one to do it, so
    /// the answer does not depend on a member that is going away.
    async fn remove(&self, request: Request<RemoveMemberRequest>) -> Reply<RemoveMemberResponse> {
        let id = crate::auth::caller(request.extensions())?;
        if !crate::auth::is_member_or_admin(id) {
            return Err(crate::auth::forbidden(id, "remove control-plane members"));
        }
        let req = request.into_inner();
        if req.id == self.store.id() {
            let s = self.store.status().await.map_err(unavailable)?;
            let Some(&other) = s.conf.voters.iter().find(|&&v| v != req.id) else {
                return Err(Status::failed_precondition(format!(
                    "member {} is the last voter; a cluster cannot remove its last voter",
                    req.id
                )));
            };
            let mut c = client_for(&self.store, &self.dialer, other).await?;
            return match tokio::time::timeout(Duration::from_secs(30), c.remove(req)).await {
                Ok(r) => r,
                Err(_) => Err(Status::deadline_exceeded("the removal did not finish")),
            };
        }
        membership::remove(&self.store, req.id, &self.limits)
            .await
            .map_err(refused)?;
        Ok(Response::new(RemoveMemberResponse {
            members: self.members_now().await?,
        }))
    }
}
