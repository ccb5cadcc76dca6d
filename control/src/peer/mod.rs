//! Raft between members over gRPC (`proto/raft.proto`): a [`GrpcTransport`] that streams
//! batched messages to each peer, the server side that feeds them to the local store, and
//! the membership service (`skiff members`, joins and removals).
//!
//! raft-rs messages are protobuf 2.x; they travel as bytes inside our prost messages and
//! are parsed only here (see ../shared/TOOLCHAIN.md on RUSTSEC-2024-0437: peers are not yet
//! authenticated, which the security work must add).

mod client;
mod server;

pub use client::{GrpcTransport, MAX_MESSAGE, PeerEvent};
pub use server::{MembershipService, RaftService};

pub use crate::cluster::{AddressBook, parse_initial_cluster};
