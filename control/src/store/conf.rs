//! Configuration-change entries: reading either raft-rs encoding, and membership tests on
//! a configuration.

use protobuf::Message as _;
use raft::prelude::{ConfChange, ConfChangeSingle, ConfChangeV2, ConfState, Entry, EntryType};

use crate::Error;

/// A conf change as raft-rs encodes either version.
pub enum Parsed {
    V1(ConfChange),
    V2(ConfChangeV2),
}

/// Reads a conf-change entry: its single changes, and the change to hand to raft-rs.
pub fn parse(e: &Entry) -> Result<(Vec<ConfChangeSingle>, Parsed), Error> {
    let bad =
        |err: protobuf::ProtobufError| Error::Log(format!("conf change at {}: {err}", e.index));
    if e.get_entry_type() == EntryType::EntryConfChange {
        let v1 = ConfChange::parse_from_bytes(&e.data).map_err(bad)?;
        let single = ConfChangeSingle {
            change_type: v1.change_type,
            node_id: v1.node_id,
            ..Default::default()
        };
        Ok((vec![single], Parsed::V1(v1)))
    } else {
        let v2 = ConfChangeV2::parse_from_bytes(&e.data).map_err(bad)?;
        Ok((v2.get_changes().to_vec(), Parsed::V2(v2)))
    }
}

/// Whether `id` is a voter or learner of `cs` (incoming or outgoing).
pub fn in_conf(cs: &ConfState, id: u64) -> bool {
    [
        &cs.voters,
        &cs.learners,
        &cs.voters_outgoing,
        &cs.learners_next,
    ]
    .into_iter()
    .any(|set| set.contains(&id))
}
