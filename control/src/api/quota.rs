//! LimitRange and ResourceQuota admission, as Kubernetes' `LimitRanger` and
//! `ResourceQuota` plugins. A new pod's containers get their namespace's default requests
//! and limits and are checked against its bounds; then each ResourceQuota of the
//! namespace is charged for what the new objects use.
//!
//! The charge is atomic with the write: the quota's status (usage recomputed from the
//! store, plus the new objects) is updated by compare-and-swap in the same raft command
//! that creates them, so of two creates racing for a quota's last unit, one command
//! fails its swap, is planned again from the newer state, and is refused.

use std::collections::BTreeMap;

use skiff_proto::model::pod::{PodPhase, PodSpec};
use skiff_proto::model::quantity::Quantity;
use skiff_proto::model::quota::{ResourceQuota, ResourceQuotaStatus};
use skiff_proto::{Kind, Object};
use tonic::Status;

use super::objects::ObjectApi;
use super::status;
use crate::store::Op;

/// How many times a create is planned again after losing a race for a quota.
pub const QUOTA_ATTEMPTS: usize = 8;

/// Whether a write failed because a quota it charged changed meanwhile (a conflict on a
/// ResourceQuota's key).
pub fn lost_quota_race(e: &Status) -> bool {
    e.code() == tonic::Code::Aborted && e.message().contains("ResourceQuota/")
}

/// A container's `requests` or `limits`.
fn side<'a>(c: &'a skiff_proto::model::Container, field: &str) -> &'a BTreeMap<String, Quantity> {
    if field == "requests" {
        &c.resources.requests
    } else {
        &c.resources.limits
    }
}

fn containers_sum(spec: &PodSpec, field: &str, resource: &str) -> i128 {
    spec.containers
        .iter()
        .map(|c| {
            side(c, field)
                .get(resource)
                .map_or(0, Quantity::milli_value)
        })
        .sum()
}

/// The container field and resource a pod's quota resource `name` sums
/// (`requests.cpu` → requests' `cpu`); `None` for counts.
fn pod_resource(name: &str) -> Option<(&'static str, &'static str)> {
    Some(match name {
        "cpu" | "requests.cpu" => ("requests", "cpu"),
        "memory" | "requests.memory" => ("requests", "memory"),
        "limits.cpu" => ("limits", "cpu"),
        "limits.memory" => ("limits", "memory"),
        _ => return None,
    })
}

/// Whether objects of `kind` count toward quota resource `name`.
fn counts(kind: Kind, name: &str) -> bool {
    if let Some(what) = name.strip_prefix("count/") {
        let (resource, group) = what.split_once('.').unwrap_or((what, ""));
        return kind.resource() == resource && kind.group() == group;
    }
    match name {
        "pods" => kind == Kind::Pod,
        "services" => kind == Kind::Service,
        "configmaps" => kind == Kind::ConfigMap,
        "secrets" => kind == Kind::Secret,
        "cpu" | "memory" | "requests.cpu" | "requests.memory" | "limits.cpu" | "limits.memory" => {
            kind == Kind::Pod
        }
        _ => false,
    }
}

/// What `o` uses of quota resource `name`, in thousandths (`None`: nothing).
fn usage(o: &Object, name: &str) -> Option<i128> {
    if !counts(o.kind(), name) {
        return None;
    }
    let Some((field, resource)) = pod_resource(name) else {
        return Some(1000);
    };
    let Object::Pod(p) = o else { return None };
    Some(containers_sum(&p.spec, field, resource))
}

/// A pod that has finished uses no quota.
fn live(o: &Object) -> bool {
    match o {
        Object::Pod(p) => !matches!(
            p.status.as_ref().map(|s| s.phase),
            Some(PodPhase::Succeeded | PodPhase::Failed)
        ),
        _ => true,
    }
}

/// `milli` thousandths of `name`, written as Kubernetes would.
fn quantity(name: &str, milli: i128) -> String {
    if name.ends_with("cpu") && milli % 1000 != 0 {
        format!("{milli}m")
    } else {
        (milli / 1000 + i128::from(milli % 1000 != 0)).to_string()
    }
}

/// A container of a pod that a quota on requests or limits needs to say them.
fn unspecified(o: &Object, name: &str) -> Option<String> {
    let Object::Pod(p) = o else { return None };
    let (field, resource) = pod_resource(name)?;
    p.spec
        .containers
        .iter()
        .find(|c| !side(c, field).contains_key(resource))
        .map(|c| format!("must specify {field}.{resource} for: {}", c.name))
}

impl ObjectApi {
    /// Fills a new pod's containers' missing requests and limits from its namespace's
    /// LimitRanges, then refuses values outside their bounds.
    pub(super) fn limit_ranges(&self, o: &mut Object) -> Result<(), Status> {
        let Object::Pod(p) = o else { return Ok(()) };
        let (ranges, _) = self
            .store
            .state()
            .list(Kind::LimitRange, Some(&p.metadata.namespace), None)
            .map_err(status::store)?;
        for s in ranges {
            let Object::LimitRange(lr) = s.object else {
                continue;
            };
            for item in lr.spec.limits.iter().filter(|i| i.type_ == "Container") {
                for c in &mut p.spec.containers {
                    for (r, q) in &item.default {
                        c.resources
                            .limits
                            .entry(r.clone())
                            .or_insert_with(|| q.clone());
                    }
                    for (r, q) in &item.default_request {
                        c.resources
                            .requests
                            .entry(r.clone())
                            .or_insert_with(|| q.clone());
                    }
                    // Without a default request, a request defaults to the limit.
                    for r in item
                        .default
                        .keys()
                        .filter(|r| !item.default_request.contains_key(*r))
                    {
                        if let Some(l) = c.resources.limits.get(r).cloned() {
                            c.resources.requests.entry(r.clone()).or_insert(l);
                        }
                    }
                    for (bound, map, over) in
                        [("minimum", &item.min, false), ("maximum", &item.max, true)]
                    {
                        for (r, b) in map {
                            for (field, value) in [
                                ("limit", c.resources.limits.get(r)),
                                ("request", c.resources.requests.get(r)),
                            ] {
                                let Some(v) = value else { continue };
                                let bad = if over {
                                    v.milli_value() > b.milli_value()
                                } else {
                                    v.milli_value() < b.milli_value()
                                };
                                if bad {
                                    return Err(Status::permission_denied(format!(
                                        "{} is forbidden: {bound} {r} usage per Container is {b}, but {field} is {v} (container {:?}; LimitRange {})",
                                        o_name(&p.metadata.namespace, &p.metadata.name),
                                        c.name,
                                        lr.metadata.name
                                    )));
                                }
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The quota updates that must commit with creating `objects`, or the refusal:
    /// `exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2`.
    pub(super) fn quota_ops(&self, objects: &[Object]) -> Result<Vec<Op>, Status> {
        let mut namespaces: Vec<&str> = objects
            .iter()
            .filter(|o| o.kind().is_namespaced())
            .map(|o| o.metadata().namespace.as_str())
            .collect();
        namespaces.sort_unstable();
        namespaces.dedup();
        let mut ops = Vec::new();
        for ns in namespaces {
            let state = self.store.state();
            let (quotas, _) = state
                .list(Kind::ResourceQuota, Some(ns), None)
                .map_err(status::store)?;
            let new: Vec<&Object> = objects
                .iter()
                .filter(|o| o.metadata().namespace == ns)
                .collect();
            for s in quotas {
                let Object::ResourceQuota(q) = s.object else {
                    continue;
                };
                let used = self.used(&q, ns)?;
                let mut status = ResourceQuotaStatus {
                    hard: q.spec.hard.clone(),
                    used: BTreeMap::new(),
                };
                for (name, hard) in &q.spec.hard {
                    let requested: i128 = new.iter().filter_map(|o| usage(o, name)).sum();
                    if requested > 0
                        && let Some(why) = new.iter().find_map(|o| unspecified(o, name))
                    {
                        return Err(Status::permission_denied(format!(
                            "failed quota: {}: {why}",
                            q.metadata.name
                        )));
                    }
                    let now = used.get(name).copied().unwrap_or(0);
                    if requested > 0 && now + requested > hard.milli_value() {
                        return Err(Status::permission_denied(format!(
                            "exceeded quota: {}, requested: {name}={}, used: {name}={}, limited: {name}={}",
                            q.metadata.name,
                            quantity(name, requested),
                            quantity(name, now),
                            hard
                        )));
                    }
                    let total = quantity(name, now + requested);
                    status.used.insert(
                        name.clone(),
                        Quantity::parse(&total).map_err(Status::internal)?,
                    );
                }
                let mut charged = q.clone();
                charged.status = Some(status);
                ops.push(Op::Update {
                    object: Object::ResourceQuota(charged),
                    expected: Some(s.revision),
                });
            }
        }
        Ok(ops)
    }

    /// What namespace `ns` uses now of each resource quota `q` limits, in thousandths.
    fn used(&self, q: &ResourceQuota, ns: &str) -> Result<BTreeMap<String, i128>, Status> {
        let mut kinds: Vec<Kind> = Kind::ALL
            .into_iter()
            .filter(|k| k.is_namespaced())
            .collect();
        kinds.retain(|k| q.spec.hard.keys().any(|name| counts(*k, name)));
        let mut used = BTreeMap::new();
        for k in kinds {
            let (items, _) = self
                .store
                .state()
                .list(k, Some(ns), None)
                .map_err(status::store)?;
            for s in items.iter().filter(|s| live(&s.object)) {
                for name in q.spec.hard.keys() {
                    if let Some(u) = usage(&s.object, name) {
                        *used.entry(name.clone()).or_insert(0) += u;
                    }
                }
            }
        }
        Ok(used)
    }
}

/// Keeps every ResourceQuota's `status.used` true to what its namespace holds (creates
/// are charged as they happen; this catches deletions and finished pods): the leader
/// recomputes each every `every` and writes the ones that changed, by compare-and-swap.
pub async fn refresh(api: std::sync::Arc<ObjectApi>, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let leader = matches!(api.store.status().await, Ok(s) if s.role == raft::StateRole::Leader);
        if !leader {
            continue;
        }
        if let Err(e) = api.refresh_once().await {
            tracing::debug!(error = %e, "refreshing quota usage");
        }
    }
}

impl ObjectApi {
    async fn refresh_once(&self) -> Result<(), Status> {
        let (quotas, _) = self
            .store
            .state()
            .list(Kind::ResourceQuota, None, None)
            .map_err(status::store)?;
        for s in quotas {
            let Object::ResourceQuota(q) = &s.object else {
                continue;
            };
            let used = self.used(q, &q.metadata.namespace)?;
            let mut fresh = ResourceQuotaStatus {
                hard: q.spec.hard.clone(),
                used: BTreeMap::new(),
            };
            for name in q.spec.hard.keys() {
                let total = quantity(name, used.get(name).copied().unwrap_or(0));
                fresh.used.insert(
                    name.clone(),
                    Quantity::parse(&total).map_err(Status::internal)?,
                );
            }
            if q.status.as_ref() == Some(&fresh) {
                continue;
            }
            let mut updated = q.clone();
            updated.status = Some(fresh);
            let cmd = crate::store::Command {
                ops: vec![Op::Update {
                    object: Object::ResourceQuota(updated),
                    expected: Some(s.revision),
                }],
            };
            // A create charged it meanwhile: the next round looks again.
            let _ = self.store.propose(cmd).await;
        }
        Ok(())
    }
}

fn o_name(ns: &str, name: &str) -> String {
    format!("Pod/{ns}/{name}")
}
