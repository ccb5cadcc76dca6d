//! The write path shared by the object API's verbs: a plan (see `apply`) checked by
//! admission and committed through the store, with reads that precede writes.

use skiff_proto::Object;
use skiff_proto::grpc::api::{ObjectEnvelope, ReadConsistency};
use skiff_proto::manifest::{self, Source};
use tonic::{Code, Status};

use super::apply::Plan;
use super::objects::{ObjectApi, envelope};
use super::quota::{QUOTA_ATTEMPTS, lost_quota_race};
use super::{admission, status};
use crate::store::{Command, Op, Stored};

/// How often apply plans again from a linearizable read after losing a race with another
/// writer (besides its first plan, from the member's own copy).
pub const APPLY_ATTEMPTS: usize = 5;

/// Whether a write failed only because another writer got in first.
pub fn lost_race(e: &Status) -> bool {
    matches!(e.code(), Code::Aborted | Code::AlreadyExists)
}

/// `current` with the status given as JSON (`status_json`), decoded and checked with the
/// same rules as a manifest.
pub fn status_object(current: &Object, status_json: &[u8]) -> Result<Object, Status> {
    let status: serde_json::Value = serde_json::from_slice(status_json)
        .map_err(|e| Status::invalid_argument(format!("the status is not JSON: {e}")))?;
    let mut doc = serde_json::to_value(current).map_err(|e| Status::internal(e.to_string()))?;
    if let Some(m) = doc.as_object_mut() {
        m.insert("status".to_owned(), status);
    }
    let text = doc.to_string();
    manifest::decode_one(&text, &Source::named("<status>")).map_err(|d| status::invalid(&d))
}

impl ObjectApi {
    /// The object at `k`, read linearizably, or NOT_FOUND.
    pub(crate) async fn current(&self, k: &str) -> Result<Stored, Status> {
        self.read_barrier(ReadConsistency::Linearizable as i32)
            .await?;
        self.local(k)
    }

    /// This member's copy of the object at `k` (it may lag the leader), or NOT_FOUND.
    pub(crate) fn local(&self, k: &str) -> Result<Stored, Status> {
        self.store
            .state()
            .get(k)
            .map_err(status::store)?
            .ok_or_else(|| Status::not_found(format!("{k} not found")))
    }

    /// Admission of `plan` over `current`, and the object it would store (dry runs).
    pub(super) async fn check(
        &self,
        current: Option<&Stored>,
        plan: Plan,
    ) -> Result<ObjectEnvelope, Status> {
        match plan {
            Plan::Unchanged(s) => envelope(&s.object, s.revision),
            Plan::Create(mut o) => {
                self.admit_priority(&mut o)?;
                self.limit_ranges(&mut o)?;
                let o = self.policies(o, None, "CREATE").await?;
                self.namespace_guard(&o).await?;
                self.pod_security(&o)?;
                self.quota_ops(std::slice::from_ref(&o))?;
                envelope(&o, 0)
            }
            Plan::Update { mut object, .. } => {
                if let Some(c) = current {
                    admission::immutable(&c.object, &object)?;
                    object = self.policies(object, Some(&c.object), "UPDATE").await?;
                    self.pod_security_changed(&c.object, &object)?;
                }
                if matches!(object, Object::PriorityClass(_)) {
                    self.admit_priority(&mut object)?;
                }
                envelope(&object, 0)
            }
        }
    }

    /// Admission of `plan` over `current`, then the write; returns the stored object and
    /// its revision.
    pub(super) async fn commit(
        &self,
        current: Option<&Stored>,
        plan: Plan,
    ) -> Result<(ObjectEnvelope, u64), Status> {
        let (op, guard) = match plan {
            Plan::Unchanged(s) => return Ok((envelope(&s.object, s.revision)?, s.revision)),
            Plan::Create(mut o) => {
                self.admit_priority(&mut o)?;
                self.limit_ranges(&mut o)?;
                let o = self.policies(o, None, "CREATE").await?;
                let guard = self.namespace_guard(&o).await?;
                self.pod_security(&o)?;
                let object = self.create_charged(o, guard).await?;
                let rev = object.resource_version;
                return Ok((object, rev));
            }
            Plan::Update {
                mut object,
                expected,
            } => {
                if let Some(c) = current {
                    admission::immutable(&c.object, &object)?;
                    if object.metadata().deletion_timestamp.is_none() {
                        object = self.policies(object, Some(&c.object), "UPDATE").await?;
                    }
                    self.pod_security_changed(&c.object, &object)?;
                }
                if matches!(object, Object::PriorityClass(_)) {
                    self.admit_priority(&mut object)?;
                }
                let m = object.metadata();
                if m.deletion_timestamp.is_some() && m.finalizers.is_empty() {
                    // The last finalizer of an object being deleted is gone: so is it, with
                    // what depends on it and what waited for it.
                    let s = Stored {
                        revision: expected,
                        object,
                    };
                    let rev = self.finish_removal(&s).await?;
                    return Ok((envelope(&s.object, rev)?, rev));
                }
                let op = Op::Update {
                    object,
                    expected: Some(expected),
                };
                (op, None)
            }
        };
        let object = self.write(op, guard.into_iter().collect()).await?;
        let rev = object.resource_version;
        Ok((object, rev))
    }

    /// Creates `o` after `guard`, charging its namespace's quotas in the same command;
    /// planned again when another write changed a quota first.
    async fn create_charged(&self, o: Object, guard: Option<Op>) -> Result<ObjectEnvelope, Status> {
        for _ in 0..QUOTA_ATTEMPTS {
            let quotas = self.quota_ops(std::slice::from_ref(&o))?;
            let charged = !quotas.is_empty();
            let guards = guard.clone().into_iter().chain(quotas).collect();
            match self.write(Op::Create(o.clone()), guards).await {
                Err(e) if charged && lost_quota_race(&e) => {
                    self.read_barrier(ReadConsistency::Linearizable as i32)
                        .await?;
                }
                done => return done,
            }
        }
        Err(Status::aborted(format!(
            "{}: its namespace's quota kept changing ({QUOTA_ATTEMPTS} attempts); try again",
            o.display_name()
        )))
    }

    pub(super) async fn read_barrier(&self, c: i32) -> Result<(), Status> {
        if c == ReadConsistency::Serializable as i32 {
            return Ok(());
        }
        self.store
            .linearizable()
            .await
            .map(|_| ())
            .map_err(status::write)
    }

    /// Proposes one operation (after `guards`: preconditions and quota charges) and
    /// answers with the object as that write left it (for a deletion, its last state), at
    /// the write's revision.
    pub(super) async fn write(&self, op: Op, guards: Vec<Op>) -> Result<ObjectEnvelope, Status> {
        let k = op
            .key()
            .ok_or_else(|| Status::internal("an artifact operation is not an object write"))?;
        let written = match &op {
            Op::Create(o) | Op::Update { object: o, .. } => Some(o.clone()),
            Op::PutChunk(_) | Op::SealArtifact { .. } | Op::Check { .. } => None,
            Op::Delete { .. } => self
                .store
                .state()
                .get(&k)
                .map_err(status::store)?
                .map(|s| s.object),
        };
        let rev = self
            .store
            .propose_keyed(
                Command {
                    ops: guards.into_iter().chain([op]).collect(),
                },
                crate::store::request_key(&super::policies::key_scope(&k)),
            )
            .await
            .map_err(status::write)?;
        // Read-your-writes on this member, even for serializable reads.
        self.store.wait_applied(rev).await.map_err(status::write)?;
        match written {
            Some(mut o) => {
                o.metadata_mut().resource_version = Some(rev);
                envelope(&o, rev)
            }
            // Deleted before this member saw it: the deletion's event has its last state.
            None => {
                let events = self
                    .store
                    .state()
                    .events_since(rev.saturating_sub(1))
                    .map_err(status::store)?;
                match events.into_iter().find(|e| e.revision == rev && e.key == k) {
                    Some(e) => envelope(&e.object, rev),
                    None => Err(Status::not_found(format!("{k} not found"))),
                }
            }
        }
    }
}
