//! What the `raft_frames` fuzz target in `fuzz/` runs, here so the frames it keeps
//! (`fuzz/seeds`, `fuzz/regressions`) are replayed by the ordinary tests too.

use prost::Message as _;
use protobuf::Message as _;
use raft::prelude::Message;
use skiff_proto::grpc::raft::RaftBatch;

use super::{Member, Tuning};
use crate::{Error, cluster};

/// How one frame went.
#[derive(Debug, Default)]
pub struct Received {
    /// Messages stepped.
    pub stepped: usize,
    /// Why messages were refused (see `inbound`).
    pub refused: Vec<String>,
}

/// Delivers one frame to member 1 of a three-member cluster on a fresh store, as a peer's
/// gRPC stream does: a `RaftBatch` whose messages are raft-rs messages, each stepped and
/// followed by `ready` (persist, send, apply), as the transport's server and the store's
/// loop do. The first byte's low five bits are how many ticks pass first (so the member
/// may be a follower, a candidate or a leader), its top bit makes the member one that is
/// joining (an empty log, no configuration yet); the rest is the frame. It may not panic,
/// whatever it is given.
pub fn raft_frame(data: &[u8]) -> Received {
    let mut out = Received::default();
    let Some((&ticks, frame)) = data.split_first() else {
        return out;
    };
    let Ok(batch) = RaftBatch::decode(frame) else {
        return out;
    };
    // On tmpfs where there is one: a new store per input, and fsync costs nothing there.
    let shm = std::path::Path::new("/dev/shm");
    let dir = match shm.is_dir() {
        true => tempfile::tempdir_in(shm),
        false => tempfile::tempdir(),
    }
    .expect("a temporary folder");
    let founders = match ticks & 0x80 {
        0 => cluster::parse_initial_cluster("1=127.0.0.1:1,2=127.0.0.1:2,3=127.0.0.1:3")
            .expect("a fixed address book"),
        _ => cluster::AddressBook::new(),
    };
    let path = dir.path().join("store.redb");
    let mut m = Member::open(1, &path, &founders, &Tuning::default()).expect("a new member");
    for _ in 0..ticks % 32 {
        m.tick();
        if m.ready().is_err() {
            return out;
        }
    }
    for bytes in batch.messages {
        let Ok(msg) = Message::parse_from_bytes(&bytes) else {
            continue;
        };
        match m.step(msg) {
            Ok(()) => out.stepped += 1,
            Err(Error::Refused(why)) => out.refused.push(why),
            Err(_) => continue,
        }
        if m.ready().is_err() {
            return out;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    /// The files of `fuzz/<kind>/raft_frames` (as `skiff_proto::fuzzing::inputs`, which
    /// this crate's tests do not build).
    fn inputs(kind: &str) -> Vec<PathBuf> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../fuzz/{kind}/raft_frames"));
        let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        out.sort();
        out
    }

    fn read(p: &Path) -> Vec<u8> {
        std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    /// Frames recorded from a simulated cluster's traffic to member 1 are stepped, none
    /// refused.
    #[test]
    fn a_peers_frames_are_stepped() {
        let seeds = inputs("seeds");
        assert!(seeds.len() >= 8, "{} seeds", seeds.len());
        for p in &seeds {
            let got = raft_frame(&read(p));
            assert!(
                got.stepped > 0 && got.refused.is_empty(),
                "{}: {got:?}",
                p.display()
            );
        }
    }

    /// Each frame that once stopped a member (raft-rs' `fatal!`) is refused instead.
    #[test]
    fn frames_that_stopped_a_member_are_refused() {
        let found = inputs("regressions");
        assert!(found.len() >= 3, "{} regressions", found.len());
        for p in &found {
            let got = raft_frame(&read(p));
            assert!(!got.refused.is_empty(), "{}: {got:?}", p.display());
        }
    }
}
