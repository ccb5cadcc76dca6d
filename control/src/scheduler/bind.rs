//! Committing a cycle's plan: many bindings in one raft transaction, each a
//! compare-and-swap on the pod's revision, so a pod someone else changed meanwhile is
//! never bound from a stale view. A lost race takes only that pod out of the
//! transaction; the rest are proposed again.
//!
//! Unschedulable pods get their `PodScheduled=False` condition (and a `FailedScheduling`
//! event) the same way, batched.

use std::collections::HashSet;
use std::sync::Arc;

use skiff_proto::Object;
use skiff_proto::model::event::EventType;
use skiff_proto::model::values::Time;
use skiff_proto::model::{Condition, ConditionStatus, Pod};

use crate::store::{Command, Op, Rejection, StoreHandle, Stored, WriteError};

/// The most writes one transaction carries.
pub const MAX_OPS: usize = 1000;

/// One write of a cycle's plan, for the pod at `key`.
pub struct Write {
    pub key: String,
    pub ops: Vec<Op>,
}

/// What became of a plan's writes.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Keys written, and the revision of the last transaction.
    pub written: Vec<String>,
    pub revision: u64,
    /// Keys not written (lost a race, gone, or the write failed); look again.
    pub lost: Vec<String>,
}

/// Proposes `writes` in transactions of up to [`MAX_OPS`] operations.
pub async fn commit(store: &StoreHandle, writes: Vec<Write>) -> Outcome {
    let mut out = Outcome::default();
    let mut chunk: Vec<Write> = Vec::new();
    let mut ops = 0;
    for w in writes {
        if ops + w.ops.len() > MAX_OPS && !chunk.is_empty() {
            commit_one(store, std::mem::take(&mut chunk), &mut out).await;
            ops = 0;
        }
        ops += w.ops.len();
        chunk.push(w);
    }
    if !chunk.is_empty() {
        commit_one(store, chunk, &mut out).await;
    }
    out
}

async fn commit_one(store: &StoreHandle, mut writes: Vec<Write>, out: &mut Outcome) {
    while !writes.is_empty() {
        let cmd = Command {
            ops: writes.iter().flat_map(|w| w.ops.iter().cloned()).collect(),
        };
        match store.propose(cmd).await {
            Ok(rev) => {
                out.revision = out.revision.max(rev);
                out.written.extend(writes.into_iter().map(|w| w.key));
                return;
            }
            Err(WriteError::Rejected(
                Rejection::Conflict { key, .. }
                | Rejection::NotFound(key)
                | Rejection::AlreadyExists(key),
            )) => {
                // Take out the write that touched `key` (its pod, or its event) and retry.
                let before = writes.len();
                let mut dropped = HashSet::new();
                writes.retain(|w| {
                    let hit = w.ops.iter().any(|o| o.key().as_deref() == Some(&key));
                    if hit {
                        dropped.insert(w.key.clone());
                    }
                    !hit
                });
                out.lost.extend(dropped);
                if writes.len() == before {
                    tracing::warn!(%key, "a scheduling write was refused for a key it does not hold");
                    out.lost.extend(writes.into_iter().map(|w| w.key));
                    return;
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "scheduling writes not committed; retrying them");
                out.lost.extend(writes.into_iter().map(|w| w.key));
                return;
            }
        }
    }
}

/// The binding of `pod` to `node`: its `spec.nodeName`, if the pod is unchanged.
pub fn binding(pod: &Stored, node: &str) -> Option<Op> {
    let Object::Pod(p) = &pod.object else {
        return None;
    };
    let mut p = p.clone();
    p.spec.node_name = Some(node.to_owned());
    Some(Op::Update {
        object: Object::Pod(p),
        expected: Some(pod.revision),
    })
}

/// The reason of the `PodScheduled=False` condition, as Kubernetes writes it.
pub const UNSCHEDULABLE: &str = "Unschedulable";

/// The current `PodScheduled` message of a pod, if it has one.
pub fn scheduled_message(p: &Pod) -> Option<&str> {
    p.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == "PodScheduled")?
        .message
        .as_deref()
}

/// The component the scheduler's events name, as kube-scheduler's.
pub const COMPONENT: &str = "default-scheduler";

/// The write of the scheduler's event about `about`.
fn event(
    store: &StoreHandle,
    about: &Object,
    type_: EventType,
    reason: &str,
    message: &str,
) -> Result<Op, tonic::Status> {
    let what = crate::api::What {
        component: COMPONENT,
        type_,
        reason,
        message,
    };
    crate::api::record_as(store.state(), &crate::api::About::of(about), &what, 1)
}

/// The event on a pod evicted to make room for `by` on `node`.
pub fn preempted(store: &StoreHandle, victim: &Object, by: &Pod, node: &str) -> Option<Op> {
    let message = format!(
        "Preempted by pod {} on node {node}",
        by.metadata.uid.as_deref().unwrap_or(&by.metadata.name)
    );
    event(store, victim, EventType::Normal, "Preempted", &message)
        .inspect_err(|e| tracing::debug!(error = %e.message(), "recording Preempted"))
        .ok()
}

/// The writes that say why `pod` fits nowhere: its condition and an event; none when it
/// already says so.
pub fn unschedulable(store: &StoreHandle, pod: &Arc<Stored>, message: &str) -> Option<Vec<Op>> {
    let Object::Pod(p) = &pod.object else {
        return None;
    };
    if scheduled_message(p) == Some(message) {
        return None;
    }
    let mut p = p.clone();
    let status = p.status.get_or_insert_with(Default::default);
    status.conditions.retain(|c| c.type_ != "PodScheduled");
    status.conditions.push(Condition {
        type_: "PodScheduled".into(),
        status: ConditionStatus::False,
        reason: Some(UNSCHEDULABLE.into()),
        message: Some(message.to_owned()),
        last_transition_time: Some(Time::now()),
        last_probe_time: Some(Time::now()),
        ..Default::default()
    });
    let about = Object::Pod(p.clone());
    let mut ops = vec![Op::Update {
        object: about.clone(),
        expected: Some(pod.revision),
    }];
    match event(
        store,
        &about,
        EventType::Warning,
        "FailedScheduling",
        message,
    ) {
        Ok(op) => ops.push(op),
        Err(e) => tracing::debug!(error = %e.message(), "recording FailedScheduling"),
    }
    Some(ops)
}

/// The write that says `pod` waits for room made on `node` by preempting `victims` pods.
pub fn nominated(pod: &Stored, node: &str, victims: usize) -> Option<Vec<Op>> {
    let Object::Pod(p) = &pod.object else {
        return None;
    };
    let mut p = p.clone();
    let status = p.status.get_or_insert_with(Default::default);
    status.nominated_node_name = Some(node.to_owned());
    status.conditions.retain(|c| c.type_ != "PodScheduled");
    status.conditions.push(Condition {
        type_: "PodScheduled".into(),
        status: ConditionStatus::False,
        reason: Some(UNSCHEDULABLE.into()),
        message: Some(format!(
            "preempting {victims} lower-priority pod(s) on node {node}"
        )),
        last_transition_time: Some(Time::now()),
        ..Default::default()
    });
    Some(vec![Op::Update {
        object: Object::Pod(p),
        expected: Some(pod.revision),
    }])
}
