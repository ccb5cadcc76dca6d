//! Store commands: what a raft entry carries. A command is a transaction of operations
//! applied all or nothing; each is encoded with rkyv behind a format byte and validated
//! when decoded, like stored objects.

use rkyv::rancor;
use rkyv::util::AlignedVec;
use skiff_proto::model::ManagedFields;
use skiff_proto::stored::Side;
use skiff_proto::{Object, stored};

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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
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

/// The archive alone.
const FORMAT_V1: u8 = 1;
/// The archive (4-byte little-endian length first), then the managed fields of the
/// objects that have them, as JSON (`[[op index, entries], ...]`): they are not in the
/// archive (see `skiff_proto::stored`), and commands without them keep format 1.
const FORMAT_V2: u8 = 2;
/// As format 2, with each object's fields kept beside its archive as a whole
/// (`[[op index, side], ...]`, see `skiff_proto::stored::Side`), for commands writing an
/// object that has fields only it carries.
const FORMAT_V3: u8 = 3;

impl Op {
    fn object_mut(&mut self) -> Option<&mut Object> {
        match self {
            Op::Create(o) | Op::Update { object: o, .. } => Some(o),
            _ => None,
        }
    }
}

impl Command {
    pub fn encode(&self) -> Vec<u8> {
        // Serializing owned plain data into a growable buffer cannot fail.
        let body = rkyv::to_bytes::<rancor::Error>(self)
            .map(|b| b.to_vec())
            .unwrap_or_default();
        let objects = || {
            self.ops.iter().enumerate().filter_map(|(i, op)| match op {
                Op::Create(o) | Op::Update { object: o, .. } => Some((i, o)),
                _ => None,
            })
        };
        if objects().any(|(_, o)| Side::of(o).is_some()) {
            // Every object's fields beside the archive, managed fields included.
            let sides: Vec<(usize, Side)> = objects()
                .filter_map(|(i, o)| Some((i, Side::all(o)?)))
                .collect();
            let json = serde_json::to_vec(&sides).unwrap_or_default();
            let mut out = stored::join_v2(&body, &json).unwrap_or_default();
            if let Some(tag) = out.first_mut() {
                *tag = FORMAT_V3;
            }
            return out;
        }
        let managed: Vec<(usize, &ManagedFields)> = self
            .ops
            .iter()
            .enumerate()
            .filter_map(|(i, op)| match op {
                Op::Create(o) | Op::Update { object: o, .. } => {
                    Some((i, &o.metadata().managed_fields))
                }
                _ => None,
            })
            .filter(|(_, m)| !m.is_empty())
            .collect();
        if managed.is_empty() {
            let mut out = Vec::with_capacity(body.len() + 1);
            out.push(FORMAT_V1);
            out.extend_from_slice(&body);
            return out;
        }
        // Raft caps an entry far below 4 GiB, so the framing always fits.
        let json = serde_json::to_vec(&managed).unwrap_or_default();
        stored::join_v2(&body, &json).unwrap_or_default()
    }

    pub fn decode(bytes: &[u8]) -> Result<Command, Rejection> {
        let (&tag, body) = bytes
            .split_first()
            .ok_or_else(|| Rejection::Malformed("empty".into()))?;
        match tag {
            FORMAT_V1 => archive(body),
            FORMAT_V2 => beside(body, "managed fields", |o, entries: ManagedFields| {
                o.metadata_mut().managed_fields = entries;
            }),
            FORMAT_V3 => beside(body, "side fields", |o, side: Side| side.put(o)),
            _ => Err(Rejection::Malformed(format!(
                "unknown command format {tag}"
            ))),
        }
    }
}

/// A command in format 2's framing whose JSON is `[[op index, T], ...]`, each `T` put
/// into its operation's object by `put`.
fn beside<T: serde::de::DeserializeOwned>(
    body: &[u8],
    what: &str,
    put: impl Fn(&mut Object, T),
) -> Result<Command, Rejection> {
    let (archived, json) = stored::split_v2(body)
        .ok_or_else(|| Rejection::Malformed("a command is cut short".into()))?;
    let mut c = archive(archived)?;
    let items: Vec<(usize, T)> =
        serde_json::from_slice(json).map_err(|e| Rejection::Malformed(format!("{what}: {e}")))?;
    for (i, item) in items {
        let o = c.ops.get_mut(i).and_then(Op::object_mut).ok_or_else(|| {
            Rejection::Malformed(format!("{what} for operation {i}, which writes no object"))
        })?;
        put(o, item);
    }
    Ok(c)
}

fn archive(body: &[u8]) -> Result<Command, Rejection> {
    let mut aligned = AlignedVec::<16>::with_capacity(body.len());
    aligned.extend_from_slice(body);
    rkyv::from_bytes::<Command, rancor::Error>(&aligned)
        .map_err(|e| Rejection::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use skiff_proto::model::{ConfigMap, ObjectMeta};

    use super::*;

    fn plain_config_map() -> Object {
        Object::ConfigMap(ConfigMap {
            metadata: ObjectMeta {
                name: "c".into(),
                namespace: "n".into(),
                ..Default::default()
            },
            ..Default::default()
        })
    }

    fn owned_config_map() -> Object {
        let mut owned = plain_config_map();
        owned.metadata_mut().managed_fields =
            ManagedFields::from_entries(&[skiff_proto::model::ManagedFieldsEntry {
                manager: "kubectl".into(),
                operation: "Apply".into(),
                fields_v1: serde_json::json!({"f:data": {"f:k": {}}}),
                ..Default::default()
            }]);
        owned
    }

    #[test]
    fn managed_fields_travel_with_the_command() {
        let plain = plain_config_map();
        let owned = owned_config_map();
        let c = Command {
            ops: vec![
                Op::Check {
                    key: "x".into(),
                    expected: None,
                },
                Op::Update {
                    object: owned,
                    expected: Some(3),
                },
                Op::Create(plain.clone()),
            ],
        };
        let bytes = c.encode();
        assert_eq!(bytes[0], FORMAT_V2);
        assert_eq!(Command::decode(&bytes).unwrap(), c);
        let old = Command {
            ops: vec![Op::Create(plain)],
        };
        assert_eq!(
            old.encode()[0],
            FORMAT_V1,
            "commands without them keep format 1"
        );
        assert!(Command::decode(&bytes[..bytes.len() - 3]).is_err());
    }

    #[test]
    fn a_canary_travels_beside_the_archive() {
        use skiff_proto::model::Deployment;
        use skiff_proto::model::canary::{CanaryStatus, CanaryStrategy};
        let mut d = Deployment::default();
        d.metadata.name = "web".into();
        d.spec.strategy = Some(skiff_proto::model::DeploymentStrategy {
            canary: Some(Box::new(CanaryStrategy {
                stable_service: "a".into(),
                ..Default::default()
            })),
            ..Default::default()
        });
        d.status = Some(skiff_proto::model::DeploymentStatus {
            canary: Some(Box::new(CanaryStatus {
                weight: 20,
                ..Default::default()
            })),
            ..Default::default()
        });
        let c = Command {
            ops: vec![
                Op::Check {
                    key: "x".into(),
                    expected: None,
                },
                Op::Create(Object::Deployment(d)),
                // Another object's managed fields travel in format 3 too.
                Op::Update {
                    object: owned_config_map(),
                    expected: Some(2),
                },
            ],
        };
        let bytes = c.encode();
        assert_eq!(bytes[0], FORMAT_V3);
        assert_eq!(Command::decode(&bytes).unwrap(), c);
    }
}
