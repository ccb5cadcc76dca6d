//! The wasmtime host: everything that turns a WebAssembly binary into running pods.
//!
//! # Layout
//!
//! - `engine`: the node's one [`Host`] (engine, pooling allocator, epoch ticker).
//! - `inspect`: decides from a binary's imports and exports which kind of workload it is
//!   ([`WorkloadKind`]), and keeps the compiled artifact ([`Workload`]) so it is compiled
//!   once.
//! - `cache`: [`CompileCache`], compiled artifacts by digest, in memory and on disk.
//! - `preopen`: [`Preopen`], a host folder (a volume) at a path in the guest.
//! - `output`: [`Output`], where a guest's stdout and stderr go.
//! - `meter`: per-pod [`Limits`] (memory, CPU share, deadline) as a guest meets them.
//! - `http`: serving a `wasi:http` handler, a fresh instance per request ([`Handler`]).
//! - `usage`: [`Usage`], what a pod's instances use (CPU, memory, requests), measured as
//!   they run.
//! - `run`: running a command or preview 1 module to completion ([`run`]), and how it
//!   ended ([`Outcome`]).

mod cache;
mod engine;
mod http;
mod inspect;
mod meter;
mod output;
mod preopen;
mod run;
mod usage;

pub use cache::{CompileCache, sha256_hex};
pub use engine::{Host, HostConfig};
pub use http::{Answer, Handler, HttpPre, HttpSpec, Outbound, bind, serve};
pub use inspect::{Workload, WorkloadKind, inspect};
pub use meter::{CPU_PERIOD, Limits};
pub use output::Output;
pub use preopen::Preopen;
pub use run::{OOM_EXIT_CODE, Outcome, Reason, RunSpec, run};
pub use usage::{Usage, UsageSnapshot};
