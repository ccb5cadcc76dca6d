//! The seam between the node agent and what runs its workloads: the Wasm runtime
//! ([`WasmRuntime`], wasmtime in this process) today, the container runtime (runc) next.
//! The agent's pod worker speaks only these traits, as the kubelet speaks CRI.
//!
//! A runtime turns an `image` into a [`Prepared`] workload (fetched, verified, compiled or
//! unpacked, cached across pods), and a prepared workload into [`Running`] runs, each
//! with the args, env, folders, log, limits and address its [`StartSpec`] gives. A run
//! ends with an [`Outcome`] in Kubernetes' words; dropping a run stops it.
//!
//! # Modules
//! - `wasm`: [`WasmRuntime`], over [`crate::wasm`].
//! - `oci`: Wasm OCI artifacts pulled from registries.

mod oci;
mod wasm;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

pub use wasm::WasmRuntime;

use crate::logs::LogFile;
pub use crate::wasm::{Limits, Outbound, Outcome, Preopen, Reason, Usage};

/// What one run of a workload starts with.
pub struct StartSpec {
    /// `argv`, the program name first.
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Host folders the workload sees (its volume mounts).
    pub dirs: Vec<Preopen>,
    /// Where its stdout and stderr go.
    pub log: Arc<LogFile>,
    pub limits: Limits,
    /// The pod's counters, which the run adds to.
    pub usage: Arc<Usage>,
    /// The pod's own address, and the port this workload serves on when it serves.
    pub ip: IpAddr,
    pub port: Option<u16>,
    /// Where its outgoing HTTP requests for in-cluster names go (the node's router).
    pub outbound: Option<Arc<dyn Outbound>>,
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

/// A workload runtime.
#[tonic::async_trait]
pub trait WorkloadRuntime: Send + Sync {
    /// Makes `image` ready to start (fetched, verified, compiled), cached across pods.
    async fn prepare(&self, image: &str) -> Result<Arc<dyn Prepared>, NotStarted>;

    /// The artifacts ready here, each under every name it is known by (reported in the
    /// Node's `status.images`, so the scheduler can prefer this node for them).
    fn images(&self) -> Vec<skiff_proto::model::node::ContainerImage>;
}

/// A workload ready to start any number of times.
#[tonic::async_trait]
pub trait Prepared: Send + Sync {
    /// Starts one run; returns once it runs (and, for a server, listens).
    async fn start(&self, spec: StartSpec) -> Result<Box<dyn Running>, NotStarted>;
}

/// One run. Dropping it stops the run.
#[tonic::async_trait]
pub trait Running: Send {
    /// Where it serves, when it does.
    fn address(&self) -> Option<SocketAddr>;
    /// Waits for the run to end.
    async fn wait(&mut self) -> Outcome;
}
