//! The Deployment controller: a Deployment's pods come from ReplicaSets, one per
//! template revision. Each reconcile reads the Deployment, its ReplicaSets and their
//! pods, and makes one step:
//! - `RollingUpdate`: grow the new ReplicaSet within `maxSurge`, shrink old ones while
//!   `replicas - maxUnavailable` pods stay available (`rollout`);
//! - `Recreate`: old ReplicaSets to zero, wait for their pods to go, then the new one;
//! - paused: only the replica count follows `replicas`, the template does not roll;
//! - `Canary`: the new revision walks the strategy's steps of traffic weights and pauses
//!   behind an HTTPRoute, analysed on the routers' figures (`canary` decides, `analysis`
//!   reads and judges, `shift` writes Services and route, `progress` ties them together);
//! - then revision bookkeeping (`history`) and the status (`status`).
//!
//! Rolling back is a client's act, as in `kubectl rollout undo`: it writes an old
//! revision's template into the Deployment, which makes that ReplicaSet current again.

pub mod analysis;
pub mod canary;
pub mod history;
mod progress;
pub mod rollout;
pub mod shift;
pub mod status;

use std::sync::Arc;
use std::time::Duration;

use skiff_proto::model::canary::CanaryPhase;
use skiff_proto::model::deployment::DeploymentStrategyType;
use skiff_proto::model::event::EventType;
use skiff_proto::model::values::Time;
use skiff_proto::model::{Deployment, ReplicaSet};
use skiff_proto::{Kind, Object};
use tonic::Status;

use super::pods;
use super::runner::{Next, Reconciler, live, own_key, owner_keys};
use crate::machinery::cache::{Cache, Change};
use crate::machinery::client::Client;
use rollout::Counts;
use status::Tally;

/// The component its events name (Kubernetes').
const COMPONENT: &str = "deployment-controller";

pub struct DeploymentController {
    pub cache: Cache,
    pub client: Client,
    /// Canaries' traffic readings.
    pub analyst: Arc<analysis::Analyst>,
}

/// A ReplicaSet of the Deployment, with its revision in the store.
struct Set {
    rev: u64,
    rs: ReplicaSet,
    /// Its active pods, and how many are ready and available.
    active: i32,
    ready: i32,
    available: i32,
}

impl Set {
    fn counts(&self) -> Counts {
        Counts {
            name: self.rs.metadata.name.clone(),
            spec: self.rs.spec.replicas.unwrap_or(1),
            available: self.available,
        }
    }
}

impl Reconciler for DeploymentController {
    const NAME: &'static str = "deployment";
    const KIND: Kind = Kind::Deployment;

    fn keys(&self, c: &Change, cache: &Cache) -> Vec<String> {
        match c.kind {
            Kind::Deployment => own_key(c, Kind::Deployment),
            Kind::ReplicaSet => owner_keys(c, Kind::Deployment),
            // A pod's readiness moves its Deployment's rollout.
            Kind::Pod => owner_keys(c, Kind::ReplicaSet)
                .into_iter()
                .filter_map(|rs| cache.get_key(Kind::ReplicaSet, &rs))
                .flat_map(|rs| {
                    owner_keys(
                        &Change {
                            kind: Kind::ReplicaSet,
                            key: String::new(),
                            old: None,
                            new: Some(rs),
                        },
                        Kind::Deployment,
                    )
                })
                .collect(),
            // A canary's Services and route, changed by someone else, are set again.
            Kind::Service | Kind::HttpRoute => {
                let Some(o) = c.latest() else {
                    return Vec::new();
                };
                let m = o.metadata();
                cache
                    .list(Kind::Deployment, Some(&m.namespace))
                    .into_iter()
                    .filter(|s| {
                        matches!(&s.object, Object::Deployment(d)
                            if shift::names_object(d, c.kind, &m.name))
                    })
                    .map(|s| crate::store::key::of(&s.object))
                    .collect()
            }
            _ => Vec::new(),
        }
    }

    async fn reconcile(&self, k: &str) -> Next {
        let Some(s) = live(&self.cache, Kind::Deployment, k) else {
            return Ok(None);
        };
        let Object::Deployment(d) = &s.object else {
            return Ok(None);
        };
        let mut sets = self.sets(d).await?;
        let now = Time::now();
        let want = d.spec.replicas.unwrap_or(1).max(0);
        let strategy = d.spec.strategy.clone().unwrap_or_default();
        let rolling = strategy.rolling_update.clone().unwrap_or_default();
        let (surge, unavailable) = rollout::limits(
            rolling.max_surge.as_ref(),
            rolling.max_unavailable.as_ref(),
            want,
        )
        .map_err(|e| Status::invalid_argument(format!("{k}: spec.strategy.rollingUpdate: {e}")))?;
        let recreate = strategy.type_ == Some(DeploymentStrategyType::Recreate);
        let canary = strategy
            .canary
            .as_ref()
            .filter(|_| strategy.type_ == Some(DeploymentStrategyType::Canary));
        let unavailable = if recreate { want } else { unavailable };

        // The current revision: the ReplicaSet with the Deployment's template.
        let max_old = sets
            .iter()
            .filter(|s| !history::is_current(&s.rs, d))
            .map(|s| history::revision_of(&s.rs))
            .max()
            .unwrap_or(0);
        let mut moved = false;
        let new_idx = sets
            .iter()
            .enumerate()
            .filter(|(_, s)| history::is_current(&s.rs, d))
            .max_by_key(|(_, s)| history::revision_of(&s.rs))
            .map(|(i, _)| i);
        let new_idx = match new_idx {
            Some(i) => {
                if let Some(renumbered) = history::renumber(&sets[i].rs, max_old + 1) {
                    let w = self
                        .client
                        .update(&Object::ReplicaSet(renumbered), sets[i].rev)
                        .await?;
                    if let Object::ReplicaSet(rs) = w.object {
                        sets[i].rs = rs;
                        sets[i].rev = w.revision;
                    }
                    moved = true;
                }
                i
            }
            None => {
                let old: Vec<Counts> = sets.iter().map(Set::counts).collect();
                let empty = Counts {
                    name: String::new(),
                    spec: 0,
                    available: 0,
                };
                let first = if d.spec.paused == Some(true) {
                    0
                } else if canary.is_some() {
                    // The canary's steps scale it; the first revision takes all at once.
                    if sets.iter().any(|s| s.rs.spec.replicas.unwrap_or(1) > 0) {
                        0
                    } else {
                        want
                    }
                } else if recreate {
                    if sets.iter().any(|s| s.active > 0) {
                        0
                    } else {
                        want
                    }
                } else {
                    rollout::new_scale(want, surge, &empty, &old)
                };
                let rs = history::new_replica_set(d, max_old + 1, first);
                let w = self.client.create(&Object::ReplicaSet(rs)).await?;
                let Object::ReplicaSet(rs) = w.object else {
                    return Ok(None);
                };
                if first > 0 {
                    self.scaled(d, &rs.metadata.name, 0, first);
                }
                sets.push(Set {
                    rev: w.revision,
                    rs,
                    active: 0,
                    ready: 0,
                    available: 0,
                });
                moved = true;
                sets.len() - 1
            }
        };

        let mut trial = None;
        if let Some(c) = canary
            && d.spec.paused != Some(true)
        {
            let o = self.canary(k, d, c, &mut sets, new_idx).await?;
            moved |= o.moved;
            trial = Some((o.status, o.requeue, o.clear));
        } else if !moved {
            moved = self
                .step(d, &mut sets, new_idx, want, surge, unavailable, recreate)
                .await?;
        }
        // No longer a canary: its Services select every revision again.
        let released = canary.is_none() && d.status.as_ref().is_some_and(|s| s.canary.is_some());
        if released {
            let hashes: Vec<String> = sets
                .iter()
                .filter_map(|s| s.rs.metadata.labels.get(history::TEMPLATE_HASH).cloned())
                .collect();
            shift::release(&self.cache, &self.client, d, &hashes).await?;
        }
        self.clean_up(d, &sets, new_idx).await?;

        let new_name = sets[new_idx].rs.metadata.name.clone();
        let tally = Tally {
            replicas: sets.iter().map(|s| s.active).sum(),
            updated: sets[new_idx].active,
            ready: sets.iter().map(|s| s.ready).sum(),
            available: sets.iter().map(|s| s.available).sum(),
            old: sets
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != new_idx)
                .map(|(_, s)| s.active)
                .sum(),
        };
        // The Deployment names its current revision, as Kubernetes' controller does
        // (`kubectl rollout undo` replaces the annotations it expects there).
        let mut at = s.revision;
        let revision = history::revision_of(&sets[new_idx].rs).to_string();
        let clear = trial.as_ref().map_or(&[][..], |t| &t.2[..]);
        if d.metadata.annotations.get(history::REVISION) != Some(&revision) || !clear.is_empty() {
            let mut stamped = d.clone();
            let a = &mut stamped.metadata.annotations;
            a.insert(history::REVISION.into(), revision);
            for key in clear {
                a.remove(*key);
            }
            at = self
                .client
                .update(&Object::Deployment(stamped), at)
                .await?
                .revision;
        }
        let mut next = status::next(d, &tally, &new_name, moved, want - unavailable, now);
        let prev_conditions = d.status.as_ref().map_or(&[][..], |s| &s.conditions[..]);
        if let Some((c, _, _)) = &trial {
            status::canary(&mut next, prev_conditions, c.clone(), now);
        }
        if released {
            next.canary = None;
        }
        if d.status.as_ref() != Some(&next) {
            let mut updated = d.clone();
            updated.status = Some(next);
            self.client
                .update_status(&Object::Deployment(updated), at)
                .await?;
        }
        // A paused or aborted canary is not stalled: no deadline to look at.
        let held = trial
            .as_ref()
            .is_some_and(|(c, _, _)| matches!(c.phase, CanaryPhase::Paused | CanaryPhase::Aborted));
        let deadline = status::until_deadline(d, &tally, now)
            .filter(|_| !held)
            .map(|s| Duration::from_secs(s + 1));
        let trial = trial.and_then(|(_, r, _)| r);
        Ok(match (deadline, trial) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }
}

impl DeploymentController {
    /// The Deployment's ReplicaSets (adopting matching orphans), with pod counts.
    async fn sets(&self, d: &Deployment) -> Result<Vec<Set>, Status> {
        let uid = d.metadata.uid.as_deref().unwrap_or("");
        let min_ready = d.spec.min_ready_seconds.unwrap_or(0);
        let now = Time::now();
        let mut out = Vec::new();
        let mine = self.cache.controlled_by(Kind::ReplicaSet, uid);
        let orphans = self
            .cache
            .uncontrolled(Kind::ReplicaSet, &d.metadata.namespace);
        for s in mine.into_iter().chain(orphans) {
            let Object::ReplicaSet(rs) = &s.object else {
                continue;
            };
            let (rev, rs) = match pods::controller_of(&rs.metadata) {
                Some(o) if o.uid == uid => (s.revision, rs.clone()),
                None if !d.spec.selector.is_empty()
                    && d.spec.selector.matches(&rs.metadata.labels)
                    && rs.metadata.deletion_timestamp.is_none() =>
                {
                    let mut adopted = rs.clone();
                    adopted
                        .metadata
                        .owner_references
                        .push(pods::controller_ref(Kind::Deployment, &d.metadata));
                    let w = self
                        .client
                        .update(&Object::ReplicaSet(adopted), s.revision)
                        .await?;
                    let Object::ReplicaSet(rs) = w.object else {
                        continue;
                    };
                    (w.revision, rs)
                }
                _ => continue,
            };
            let owned = self
                .cache
                .controlled_by(Kind::Pod, rs.metadata.uid.as_deref().unwrap_or(""));
            let active: Vec<_> = owned
                .iter()
                .filter_map(|s| super::replicaset::pod_of(s))
                .filter(|p| pods::is_active(p))
                .collect();
            let n = |f: &dyn Fn(&skiff_proto::model::Pod) -> bool| {
                i32::try_from(active.iter().filter(|p| f(p)).count()).unwrap_or(i32::MAX)
            };
            out.push(Set {
                rev,
                active: n(&|_| true),
                ready: n(&pods::is_ready),
                available: n(&|p| pods::is_available(p, min_ready, now)),
                rs,
            });
        }
        Ok(out)
    }

    /// The `ScalingReplicaSet` event of ReplicaSet `rs` going `from` → `to` replicas.
    fn scaled(&self, d: &Deployment, rs: &str, from: i32, to: i32) {
        let way = if to > from { "up" } else { "down" };
        self.client.event(
            COMPONENT,
            Kind::Deployment,
            &d.metadata,
            EventType::Normal,
            "ScalingReplicaSet",
            format!("Scaled {way} replica set {rs} from {from} to {to}"),
        );
    }

    async fn scale(&self, d: &Deployment, set: &mut Set, replicas: i32) -> Result<bool, Status> {
        let from = set.rs.spec.replicas.unwrap_or(1);
        if from == replicas {
            return Ok(false);
        }
        let mut rs = set.rs.clone();
        rs.spec.replicas = Some(replicas);
        let w = self.client.update(&Object::ReplicaSet(rs), set.rev).await?;
        self.scaled(d, &set.rs.metadata.name, from, replicas);
        if let Object::ReplicaSet(rs) = w.object {
            set.rs = rs;
            set.rev = w.revision;
        }
        Ok(true)
    }

    /// One step of the rollout; true when a ReplicaSet was scaled.
    #[allow(clippy::too_many_arguments)]
    async fn step(
        &self,
        d: &Deployment,
        sets: &mut [Set],
        new_idx: usize,
        want: i32,
        surge: i32,
        unavailable: i32,
        recreate: bool,
    ) -> Result<bool, Status> {
        let mut moved = false;
        let olds: Vec<usize> = (0..sets.len()).filter(|&i| i != new_idx).collect();
        if d.spec.paused == Some(true) {
            // Paused: the count follows `replicas` when only one ReplicaSet is live.
            let live: Vec<usize> = (0..sets.len())
                .filter(|&i| sets[i].rs.spec.replicas.unwrap_or(1) > 0)
                .collect();
            if let [only] = live.as_slice() {
                moved |= self.scale(d, &mut sets[*only], want).await?;
            }
            return Ok(moved);
        }
        if recreate {
            for &i in &olds {
                moved |= self.scale(d, &mut sets[i], 0).await?;
            }
            if olds.iter().any(|&i| sets[i].active > 0) {
                return Ok(moved);
            }
            moved |= self.scale(d, &mut sets[new_idx], want).await?;
            return Ok(moved);
        }
        // Oldest revisions shrink first.
        let mut olds = olds;
        olds.sort_by_key(|&i| history::revision_of(&sets[i].rs));
        let old_counts: Vec<Counts> = olds.iter().map(|&i| sets[i].counts()).collect();
        let new_counts = sets[new_idx].counts();
        let grow = rollout::new_scale(want, surge, &new_counts, &old_counts);
        if grow != new_counts.spec {
            moved |= self.scale(d, &mut sets[new_idx], grow).await?;
            if grow > new_counts.spec {
                // As Kubernetes does: a step that grows the new set shrinks nothing.
                return Ok(moved);
            }
        }
        let new_counts = sets[new_idx].counts();
        let shrunk = rollout::old_scales(want, unavailable, &new_counts, &old_counts);
        for (&i, n) in olds.iter().zip(shrunk) {
            moved |= self.scale(d, &mut sets[i], n).await?;
        }
        Ok(moved)
    }

    /// Deletes old ReplicaSets beyond `revisionHistoryLimit`.
    async fn clean_up(&self, d: &Deployment, sets: &[Set], new_idx: usize) -> Result<(), Status> {
        let limit =
            usize::try_from(d.spec.revision_history_limit.unwrap_or(10).max(0)).unwrap_or(0);
        let olds: Vec<&ReplicaSet> = sets
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != new_idx)
            .map(|(_, s)| &s.rs)
            .collect();
        let has_pods = |rs: &ReplicaSet| {
            sets.iter()
                .any(|s| s.rs.metadata.uid == rs.metadata.uid && s.active > 0)
        };
        for rs in history::beyond_limit(&olds, limit, has_pods) {
            let r = self
                .client
                .delete(
                    Kind::ReplicaSet,
                    &rs.metadata.namespace,
                    &rs.metadata.name,
                    None,
                )
                .await;
            if let Err(e) = r
                && e.code() != tonic::Code::NotFound
            {
                return Err(e);
            }
        }
        Ok(())
    }
}
