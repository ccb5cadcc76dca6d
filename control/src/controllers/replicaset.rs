//! The ReplicaSet controller: keeps `replicas` active pods that match the selector.
//! - Pods it controls count; matching pods with no controller are adopted (an owner
//!   reference is added), as Kubernetes' ReplicaSet adopts orphans.
//! - Missing pods are created in slow-start batches (1, 2, 4, ...), so a template that
//!   cannot be created fails once, not `replicas` times.
//! - Extra pods are deleted in [`pods::deletion_order`]: unscheduled and not ready first.
//! - The status counts replicas, fully labelled, ready and available ones.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use skiff_proto::model::event::EventType;
use skiff_proto::model::values::Time;
use skiff_proto::model::{LabelSelector, ObjectMeta, Pod, ReplicaSet, ReplicaSetStatus};
use skiff_proto::{Kind, Object};
use tonic::Status;

use super::pods;
use super::runner::{Next, Reconciler, live, own_key, owner_keys};
use crate::machinery::cache::{Cache, Change};
use crate::machinery::client::Client;
use crate::store::Stored;

pub struct ReplicaSetController {
    pub cache: Cache,
    pub client: Client,
}

/// The most pods created or deleted in one reconcile. Kubernetes bursts 500, one API
/// call each; here they go 1, 2, 4, ... to a transaction, so a larger burst costs few
/// transactions.
const BURST: usize = 2000;

/// The component its events name (Kubernetes').
const COMPONENT: &str = "replicaset-controller";

/// Pods in the namespace that `rs` controls, and those it may adopt (matching, with no
/// controller, not being deleted), active or not.
pub fn owned_pods(
    cache: &Cache,
    rs_meta: &ObjectMeta,
    selector: &LabelSelector,
) -> (Vec<Arc<Stored>>, Vec<Arc<Stored>>) {
    let uid = rs_meta.uid.as_deref().unwrap_or("");
    let owned = cache.controlled_by(Kind::Pod, uid);
    let orphans = if selector.is_empty() {
        Vec::new()
    } else {
        cache
            .uncontrolled(Kind::Pod, &rs_meta.namespace)
            .into_iter()
            .filter(|s| {
                let m = s.object.metadata();
                selector.matches(&m.labels) && m.deletion_timestamp.is_none()
            })
            .collect()
    };
    (owned, orphans)
}

/// The pod in a stored object.
pub fn pod_of(s: &Stored) -> Option<&Pod> {
    match &s.object {
        Object::Pod(p) => Some(p),
        _ => None,
    }
}

impl Reconciler for ReplicaSetController {
    const NAME: &'static str = "replicaset";
    const KIND: Kind = Kind::ReplicaSet;

    fn keys(&self, c: &Change, cache: &Cache) -> Vec<String> {
        match c.kind {
            Kind::ReplicaSet => own_key(c, Kind::ReplicaSet),
            Kind::Pod => {
                let mut keys = owner_keys(c, Kind::ReplicaSet);
                if keys.is_empty()
                    && let Some(o) = c.new.as_ref().map(|s| &s.object)
                    && pods::controller_of(o.metadata()).is_none()
                {
                    // An orphan: any ReplicaSet whose selector matches may adopt it.
                    let m = o.metadata();
                    for s in cache.list(Kind::ReplicaSet, Some(&m.namespace)) {
                        if let Object::ReplicaSet(rs) = &s.object
                            && !rs.spec.selector.is_empty()
                            && rs.spec.selector.matches(&m.labels)
                        {
                            keys.push(crate::store::key::of(&s.object));
                        }
                    }
                }
                keys
            }
            _ => Vec::new(),
        }
    }

    async fn reconcile(&self, key: &str) -> Next {
        let Some(s) = live(&self.cache, Kind::ReplicaSet, key) else {
            return Ok(None);
        };
        let Object::ReplicaSet(rs) = &s.object else {
            return Ok(None);
        };
        let (mut owned, orphans) = owned_pods(&self.cache, &rs.metadata, &rs.spec.selector);
        for s in orphans {
            let Some(p) = pod_of(&s) else { continue };
            let mut p = p.clone();
            p.metadata
                .owner_references
                .push(pods::controller_ref(Kind::ReplicaSet, &rs.metadata));
            owned.push(Arc::new(
                self.client.update(&Object::Pod(p), s.revision).await?,
            ));
        }
        let mut active: Vec<&Pod> = owned
            .iter()
            .filter_map(|s| pod_of(s))
            .filter(|p| pods::is_active(p))
            .collect();
        let want = usize::try_from(rs.spec.replicas.unwrap_or(1).max(0)).unwrap_or(0);
        let mut failure = None;
        if active.len() < want {
            failure = self.create(rs, want - active.len()).await.err();
        } else if active.len() > want {
            active.sort_by(|a, b| pods::deletion_order(a, b));
            let extra: Vec<&Pod> = active
                .iter()
                .take((active.len() - want).min(BURST))
                .copied()
                .collect();
            let gone = join_all(extra.iter().map(|p| {
                self.client
                    .delete(Kind::Pod, &p.metadata.namespace, &p.metadata.name, None)
            }))
            .await;
            for (p, r) in extra.iter().zip(&gone) {
                match r {
                    Ok(()) => self.event(
                        rs,
                        EventType::Normal,
                        "SuccessfulDelete",
                        format!("Deleted pod: {}", p.metadata.name),
                    ),
                    Err(e) if e.code() == tonic::Code::NotFound => {}
                    Err(e) => self.event(
                        rs,
                        EventType::Warning,
                        "FailedDelete",
                        format!("Error deleting: {}", e.message()),
                    ),
                }
            }
            failure = gone
                .into_iter()
                .find_map(|r| r.err().filter(|e| e.code() != tonic::Code::NotFound));
        }
        let again = self.write_status(&s, rs).await?;
        match failure {
            Some(e) => Err(e),
            None => Ok(again),
        }
    }
}

impl ReplicaSetController {
    fn event(&self, rs: &ReplicaSet, t: EventType, reason: &str, message: String) {
        self.client.event(
            COMPONENT,
            Kind::ReplicaSet,
            &rs.metadata,
            t,
            reason,
            message,
        );
    }

    /// Creates `n` pods in transactions of 1, 2, 4, ... pods while they succeed.
    async fn create(&self, rs: &ReplicaSet, n: usize) -> Result<(), Status> {
        let prefix = format!("{}-", rs.metadata.name);
        let pod = pods::from_template(&rs.spec.template, &rs.metadata, Kind::ReplicaSet, &prefix);
        let mut left = n.min(BURST);
        let mut batch = 1;
        while left > 0 {
            let size = batch.min(left);
            let mut tries = 0;
            loop {
                match self.client.create_all(vec![pod.clone(); size]).await {
                    Ok(made) => {
                        for p in &made {
                            let message = format!("Created pod: {}", p.metadata().name);
                            self.event(rs, EventType::Normal, "SuccessfulCreate", message);
                        }
                        break;
                    }
                    // A generated name was taken: new names, once more.
                    Err(e) if e.code() == tonic::Code::AlreadyExists && tries < 3 => tries += 1,
                    Err(e) => {
                        let message = format!("Error creating: {}", e.message());
                        self.event(rs, EventType::Warning, "FailedCreate", message);
                        return Err(e);
                    }
                }
            }
            left -= size;
            batch *= 2;
        }
        Ok(())
    }

    /// Writes the counts; returns when to look again for pods that become available.
    async fn write_status(&self, s: &Stored, rs: &ReplicaSet) -> Result<Option<Duration>, Status> {
        let owned = self
            .cache
            .controlled_by(Kind::Pod, rs.metadata.uid.as_deref().unwrap_or(""));
        let now = Time::now();
        let min_ready = rs.spec.min_ready_seconds.unwrap_or(0);
        let template_labels = &rs.spec.template.metadata.labels;
        let active: Vec<&Pod> = owned
            .iter()
            .filter_map(|s| pod_of(s))
            .filter(|p| pods::is_active(p))
            .collect();
        let count = |f: &dyn Fn(&Pod) -> bool| {
            i32::try_from(active.iter().filter(|p| f(p)).count()).unwrap_or(i32::MAX)
        };
        let status = ReplicaSetStatus {
            replicas: count(&|_| true),
            fully_labeled_replicas: count(&|p| {
                template_labels
                    .iter()
                    .all(|(k, v)| p.metadata.labels.get(k) == Some(v))
            }),
            ready_replicas: count(&|p| pods::is_ready(p)),
            available_replicas: count(&|p| pods::is_available(p, min_ready, now)),
            observed_generation: rs.metadata.generation,
            conditions: rs
                .status
                .as_ref()
                .map(|s| s.conditions.clone())
                .unwrap_or_default(),
        };
        let waiting = status.ready_replicas > status.available_replicas;
        if rs.status.as_ref() != Some(&status) {
            let mut next = rs.clone();
            next.status = Some(status);
            self.client
                .update_status(&Object::ReplicaSet(next), s.revision)
                .await?;
        }
        Ok(waiting.then(|| Duration::from_secs(1)))
    }
}
