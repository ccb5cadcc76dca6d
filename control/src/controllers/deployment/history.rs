//! Revisions: each pod template a Deployment has had is a ReplicaSet named
//! `<deployment>-<template hash>`, numbered by the `deployment.kubernetes.io/revision`
//! annotation. Rolling back makes an old ReplicaSet the new one again, with the next
//! number (the old numbers are kept in `revision-history`); old ReplicaSets scaled to
//! zero beyond `revisionHistoryLimit` are deleted, oldest first.

use sha2::{Digest, Sha256};
use skiff_proto::Kind;
use skiff_proto::model::{Deployment, PodTemplateSpec, ReplicaSet, ReplicaSetSpec};

use crate::controllers::pods;

pub const REVISION: &str = "deployment.kubernetes.io/revision";
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
/// Why a revision was made, copied from the Deployment (`kubectl annotate`'s habit).
pub const CHANGE_CAUSE: &str = "kubernetes.io/change-cause";
/// The label that keeps each revision's pods apart.
pub const TEMPLATE_HASH: &str = "pod-template-hash";

/// The template without the hash label (what revisions are compared by).
pub fn unhashed(t: &PodTemplateSpec) -> PodTemplateSpec {
    let mut t = t.clone();
    t.metadata.labels.remove(TEMPLATE_HASH);
    t
}

/// A short, stable name for a template (Kubernetes' alphabet, from a digest of it).
pub fn template_hash(t: &PodTemplateSpec) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let json = serde_json::to_vec(&unhashed(t)).unwrap_or_default();
    let digest = Sha256::digest(&json);
    let mut n = u64::from_le_bytes(digest[..8].try_into().unwrap_or([0; 8]));
    let mut out = String::new();
    for _ in 0..10 {
        out.push(ALPHABET[(n % ALPHABET.len() as u64) as usize] as char);
        n /= ALPHABET.len() as u64;
    }
    out
}

pub fn revision_of(rs: &ReplicaSet) -> u64 {
    rs.metadata
        .annotations
        .get(REVISION)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// Whether `rs` runs the Deployment's current template.
pub fn is_current(rs: &ReplicaSet, d: &Deployment) -> bool {
    unhashed(&rs.spec.template) == unhashed(&d.spec.template)
}

/// A new ReplicaSet for the Deployment's template, at `revision`, with `replicas`.
pub fn new_replica_set(d: &Deployment, revision: u64, replicas: i32) -> ReplicaSet {
    let hash = template_hash(&d.spec.template);
    let mut template = d.spec.template.clone();
    template
        .metadata
        .labels
        .insert(TEMPLATE_HASH.into(), hash.clone());
    let mut selector = d.spec.selector.clone();
    selector
        .match_labels
        .insert(TEMPLATE_HASH.into(), hash.clone());
    let mut rs = ReplicaSet::default();
    rs.metadata.name = format!("{}-{hash}", d.metadata.name);
    rs.metadata.namespace = d.metadata.namespace.clone();
    rs.metadata.labels = template.metadata.labels.clone();
    rs.metadata.owner_references = vec![pods::controller_ref(Kind::Deployment, &d.metadata)];
    rs.metadata
        .annotations
        .insert(REVISION.into(), revision.to_string());
    if let Some(cause) = d.metadata.annotations.get(CHANGE_CAUSE) {
        rs.metadata
            .annotations
            .insert(CHANGE_CAUSE.into(), cause.clone());
    }
    rs.spec = ReplicaSetSpec {
        replicas: Some(replicas),
        selector,
        template,
        min_ready_seconds: d.spec.min_ready_seconds,
    };
    rs
}

/// Gives an existing ReplicaSet (made current again by a rollback) the next revision,
/// remembering its old number. `None` when it already has it.
pub fn renumber(rs: &ReplicaSet, revision: u64) -> Option<ReplicaSet> {
    let old = revision_of(rs);
    if old >= revision {
        return None;
    }
    let mut rs = rs.clone();
    let a = &mut rs.metadata.annotations;
    if old > 0 {
        let history = match a.get(REVISION_HISTORY) {
            Some(h) if !h.is_empty() => format!("{h},{old}"),
            _ => old.to_string(),
        };
        a.insert(REVISION_HISTORY.into(), history);
    }
    a.insert(REVISION.into(), revision.to_string());
    Some(rs)
}

/// Old ReplicaSets to delete: those with no replicas (and no pods), beyond the newest
/// `limit` of them.
pub fn beyond_limit<'a>(
    old: &[&'a ReplicaSet],
    limit: usize,
    has_pods: impl Fn(&ReplicaSet) -> bool,
) -> Vec<&'a ReplicaSet> {
    let mut idle: Vec<&ReplicaSet> = old
        .iter()
        .copied()
        .filter(|rs| rs.spec.replicas.unwrap_or(1) == 0 && !has_pods(rs))
        .collect();
    if idle.len() <= limit {
        return Vec::new();
    }
    idle.sort_by_key(|rs| revision_of(rs));
    let n = idle.len() - limit;
    idle.into_iter().take(n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(image: &str) -> Deployment {
        let mut d = Deployment::default();
        d.metadata.name = "web".into();
        d.metadata.uid = Some("u".into());
        d.spec
            .template
            .metadata
            .labels
            .insert("app".into(), "web".into());
        d.spec
            .selector
            .match_labels
            .insert("app".into(), "web".into());
        d.spec
            .template
            .spec
            .containers
            .push(skiff_proto::model::Container {
                name: "c".into(),
                image: image.into(),
                ..Default::default()
            });
        d
    }

    #[test]
    fn each_template_has_its_own_stable_hash_and_replica_set() {
        let v1 = deployment("app:v1");
        let v2 = deployment("app:v2");
        assert_eq!(
            template_hash(&v1.spec.template),
            template_hash(&v1.spec.template)
        );
        assert_ne!(
            template_hash(&v1.spec.template),
            template_hash(&v2.spec.template)
        );
        let rs = new_replica_set(&v1, 1, 3);
        assert!(rs.metadata.name.starts_with("web-"));
        assert!(is_current(&rs, &v1));
        assert!(!is_current(&rs, &v2));
        // The hash label keeps revisions' pods apart.
        assert!(rs.spec.selector.match_labels.contains_key(TEMPLATE_HASH));
        assert_eq!(
            rs.spec.template.metadata.labels.get(TEMPLATE_HASH),
            rs.spec.selector.match_labels.get(TEMPLATE_HASH)
        );
        // The label does not change the hash of the template that carries it.
        assert_eq!(
            template_hash(&rs.spec.template),
            template_hash(&v1.spec.template)
        );
    }

    #[test]
    fn rollback_renumbers_and_keeps_history() {
        let rs = new_replica_set(&deployment("app:v1"), 1, 0);
        let again = renumber(&rs, 3).unwrap();
        assert_eq!(revision_of(&again), 3);
        assert_eq!(again.metadata.annotations[REVISION_HISTORY], "1");
        assert!(renumber(&again, 3).is_none());
    }

    #[test]
    fn only_idle_sets_beyond_the_limit_go_oldest_first() {
        let sets: Vec<ReplicaSet> = (1..=4)
            .map(|r| new_replica_set(&deployment(&format!("app:v{r}")), r, 0))
            .collect();
        let refs: Vec<&ReplicaSet> = sets.iter().collect();
        let gone = beyond_limit(&refs, 2, |_| false);
        let revs: Vec<u64> = gone.iter().map(|rs| revision_of(rs)).collect();
        assert_eq!(revs, vec![1, 2]);
        assert!(beyond_limit(&refs, 2, |_| true).is_empty());
    }
}
