//! The wasmtime host: everything that turns a WebAssembly binary into running pods.
//!
//! # Layout
//!
//! - `inspect`: decides from a binary's imports and exports which kind of workload it is
//!   ([`WorkloadKind`]), and keeps the compiled artifact ([`Workload`]) so it is compiled
//!   once.

mod inspect;

pub use inspect::{Workload, WorkloadKind, inspect};
