//! A proposal's identity, carried in its raft entry's context, and its outcome: how the
//! answer to a write finds its way back to the member that proposed it.

use super::command::Rejection;

/// Identifies a proposal so its outcome finds its way back to the member that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProposalId {
    pub member: u64,
    pub seq: u64,
}

impl ProposalId {
    pub(super) fn encode(self) -> Vec<u8> {
        self.encode_with(None)
    }

    /// The entry context: this id, then the idempotency key if there is one.
    pub(super) fn encode_with(self, key: Option<u128>) -> Vec<u8> {
        let mut v = Vec::with_capacity(32);
        v.extend_from_slice(&self.member.to_le_bytes());
        v.extend_from_slice(&self.seq.to_le_bytes());
        if let Some(k) = key {
            v.extend_from_slice(&k.to_le_bytes());
        }
        v
    }

    /// The idempotency key in an entry context (see `dedup`).
    pub(super) fn key(b: &[u8]) -> Option<u128> {
        Some(u128::from_le_bytes(b.get(16..32)?.try_into().ok()?))
    }

    pub(super) fn decode(b: &[u8]) -> Option<Self> {
        let member = u64::from_le_bytes(b.get(..8)?.try_into().ok()?);
        let seq = u64::from_le_bytes(b.get(8..16)?.try_into().ok()?);
        Some(ProposalId { member, seq })
    }
}

/// The outcome of one of this member's proposals, once applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub id: ProposalId,
    /// The idempotency key the entry carried.
    pub key: Option<u128>,
    pub index: u64,
    pub result: Result<u64, Rejection>,
}
