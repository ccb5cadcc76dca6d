//! Server-side apply on the object API: a configuration merged into the object with field
//! ownership, planned from this member's copy first and again from a linearizable read
//! when the store refuses the write, as Kubernetes' apiserver retries its guaranteed
//! updates.
//!
//! Admission's other inputs (quotas, limit ranges, admission policies, the namespace's
//! labels for an update) are read from this member's copy, as for create and update, and
//! as Kubernetes' admission reads its informer caches: an object written through another
//! member an instant before may not be seen yet.

use serde_json::Value;
use skiff_proto::Object;
use skiff_proto::grpc::api::{ApplyOutcome, ApplyResponse, ReadConsistency};
use skiff_proto::model::ManagedFields;
use skiff_proto::model::values::Time;
use tonic::{Code, Status};

use super::apply::{self as plan, Plan};
use super::objects::{ObjectApi, Writer, admit, as_json, conflicts, decode_raw, envelope, owners};
use super::writes::{APPLY_ATTEMPTS, lost_race};
use super::{managed, status};
use crate::store::Stored;

impl ObjectApi {
    /// What applying `config` (see [`configuration`](super::objects::configuration)) to the object at `k` makes of it,
    /// as this member has it now: merged and admitted, ownership not yet checked. For the
    /// checks that look at the object as it would be (RBAC escalation, Pod Security), and
    /// [`ObjectApi::apply_object`]'s first plan.
    pub(crate) fn apply_preview(
        &self,
        config: &Value,
        k: &str,
        how: &Writer,
    ) -> Result<Preview, Status> {
        let current = self.store.state().get(k).map_err(status::store)?;
        let (desired, merged, now) = self.merged(config, current.as_ref(), how)?;
        Ok(Preview {
            current,
            desired,
            merged,
            now,
        })
    }

    /// `config` merged into `current` and admitted, with what settling its ownership needs.
    fn merged(
        &self,
        config: &Value,
        current: Option<&Stored>,
        how: &Writer,
    ) -> Result<(Object, managed::Merged, Option<Value>), Status> {
        let by = applier(config, how);
        let now = current.map(|c| as_json(&c.object)).transpose()?;
        let owned = current.map(|c| owners(&c.object)).transpose()?;
        let merged = managed::merge(now.as_ref(), owned.as_deref().unwrap_or(&[]), config, &by);
        let mut o = admit(decode_raw(merged.object.to_string().as_bytes())?)?;
        // A resourceVersion pins the write to a revision only when the client gave one.
        o.metadata_mut().resource_version = config["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|v| v.parse().ok());
        Ok((o, merged, now))
    }

    /// Server-side apply of `config` (the configuration as the client wrote it, see
    /// [`configuration`](super::objects::configuration)) to the object at `k`: the fields
    /// it sets become its manager's, merged into the object as stored; a field another
    /// manager owns that it would change is a conflict unless forced.
    ///
    /// `preview`, made from this member's copy (see [`ObjectApi::apply_preview`]), saves
    /// the first attempt its merge.
    pub(crate) async fn apply_object(
        &self,
        config: &Value,
        k: &str,
        how: &Writer,
        preview: Option<Preview>,
    ) -> Result<ApplyResponse, Status> {
        let pinned = config["metadata"].get("resourceVersion").is_some();
        // The first plan is made from this member's copy, as Kubernetes' apiserver plans
        // from its cache: the write carries what it was planned from (the revision it
        // updates, or that the object is absent, and its guards) and the store checks that
        // in the log's order, so a copy that lags costs a retry, never a lost or doubled
        // change to the object. Only success is taken from such a plan: a conflict, any
        // refusal and "unchanged" are confirmed from a linearizable read first. Dry runs
        // (nothing written checks their plan) and pinned applies read linearizably from
        // the start.
        let mut fresh = how.dry_run || pinned;
        // Whether the object existed when the caller was authorized (for `patch` or for
        // `create`): a plan that finds otherwise goes back to the caller.
        let authorized_exists = preview.as_ref().map(Preview::exists);
        let mut preview = preview.filter(|_| !fresh);
        // Another writer may get in between the read and the write: plan again from what
        // it wrote, as Kubernetes' apiserver retries its guaranteed updates. (One more
        // attempt for the plan from this member's copy.)
        let mut barrier_taken = false;
        for _ in 0..=APPLY_ATTEMPTS {
            if fresh && !barrier_taken {
                self.read_barrier(ReadConsistency::Linearizable as i32)
                    .await?;
            }
            barrier_taken = false;
            let planned = match preview.take() {
                Some(p) => Ok(p),
                None => self.apply_preview(config, k, how),
            };
            let Preview {
                current,
                mut desired,
                merged,
                now,
            } = match planned {
                Ok(p) => p,
                Err(_) if !fresh => {
                    fresh = true;
                    continue;
                }
                Err(e) => return Err(e),
            };
            if let Some(exists) = authorized_exists
                && exists != current.is_some()
            {
                return Err(Status::aborted(format!(
                    "{k} was {} while it was applied; apply again",
                    if exists { "deleted" } else { "created" }
                )));
            }
            let result = as_json(&desired)?;
            let by = applier(config, how);
            let entries = match managed::finish(merged, now.as_ref(), &result, &by) {
                Ok(entries) => entries,
                // Ownership read from a copy that lags may be out of date.
                Err(_) if !fresh => {
                    fresh = true;
                    continue;
                }
                Err(c) => return Err(conflicts(&c)),
            };
            desired.metadata_mut().managed_fields = ManagedFields::from_entries(&entries);
            let plan = plan::apply(current.as_ref(), desired, &Time::now());
            let outcome = match &plan {
                Plan::Create(_) => ApplyOutcome::Created,
                Plan::Update { .. } => ApplyOutcome::Configured,
                Plan::Unchanged(_) => ApplyOutcome::Unchanged,
            };
            if let Plan::Unchanged(s) = &plan
                && !fresh
            {
                // Unchanged holds if no later write reached the object.
                self.read_barrier(ReadConsistency::Linearizable as i32)
                    .await?;
                let now = self.store.state().get(k).map_err(status::store)?;
                if now.is_some_and(|n| n.revision == s.revision) {
                    return Ok(ApplyResponse {
                        object: Some(envelope(&s.object, s.revision)?),
                        outcome: outcome as i32,
                    });
                }
                (fresh, barrier_taken) = (true, true);
                continue;
            }
            let written = if how.dry_run {
                self.check(current.as_ref(), plan).await.map(|o| (o, 0))
            } else {
                self.commit(current.as_ref(), plan).await
            };
            match written {
                Ok((object, _)) => {
                    return Ok(ApplyResponse {
                        object: Some(object),
                        outcome: outcome as i32,
                    });
                }
                // Refused (nothing was written): perhaps by what this member's copy
                // lacked. An outcome that is not known is not tried again.
                Err(e) if !fresh && refused(&e) => fresh = true,
                Err(e) if lost_race(&e) && !pinned => {}
                Err(e) => return Err(e),
            }
        }
        Err(Status::aborted(format!(
            "{k} kept changing while it was applied ({APPLY_ATTEMPTS} attempts); apply again"
        )))
    }
}

/// Whether a write was refused, so nothing was written (rather than its outcome unknown:
/// no leader, no answer in time, the store stopped).
fn refused(e: &Status) -> bool {
    !matches!(
        e.code(),
        Code::Unavailable
            | Code::Internal
            | Code::DeadlineExceeded
            | Code::Cancelled
            | Code::Unknown
    )
}

/// An apply planned from one read of its object: the object as it was read (`None`:
/// absent), and what the configuration makes of it.
pub(crate) struct Preview {
    current: Option<Stored>,
    desired: Object,
    merged: managed::Merged,
    now: Option<Value>,
}

impl Preview {
    /// The object as the apply would leave it (ownership not yet checked).
    pub(crate) fn object(&self) -> &Object {
        &self.desired
    }

    /// Whether the object existed when it was read.
    pub(crate) fn exists(&self) -> bool {
        self.current.is_some()
    }
}

/// Who applies `config`, as ownership reads it.
fn applier<'a>(config: &'a Value, how: &'a Writer) -> managed::Applier<'a> {
    managed::Applier {
        manager: how.manager(),
        api_version: config["apiVersion"].as_str().unwrap_or_default(),
        force: how.force,
        now: Time::now(),
    }
}
