//! Raft between members over gRPC (`proto/raft.proto`): a [`GrpcTransport`] that streams
//! batched messages to each peer, the server side that feeds them to the local store, and
//! the membership service (`skiff members`, joins and removals).
//!
//! raft-rs messages are protobuf 2.x; they travel as bytes inside our prost messages and
//! are parsed only here (see ../shared/TOOLCHAIN.md on RUSTSEC-2024-0437), and only from a
//! member: the connection is TLS with a client certificate, and the raft service's
//! interceptor (`auth::members_only`) refuses anyone else before a message is decoded.

mod client;
mod server;

pub use client::{GrpcTransport, MAX_MESSAGE, PeerEvent};
pub use server::{MembershipService, RaftService, members_now};

pub use crate::cluster::{AddressBook, parse_initial_cluster};
