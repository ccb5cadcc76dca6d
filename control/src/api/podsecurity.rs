//! Pod Security admission, with Kubernetes' Pod Security Standards: a namespace's
//! `pod-security.kubernetes.io/enforce` label (`privileged`, `baseline`, `restricted`;
//! the cluster's default when absent) decides which pods may be created in it. Each
//! refusal names the rules broken, in Kubernetes' words. `warn` is the same check,
//! reported to the client instead of refused.
//!
//! Unlike Kubernetes, which checks only Pods and merely warns about workloads, the pod
//! templates of Deployments, ReplicaSets, DaemonSets and Jobs are enforced too: a
//! workload whose pods could never be created is refused when it is written.
//!
//! Wasm pods run no process as a user: the restricted level's user, privilege
//! escalation and capability rules do not apply to them; `hostPath` does.

use skiff_proto::model::pod::PodSpec;
use skiff_proto::{Kind, Object};
use tonic::Status;

use super::objects::ObjectApi;
use super::status;
use crate::store::key;

pub use skiff_proto::model::namespace::{
    POD_SECURITY_ENFORCE as ENFORCE, POD_SECURITY_WARN as WARN,
};

/// A Pod Security Standards level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Privileged,
    Baseline,
    Restricted,
}

impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "privileged" => Some(Level::Privileged),
            "baseline" => Some(Level::Baseline),
            "restricted" => Some(Level::Restricted),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Level::Privileged => "privileged",
            Level::Baseline => "baseline",
            Level::Restricted => "restricted",
        }
    }
}

/// Capabilities the baseline level lets a container add (the container runtime's default
/// set).
const BASELINE_CAPABILITIES: [&str; 13] = [
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The rules of `level` that `spec` breaks, each as Kubernetes words it.
pub fn violations(spec: &PodSpec, level: Level) -> Vec<String> {
    let mut out = Vec::new();
    if level == Level::Privileged {
        return out;
    }
    let host_paths: Vec<String> = spec
        .volumes
        .iter()
        .filter(|v| v.host_path.is_some())
        .map(|v| v.name.clone())
        .collect();
    if !host_paths.is_empty() {
        out.push(format!("hostPath volumes (volume {})", quoted(&host_paths)));
    }
    for c in spec.all_containers() {
        let sc = c.security_context.as_ref();
        if sc.and_then(|s| s.privileged) == Some(true) {
            out.push(format!(
                "privileged (container {:?} must not set securityContext.privileged=true)",
                c.name
            ));
        }
        let added: Vec<String> = sc
            .and_then(|s| s.capabilities.as_ref())
            .map(|caps| caps.add.clone())
            .unwrap_or_default();
        let extra: Vec<String> = added
            .iter()
            .filter(|a| !BASELINE_CAPABILITIES.contains(&a.trim_start_matches("CAP_")))
            .cloned()
            .collect();
        if !extra.is_empty() {
            out.push(format!(
                "non-default capabilities (container {:?} must not include {} in securityContext.capabilities.add)",
                c.name,
                quoted(&extra)
            ));
        }
        let host_ports: Vec<String> = c
            .ports
            .iter()
            .filter_map(|p| p.host_port.filter(|h| *h != 0))
            .map(|h| h.to_string())
            .collect();
        if !host_ports.is_empty() {
            out.push(format!(
                "hostPort (container {:?} uses hostPort {})",
                c.name,
                host_ports.join(", ")
            ));
        }
        if level < Level::Restricted || spec.is_wasm() {
            continue;
        }
        if sc.and_then(|s| s.allow_privilege_escalation) != Some(false) {
            out.push(format!(
                "allowPrivilegeEscalation != false (container {:?} must set securityContext.allowPrivilegeEscalation=false)",
                c.name
            ));
        }
        let drops_all = sc
            .and_then(|s| s.capabilities.as_ref())
            .is_some_and(|caps| caps.drop.iter().any(|d| d == "ALL"));
        let beyond: Vec<String> = added
            .iter()
            .filter(|a| a.trim_start_matches("CAP_") != "NET_BIND_SERVICE")
            .cloned()
            .collect();
        if !drops_all || !beyond.is_empty() {
            out.push(format!(
                "unrestricted capabilities (container {:?} must set securityContext.capabilities.drop=[\"ALL\"] and add only \"NET_BIND_SERVICE\")",
                c.name
            ));
        }
        let pod = spec.security_context.as_ref();
        let non_root = sc
            .and_then(|s| s.run_as_non_root)
            .or(pod.and_then(|p| p.run_as_non_root));
        if non_root != Some(true) {
            out.push(format!(
                "runAsNonRoot != true (pod or container {:?} must set securityContext.runAsNonRoot=true)",
                c.name
            ));
        }
        let user = sc
            .and_then(|s| s.run_as_user)
            .or(pod.and_then(|p| p.run_as_user));
        if user == Some(0) {
            out.push(format!(
                "runAsUser=0 (pod or container {:?} must not set runAsUser=0)",
                c.name
            ));
        }
    }
    out
}

/// The refusal of `o` under `level`, Kubernetes' message.
pub fn refusal(o: &Object, level: Level, broken: &[String]) -> Status {
    Status::permission_denied(format!(
        "{} is forbidden: violates PodSecurity \"{}:latest\": {}",
        o.display_name(),
        level.name(),
        broken.join(", ")
    ))
}

impl ObjectApi {
    /// The level namespace `ns`'s label `label` sets, or the cluster's default for
    /// enforcement (`None` for another label that is absent).
    pub(super) fn namespace_level(&self, ns: &str, label: &str) -> Result<Option<Level>, Status> {
        let k = key::make(Kind::Namespace, "", ns);
        let found = self.store.state().get(&k).map_err(status::store)?;
        let value = found
            .as_ref()
            .and_then(|s| s.object.metadata().labels.get(label).cloned());
        Ok(match value {
            Some(v) => Level::parse(&v),
            None if label == ENFORCE => Some(self.pod_security_default),
            None => None,
        })
    }

    /// Refuses a pod (or a workload's pod template) its namespace's level forbids.
    pub(super) fn pod_security(&self, o: &Object) -> Result<(), Status> {
        let Some(spec) = o.pod_spec() else {
            return Ok(());
        };
        let Some(level) = self.namespace_level(&o.metadata().namespace, ENFORCE)? else {
            return Ok(());
        };
        let broken = violations(spec, level);
        if broken.is_empty() {
            return Ok(());
        }
        Err(refusal(o, level, &broken))
    }

    /// An update is checked when it changes the pod spec (status and metadata writes
    /// pass, so a namespace made stricter does not freeze what already runs).
    pub(super) fn pod_security_changed(
        &self,
        current: &Object,
        new: &Object,
    ) -> Result<(), Status> {
        if current.pod_spec() == new.pod_spec() {
            return Ok(());
        }
        self.pod_security(new)
    }

    /// What the level namespace label `label` sets would refuse in `o`, said as
    /// `would violate PodSecurity "restricted:latest": ...`; `None` if nothing.
    pub(crate) fn pod_security_violations(
        &self,
        o: &Object,
        label: &str,
    ) -> Result<Option<String>, Status> {
        // Objects without a pod spec (most writes) cost no namespace read.
        let Some(spec) = o.pod_spec() else {
            return Ok(None);
        };
        let Some(level) = self.namespace_level(&o.metadata().namespace, label)? else {
            return Ok(None);
        };
        let broken = violations(spec, level);
        Ok((!broken.is_empty()).then(|| {
            format!(
                "would violate PodSecurity \"{}:latest\": {}",
                level.name(),
                broken.join(", ")
            )
        }))
    }

    /// The namespace's `warn` level's complaints about `o`, for the client.
    pub(crate) fn pod_security_warnings(&self, o: &Object) -> Result<Vec<String>, Status> {
        Ok(self.pod_security_violations(o, WARN)?.into_iter().collect())
    }
}
