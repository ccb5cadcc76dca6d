//! `skiff-node`: the node agent. It hosts WebAssembly workloads in wasmtime and containers
//! through runc, and routes service traffic (see `DESIGN.md`, "How data flows", steps 5–6).
//!
//! # Layout
//!
//! - [`wasm`]: the wasmtime host. Today: [`wasm::inspect`], which tells from a binary's
//!   imports and exports how Skiff runs it (an HTTP handler, a command, or a WASI preview 1
//!   module) before any pod is started with it.
//! - [`logs`]: container logs on disk (timestamped lines, rotated by size), read back
//!   as `kubectl logs` shows them.
//! - [`runtime`]: the workload-runtime traits the agent speaks, and the Wasm runtime
//!   behind them (the container runtime will be the second).
//! - [`router`]: service routing and ingress: every node's HTTP front door, which calls
//!   local Wasm pods in-process and other nodes' pods through their routers.
//! - [`agent`]: the node agent: registration, heartbeat, the pods bound to this node.
//! - `error`: [`Error`], the crate's one error vocabulary; each variant names the stage
//!   that failed and carries what a user needs to act.

pub mod agent;
pub mod logs;
pub mod router;
pub mod runtime;
pub mod wasm;

mod error;
pub use error::Error;
