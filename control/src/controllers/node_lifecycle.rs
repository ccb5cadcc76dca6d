//! Node lifecycle: a node whose agent stops reporting is marked and emptied.
//! - A change of a Node's status that this controller did not make counts as the agent
//!   reporting (its heartbeat). Times are this member's own clock, as Kubernetes'
//!   node lifecycle controller keeps them, so agents' clocks do not matter.
//! - After `monitor_grace` without one, the node's `Ready` condition becomes `Unknown`,
//!   it gets the `node.kubernetes.io/unreachable:NoExecute` taint (a node that reports
//!   `Ready=False` gets `not-ready`), and its pods are marked not ready.
//! - A pod on a `NoExecute`-tainted node is evicted (deleted) once its toleration's
//!   `tolerationSeconds` (for a pod without a matching toleration, `eviction_grace`)
//!   have passed since the taint was added; its controller recreates it elsewhere.
//!   Pods that tolerate the taint without a limit (DaemonSet pods) stay.
//! - When the agent reports again, the taints go.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use skiff_proto::model::scheduling::{Taint, TaintEffect};
use skiff_proto::model::values::Time;
use skiff_proto::model::{Condition, ConditionStatus, Node, Pod};
use skiff_proto::{Kind, Object};
use tokio::time::Instant;
use tonic::Status;

use super::runner::{Next, Reconciler, own_key};
use crate::machinery::cache::{Cache, Change};
use crate::machinery::client::Client;
use crate::scheduler::plugins::node_ready::{NOT_READY_TAINT, UNREACHABLE_TAINT};
use crate::scheduler::plugins::taints::tolerates;

/// How long nodes may go quiet, and how long their pods then stay.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub monitor_grace: Duration,
    pub eviction_grace: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            monitor_grace: Duration::from_secs(3),
            eviction_grace: Duration::from_secs(5),
        }
    }
}

pub struct NodeLifecycle {
    pub cache: Cache,
    pub client: Client,
    pub timing: Timing,
    /// Node name → when its agent last wrote it (as this member saw it).
    seen: Mutex<HashMap<String, Instant>>,
}

/// The reason this controller gives the `Ready` condition of a node it lost.
const STATUS_UNKNOWN: &str = "NodeStatusUnknown";

impl NodeLifecycle {
    pub fn new(cache: Cache, client: Client, timing: Timing) -> Self {
        NodeLifecycle {
            cache,
            client,
            timing,
            seen: Mutex::default(),
        }
    }

    fn last_seen(&self, name: &str) -> Instant {
        *self
            .seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(name.to_owned())
            .or_insert_with(Instant::now)
    }

    async fn write_node(&self, o: Object, rev: u64, status: bool) -> Result<(), Status> {
        if status {
            self.client.update_status(&o, rev).await?;
        } else {
            self.client.update(&o, rev).await?;
        }
        Ok(())
    }
}

fn ready_condition(n: &Node) -> Option<&Condition> {
    n.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
}

fn reported_ready(n: &Node) -> Option<ConditionStatus> {
    ready_condition(n).map(|c| c.status)
}

/// Whether a change of a node is its agent reporting: its status moved, and not by
/// this controller.
fn reported(old: Option<&Object>, new: &Object) -> bool {
    let Object::Node(new) = new else { return false };
    let ours = ready_condition(new).and_then(|c| c.reason.as_deref()) == Some(STATUS_UNKNOWN);
    match old {
        Some(Object::Node(old)) => !ours && old.status != new.status,
        _ => true,
    }
}

/// The `NoExecute` taint this controller puts on a node in `state`.
fn lifecycle_taint(key: &str) -> Taint {
    Taint {
        key: key.to_owned(),
        value: None,
        effect: TaintEffect::NoExecute,
        time_added: Some(Time::now()),
    }
}

fn is_lifecycle(t: &Taint) -> bool {
    t.effect == TaintEffect::NoExecute && (t.key == UNREACHABLE_TAINT || t.key == NOT_READY_TAINT)
}

/// When a pod on a node with `taint` must go: `None` if it tolerates the taint for good.
fn eviction_time(p: &Pod, taint: &Taint, grace: Duration) -> Option<u64> {
    let added = taint.time_added.map_or(0, |t| t.unix_seconds);
    let matching: Vec<_> = p
        .spec
        .tolerations
        .iter()
        .filter(|t| tolerates(t, taint))
        .collect();
    if matching.is_empty() {
        return Some(added + grace.as_secs());
    }
    if matching.iter().any(|t| t.toleration_seconds.is_none()) {
        return None;
    }
    let secs = matching
        .iter()
        .filter_map(|t| t.toleration_seconds)
        .min()
        .unwrap_or(0)
        .max(0);
    Some(added + u64::try_from(secs).unwrap_or(0))
}

impl Reconciler for NodeLifecycle {
    const NAME: &'static str = "node-lifecycle";
    const KIND: Kind = Kind::Node;

    fn keys(&self, c: &Change, _cache: &Cache) -> Vec<String> {
        if c.kind == Kind::Node
            && let Some(new) = &c.new
            && reported(c.old.as_ref().map(|s| &s.object), &new.object)
        {
            self.seen
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(new.object.metadata().name.clone(), Instant::now());
        }
        own_key(c, Kind::Node)
    }

    async fn reconcile(&self, key: &str) -> Next {
        let Some(s) = self.cache.get_key(Kind::Node, key) else {
            return Ok(None);
        };
        let Object::Node(n) = &s.object else {
            return Ok(None);
        };
        let name = n.metadata.name.clone();
        let quiet = self.last_seen(&name).elapsed();
        let reported = reported_ready(n);
        let lost = quiet >= self.timing.monitor_grace;
        let wanted = if lost {
            Some(UNREACHABLE_TAINT)
        } else if reported == Some(ConditionStatus::False) {
            Some(NOT_READY_TAINT)
        } else {
            None
        };
        let has: Vec<&Taint> = n.spec.taints.iter().filter(|t| is_lifecycle(t)).collect();
        let right = match wanted {
            Some(k) => has.len() == 1 && has[0].key == k,
            None => has.is_empty(),
        };
        if lost && reported != Some(ConditionStatus::Unknown) {
            tracing::info!(node = %name, quiet = ?quiet, "node stopped reporting; marking it unreachable");
            let mut n2 = n.clone();
            let st = n2.status.get_or_insert_with(Default::default);
            let heartbeat = ready_condition(n).and_then(|c| c.last_heartbeat_time);
            st.conditions.retain(|c| c.type_ != "Ready");
            st.conditions.push(Condition {
                type_: "Ready".into(),
                status: ConditionStatus::Unknown,
                reason: Some(STATUS_UNKNOWN.into()),
                message: Some("the node agent stopped posting node status".into()),
                last_transition_time: Some(Time::now()),
                last_heartbeat_time: heartbeat,
                ..Default::default()
            });
            self.write_node(Object::Node(n2), s.revision, true).await?;
            self.mark_pods_not_ready(&name).await?;
            return Ok(Some(Duration::ZERO));
        }
        if !right {
            let mut n2 = n.clone();
            n2.spec.taints.retain(|t| !is_lifecycle(t));
            if let Some(k) = wanted {
                n2.spec.taints.push(lifecycle_taint(k));
            } else {
                tracing::info!(node = %name, "node reports again; lifting its NoExecute taint");
            }
            self.write_node(Object::Node(n2), s.revision, false).await?;
            return Ok(Some(Duration::ZERO));
        }
        let next_evict = match has.first() {
            Some(t) => self.evict(&name, t).await?,
            None => None,
        };
        // Look again when the node would turn quiet, or the next pod is due.
        let until_quiet = self.timing.monitor_grace.saturating_sub(quiet);
        let again = match (lost, next_evict) {
            (true, Some(d)) => d,
            (true, None) => Duration::from_secs(1),
            (false, Some(d)) => d.min(until_quiet),
            (false, None) => until_quiet,
        };
        Ok(Some(again.max(Duration::from_millis(100))))
    }
}

impl NodeLifecycle {
    fn pods_on(&self, node: &str) -> Vec<(u64, Pod)> {
        self.cache
            .list(Kind::Pod, None)
            .into_iter()
            .filter_map(|s| match &s.object {
                Object::Pod(p) if p.spec.node_name.as_deref() == Some(node) => {
                    Some((s.revision, p.clone()))
                }
                _ => None,
            })
            .collect()
    }

    /// Pods on a lost node serve nobody: their `Ready` condition says so.
    async fn mark_pods_not_ready(&self, node: &str) -> Result<(), Status> {
        for (rev, mut p) in self.pods_on(node) {
            let Some(st) = &mut p.status else { continue };
            let mut changed = false;
            for c in st.conditions.iter_mut().filter(|c| c.type_ == "Ready") {
                if c.status == ConditionStatus::True {
                    c.status = ConditionStatus::False;
                    c.reason = Some("NodeLost".into());
                    c.last_transition_time = Some(Time::now());
                    changed = true;
                }
            }
            if changed {
                match self.client.update_status(&Object::Pod(p), rev).await {
                    Ok(_) => {}
                    Err(e) if crate::machinery::client::stale(&e) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// Evicts the pods whose time is up; returns how long until the next one is.
    async fn evict(&self, node: &str, taint: &Taint) -> Result<Option<Duration>, Status> {
        let now = Time::now().unix_seconds;
        let mut next: Option<u64> = None;
        for (rev, p) in self.pods_on(node) {
            if p.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let Some(at) = eviction_time(&p, taint, self.timing.eviction_grace) else {
                continue;
            };
            if at <= now {
                tracing::info!(pod = %p.metadata.name, node, "evicting a pod from a node that stopped reporting");
                let r = self
                    .client
                    .delete(
                        Kind::Pod,
                        &p.metadata.namespace,
                        &p.metadata.name,
                        Some(rev),
                    )
                    .await;
                match r {
                    Ok(()) => {}
                    Err(e) if crate::machinery::client::stale(&e) => {}
                    Err(e) => return Err(e),
                }
            } else {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
        Ok(next.map(|at| Duration::from_secs(at - now)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_proto::model::scheduling::{Toleration, TolerationOperator};

    #[test]
    fn eviction_waits_for_the_grace_or_the_pods_own_toleration() {
        let taint = Taint {
            key: UNREACHABLE_TAINT.into(),
            value: None,
            effect: TaintEffect::NoExecute,
            time_added: Some(Time { unix_seconds: 100 }),
        };
        let grace = Duration::from_secs(5);
        let mut p = Pod::default();
        assert_eq!(eviction_time(&p, &taint, grace), Some(105));
        p.spec.tolerations.push(Toleration {
            key: Some(UNREACHABLE_TAINT.into()),
            operator: Some(TolerationOperator::Exists),
            effect: Some(TaintEffect::NoExecute),
            toleration_seconds: Some(30),
            ..Default::default()
        });
        assert_eq!(eviction_time(&p, &taint, grace), Some(130));
        p.spec.tolerations[0].toleration_seconds = None;
        assert_eq!(eviction_time(&p, &taint, grace), None);
    }
}
