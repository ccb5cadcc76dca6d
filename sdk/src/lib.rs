//! The Skiff guest SDK, for function authors and plugin developers who compile to Wasm
//! components (`wasm32-wasip2`).
//!
//! An HTTP function is one attributed function:
//!
//! ```ignore
//! #[skiff_sdk::http]
//! fn hello(req: skiff_sdk::http::Request) -> String {
//!     format!("Hello from Skiff! You asked for {}\n", req.uri().path())
//! }
//! ```
//!
//! The component exports `wasi:http/incoming-handler` and imports only standard WASI 0.2
//! interfaces, so it also runs under `wasmtime serve`, Spin and wasmCloud.
//!
//! # Modules
//! - [`http`]: the request and response types, what a handler may return, and outgoing
//!   requests (to Services by their in-cluster names).
//! - [`kv`]: key-value buckets (`wasi:keyvalue`), replicated by the cluster.
//! - [`config`]: configuration values (`wasi:config`) from ConfigMaps and Secrets.
//! - [`log`]: log records (`wasi:logging`) into the pod's log.
//! - [`filter`]: HTTP filters, the router's plugins (`#[skiff_sdk::filter]`).
//! - [`policy`]: admission policies, the API server's plugins (`#[skiff_sdk::policy]`).
//! - `bindings`: the WIT bindings of those capabilities, generated from `sdk/wit/`.
//! - `rt` (hidden): what the generated code calls.
//!
//! A component imports only the capabilities it calls, and a pod must be granted
//! `wasi:config` and `wasi:keyvalue` (its container's `wasi` field) to start with them.

#[doc(hidden)]
#[path = "rt.rs"]
pub mod __rt;
mod bindings;
pub mod config;
pub mod filter;
pub mod http;
pub mod kv;
pub mod log;
pub mod policy;
pub(crate) use __rt as rt;

/// Makes a function the component's HTTP handler; see [`skiff_sdk_macros::http`].
pub use skiff_sdk_macros::http;

/// Makes a function the component's HTTP filter; see [`skiff_sdk_macros::filter`].
pub use skiff_sdk_macros::filter;

/// Makes a function the component's admission policy; see [`skiff_sdk_macros::policy`].
pub use skiff_sdk_macros::policy;
