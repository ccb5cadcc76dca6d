//! Raft between members over gRPC (`proto/raft.proto`): a [`GrpcTransport`] that streams
//! batched messages to each peer, the server side that feeds them to the local store, and
//! the membership service `skiff members` reads.
//!
//! raft-rs messages are protobuf 2.x; they travel as bytes inside our prost messages and
//! are parsed only here (see ../shared/TOOLCHAIN.md on RUSTSEC-2024-0437: peers are not yet
//! authenticated, which the security work must add).

mod client;
mod server;

pub use client::{GrpcTransport, MAX_MESSAGE};
pub use server::{MembershipService, RaftService};

use std::collections::BTreeMap;

/// Member id → address (`host:port`), from `--initial-cluster`.
pub type AddressBook = BTreeMap<u64, String>;

/// Parses `1=127.0.0.1:7001,2=127.0.0.1:7002`.
pub fn parse_initial_cluster(s: &str) -> Result<AddressBook, String> {
    let mut book = AddressBook::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (id, addr) = part
            .split_once('=')
            .ok_or_else(|| format!("{part:?} is not ID=ADDRESS"))?;
        let id: u64 = id
            .trim()
            .parse()
            .map_err(|_| format!("member id {id:?} is not a number"))?;
        if id == 0 {
            return Err("member id 0 is reserved; number members from 1".into());
        }
        if addr.trim().is_empty() {
            return Err(format!("member {id} has no address"));
        }
        if book.insert(id, addr.trim().to_owned()).is_some() {
            return Err(format!("member {id} is listed twice"));
        }
    }
    if book.is_empty() {
        return Err("the initial cluster is empty".into());
    }
    Ok(book)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_cluster_parses_and_rejects_mistakes() {
        let b = parse_initial_cluster("1=127.0.0.1:7001, 2=127.0.0.1:7002").unwrap();
        assert_eq!(b[&2], "127.0.0.1:7002");
        for bad in ["", "1", "x=a", "0=a", "1=a,1=b", "1="] {
            assert!(parse_initial_cluster(bad).is_err(), "{bad}");
        }
    }
}
