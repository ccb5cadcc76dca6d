//! Rules for a pod spec: containers (names, images, ports, env, resources, probes, mounts)
//! and volumes.

use std::collections::{BTreeMap, HashSet};

use super::{Context, Violations, meta, names};
use crate::artifact::{self, ArtifactRef};
use crate::manifest::FieldPath;
use crate::model::container::{Container, EnvFromSource, EnvVar, WasiGrants};
use crate::model::values::{IntOrString, names_set};
use crate::model::{PodSpec, Probe, Quantity, Volume};

/// Resource names a container may request or be limited by.
const RESOURCES: [&str; 3] = ["cpu", "memory", "ephemeral-storage"];

pub fn pod_spec(spec: &PodSpec, at: &FieldPath, ctx: &Context<'_>, v: &mut Violations) {
    if spec.containers.is_empty() {
        v.add_hint(
            at.field("containers"),
            "a pod needs at least one container",
            "add a container with a `name` and an `image`",
        );
    }
    if let Some(rc) = &spec.runtime_class_name
        && let Err(why) = names::dns_subdomain(rc)
    {
        v.add(
            at.field("runtimeClassName"),
            format!("invalid name {rc:?}: {why}"),
        );
    }
    let volumes = volumes(&spec.volumes, &at.field("volumes"), v);
    let mut seen = HashSet::new();
    for (list, field) in [
        (&spec.init_containers, "initContainers"),
        (&spec.containers, "containers"),
    ] {
        for (i, c) in list.iter().enumerate() {
            let cat = at.field(field).index(i);
            if !c.name.is_empty() && !seen.insert(c.name.as_str()) {
                v.add_hint(
                    cat.field("name"),
                    format!("duplicate container name {:?}", c.name),
                    "each container in a pod needs its own name",
                );
            }
            container(c, spec.is_wasm(), &volumes, &cat, ctx, v);
        }
    }
    meta::labels(&spec.node_selector, &at.field("nodeSelector"), v);
    super::scheduling::scheduling(spec, at, v);
    if let Some(n) = &spec.node_name
        && let Err(why) = names::dns_subdomain(n)
    {
        v.add(at.field("nodeName"), format!("invalid name {n:?}: {why}"));
    }
    if let Some(t) = spec.termination_grace_period_seconds {
        v.range(at.field("terminationGracePeriodSeconds"), t, 0, i64::MAX);
    }
    if let Some(t) = spec.active_deadline_seconds {
        v.range(at.field("activeDeadlineSeconds"), t, 1, i64::MAX);
    }
    if let Some(sc) = &spec.security_context {
        super::security::pod(sc, &at.field("securityContext"), v);
    }
}

/// Checks volumes and returns their names, for mounts to refer to.
fn volumes<'a>(vols: &'a [Volume], at: &FieldPath, v: &mut Violations) -> HashSet<&'a str> {
    let mut seen = HashSet::new();
    for (i, vol) in vols.iter().enumerate() {
        let vat = at.index(i);
        if let Err(why) = names::dns_label(&vol.name) {
            v.add(
                vat.field("name"),
                format!("invalid name {:?}: {why}", vol.name),
            );
        } else if !seen.insert(vol.name.as_str()) {
            v.add(
                vat.field("name"),
                format!("duplicate volume name {:?}", vol.name),
            );
        }
        let sources = vol.sources();
        if sources.len() != 1 {
            v.add_hint(
                vat.clone(),
                format!(
                    "a volume needs exactly one source, found {}",
                    if sources.is_empty() {
                        "none".into()
                    } else {
                        sources.join(" and ")
                    }
                ),
                "keep one of emptyDir, hostPath, configMap, secret",
            );
        }
        if let Some(h) = &vol.host_path
            && !h.path.starts_with('/')
        {
            v.add(
                vat.field("hostPath").field("path"),
                format!("hostPath {:?} must be absolute", h.path),
            );
        }
    }
    seen
}

fn container(
    c: &Container,
    wasm: bool,
    volumes: &HashSet<&str>,
    at: &FieldPath,
    ctx: &Context<'_>,
    v: &mut Violations,
) {
    if let Err(why) = names::dns_label(&c.name) {
        v.add(
            at.field("name"),
            format!("invalid name {:?}: {why}", c.name),
        );
    }
    image(&c.image, wasm, &at.field("image"), ctx, v);
    let mut port_names = HashSet::new();
    for (i, p) in c.ports.iter().enumerate() {
        let pat = at.field("ports").index(i);
        v.range(
            pat.field("containerPort"),
            p.container_port.into(),
            1,
            65535,
        );
        if let Some(h) = p.host_port {
            v.range(pat.field("hostPort"), h.into(), 1, 65535);
        }
        if let Some(n) = &p.name {
            if let Err(why) = names::port_name(n) {
                v.add(pat.field("name"), format!("invalid name {n:?}: {why}"));
            } else if !port_names.insert(n.as_str()) {
                v.add(pat.field("name"), format!("duplicate port name {n:?}"));
            }
        }
    }
    for (i, e) in c.env.iter().enumerate() {
        env_var(e, &at.field("env").index(i), v);
    }
    key_sources(&c.env_from, &at.field("envFrom"), v);
    if let Some(w) = &c.wasi {
        wasi(w, wasm, &at.field("wasi"), v);
    }
    resources(
        &c.resources.requests,
        &c.resources.limits,
        &at.field("resources"),
        v,
    );
    for (i, m) in c.volume_mounts.iter().enumerate() {
        let mat = at.field("volumeMounts").index(i);
        if !volumes.contains(m.name.as_str()) {
            v.add_hint(
                mat.field("name"),
                format!("no volume named {:?} in this pod", m.name),
                "declare it under the pod's `volumes`, or fix the name",
            );
        }
        if !m.mount_path.starts_with('/') {
            v.add(
                mat.field("mountPath"),
                format!("mountPath {:?} must be absolute", m.mount_path),
            );
        }
    }
    if let Some(sc) = &c.security_context {
        super::security::container(sc, &at.field("securityContext"), v);
    }
    for (probe, field) in [
        (&c.liveness_probe, "livenessProbe"),
        (&c.readiness_probe, "readinessProbe"),
        (&c.startup_probe, "startupProbe"),
    ] {
        if let Some(p) = probe {
            self::probe(p, &at.field(field), v);
            if wasm && p.exec.is_some() {
                v.add_hint(
                    at.field(field).field("exec"),
                    "exec probes need a container: a Wasm component has no processes to run commands in",
                    "probe it with httpGet or tcpSocket",
                );
            }
        }
    }
}

fn image(img: &str, wasm: bool, at: &FieldPath, ctx: &Context<'_>, v: &mut Violations) {
    if wasm {
        match artifact::parse_wasm_image(img) {
            Err(why) => v.add_hint(
                at.clone(),
                format!("invalid image {img:?}: {why}"),
                WASM_IMAGE_FORMS,
            ),
            Ok(ArtifactRef::Path(p)) => {
                if let Some(dir) = ctx.base_dir {
                    let full = dir.join(&p);
                    if !full.is_file() {
                        v.add_hint(
                            at.clone(),
                            format!("image {p:?}: no such file at {}", full.display()),
                            "relative paths are read from the manifest's folder; build the component first (e.g. `cargo xtask guests`)",
                        );
                    }
                }
            }
            Ok(_) => {}
        }
    } else if artifact::looks_like_path(img) {
        v.add_hint(
            at.clone(),
            format!("image {img:?} is a file path, which only Wasm pods accept"),
            "set `runtimeClassName: wasm` on the pod spec to run a Wasm component",
        );
    } else if let Err(why) = artifact::parse_oci_reference(img) {
        v.add_hint(
            at.clone(),
            format!("invalid image {img:?}: {why}"),
            "an image looks like `nginx:1.27` or `registry.example.com/team/app@sha256:...`",
        );
    }
}

const WASM_IMAGE_FORMS: &str = "a Wasm image is an OCI reference (`ghcr.io/acme/fn:1`), a digest (`sha256:` + 64 hex) or a file path (`./app.wasm`)";

/// `envFrom` or `wasi.config`: each names exactly one ConfigMap or Secret.
fn key_sources(sources: &[EnvFromSource], at: &FieldPath, v: &mut Violations) {
    for (i, e) in sources.iter().enumerate() {
        if names_set([
            (e.config_map_ref.is_some(), "configMapRef"),
            (e.secret_ref.is_some(), "secretRef"),
        ])
        .len()
            != 1
        {
            v.add(
                at.index(i),
                "each source needs exactly one of configMapRef, secretRef",
            );
        }
    }
}

/// A Wasm component's grants: only on Wasm pods; buckets are DNS labels.
fn wasi(w: &WasiGrants, wasm: bool, at: &FieldPath, v: &mut Violations) {
    if !wasm {
        v.add_hint(
            at.clone(),
            "`wasi` grants are for Wasm components",
            "set the pod's `runtimeClassName: wasm`, or remove `wasi`",
        );
    }
    key_sources(&w.config, &at.field("config"), v);
    if let Some(kv) = &w.keyvalue {
        for (i, b) in kv.buckets.iter().enumerate() {
            if let Err(why) = names::dns_label(b) {
                v.add(
                    at.field("keyvalue").field("buckets").index(i),
                    format!("invalid bucket {b:?}: {why}"),
                );
            }
        }
    }
}

fn env_var(e: &EnvVar, at: &FieldPath, v: &mut Violations) {
    if let Err(why) = names::env_name(&e.name) {
        v.add(
            at.field("name"),
            format!("invalid name {:?}: {why}", e.name),
        );
    }
    match (&e.value, &e.value_from) {
        (Some(_), Some(_)) => v.add_hint(
            at.clone(),
            "set exactly one of `value` and `valueFrom`, not both",
            "remove one of them",
        ),
        (None, Some(src)) => {
            let set = names_set([
                (src.config_map_key_ref.is_some(), "configMapKeyRef"),
                (src.secret_key_ref.is_some(), "secretKeyRef"),
                (src.field_ref.is_some(), "fieldRef"),
            ]);
            if set.len() != 1 {
                v.add(
                    at.field("valueFrom"),
                    "valueFrom needs exactly one of configMapKeyRef, secretKeyRef, fieldRef",
                );
            }
        }
        _ => {}
    }
}

fn resources(
    requests: &BTreeMap<String, Quantity>,
    limits: &BTreeMap<String, Quantity>,
    at: &FieldPath,
    v: &mut Violations,
) {
    for (map, field) in [(requests, "requests"), (limits, "limits")] {
        for (name, q) in map {
            let qat = at.field(field).field(name);
            if !RESOURCES.contains(&name.as_str()) {
                v.add_hint(
                    qat,
                    format!("unknown resource {name:?}"),
                    format!("resources Skiff knows: {}", RESOURCES.join(", ")),
                );
            } else if q.milli_value() < 0 {
                v.add(qat, format!("invalid value {q}: must not be negative"));
            }
        }
    }
    for (name, req) in requests {
        if let Some(lim) = limits.get(name)
            && req.milli_value() > lim.milli_value()
        {
            v.add_hint(
                at.field("requests").field(name),
                format!("request {req} is above the limit {lim}"),
                "a request must be less than or equal to the limit; raise the limit or lower the request",
            );
        }
    }
}

fn probe(p: &Probe, at: &FieldPath, v: &mut Violations) {
    let handlers = p.handlers();
    if handlers.len() != 1 {
        let found = if handlers.is_empty() {
            "none".to_owned()
        } else {
            handlers.join(" and ")
        };
        v.add_hint(
            at.clone(),
            format!("a probe needs exactly one handler, found {found}"),
            "keep one of httpGet, tcpSocket, exec, grpc",
        );
    }
    let port = |port: &IntOrString, pat: FieldPath, v: &mut Violations| match port {
        IntOrString::Int(n) => v.range(pat, (*n).into(), 1, 65535),
        IntOrString::String(s) => {
            if let Err(why) = names::port_name(s) {
                v.add(pat, format!("invalid port name {s:?}: {why}"));
            }
        }
    };
    if let Some(h) = &p.http_get {
        port(&h.port, at.field("httpGet").field("port"), v);
    }
    if let Some(t) = &p.tcp_socket {
        port(&t.port, at.field("tcpSocket").field("port"), v);
    }
    if let Some(g) = &p.grpc {
        v.range(at.field("grpc").field("port"), g.port.into(), 1, 65535);
    }
    if let Some(e) = &p.exec
        && e.command.is_empty()
    {
        v.add(at.field("exec").field("command"), "exec needs a command");
    }
    for (value, field, min) in [
        (p.initial_delay_seconds, "initialDelaySeconds", 0),
        (p.period_seconds, "periodSeconds", 1),
        (p.timeout_seconds, "timeoutSeconds", 1),
        (p.success_threshold, "successThreshold", 1),
        (p.failure_threshold, "failureThreshold", 1),
    ] {
        if let Some(n) = value {
            v.range(at.field(field), n.into(), min, i64::MAX);
        }
    }
}
