//! Admission, before anything is proposed: defaulting (what Kubernetes fills in when a
//! manifest leaves it out) and immutability (fields that cannot change once created).
//! Validation of a single object runs earlier, when the manifest is decoded
//! (`skiff_proto::validate`), with the same rules as `skiff validate`.

use skiff_proto::Object;
use skiff_proto::artifact::{ArtifactRef, parse_wasm_image};
use skiff_proto::model::deployment::{DeploymentStrategy, DeploymentStrategyType, RollingUpdate};
use skiff_proto::model::pod::{PodSpec, RestartPolicy};
use skiff_proto::model::values::IntOrString;
use tonic::Status;

/// Fills in what the manifest left out, as Kubernetes' defaulting does.
pub fn default(o: &mut Object) {
    if o.kind().is_namespaced() && o.metadata().namespace.is_empty() {
        o.metadata_mut().namespace = "default".to_owned();
    }
    match o {
        Object::Pod(p) => default_pod(&mut p.spec, RestartPolicy::Always),
        Object::Deployment(d) => {
            let s = &mut d.spec;
            s.replicas.get_or_insert(1);
            s.revision_history_limit.get_or_insert(10);
            s.progress_deadline_seconds.get_or_insert(600);
            let strategy = s.strategy.get_or_insert_with(DeploymentStrategy::default);
            let kind = *strategy
                .type_
                .get_or_insert(DeploymentStrategyType::RollingUpdate);
            if kind == DeploymentStrategyType::RollingUpdate {
                let r = strategy
                    .rolling_update
                    .get_or_insert_with(RollingUpdate::default);
                let quarter = || IntOrString::String("25%".to_owned());
                r.max_surge.get_or_insert_with(quarter);
                r.max_unavailable.get_or_insert_with(quarter);
            }
            default_pod(&mut s.template.spec, RestartPolicy::Always);
        }
        Object::ReplicaSet(r) => {
            r.spec.replicas.get_or_insert(1);
            default_pod(&mut r.spec.template.spec, RestartPolicy::Always);
        }
        Object::DaemonSet(d) => {
            d.spec.revision_history_limit.get_or_insert(10);
            default_pod(&mut d.spec.template.spec, RestartPolicy::Always);
        }
        // `stringData` is a write-only convenience: stored (and read back) as `data`.
        Object::Secret(s) => {
            for (k, v) in std::mem::take(&mut s.string_data) {
                s.data
                    .insert(k, skiff_proto::model::values::Base64Bytes(v.into_bytes()));
            }
        }
        Object::Job(j) => {
            j.spec.completions.get_or_insert(1);
            j.spec.parallelism.get_or_insert(1);
            j.spec.backoff_limit.get_or_insert(6);
            // A Job's pods must not restart forever; validation already refused `Always`.
            default_pod(&mut j.spec.template.spec, RestartPolicy::OnFailure);
        }
        _ => {}
    }
}

/// Refuses an HTTPRoute that sends to a Service in another namespace: in the Gateway API
/// that takes a ReferenceGrant from the other namespace, which Skiff does not have, and
/// without one a tenant could route to another's Services.
pub fn own_namespace_backends(o: &Object) -> Result<(), Status> {
    let Object::HttpRoute(r) = o else {
        return Ok(());
    };
    let ns = &r.metadata.namespace;
    for (i, rule) in r.spec.rules.iter().enumerate() {
        for (j, b) in rule.backend_refs.iter().enumerate() {
            if let Some(other) = b.namespace.as_deref().filter(|x| *x != ns) {
                return Err(Status::invalid_argument(format!(
                    "HTTPRoute {ns}/{}: spec.rules[{i}].backendRefs[{j}].namespace {other:?}: a route may only send to Services in its own namespace ({ns:?}); a cross-namespace reference needs a ReferenceGrant, which Skiff does not support; hint: put the route in {other:?}",
                    r.metadata.name
                )));
            }
        }
    }
    Ok(())
}

/// Refuses a Wasm image written as a file path: that file is on the client's machine,
/// where no node can read it. `skiff apply` uploads it and sends its digest instead.
pub fn no_local_files(o: &Object) -> Result<(), Status> {
    let Some(spec) = o.pod_spec().filter(|s| s.is_wasm()) else {
        return Ok(());
    };
    let prefix = if matches!(o, Object::Pod(_)) {
        "spec"
    } else {
        "spec.template.spec"
    };
    for (field, list) in [
        ("initContainers", &spec.init_containers),
        ("containers", &spec.containers),
    ] {
        for (i, c) in list.iter().enumerate() {
            if let Ok(ArtifactRef::Path(p)) = parse_wasm_image(&c.image) {
                return Err(Status::invalid_argument(format!(
                    "{}: {prefix}.{field}[{i}].image: {p:?} is a file on the client's machine, which no node can read; `skiff apply` uploads it and sends its digest (or upload it with the ArtifactService and write `sha256:<hex>`)",
                    o.display_name()
                )));
            }
        }
    }
    Ok(())
}

/// Restart policy, and requests defaulting to limits (a container that states only a
/// limit asks for that much, as in Kubernetes).
fn default_pod(spec: &mut PodSpec, restart: RestartPolicy) {
    spec.restart_policy.get_or_insert(restart);
    for c in spec
        .init_containers
        .iter_mut()
        .chain(spec.containers.iter_mut())
    {
        let r = &mut c.resources;
        for (name, limit) in &r.limits {
            r.requests
                .entry(name.clone())
                .or_insert_with(|| limit.clone());
        }
    }
}

/// Refuses a change to a field that is fixed once the object exists.
pub fn immutable(current: &Object, next: &Object) -> Result<(), Status> {
    let fixed = |field: &str, why: &str| {
        Err(Status::invalid_argument(format!(
            "{}: {field} cannot change once created ({why}); \
             hint: delete the object and create it again with the new value",
            next.display_name()
        )))
    };
    match (current, next) {
        (Object::Deployment(a), Object::Deployment(b)) if a.spec.selector != b.spec.selector => {
            fixed("spec.selector", "the pods it owns are found by it")
        }
        (Object::ReplicaSet(a), Object::ReplicaSet(b)) if a.spec.selector != b.spec.selector => {
            fixed("spec.selector", "the pods it owns are found by it")
        }
        (Object::DaemonSet(a), Object::DaemonSet(b)) if a.spec.selector != b.spec.selector => {
            fixed("spec.selector", "the pods it owns are found by it")
        }
        (Object::Job(a), Object::Job(b)) if a.spec.template != b.spec.template => {
            fixed("spec.template", "a Job runs the pods it was created with")
        }
        (Object::Job(a), Object::Job(b)) if a.spec.selector != b.spec.selector => {
            fixed("spec.selector", "the pods it owns are found by it")
        }
        (Object::PriorityClass(a), Object::PriorityClass(b)) if a.value != b.value => fixed(
            "value",
            "pods already carry it; create a new class and move pods to it",
        ),
        (Object::Service(a), Object::Service(b))
            if a.spec.cluster_ip.is_some() && a.spec.cluster_ip != b.spec.cluster_ip =>
        {
            fixed("spec.clusterIP", "clients may have it")
        }
        (Object::Pod(a), Object::Pod(b))
            if a.spec.node_name.as_deref().is_some_and(|n| !n.is_empty())
                && a.spec.node_name != b.spec.node_name =>
        {
            fixed(
                "spec.nodeName",
                "a pod is bound to a node once; delete it to place it elsewhere",
            )
        }
        (Object::Pod(a), Object::Pod(b)) if pod_fixed(&a.spec) != pod_fixed(&b.spec) => fixed(
            "spec (other than container images)",
            "a pod is recreated, not edited; change its Deployment instead",
        ),
        _ => Ok(()),
    }
}

/// A pod's spec without what Kubernetes lets change in place (container images), and
/// without the binding the scheduler adds.
fn pod_fixed(spec: &PodSpec) -> PodSpec {
    let mut s = spec.clone();
    for c in s.init_containers.iter_mut().chain(s.containers.iter_mut()) {
        c.image = String::new();
    }
    s.node_name = None;
    s
}
