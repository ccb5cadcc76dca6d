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
//! - `rt` (hidden): what the generated code calls.

#[doc(hidden)]
#[path = "rt.rs"]
pub mod __rt;
pub mod http;
pub(crate) use __rt as rt;

/// Makes a function the component's HTTP handler; see [`skiff_sdk_macros::http`].
pub use skiff_sdk_macros::http;
