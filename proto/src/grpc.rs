//! Messages and services generated from `proto/*.proto` (see `build.rs`). The modules nest
//! by protobuf package so generated cross-package paths resolve.

#[allow(clippy::all, missing_docs)]
pub mod skiff {
    pub mod api {
        pub mod v1 {
            tonic::include_proto!("skiff.api.v1");
        }
    }
    pub mod node {
        pub mod v1 {
            tonic::include_proto!("skiff.node.v1");
        }
    }
    pub mod raft {
        pub mod v1 {
            tonic::include_proto!("skiff.raft.v1");
        }
    }
}

/// The client API: objects, artifacts, logs.
pub use skiff::api::v1 as api;
/// The node protocol: what a node agent serves the control plane (container logs).
pub use skiff::node::v1 as node;
/// The raft transport and membership between control-plane members.
pub use skiff::raft::v1 as raft;
