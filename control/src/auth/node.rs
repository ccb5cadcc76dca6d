//! The node authorizer, as Kubernetes' `Node` authorizer and `NodeRestriction` admission
//! have it: a node agent (`system:node:NAME`) reads what routing and running pods need,
//! writes only its own Node and the status of pods bound to it, and reads a Secret or
//! ConfigMap only while a pod bound to it uses it. Anything else falls to RBAC.

use skiff_proto::model::deployment::ACTIVATED_ANNOTATION;
use skiff_proto::{Kind, Object};

use super::attributes::{Attributes, SKIFF_GROUP, verb};
use crate::Error;
use crate::store::{StateMachine, key};

/// What the node authorizer says.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Refused, with the reason (the node rule that refused).
    Deny(String),
    /// Not a node's request this authorizer knows: RBAC decides.
    NoOpinion,
}

/// Kinds any node may read: what its router and its pods need.
const READABLE: [Kind; 10] = [
    Kind::HttpFilter,
    // Which Deployments a request may wake (those autoscaled down to zero).
    Kind::HorizontalPodAutoscaler,
    Kind::Pod,
    Kind::Node,
    Kind::Service,
    Kind::Endpoints,
    Kind::Ingress,
    Kind::HttpRoute,
    Kind::Deployment,
    Kind::Namespace,
];

fn is(a: &Attributes, kind: Kind) -> bool {
    a.group == kind.group() && a.resource == kind.resource()
}

/// The decision for node `node`'s request `a`.
pub fn decide(state: &StateMachine, node: &str, a: &Attributes) -> Result<Verdict, Error> {
    let sub = a.subresource.as_str();
    if a.group == SKIFF_GROUP && a.resource == "artifacts" && a.verb == verb::GET {
        return Ok(Verdict::Allow);
    }
    if a.is_read() && sub.is_empty() && READABLE.iter().any(|k| is(a, *k)) {
        return Ok(Verdict::Allow);
    }
    if is(a, Kind::Event) && matches!(a.verb.as_str(), verb::CREATE | verb::PATCH | verb::UPDATE) {
        return Ok(Verdict::Allow);
    }
    if is(a, Kind::Node) {
        return Ok(if a.name == node {
            Verdict::Allow
        } else {
            Verdict::Deny(format!("a node may only change its own Node ({node})"))
        });
    }
    // The router's activator scales a Deployment up from zero when a request arrives for
    // it; `activation_only` (admission) limits the change to exactly that.
    if is(a, Kind::Deployment) && a.verb == verb::UPDATE && sub.is_empty() {
        return Ok(Verdict::Allow);
    }
    if is(a, Kind::Pod) && sub == "status" && a.verb == verb::UPDATE {
        return bound_pod(state, node, a);
    }
    if is(a, Kind::Secret) && a.verb == verb::GET && sub.is_empty() {
        let name = a.name.clone();
        let what = format!("Secret {}/{name}", a.namespace);
        return pods_use(state, node, a, |p| p.uses_secret(&name), &what);
    }
    if is(a, Kind::ConfigMap) && a.verb == verb::GET && sub.is_empty() {
        let name = a.name.clone();
        let what = format!("ConfigMap {}/{name}", a.namespace);
        return pods_use(state, node, a, |p| p.uses_config_map(&name), &what);
    }
    if is(a, Kind::KeyValue) && sub.is_empty() {
        return key_values(state, node, a);
    }
    if is(a, Kind::Secret) || is(a, Kind::ConfigMap) || is(a, Kind::Pod) {
        return Ok(Verdict::Deny(format!(
            "a node may only get the Secrets and ConfigMaps of pods bound to it and update those pods' status, not {} {}",
            a.verb,
            a.resource_path()
        )));
    }
    Ok(Verdict::NoOpinion)
}

/// Allows reading and writing the key-value entries of a bucket (the name's part before
/// the first dot) when a pod bound to `node` in that namespace is granted it; a list,
/// which names no bucket, when one is granted any. The node gives each of its pods only
/// the buckets that pod was granted.
fn key_values(state: &StateMachine, node: &str, a: &Attributes) -> Result<Verdict, Error> {
    let bucket = a.name.split_once('.').map(|(b, _)| b.to_owned());
    let what = match &bucket {
        Some(b) => format!("key-value bucket {}/{b}", a.namespace),
        None => format!("the key-value buckets of namespace {}", a.namespace),
    };
    pods_use(
        state,
        node,
        a,
        |p| {
            p.all_containers().any(|c| {
                let grant = c.wasi.as_ref().and_then(|w| w.keyvalue.as_ref());
                grant.is_some_and(|g| bucket.as_deref().is_none_or(|b| g.allows(b)))
            })
        },
        &what,
    )
}

/// Allows `a` on a pod bound to `node`.
fn bound_pod(state: &StateMachine, node: &str, a: &Attributes) -> Result<Verdict, Error> {
    let k = key::make(Kind::Pod, &a.namespace, &a.name);
    Ok(match state.get(&k)?.map(|s| s.object) {
        Some(Object::Pod(p)) if p.spec.node_name.as_deref() == Some(node) => Verdict::Allow,
        _ => Verdict::Deny(format!(
            "pod {}/{} is not bound to node {node}",
            a.namespace, a.name
        )),
    })
}

/// Allows `a` when a pod bound to `node` in `a`'s namespace passes `uses`; else denies,
/// saying the pods do not use `what`.
fn pods_use(
    state: &StateMachine,
    node: &str,
    a: &Attributes,
    uses: impl Fn(&skiff_proto::model::PodSpec) -> bool,
    what: &str,
) -> Result<Verdict, Error> {
    let (pods, _) = state.list(Kind::Pod, Some(&a.namespace), None)?;
    let used = pods.iter().any(|s| match &s.object {
        Object::Pod(p) => p.spec.node_name.as_deref() == Some(node) && uses(&p.spec),
        _ => false,
    });
    Ok(if used {
        Verdict::Allow
    } else {
        Verdict::Deny(format!("no pod bound to node {node} uses {what}"))
    })
}

/// The one change a node may make to a Deployment: from zero replicas to one, marked with
/// the activation annotation (the router's activator, scaling from zero).
pub fn activation_only(current: &Object, desired: &Object) -> Result<(), String> {
    let (Object::Deployment(cur), Object::Deployment(new)) = (current, desired) else {
        return Err("a node may only update Deployments".into());
    };
    let unstamped = |d: &skiff_proto::model::Deployment| {
        let mut d = d.clone();
        d.metadata.annotations.remove(ACTIVATED_ANNOTATION);
        d.metadata.resource_version = None;
        // The server's, not the node's: a write carries none (they are recomputed).
        d.metadata.managed_fields.clear();
        d.status = None;
        d
    };
    let mut expected = unstamped(cur);
    expected.spec.replicas = Some(1);
    if cur.spec.replicas != Some(0)
        || !new.metadata.annotations.contains_key(ACTIVATED_ANNOTATION)
        || unstamped(new) != expected
    {
        return Err(format!(
            "a node may only scale a Deployment from 0 to 1 replicas, stamped with {ACTIVATED_ANNOTATION}"
        ));
    }
    Ok(())
}
