//! The wasmtime host: everything that turns a WebAssembly binary into running pods.
//!
//! # Layout
//!
//! - `engine`: the node's one [`Host`] (engine, pooling allocator, epoch ticker).
//! - `inspect`: decides from a binary's imports and exports which kind of workload it is
//!   ([`WorkloadKind`]), and keeps the compiled artifact ([`Workload`]) so it is compiled
//!   once.
//! - `cache`: [`CompileCache`], compiled artifacts by digest, in memory and on disk.
//! - `preopen`: volume mounts handed to WASI as preopened folders.
//! - `output`: [`Output`], where a guest's stdout and stderr go.
//! - `meter`: a pod's limits (memory, CPU share, deadline) as a guest meets them.
//! - `http`: serving a `wasi:http` handler, a fresh instance per request ([`Handler`]).
//! - `run`: running a command or preview 1 module to completion ([`run`]).
//! - [`capability`]: host capabilities beyond WASI (`wasi:keyvalue`, `wasi:config`,
//!   `wasi:logging`), granted per container.
//! - `plugin`: what plugins share: a store per call with limits, and failure messages.
//! - [`filter`]: HTTP filters, the router's plugins.
//! - [`policy`]: admission policies, the API server's plugins.

mod cache;
pub mod capability;
mod engine;
pub mod filter;
mod http;
mod inspect;
mod meter;
mod output;
mod plugin;
pub mod policy;
mod preopen;
mod run;

pub use cache::{CompileCache, sha256_hex};
pub use engine::{Host, HostConfig};
pub use http::{Answer, Handler, HttpPre, HttpSpec, Outbound, bind, serve};
pub use inspect::{Workload, WorkloadKind, inspect};
pub use meter::CPU_PERIOD;
pub use output::Output;
pub use run::{RunSpec, run};
