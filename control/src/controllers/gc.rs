//! Garbage collection, for what deletion's own cascade cannot see. The API server
//! deletes an owner's dependents in the owner's own transaction (`api::delete`), so
//! this sweep only finds objects that were written naming an owner that did not exist,
//! and pods bound to a node that is gone (Kubernetes' pod GC). An object is collected
//! when two sweeps in a row find every owner of it missing, so an owner and its
//! dependent created in quick succession are never mistaken; a pod whose node is
//! missing, after [`NODE_QUARANTINE`] (its node may be about to register). Owners of kinds
//! the cache does not hold (a ServiceAccount, a Role) are never taken for missing.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use skiff_proto::{Kind, Object};
use tokio::time::Instant;

use crate::machinery::cache::{CACHED, Cache};
use crate::machinery::client::{Client, stale};
use crate::store::key;

/// How often the sweep runs.
pub const EVERY: Duration = Duration::from_secs(5);

/// How long a pod may name a node that does not exist (Kubernetes' pod GC waits 40 s).
pub const NODE_QUARANTINE: Duration = Duration::from_secs(40);

/// Why an object is collected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Why {
    NoOwner,
    NoNode,
}

/// Keys of objects whose owners are all missing (or whose node is gone).
pub fn orphans(cache: &Cache) -> HashMap<(Kind, String), Why> {
    let mut uids = HashSet::new();
    for kind in CACHED {
        for s in cache.list(kind, None) {
            if let Some(u) = &s.object.metadata().uid {
                uids.insert(u.clone());
            }
        }
    }
    let nodes: HashSet<String> = cache
        .list(Kind::Node, None)
        .iter()
        .map(|s| s.object.metadata().name.clone())
        .collect();
    let mut out = HashMap::new();
    for kind in CACHED {
        for s in cache.list(kind, None) {
            let m = s.object.metadata();
            // Only an owner of a cached kind can be known missing from the cache.
            let knowable = m
                .owner_references
                .iter()
                .all(|o| Kind::from_name(&o.kind).is_some_and(|k| CACHED.contains(&k)));
            let ownerless = !m.owner_references.is_empty()
                && knowable
                && m.owner_references.iter().all(|o| !uids.contains(&o.uid));
            let nodeless = match &s.object {
                Object::Pod(p) => p
                    .spec
                    .node_name
                    .as_deref()
                    .is_some_and(|n| !n.is_empty() && !nodes.contains(n)),
                _ => false,
            };
            if ownerless {
                out.insert((kind, key::of(&s.object)), Why::NoOwner);
            } else if nodeless {
                out.insert((kind, key::of(&s.object)), Why::NoNode);
            }
        }
    }
    out
}

/// Sweeps every [`EVERY`] until the task is dropped.
pub async fn run(cache: Cache, client: Client) {
    let mut suspects: HashMap<(Kind, String), Instant> = HashMap::new();
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let found = orphans(&cache);
        suspects.retain(|k, _| found.contains_key(k));
        for (id, why) in &found {
            let since = *suspects.entry(id.clone()).or_insert_with(Instant::now);
            let wait = match why {
                Why::NoOwner => EVERY / 2,
                Why::NoNode => NODE_QUARANTINE,
            };
            if since.elapsed() < wait {
                continue;
            }
            let (kind, k) = id;
            let Some(s) = cache.get_key(*kind, k) else {
                continue;
            };
            let m = s.object.metadata();
            tracing::info!(object = %s.object.display_name(), "collecting an object whose owner or node is gone");
            match client
                .delete(*kind, &m.namespace, &m.name, Some(s.revision))
                .await
            {
                Ok(()) => {}
                Err(e) if stale(&e) => {}
                Err(e) => tracing::warn!(object = %k, error = %e.message(), "garbage collection"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use skiff_proto::model::{ConfigMap, ObjectMeta, OwnerReference};

    use super::*;

    fn owned_by(name: &str, kind: &str) -> Object {
        Object::ConfigMap(ConfigMap {
            metadata: ObjectMeta {
                name: name.into(),
                namespace: "default".into(),
                owner_references: vec![OwnerReference {
                    api_version: "v1".into(),
                    kind: kind.into(),
                    name: "owner".into(),
                    uid: "gone".into(),
                    ..Default::default()
                }],
                ..Default::default()
            },
            ..Default::default()
        })
    }

    #[test]
    fn only_owners_the_cache_can_see_are_known_missing() {
        let cache = Cache::new();
        cache.put(owned_by("of-a-deployment", "Deployment"), 1);
        cache.put(owned_by("of-a-serviceaccount", "ServiceAccount"), 2);
        let found = orphans(&cache);
        assert_eq!(found.len(), 1, "{found:?}");
        let ((kind, k), why) = found.into_iter().next().unwrap();
        assert_eq!((kind, why), (Kind::ConfigMap, Why::NoOwner));
        assert!(k.ends_with("of-a-deployment"), "{k}");
    }
}
