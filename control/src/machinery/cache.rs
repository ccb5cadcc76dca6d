//! The informer cache: every object of the kinds the scheduler and controllers read, kept
//! in memory on the member that runs them and moved on by the store's history, with each
//! batch of changes published to whoever reconciles them.
//!
//! Like client-go's shared informer, one cache serves every controller: the history is
//! read once per applied batch, not once per controller. Objects are shared (`Arc`) and
//! never mutated in place: a controller that wants to change one clones it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use skiff_proto::{Kind, Object};
use tokio::sync::{broadcast, watch};

use crate::Error;
use crate::store::{Event, EventType, StoreHandle, Stored, key};

/// The kinds the cache keeps: those controllers and the scheduler reconcile or read.
/// Events, RBAC objects, quotas, key-value entries and plugins are read from the store
/// by whoever needs them.
pub const CACHED: [Kind; 15] = [
    Kind::Namespace,
    Kind::Node,
    Kind::Pod,
    Kind::ReplicaSet,
    Kind::Deployment,
    Kind::Job,
    Kind::DaemonSet,
    Kind::Service,
    Kind::Endpoints,
    Kind::ConfigMap,
    Kind::Secret,
    Kind::PriorityClass,
    Kind::Ingress,
    Kind::HttpRoute,
    Kind::HorizontalPodAutoscaler,
];

/// One object that changed: what it was, and what it is now (`None`: absent).
#[derive(Debug, Clone)]
pub struct Change {
    pub kind: Kind,
    pub key: String,
    pub old: Option<Arc<Stored>>,
    pub new: Option<Arc<Stored>>,
}

impl Change {
    /// The object as it is now, or as it was last (for a deletion).
    pub fn latest(&self) -> Option<&Object> {
        self.new.as_ref().or(self.old.as_ref()).map(|s| &s.object)
    }
}

/// The changes that brought the cache to `revision`. `relisted` says the cache was filled
/// again from a list (it fell behind the history): reconcile everything.
#[derive(Debug)]
pub struct Batch {
    pub revision: u64,
    pub relisted: bool,
    pub changes: Vec<Change>,
}

type Objects = BTreeMap<String, Arc<Stored>>;

#[derive(Default)]
struct Inner {
    kinds: HashMap<Kind, Objects>,
    /// Controller uid → what it controls, by kind; and per kind the objects no
    /// controller controls: so a controller reads its own pods without scanning every
    /// pod in the namespace.
    owned: HashMap<String, HashMap<Kind, Objects>>,
    orphans: HashMap<Kind, Objects>,
    revision: u64,
}

fn controller_uid(o: &Object) -> Option<&str> {
    o.metadata().controller().map(|r| r.uid.as_str())
}

impl Inner {
    fn unindex(&mut self, kind: Kind, key: &str, o: &Object) {
        match controller_uid(o) {
            Some(uid) => {
                if let Some(by_kind) = self.owned.get_mut(uid) {
                    if let Some(m) = by_kind.get_mut(&kind) {
                        m.remove(key);
                    }
                    if by_kind.values().all(BTreeMap::is_empty) {
                        self.owned.remove(uid);
                    }
                }
            }
            None => {
                if let Some(m) = self.orphans.get_mut(&kind) {
                    m.remove(key);
                }
            }
        }
    }

    fn index(&mut self, kind: Kind, key: &str, s: &Arc<Stored>) {
        let m = match controller_uid(&s.object) {
            Some(uid) => self
                .owned
                .entry(uid.to_owned())
                .or_default()
                .entry(kind)
                .or_default(),
            None => self.orphans.entry(kind).or_default(),
        };
        m.insert(key.to_owned(), s.clone());
    }

    fn reindex(&mut self) {
        self.owned.clear();
        self.orphans.clear();
        let all: Vec<(Kind, String, Arc<Stored>)> = self
            .kinds
            .iter()
            .flat_map(|(k, m)| m.iter().map(|(key, s)| (*k, key.clone(), s.clone())))
            .collect();
        for (kind, key, s) in all {
            self.index(kind, &key, &s);
        }
    }
}

/// The shared cache (cheap to clone).
#[derive(Clone)]
pub struct Cache {
    inner: Arc<RwLock<Inner>>,
    batches: broadcast::Sender<Arc<Batch>>,
    revision: watch::Sender<u64>,
}

/// Batches kept for a slow subscriber; one that falls further behind resyncs.
const BACKLOG: usize = 1024;

impl Cache {
    /// An empty cache at revision 0 (fill it with [`Cache::follow`]).
    pub fn new() -> Cache {
        let (batches, _) = broadcast::channel(BACKLOG);
        let (revision, _) = watch::channel(0);
        Cache {
            inner: Arc::default(),
            batches,
            revision,
        }
    }

    /// Changes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Batch>> {
        self.batches.subscribe()
    }

    /// Follows the revision the cache has reached.
    pub fn revision(&self) -> watch::Receiver<u64> {
        self.revision.subscribe()
    }

    /// Waits until the cache has reached `revision` (e.g. a write's own).
    pub async fn caught_up(&self, revision: u64) {
        let mut rx = self.revision.subscribe();
        let _ = rx.wait_for(|&r| r >= revision).await;
    }

    pub fn get(&self, kind: Kind, namespace: &str, name: &str) -> Option<Arc<Stored>> {
        let k = key::make(kind, namespace, name);
        self.read(|i| i.kinds.get(&kind).and_then(|m| m.get(&k)).cloned())
    }

    pub fn get_key(&self, kind: Kind, k: &str) -> Option<Arc<Stored>> {
        self.read(|i| i.kinds.get(&kind).and_then(|m| m.get(k)).cloned())
    }

    /// Every object of `kind` (in `namespace`, if given), in key order.
    pub fn list(&self, kind: Kind, namespace: Option<&str>) -> Vec<Arc<Stored>> {
        self.read(|i| {
            let Some(m) = i.kinds.get(&kind) else {
                return Vec::new();
            };
            match namespace {
                None => m.values().cloned().collect(),
                Some(ns) => {
                    let (start, end) = key::range(kind, Some(ns));
                    m.range(start..end).map(|(_, s)| s.clone()).collect()
                }
            }
        })
    }

    /// The objects of `kind` whose controller (owner reference with `controller: true`)
    /// has uid `uid`.
    pub fn controlled_by(&self, kind: Kind, uid: &str) -> Vec<Arc<Stored>> {
        self.read(|i| {
            i.owned
                .get(uid)
                .and_then(|by_kind| by_kind.get(&kind))
                .map(|m| m.values().cloned().collect())
                .unwrap_or_default()
        })
    }

    /// The objects of `kind` in `namespace` that no controller controls.
    pub fn uncontrolled(&self, kind: Kind, namespace: &str) -> Vec<Arc<Stored>> {
        self.read(|i| {
            let Some(m) = i.orphans.get(&kind) else {
                return Vec::new();
            };
            let (start, end) = key::range(kind, Some(namespace));
            m.range(start..end).map(|(_, s)| s.clone()).collect()
        })
    }

    fn read<T>(&self, f: impl FnOnce(&Inner) -> T) -> T {
        let guard = self.inner.read().unwrap_or_else(|p| p.into_inner());
        f(&guard)
    }

    /// Fills the cache from a list of the store (at the store's applied revision).
    fn relist(&self, store: &StoreHandle) -> Result<Batch, Error> {
        let mut kinds = HashMap::new();
        let mut at = u64::MAX;
        for kind in CACHED {
            let (items, rev) = store.state().list(kind, None, None)?;
            at = at.min(rev);
            let objects: Objects = items
                .into_iter()
                .map(|s| (key::of(&s.object), Arc::new(s)))
                .collect();
            kinds.insert(kind, objects);
        }
        let mut guard = self.inner.write().unwrap_or_else(|p| p.into_inner());
        guard.kinds = kinds;
        guard.reindex();
        // Lists taken one after another may straddle writes: replaying the history from
        // the earliest of them is safe, as events apply only over older revisions.
        guard.revision = at;
        Ok(Batch {
            revision: at,
            relisted: true,
            changes: Vec::new(),
        })
    }

    /// Applies history events (idempotently: an event older than what the cache holds
    /// for its key changes nothing).
    fn absorb(&self, events: Vec<Event>, to: u64) -> Batch {
        let mut changes = Vec::new();
        let mut guard = self.inner.write().unwrap_or_else(|p| p.into_inner());
        for e in events {
            let kind = e.object.kind();
            if !CACHED.contains(&kind) {
                continue;
            }
            let objects = guard.kinds.entry(kind).or_default();
            let old = objects.get(&e.key).cloned();
            if old.as_ref().is_some_and(|o| o.revision >= e.revision) {
                continue;
            }
            let new = match e.kind {
                EventType::Deleted => {
                    if old.is_none() {
                        continue;
                    }
                    objects.remove(&e.key);
                    None
                }
                EventType::Added | EventType::Modified => {
                    let s = Arc::new(Stored {
                        revision: e.revision,
                        object: e.object,
                    });
                    objects.insert(e.key.clone(), s.clone());
                    Some(s)
                }
            };
            if let Some(o) = &old {
                guard.unindex(kind, &e.key, &o.object);
            }
            if let Some(n) = &new {
                guard.index(kind, &e.key, n);
            }
            changes.push(Change {
                kind,
                key: e.key,
                old,
                new,
            });
        }
        guard.revision = guard.revision.max(to);
        Batch {
            revision: guard.revision,
            relisted: false,
            changes,
        }
    }

    fn publish(&self, batch: Batch) {
        let rev = batch.revision;
        let _ = self.batches.send(Arc::new(batch));
        self.revision.send_replace(rev);
    }

    /// Keeps the cache moving with `store` until the store stops: a list first, then the
    /// history of every applied batch (a list again if the history was compacted past it).
    pub async fn follow(self, store: StoreHandle) {
        let mut applied = store.applied_index();
        let mut listed = false;
        loop {
            if !listed {
                match self.relist(&store) {
                    Ok(b) => {
                        listed = true;
                        self.publish(b);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "listing objects for the controllers' cache");
                        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                        continue;
                    }
                }
            }
            let last = self.read(|i| i.revision);
            let now = *applied.borrow_and_update();
            if now > last {
                match store.state().events_since(last) {
                    Ok(events) => {
                        let to = events.last().map_or(now, |e| e.revision.max(now));
                        let b = self.absorb(events, to);
                        self.publish(b);
                    }
                    Err(Error::Compacted { .. }) => listed = false,
                    Err(e) => {
                        tracing::warn!(error = %e, "reading the history for the controllers' cache");
                        listed = false;
                    }
                }
                continue;
            }
            if applied.changed().await.is_err() {
                return;
            }
        }
    }
}

impl Default for Cache {
    fn default() -> Self {
        Cache::new()
    }
}

/// A cache that a test fills by hand.
#[cfg(test)]
impl Cache {
    pub fn put(&self, object: Object, revision: u64) {
        let events = vec![Event {
            revision,
            kind: EventType::Modified,
            key: key::of(&object),
            object,
        }];
        let b = self.absorb(events, revision);
        self.publish(b);
    }
}
