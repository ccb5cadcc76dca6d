//! The receiving side of the raft transport, and the membership service.

use protobuf::Message as _;
use raft::StateRole;
use raft::prelude::Message;
use skiff_proto::grpc::raft::membership_server::Membership;
use skiff_proto::grpc::raft::raft_transport_server::RaftTransport;
use skiff_proto::grpc::raft::{
    ForwardRequest, ForwardResponse, JoinRequest, JoinResponse, Member, MembersRequest,
    MembersResponse, RaftAck, RaftBatch, RemoveMemberRequest, RemoveMemberResponse, Role,
    SnapshotChunk,
};
use tonic::{Request, Response, Status, Streaming};

use super::AddressBook;
use crate::store::StoreHandle;

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
            for bytes in batch.messages {
                let msg = Message::parse_from_bytes(&bytes).map_err(|e| {
                    Status::invalid_argument(format!(
                        "undecodable raft message from member {}: {e}",
                        batch.from
                    ))
                })?;
                self.store
                    .step(msg)
                    .await
                    .map_err(|e| Status::unavailable(e.to_string()))?;
            }
        }
        Ok(Response::new(RaftAck {}))
    }

    async fn install_snapshot(
        &self,
        _: Request<Streaming<SnapshotChunk>>,
    ) -> Result<Response<RaftAck>, Status> {
        Err(Status::unimplemented(
            "snapshots travel inside raft messages on `Send` in this version",
        ))
    }

    async fn forward(
        &self,
        _: Request<ForwardRequest>,
    ) -> Result<Response<ForwardResponse>, Status> {
        Err(Status::unimplemented(
            "followers forward proposals as raft messages in this version",
        ))
    }
}

/// Answers `skiff members`: who is in the cluster and what this member sees.
pub struct MembershipService {
    pub store: StoreHandle,
    pub book: AddressBook,
}

type Result2<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl Membership for MembershipService {
    async fn join(&self, _: Request<JoinRequest>) -> Result2<JoinResponse> {
        Err(Status::unimplemented(
            "joining a running cluster is not available yet; start members with --initial-cluster",
        ))
    }

    /// This member's own view: its role, term and applied index, and the address book.
    async fn members(&self, _: Request<MembersRequest>) -> Result2<MembersResponse> {
        let s = self
            .store
            .status()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let members = self
            .book
            .iter()
            .map(|(&id, addr)| {
                let me = id == s.id;
                Member {
                    id,
                    address: addr.clone(),
                    role: if me {
                        role(s.role)
                    } else if s.leader == Some(id) {
                        Role::Leader
                    } else {
                        Role::Unspecified
                    } as i32,
                    term: if me { s.term } else { 0 },
                    applied_index: if me { s.applied } else { 0 },
                }
            })
            .collect();
        Ok(Response::new(MembersResponse {
            members,
            leader_id: s.leader.unwrap_or(0),
        }))
    }

    async fn remove(&self, _: Request<RemoveMemberRequest>) -> Result2<RemoveMemberResponse> {
        Err(Status::unimplemented(
            "removing members is not available yet",
        ))
    }
}

fn role(r: StateRole) -> Role {
    match r {
        StateRole::Leader => Role::Leader,
        StateRole::Follower => Role::Follower,
        StateRole::Candidate | StateRole::PreCandidate => Role::Candidate,
    }
}
