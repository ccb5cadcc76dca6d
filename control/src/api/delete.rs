//! Deletion, as Kubernetes defines it, decided by the API server and written in one raft
//! transaction:
//! - an object with finalizers is only marked (`deletionTimestamp`); it goes when an update
//!   removes its last finalizer (see `writes`);
//! - dependents (objects whose `ownerReferences` name it, transitively) go with it, unless
//!   the propagation is `Orphan`: then they stay, without that owner reference;
//! - a Namespace takes every object in it along.
//!
//! Kubernetes' garbage collector removes dependents asynchronously (background) or before
//! the owner (foreground); here both happen in the owner's own transaction, so no dependent
//! outlives its owner. Dependents held by finalizers are marked like any other.

use std::collections::BTreeSet;

use skiff_proto::grpc::api::{DeletePropagation, ObjectEnvelope};
use skiff_proto::model::values::Time;
use skiff_proto::{Kind, Object};
use tonic::Status;

use super::objects::{ObjectApi, envelope};
use super::status;
use crate::store::{Command, Op, Stored, key};

impl ObjectApi {
    /// Deletes (or marks) the object at `k` and what depends on it; returns the object's
    /// last state, or its marked state if finalizers hold it.
    pub(super) async fn delete_object(
        &self,
        k: &str,
        expected: Option<u64>,
        propagation: DeletePropagation,
        dry_run: bool,
    ) -> Result<ObjectEnvelope, Status> {
        let current = self.current(k).await?;
        if let Some(e) = expected.filter(|&e| e != current.revision) {
            return Err(Status::aborted(format!(
                "{k} changed: expected resourceVersion {e}, it is now {}; get it again and retry",
                current.revision
            )));
        }
        let now = Time::now();
        let mut ops = Vec::new();
        let answer = removal(&current, now, &mut ops);
        if answer.is_none() {
            // Not held: its dependents go (or are orphaned) in the same transaction.
            let dependents = self.dependents(&current.object)?;
            let uid = current.object.metadata().uid.clone().unwrap_or_default();
            for d in &dependents {
                if propagation == DeletePropagation::Orphan && !is_namespace(&current.object) {
                    let direct = d
                        .object
                        .metadata()
                        .owner_references
                        .iter()
                        .any(|r| r.uid == uid);
                    if direct {
                        ops.push(orphaned(d, &uid));
                    }
                } else {
                    removal(d, now, &mut ops);
                }
            }
        }
        let shown = answer.as_ref().unwrap_or(&current.object);
        if dry_run {
            return envelope(shown, current.revision);
        }
        let rev = self
            .store
            .propose(Command { ops })
            .await
            .map_err(status::write)?;
        self.store.wait_applied(rev).await.map_err(status::write)?;
        let mut shown = shown.clone();
        if answer.is_some() {
            shown.metadata_mut().resource_version = Some(rev);
        }
        envelope(&shown, rev)
    }

    /// Everything that depends on `owner`, transitively: objects naming it (or a dependent)
    /// in their owner references, and for a Namespace, everything in it.
    fn dependents(&self, owner: &Object) -> Result<Vec<Stored>, Status> {
        let state = self.store.state();
        let mut all = Vec::new();
        for kind in Kind::ALL {
            // Dependents share a namespaced owner's namespace; a Namespace holds its own.
            let ns = match (kind.is_namespaced(), owner) {
                (false, o) if o.kind().is_namespaced() => continue,
                (false, _) => None,
                (true, Object::Namespace(n)) => Some(n.metadata.name.as_str()),
                (true, o) if o.kind().is_namespaced() => Some(o.metadata().namespace.as_str()),
                (true, _) => None,
            };
            let (items, _) = state.list(kind, ns, None).map_err(status::store)?;
            all.extend(items);
        }
        let mut owners: BTreeSet<String> = owner.metadata().uid.iter().cloned().collect();
        let mut found: Vec<Stored> = Vec::new();
        let mut taken = BTreeSet::new();
        let own_key = key::of(owner);
        // Everything in a namespace, then whatever their owner references reach.
        if is_namespace(owner) {
            for s in &all {
                if s.object.kind().is_namespaced() && taken.insert(key::of(&s.object)) {
                    owners.extend(s.object.metadata().uid.iter().cloned());
                    found.push(s.clone());
                }
            }
        }
        loop {
            let before = found.len();
            for s in &all {
                let k = key::of(&s.object);
                let owned = s
                    .object
                    .metadata()
                    .owner_references
                    .iter()
                    .any(|r| owners.contains(&r.uid));
                if owned && k != own_key && taken.insert(k) {
                    owners.extend(s.object.metadata().uid.iter().cloned());
                    found.push(s.clone());
                }
            }
            if found.len() == before {
                return Ok(found);
            }
        }
    }
}

fn is_namespace(o: &Object) -> bool {
    o.kind() == Kind::Namespace
}

/// The op that deletes `s`, or marks it if finalizers hold it; returns the marked object
/// in that case.
fn removal(s: &Stored, now: Time, ops: &mut Vec<Op>) -> Option<Object> {
    let m = s.object.metadata();
    if m.finalizers.is_empty() {
        ops.push(Op::Delete {
            key: key::of(&s.object),
            expected: Some(s.revision),
        });
        return None;
    }
    let mut marked = s.object.clone();
    if m.deletion_timestamp.is_none() {
        marked.metadata_mut().deletion_timestamp = Some(now);
        ops.push(Op::Update {
            object: marked.clone(),
            expected: Some(s.revision),
        });
    }
    Some(marked)
}

/// `s` without its owner reference to the owner with `uid`.
fn orphaned(s: &Stored, uid: &str) -> Op {
    let mut o = s.object.clone();
    o.metadata_mut().owner_references.retain(|r| r.uid != uid);
    Op::Update {
        object: o,
        expected: Some(s.revision),
    }
}
