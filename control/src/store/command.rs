//! Store commands: what a raft entry carries. A command is a transaction of operations
//! applied all or nothing; each is encoded with rkyv behind a format byte and validated
//! when decoded, like stored objects.

use rkyv::rancor;
use rkyv::util::AlignedVec;
use skiff_proto::Object;

/// One operation of a transaction.
#[derive(Debug, Clone, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum Op {
    /// Fails with `AlreadyExists` if the key is taken.
    Create(Object),
    /// Compare-and-swap when `expected` is set: fails with `Conflict` if the object's
    /// revision differs; fails with `NotFound` if there is no object.
    Update {
        object: Object,
        expected: Option<u64>,
    },
    /// Removes the object at `key` (see [`super::key`]), optionally compare-and-swap.
    Delete { key: String, expected: Option<u64> },
    /// Writes nothing; fails the transaction unless the object at `key` exists (at
    /// revision `expected`, when set). A precondition, e.g. that a namespace is still
    /// there and not being deleted when something is created in it.
    Check { key: String, expected: Option<u64> },
    /// Stores one chunk of an artifact under its sha256 (see [`super::blobs`]); storing a
    /// chunk that is there already changes nothing.
    PutChunk(Vec<u8>),
    /// Records an artifact made of stored chunks, in order; rejected unless every chunk
    /// is there and together they have `digest` (hex sha256) and `size`.
    SealArtifact {
        digest: String,
        size: u64,
        chunks: Vec<String>,
    },
}

/// A transaction: every operation applies, or none does.
#[derive(Debug, Clone, PartialEq, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Command {
    pub ops: Vec<Op>,
}

/// Why a command was not applied (deterministic: every member reaches the same verdict).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("{0} not found")]
    NotFound(String),
    /// The compare-and-swap lost: someone wrote the object since the caller read it.
    #[error(
        "{key} was modified: expected revision {expected}, found {actual}; read it again and retry"
    )]
    Conflict {
        key: String,
        expected: u64,
        actual: u64,
    },
    /// An artifact's chunks are missing or do not add up to its digest.
    #[error("artifact {0}")]
    BadArtifact(String),
    /// The entry's bytes did not decode as a command.
    #[error("malformed command: {0}")]
    Malformed(String),
}

impl Op {
    /// The key of the object the operation writes; `None` for artifact operations.
    pub fn key(&self) -> Option<String> {
        match self {
            Op::Create(o) | Op::Update { object: o, .. } => Some(super::key::of(o)),
            Op::Delete { key, .. } | Op::Check { key, .. } => Some(key.clone()),
            Op::PutChunk(_) | Op::SealArtifact { .. } => None,
        }
    }
}

const FORMAT_V1: u8 = 1;

impl Command {
    pub fn encode(&self) -> Vec<u8> {
        // Serializing owned plain data into a growable buffer cannot fail.
        let body = rkyv::to_bytes::<rancor::Error>(self)
            .map(|b| b.to_vec())
            .unwrap_or_default();
        let mut out = Vec::with_capacity(body.len() + 1);
        out.push(FORMAT_V1);
        out.extend_from_slice(&body);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Command, Rejection> {
        let (&tag, body) = bytes
            .split_first()
            .ok_or_else(|| Rejection::Malformed("empty".into()))?;
        if tag != FORMAT_V1 {
            return Err(Rejection::Malformed(format!(
                "unknown command format {tag}"
            )));
        }
        let mut aligned = AlignedVec::<16>::with_capacity(body.len());
        aligned.extend_from_slice(body);
        rkyv::from_bytes::<Command, rancor::Error>(&aligned)
            .map_err(|e| Rejection::Malformed(e.to_string()))
    }
}
