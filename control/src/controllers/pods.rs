//! What the workload controllers ask of pods: are they active, ready, available; who
//! controls them; which to delete first; and a new pod from a template.

use std::cmp::Ordering;

use skiff_proto::model::meta::OwnerReference;
use skiff_proto::model::values::Time;
use skiff_proto::model::{ConditionStatus, ObjectMeta, Pod, PodPhase, PodTemplateSpec};
use skiff_proto::{Kind, Object};

/// Not finished and not being deleted: it counts towards a replica count.
pub fn is_active(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none() && !is_finished(p)
}

pub fn is_finished(p: &Pod) -> bool {
    p.status
        .as_ref()
        .is_some_and(|s| matches!(s.phase, PodPhase::Succeeded | PodPhase::Failed))
}

pub fn phase(p: &Pod) -> PodPhase {
    p.status.as_ref().map(|s| s.phase).unwrap_or_default()
}

/// The pod's `Ready` condition, when true: since when.
pub fn ready_since(p: &Pod) -> Option<Time> {
    let c = p
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready" && c.status == ConditionStatus::True)?;
    Some(c.last_transition_time.unwrap_or(Time { unix_seconds: 0 }))
}

pub fn is_ready(p: &Pod) -> bool {
    phase(p) == PodPhase::Running && ready_since(p).is_some()
}

/// Ready for at least `min_ready_seconds` by `now`.
pub fn is_available(p: &Pod, min_ready_seconds: i32, now: Time) -> bool {
    if !is_ready(p) {
        return false;
    }
    if min_ready_seconds <= 0 {
        return true;
    }
    ready_since(p).is_some_and(|t| {
        t.unix_seconds + u64::try_from(min_ready_seconds).unwrap_or(0) <= now.unix_seconds
    })
}

/// The owner reference with `controller: true`, if any.
pub fn controller_of(m: &ObjectMeta) -> Option<&OwnerReference> {
    m.controller()
}

/// Whether `m` is controlled by the object with uid `uid`.
pub fn controlled_by(m: &ObjectMeta, uid: &str) -> bool {
    controller_of(m).is_some_and(|o| o.uid == uid)
}

/// The reference a controller puts on what it creates.
pub fn controller_ref(kind: Kind, owner: &ObjectMeta) -> OwnerReference {
    OwnerReference {
        api_version: kind.api_version().to_owned(),
        kind: kind.name().to_owned(),
        name: owner.name.clone(),
        uid: owner.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// A new pod from `template`, owned by `owner`, named `<prefix><random>` by the server.
pub fn from_template(
    template: &PodTemplateSpec,
    owner: &ObjectMeta,
    owner_kind: Kind,
    prefix: &str,
) -> Object {
    let mut metadata = template.metadata.clone();
    metadata.name = String::new();
    metadata.generate_name = Some(prefix.to_owned());
    metadata.namespace = owner.namespace.clone();
    metadata.owner_references = vec![controller_ref(owner_kind, owner)];
    metadata.resource_version = None;
    metadata.uid = None;
    Object::Pod(Pod {
        metadata,
        spec: template.spec.clone(),
        status: None,
    })
}

fn phase_rank(p: PodPhase) -> u8 {
    match p {
        PodPhase::Pending => 0,
        PodPhase::Unknown => 1,
        _ => 2,
    }
}

/// Kubernetes' order for deleting extra replicas: unscheduled before scheduled, pending
/// before running, not ready before ready, ready more recently before longer, more
/// restarts before fewer, newer before older.
pub fn deletion_order(a: &Pod, b: &Pod) -> Ordering {
    let bound = |p: &Pod| p.spec.node_name.as_deref().is_some_and(|n| !n.is_empty());
    let restarts = |p: &Pod| {
        p.status.as_ref().map_or(0, |s| {
            s.container_statuses
                .iter()
                .map(|c| c.restart_count)
                .max()
                .unwrap_or(0)
        })
    };
    let created = |p: &Pod| p.metadata.creation_timestamp.unwrap_or_default();
    bound(a)
        .cmp(&bound(b))
        .then(phase_rank(phase(a)).cmp(&phase_rank(phase(b))))
        .then(is_ready(a).cmp(&is_ready(b)))
        .then_with(|| ready_since(b).cmp(&ready_since(a)))
        .then_with(|| restarts(b).cmp(&restarts(a)))
        .then_with(|| created(b).cmp(&created(a)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_proto::model::{Condition, PodStatus};

    fn pod(node: Option<&str>, phase: PodPhase, ready: bool, created: u64) -> Pod {
        let mut p = Pod::default();
        p.spec.node_name = node.map(str::to_owned);
        p.metadata.creation_timestamp = Some(Time {
            unix_seconds: created,
        });
        p.status = Some(PodStatus {
            phase,
            conditions: vec![Condition {
                type_: "Ready".into(),
                status: if ready {
                    ConditionStatus::True
                } else {
                    ConditionStatus::False
                },
                ..Default::default()
            }],
            ..Default::default()
        });
        p
    }

    #[test]
    fn extras_go_unscheduled_then_pending_then_unready_then_newest() {
        let mut pods = [
            pod(Some("n"), PodPhase::Running, true, 1),
            pod(Some("n"), PodPhase::Running, true, 5),
            pod(Some("n"), PodPhase::Running, false, 2),
            pod(Some("n"), PodPhase::Pending, false, 3),
            pod(None, PodPhase::Pending, false, 4),
        ];
        pods.sort_by(deletion_order);
        let order: Vec<u64> = pods
            .iter()
            .map(|p| p.metadata.creation_timestamp.unwrap().unix_seconds)
            .collect();
        assert_eq!(order, vec![4, 3, 2, 5, 1]);
    }

    #[test]
    fn availability_waits_for_min_ready_seconds() {
        let mut p = pod(Some("n"), PodPhase::Running, true, 1);
        p.status.as_mut().unwrap().conditions[0].last_transition_time =
            Some(Time { unix_seconds: 100 });
        assert!(is_available(&p, 0, Time { unix_seconds: 100 }));
        assert!(!is_available(&p, 10, Time { unix_seconds: 105 }));
        assert!(is_available(&p, 10, Time { unix_seconds: 110 }));
    }
}
