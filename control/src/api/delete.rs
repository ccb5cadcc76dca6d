//! Deletion, as Kubernetes defines it, decided by the API server and written in one raft
//! transaction with everything it brings along:
//! - an object with finalizers is only marked (`deletionTimestamp`); it goes when an update
//!   removes its last finalizer (see `writes`), and then its dependents go too;
//! - dependents (objects whose `ownerReferences` name it, transitively) go with it
//!   (`Background`), or before it (`Foreground`: while a finalizer holds one, the owner,
//!   and every dependent between them, waits with the `foregroundDeletion` finalizer), or
//!   stay without that owner reference (`Orphan`);
//! - a Namespace takes every object in it along; while finalizers hold some of them it
//!   stays `Terminating`, and it goes with the last of them. `default` cannot be deleted.
//!
//! Kubernetes' garbage collector does this asynchronously; here each step happens in the
//! transaction of the write that allows it, so no dependent outlives its owner.

use std::collections::{BTreeMap, BTreeSet};

use skiff_proto::grpc::api::{DeletePropagation, ObjectEnvelope};
use skiff_proto::model::event::EventType;
use skiff_proto::model::namespace::{NamespacePhase, NamespaceStatus};
use skiff_proto::model::values::Time;
use skiff_proto::{Kind, Object};
use tonic::Status;

use super::objects::{ObjectApi, envelope};
use super::{events, status};
use crate::store::{Command, Op, StateMachine, Stored, key};

/// The finalizer an owner waits with while its dependents go first.
pub const FOREGROUND: &str = "foregroundDeletion";

/// The namespace every cluster has, which cannot be deleted.
pub const DEFAULT_NAMESPACE: &str = "default";
/// The namespaces every cluster has from its start: objects may go in them before a
/// member has made them, and they cannot be deleted.
pub const ALWAYS_THERE: [&str; 2] = [DEFAULT_NAMESPACE, skiff_proto::model::bootstrap::NAMESPACE];

/// Every object a deletion may touch: the namespace of the object (or, for a cluster-scoped
/// object, every cluster-scoped object).
struct Scope {
    all: Vec<Stored>,
}

impl Scope {
    fn load(state: &StateMachine, around: &Object) -> Result<Scope, Status> {
        let mut all = Vec::new();
        for kind in Kind::ALL {
            let ns = match (kind.is_namespaced(), around) {
                (false, o) if o.kind().is_namespaced() => continue,
                (false, _) => None,
                (true, Object::Namespace(n)) => Some(n.metadata.name.as_str()),
                (true, o) if o.kind().is_namespaced() => Some(o.metadata().namespace.as_str()),
                (true, _) => continue,
            };
            all.extend(state.list(kind, ns, None).map_err(status::store)?.0);
        }
        // The namespace a namespaced object is in: it may be waiting for the object to go.
        if around.kind().is_namespaced() {
            let k = key::make(Kind::Namespace, "", &around.metadata().namespace);
            all.extend(state.get(&k).map_err(status::store)?);
        }
        Ok(Scope { all })
    }

    fn uid(o: &Object) -> &str {
        o.metadata().uid.as_deref().unwrap_or_default()
    }

    /// Objects naming `uid` as an owner.
    fn direct(&self, uid: &str) -> Vec<&Stored> {
        if uid.is_empty() {
            return Vec::new();
        }
        self.all
            .iter()
            .filter(|s| {
                s.object
                    .metadata()
                    .owner_references
                    .iter()
                    .any(|r| r.uid == uid)
            })
            .collect()
    }

    /// Everything that depends on `owner`, transitively; for a Namespace, everything in it
    /// too.
    fn dependents(&self, owner: &Object) -> Vec<&Stored> {
        let own = key::of(owner);
        let mut taken = BTreeSet::from([own]);
        let mut found: Vec<&Stored> = Vec::new();
        if owner.kind() == Kind::Namespace {
            for s in self.all.iter().filter(|s| s.object.kind().is_namespaced()) {
                taken.insert(key::of(&s.object));
                found.push(s);
            }
        }
        let mut frontier: Vec<String> = found
            .iter()
            .map(|s| Self::uid(&s.object).to_owned())
            .collect();
        frontier.push(Self::uid(owner).to_owned());
        while let Some(uid) = frontier.pop() {
            for s in self.direct(&uid) {
                if taken.insert(key::of(&s.object)) {
                    found.push(s);
                    frontier.push(Self::uid(&s.object).to_owned());
                }
            }
        }
        found
    }
}

/// A deletion's writes, one per key, and the events that explain what waits.
#[derive(Default)]
struct Removal {
    writes: BTreeMap<String, Op>,
    /// Keys deleted by this transaction.
    gone: BTreeSet<String>,
    events: Vec<(Object, String)>,
}

impl Removal {
    fn delete(&mut self, s: &Stored) {
        let k = key::of(&s.object);
        self.gone.insert(k.clone());
        self.writes.insert(
            k.clone(),
            Op::Delete {
                key: k,
                expected: Some(s.revision),
            },
        );
    }

    /// Objects that go are deleted whatever changed in them since the plan (a pod's or a
    /// ReplicaSet's status, say): they go either way, and a cascade over thousands of
    /// pods must not lose to their agents' status reports forever. The object at `keep`
    /// (asked for at a revision) and every update (marks that wait for finalizers) stay
    /// compare-and-swap.
    fn unconditional_deletes(&mut self, keep: Option<&str>) {
        for (k, op) in self.writes.iter_mut() {
            if let Op::Delete { expected, .. } = op
                && Some(k.as_str()) != keep
            {
                *expected = None;
            }
        }
    }

    fn update(&mut self, s: &Stored, object: Object) {
        let op = Op::Update {
            object,
            expected: Some(s.revision),
        };
        self.writes.insert(key::of(&s.object), op);
    }

    /// `s` marked as being deleted (with `extra` finalizer added), unless it already is.
    fn mark(&mut self, s: &Stored, now: Time, extra: Option<&str>) -> Object {
        let mut o = s.object.clone();
        let m = o.metadata_mut();
        let mut changed = m.deletion_timestamp.is_none();
        m.deletion_timestamp.get_or_insert(now);
        if let Some(f) = extra.filter(|f| !m.finalizers.iter().any(|x| x == f)) {
            m.finalizers.push(f.to_owned());
            changed = true;
        }
        if let Object::Namespace(n) = &mut o
            && n.status.as_ref().and_then(|s| s.phase) != Some(NamespacePhase::Terminating)
        {
            n.status = Some(NamespaceStatus {
                phase: Some(NamespacePhase::Terminating),
            });
            changed = true;
        }
        if changed {
            self.update(s, o.clone());
        }
        o
    }
}

fn held(s: &Stored) -> bool {
    !s.object.metadata().finalizers.is_empty()
}

fn short(o: &Object) -> String {
    format!(
        "{}/{}",
        o.kind().name().to_ascii_lowercase(),
        o.metadata().name
    )
}

/// What waits: `kind/name (finalizers)` of each held object, the first few.
fn holders(list: &[&Stored]) -> String {
    let mut names: Vec<String> = list
        .iter()
        .take(5)
        .map(|s| {
            format!(
                "{} ({})",
                short(&s.object),
                s.object.metadata().finalizers.join(", ")
            )
        })
        .collect();
    if list.len() > 5 {
        names.push(format!("and {} more", list.len() - 5));
    }
    names.join(", ")
}

/// Deletes `target` now (it has no finalizers), and what it brings along.
fn remove_now(
    scope: &Scope,
    target: &Stored,
    propagation: DeletePropagation,
    now: Time,
    r: &mut Removal,
) {
    let deps = scope.dependents(&target.object);
    let namespace = target.object.kind() == Kind::Namespace;
    if propagation == DeletePropagation::Orphan && !namespace {
        let uid = Scope::uid(&target.object);
        for d in scope.direct(uid) {
            let mut o = d.object.clone();
            o.metadata_mut().owner_references.retain(|x| x.uid != uid);
            r.update(d, o);
        }
        r.delete(target);
        return;
    }
    let holding: Vec<&Stored> = deps.iter().copied().filter(|d| held(d)).collect();
    let wait = !holding.is_empty() && (namespace || propagation == DeletePropagation::Foreground);
    // Foreground: whatever owns a held dependent waits too, so the chain stays whole.
    let mut waiting: BTreeSet<String> = BTreeSet::new();
    if wait && !namespace {
        let mut frontier: Vec<&Stored> = holding.clone();
        while let Some(d) = frontier.pop() {
            for o in &d.object.metadata().owner_references {
                if let Some(owner) = deps.iter().find(|s| Scope::uid(&s.object) == o.uid)
                    && waiting.insert(key::of(&owner.object))
                {
                    frontier.push(owner);
                }
            }
        }
    }
    for d in &deps {
        if held(d) {
            r.mark(d, now, None);
        } else if waiting.contains(&key::of(&d.object)) {
            r.mark(d, now, Some(FOREGROUND));
        } else {
            r.delete(d);
        }
    }
    if wait {
        let marked = r.mark(target, now, (!namespace).then_some(FOREGROUND));
        let why = format!(
            "waiting for {} object(s) held by finalizers: {}",
            holding.len(),
            holders(&holding)
        );
        r.events.push((marked, why));
    } else {
        r.delete(target);
    }
}

/// Owners (and a terminating namespace) that were waiting only for what `r` deletes go
/// too, and then whatever waited for them.
fn settle(scope: &Scope, r: &mut Removal) {
    let remaining = |r: &Removal, uid: &str| {
        scope
            .direct(uid)
            .iter()
            .any(|s| !r.gone.contains(&key::of(&s.object)))
    };
    loop {
        let before = r.gone.len();
        for s in &scope.all {
            let k = key::of(&s.object);
            let m = s.object.metadata();
            if r.gone.contains(&k) || m.deletion_timestamp.is_none() {
                continue;
            }
            if let Object::Namespace(n) = &s.object {
                let empty = scope
                    .all
                    .iter()
                    .filter(|o| {
                        o.object.kind().is_namespaced()
                            && o.object.metadata().namespace == n.metadata.name
                    })
                    .all(|o| r.gone.contains(&key::of(&o.object)));
                if empty && m.finalizers.is_empty() {
                    r.delete(s);
                }
                continue;
            }
            if !m.finalizers.iter().any(|f| f == FOREGROUND) || remaining(r, Scope::uid(&s.object))
            {
                continue;
            }
            let mut o = match r.writes.get(&k) {
                Some(Op::Update { object, .. }) => object.clone(),
                _ => s.object.clone(),
            };
            o.metadata_mut().finalizers.retain(|f| f != FOREGROUND);
            if o.metadata().finalizers.is_empty() {
                r.delete(s);
            } else {
                r.update(s, o);
            }
        }
        if r.gone.len() == before {
            return;
        }
    }
}

impl ObjectApi {
    /// Deletes (or marks) the object at `k` and what depends on it; returns the object's
    /// last state, or its marked state if something holds it. When a dependent changes
    /// between the plan and the write (e.g. an agent reports a pod's status), the
    /// deletion is planned again, unless the caller asked for a revision.
    pub(super) async fn delete_object(
        &self,
        k: &str,
        expected: Option<u64>,
        propagation: DeletePropagation,
        dry_run: bool,
    ) -> Result<ObjectEnvelope, Status> {
        let mut last = None;
        for _ in 0..super::writes::APPLY_ATTEMPTS {
            match self.delete_once(k, expected, propagation, dry_run).await {
                Err(e) if expected.is_none() && e.code() == tonic::Code::Aborted => last = Some(e),
                other => return other,
            }
        }
        Err(last.unwrap_or_else(|| {
            Status::aborted(format!(
                "{k} kept changing while it was deleted; delete it again"
            ))
        }))
    }

    async fn delete_once(
        &self,
        k: &str,
        expected: Option<u64>,
        propagation: DeletePropagation,
        dry_run: bool,
    ) -> Result<ObjectEnvelope, Status> {
        for ns in ALWAYS_THERE {
            if k == key::make(Kind::Namespace, "", ns) {
                return Err(Status::failed_precondition(format!(
                    "namespace {ns} may not be deleted: every cluster has it; delete what is in it instead"
                )));
            }
        }
        let current = self.current(k).await?;
        if let Some(e) = expected.filter(|&e| e != current.revision) {
            return Err(Status::aborted(format!(
                "{k} changed: expected resourceVersion {e}, it is now {}; get it again and retry",
                current.revision
            )));
        }
        let now = Time::now();
        let scope = Scope::load(self.store.state(), &current.object)?;
        let mut r = Removal::default();
        if held(&current) {
            r.mark(&current, now, None);
        } else {
            remove_now(&scope, &current, propagation, now, &mut r);
            settle(&scope, &mut r);
        }
        let stays = match r.writes.get(k) {
            Some(Op::Update { object, .. }) => Some(object.clone()),
            Some(_) => None,
            None => Some(current.object.clone()),
        };
        let shown = stays.clone().unwrap_or_else(|| current.object.clone());
        if dry_run || r.writes.is_empty() {
            return envelope(&shown, current.revision);
        }
        r.unconditional_deletes(expected.is_some().then_some(k));
        let rev = self.write_removal(r).await?;
        let mut shown = shown;
        if stays.is_some() {
            shown.metadata_mut().resource_version = Some(rev);
        }
        envelope(&shown, rev)
    }

    /// The writes that remove `s`, whose last finalizer an update just took away (`s` is
    /// that update's object, at the revision it was read at): it, its dependents, and the
    /// owners that waited for it.
    pub(super) async fn finish_removal(&self, s: &Stored) -> Result<u64, Status> {
        let scope = Scope::load(self.store.state(), &s.object)?;
        let mut r = Removal::default();
        remove_now(
            &scope,
            s,
            DeletePropagation::Background,
            Time::now(),
            &mut r,
        );
        settle(&scope, &mut r);
        self.write_removal(r).await
    }

    async fn write_removal(&self, r: Removal) -> Result<u64, Status> {
        let mut ops: Vec<Op> = r.writes.into_values().collect();
        for (about, why) in &r.events {
            let reason = if about.kind() == Kind::Namespace {
                "Terminating"
            } else {
                "DeletingDependents"
            };
            ops.push(events::record(
                self.store.state(),
                about,
                EventType::Normal,
                reason,
                why,
            )?);
        }
        // The client's key applies to this removal (named by the first object it deletes).
        let what = ops
            .iter()
            .find_map(|o| match o {
                Op::Delete { key, .. } => Some(format!("delete {key}")),
                _ => None,
            })
            .unwrap_or_default();
        let rev = self
            .store
            .propose_keyed(
                Command { ops },
                crate::store::request_key(&super::policies::key_scope(&what)),
            )
            .await
            .map_err(status::write)?;
        self.store.wait_applied(rev).await.map_err(status::write)?;
        Ok(rev)
    }
}
