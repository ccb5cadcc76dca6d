//! `skiff-node`: the node agent. It hosts WebAssembly workloads in wasmtime and containers
//! through runc, and routes service traffic (see `DESIGN.md`, "How data flows", steps 5–6).
//!
//! # Layout
//!
//! - [`wasm`]: the wasmtime host. Today: [`wasm::inspect`], which tells from a binary's
//!   imports and exports how Skiff runs it (an HTTP handler, a command, or a WASI preview 1
//!   module) before any pod is started with it.
//! - [`oci`]: OCI container images: pulled from registries, unpacked into a
//!   content-addressed layer store, collected when unused.
//! - [`logs`]: container logs on disk (timestamped lines, rotated by size), read back
//!   as `kubectl logs` shows them.
//! - [`runtime`]: the workload-runtime seam the agent speaks (sandboxes, prepared
//!   workloads, runs), its shared vocabulary (limits, mounts, outcomes, usage), and the
//!   two runtimes behind it: Wasm (wasmtime in this process) and containers (runc, a shim
//!   per container, network namespaces on a node bridge).
//! - [`router`]: service routing and ingress: every node's HTTP front door, which calls
//!   local Wasm pods in-process and other nodes' pods through their routers.
//! - [`agent`]: the node agent: registration, heartbeat, the pods bound to this node.
//! - [`metrics`]: the agent's series: pods by phase, starts, pulls, compile times, and
//!   each pod's usage and traffic.
//! - `fuzzing` (tests and the `fuzzing` feature): what the `router` fuzz target in `fuzz/`
//!   runs.
//! - [`cluster`]: the connection to the control plane ([`cluster::ControlPlane`]), which the
//!   agent and the router share.
//! - `error`: [`Error`], the crate's one error vocabulary; each variant names the stage
//!   that failed and carries what a user needs to act.

pub mod agent;
pub mod cluster;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod logs;
pub mod metrics;
pub mod oci;
pub mod router;
pub mod runtime;
pub mod wasm;

mod error;
mod single_flight;
pub use error::Error;
