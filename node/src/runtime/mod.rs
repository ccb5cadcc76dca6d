//! The seam between the node agent and what runs its workloads, as the kubelet speaks CRI:
//! the agent's pod worker speaks only these traits, and holds one [`WorkloadRuntime`] per
//! `runtimeClassName` it serves ([`Runtimes`]).
//!
//! A pod first gets a [`Sandbox`] (its address; for a container, its network namespace),
//! made before its containers and removed after them. A runtime turns an `image` into a
//! [`Prepared`] workload (fetched, verified, compiled or unpacked, cached across pods), and
//! a prepared workload into [`Running`] runs inside the sandbox, each with the args, env,
//! mounts, log, limits and address its [`StartSpec`] gives. A run ends with an [`Outcome`]
//! in Kubernetes' words, or is stopped gracefully ([`Running::stop`]). Dropping a run
//! leaves it be: a Wasm run ends with the task that holds it, a container outlives the
//! agent and is adopted again ([`Sandbox::adopt`]) when the agent comes back.
//!
//! # Modules
//! - `limits`, `mount`, `outcome`, `security`, `usage`: the vocabulary every runtime
//!   shares.
//! - `wasm`: [`WasmRuntime`], over [`crate::wasm`], and its OCI-artifact puller.
//! - [`container`]: [`ContainerRuntime`], OCI containers through runc and a shim per
//!   container, with images from [`crate::oci`].
//! - `fake`: an in-memory runtime for the agent's unit tests.

pub mod container;
mod limits;
mod mount;
mod outcome;
mod security;
mod usage;
mod wasm;

#[cfg(test)]
pub(crate) mod fake;

use std::any::Any;
use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use skiff_proto::model::container::PullPolicy;
use skiff_proto::model::node::{ContainerImage, Runtime};
use skiff_proto::model::pod::{PodSpec, WASM_RUNTIME_CLASS};

pub use container::{ContainerConfig, ContainerRuntime};
pub use limits::Limits;
pub use mount::Mount;
pub use outcome::{OOM_EXIT_CODE, Outcome, Reason};
pub use security::Security;
pub use usage::{Charged, Usage, UsageSnapshot};
pub use wasm::WasmRuntime;

use crate::logs::LogFile;
use crate::oci::Credentials;
pub use crate::wasm::Outbound;
pub use crate::wasm::capability::{Grants, KeyValueAccess, KeyValueStore};

/// How a container's image is pulled: its `imagePullPolicy` (`None`: Kubernetes' default
/// for the reference) and the credentials of the pod's `imagePullSecrets`.
#[derive(Debug, Clone, Default)]
pub struct Pull {
    pub policy: Option<PullPolicy>,
    pub credentials: Credentials,
}

/// What one run of a workload starts with.
pub struct StartSpec {
    /// The container's `command` (empty: the image's entrypoint, or for Wasm the
    /// container's name as `argv[0]`) and `args` (empty: the image's `Cmd`).
    pub command: Vec<String>,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// `workingDir` (none: the image's).
    pub working_dir: Option<String>,
    pub security: Security,
    /// Host folders and files the workload sees (its volume mounts).
    pub mounts: Vec<Mount>,
    /// Where its stdout and stderr go.
    pub log: Arc<LogFile>,
    pub limits: Limits,
    /// The pod's counters, which the run adds to.
    pub usage: Arc<Usage>,
    /// The port this workload serves on, when it serves.
    pub port: Option<u16>,
    /// Where its outgoing HTTP requests for in-cluster names go (the node's router).
    pub outbound: Option<Arc<dyn Outbound>>,
    /// The host capabilities a Wasm component is granted (containers ignore them).
    pub grants: Arc<Grants>,
}

/// Why a workload cannot start (yet): `reason` is the waiting reason Kubernetes users
/// know (`ErrImagePull`, `InvalidComponent`, `CreateContainerError`, ...).
#[derive(Debug, Clone)]
pub struct NotStarted {
    pub reason: &'static str,
    pub message: String,
}

impl NotStarted {
    pub fn new(reason: &'static str, message: impl Into<String>) -> NotStarted {
        NotStarted {
            reason,
            message: message.into(),
        }
    }
}

/// Where artifacts named by digest come from (the control plane's artifact store).
#[tonic::async_trait]
pub trait ArtifactSource: Send + Sync {
    /// The whole artifact `sha256:<hex>`; `Err` says why not, for the pod's status.
    async fn fetch(&self, digest: &str) -> Result<Vec<u8>, String>;
}

/// The pod a sandbox is made for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRef {
    pub uid: String,
    pub namespace: String,
    pub name: String,
}

/// A workload runtime.
#[tonic::async_trait]
pub trait WorkloadRuntime: Send + Sync {
    /// What the Node reports it runs (`status.runtimes`), so the scheduler sends it pods.
    fn kind(&self) -> Runtime;

    /// The pod's sandbox, made before its containers: a new one, or the one an earlier
    /// agent made for the same pod (its runs may still be going).
    async fn sandbox(&self, pod: &PodRef) -> Result<Arc<dyn Sandbox>, NotStarted>;

    /// Makes `image` ready to start (fetched, verified, compiled), cached across pods,
    /// pulled as `pull` says.
    async fn prepare(&self, image: &str, pull: &Pull) -> Result<Arc<dyn Prepared>, NotStarted>;

    /// The artifacts ready here, each under every name it is known by (reported in the
    /// Node's `status.images`, so the scheduler can prefer this node for them).
    fn images(&self) -> Vec<ContainerImage>;

    /// Removes what earlier agents left for pods that are no longer here (their runs and
    /// sandboxes); `keep` holds the uids of the pods that are.
    async fn sweep(&self, keep: &HashSet<String>) {
        let _ = keep;
    }
}

/// A pod's sandbox: its address, and whatever else its runs share.
#[tonic::async_trait]
pub trait Sandbox: Send + Sync {
    /// The pod's address (`status.podIP`).
    fn ip(&self) -> IpAddr;

    /// The gateway of the pod's network, where the node answers its DNS and in-cluster
    /// calls (none for a pod on the node's own loopback, a Wasm pod).
    fn gateway(&self) -> Option<IpAddr> {
        None
    }

    /// A run of `container` that an earlier agent started and that is still going (or
    /// ended while no agent watched), to be followed instead of starting another.
    async fn adopt(&self, container: &str) -> Option<Box<dyn Running>> {
        let _ = container;
        None
    }

    /// Removes the sandbox, once its runs have stopped.
    async fn remove(&self);

    /// Brings `usage` up to date with what the pod's runs use, where the runtime reads
    /// it from outside (a container's cgroup); a Wasm pod's runs count as they go.
    fn sample(&self, usage: &Usage) {
        let _ = usage;
    }

    /// The runtime's own type, for the runtime that made it.
    fn as_any(&self) -> &dyn Any;
}

/// A workload ready to start any number of times.
#[tonic::async_trait]
pub trait Prepared: Send + Sync {
    /// Starts one run of `container` in `sandbox`; returns once it runs (and, for a
    /// server, listens).
    async fn start(
        &self,
        sandbox: &Arc<dyn Sandbox>,
        container: &str,
        spec: StartSpec,
    ) -> Result<Box<dyn Running>, NotStarted>;
}

/// One run. Dropping it leaves the run as it is (see the module's notes); `stop` ends it.
#[tonic::async_trait]
pub trait Running: Send + Sync {
    /// Where it serves, when it does.
    fn address(&self) -> Option<SocketAddr>;

    /// Waits for the run to end.
    async fn wait(&mut self) -> Outcome;

    /// Ends the run gracefully: asks it to stop (SIGTERM; a Wasm server stops taking
    /// requests), gives it `grace` to finish, then kills it (SIGKILL; interruption).
    async fn stop(&mut self, grace: Duration) -> Outcome;

    /// A way to run commands inside the run (`exec` probes), where the runtime has one.
    fn exec(&self) -> Option<Arc<dyn Exec>> {
        None
    }
}

/// Runs commands inside a run.
#[tonic::async_trait]
pub trait Exec: Send + Sync {
    /// Runs `command` within `timeout`: its exit code and the end of what it wrote to
    /// stderr, or why it could not run.
    async fn exec(&self, command: &[String], timeout: Duration) -> Result<(i32, String), String>;
}

/// The runtimes this node has, by the `runtimeClassName` that selects each (`""`: pods
/// that name none, which are containers).
#[derive(Default, Clone)]
pub struct Runtimes {
    by_class: BTreeMap<String, Arc<dyn WorkloadRuntime>>,
}

impl Runtimes {
    /// Serves pods of `class` (`""` for pods without a `runtimeClassName`) with `runtime`.
    pub fn add(&mut self, class: &str, runtime: Arc<dyn WorkloadRuntime>) {
        self.by_class.insert(class.to_owned(), runtime);
    }

    /// The runtime for pods like `spec`, or why this node has none.
    pub fn for_pod(&self, spec: &PodSpec) -> Result<Arc<dyn WorkloadRuntime>, NotStarted> {
        let class = spec.runtime_class_name.as_deref().unwrap_or_default();
        self.by_class.get(class).cloned().ok_or_else(|| {
            let wanted = if class.is_empty() {
                "containers (no runtimeClassName)".to_owned()
            } else {
                format!("runtimeClassName {class:?}")
            };
            let has: Vec<String> = self
                .by_class
                .keys()
                .map(|k| {
                    if k.is_empty() {
                        "containers".to_owned()
                    } else {
                        format!("runtimeClassName {k:?}")
                    }
                })
                .collect();
            NotStarted::new(
                "CreateContainerError",
                format!(
                    "this node has no runtime for {wanted}; it runs {}. Set runtimeClassName: {WASM_RUNTIME_CLASS} for a Wasm component",
                    has.join(" and ")
                ),
            )
        })
    }

    /// What the Node reports it runs (Wasm first).
    pub fn kinds(&self) -> Vec<Runtime> {
        let mut kinds: Vec<Runtime> = Vec::new();
        for r in self.by_class.values() {
            if !kinds.contains(&r.kind()) {
                kinds.push(r.kind());
            }
        }
        kinds.sort_by_key(|k| *k != Runtime::Wasm);
        kinds
    }

    /// Every runtime's ready artifacts.
    pub fn images(&self) -> Vec<ContainerImage> {
        let mut out: Vec<ContainerImage> =
            self.by_class.values().flat_map(|r| r.images()).collect();
        out.sort_by(|a, b| a.names.cmp(&b.names));
        out.dedup();
        out
    }

    /// Every runtime, once.
    pub fn all(&self) -> impl Iterator<Item = &Arc<dyn WorkloadRuntime>> {
        self.by_class.values()
    }
}
