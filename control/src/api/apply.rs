//! How a request becomes the write that stores it: server-side apply (create or update,
//! no-op when nothing changed), replacement, and the status subresource. Pure functions of
//! the current object and the request, so the rules are tested without a cluster.
//!
//! The rules, as Kubernetes has them:
//! - `metadata.generation` starts at 1 and is bumped by every change of the desired state
//!   (spec, or data for kinds without one); metadata-only changes (labels, annotations,
//!   owners, finalizers) keep it.
//! - `status` belongs to the status subresource: create starts without one, apply and
//!   update keep the current one, and a status write changes nothing else.
//! - `uid` and `creationTimestamp` are set once, at creation.

use skiff_proto::Object;
use skiff_proto::model::Time;

use crate::store::Stored;

/// The write a request comes to.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    Create(Object),
    /// Compare-and-swap against the revision the plan was made from.
    Update {
        object: Object,
        expected: u64,
    },
    /// Nothing to write: the object is already as asked.
    Unchanged(Stored),
}

/// `desired` as a new object: identity, creation time and first generation.
pub fn created(mut desired: Object, now: &Time) -> Object {
    let m = desired.metadata_mut();
    if m.name.is_empty()
        && let Some(prefix) = &m.generate_name
    {
        m.name = format!("{prefix}{}", name_suffix());
    }
    m.uid = Some(uuid::Uuid::new_v4().to_string());
    m.creation_timestamp = Some(*now);
    m.generation = Some(1);
    m.resource_version = None;
    m.deletion_timestamp = None;
    desired.set_status_from(None);
    desired
}

/// Five characters that complete a `generateName` (Kubernetes' alphabet: no vowels, so
/// no words, and no look-alike digits).
fn name_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let bytes = *uuid::Uuid::new_v4().as_bytes();
    bytes[..5]
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

/// Server-side apply of `desired` over `current`.
pub fn apply(current: Option<&Stored>, desired: Object, now: &Time) -> Plan {
    let Some(current) = current else {
        return Plan::Create(created(desired, now));
    };
    let expected = desired
        .metadata()
        .resource_version
        .unwrap_or(current.revision);
    if !changes(&current.object, &desired) && expected == current.revision {
        return Plan::Unchanged(current.clone());
    }
    Plan::Update {
        object: replaced(&current.object, desired),
        expected,
    }
}

/// Replacement of `current` by `desired` (Update): the same as apply, but always written.
pub fn update(current: &Stored, desired: Object, expected: Option<u64>) -> Plan {
    Plan::Update {
        object: replaced(&current.object, desired),
        expected: expected.unwrap_or(current.revision),
    }
}

/// `current` with `status` as its status and nothing else changed.
pub fn status(current: &Stored, with_status: &Object, expected: Option<u64>) -> Plan {
    let mut object = current.object.clone();
    object.set_status_from(Some(with_status));
    Plan::Update {
        object,
        expected: expected.unwrap_or(current.revision),
    }
}

/// Whether writing `desired` over `current` would change anything a user writes.
fn changes(current: &Object, desired: &Object) -> bool {
    let (c, d) = (current.metadata(), desired.metadata());
    c.labels != d.labels
        || c.annotations != d.annotations
        || c.owner_references != d.owner_references
        || c.finalizers != d.finalizers
        || c.managed_fields != d.managed_fields
        || current.desired_state() != desired.desired_state()
}

/// `desired` keeping what the server manages in `current`: identity, creation and
/// deletion times, status; generation bumped if the desired state changed.
fn replaced(current: &Object, mut desired: Object) -> Object {
    let spec_changed = current.desired_state() != desired.desired_state();
    let c = current.metadata();
    let m = desired.metadata_mut();
    m.uid = c.uid.clone();
    m.creation_timestamp = c.creation_timestamp;
    m.deletion_timestamp = c.deletion_timestamp;
    let generation = c.generation.unwrap_or(1);
    m.generation = Some(if spec_changed {
        generation + 1
    } else {
        generation
    });
    m.resource_version = None;
    desired.set_status_from(Some(current));
    desired
}
