//! The Skiff guest SDK, for function authors and plugin developers who compile to Wasm
//! components (WIT worlds in `sdk/wit/` and Rust helpers).
//!
//! Empty for now: today a guest uses the WASI 0.2 bindings directly, as
//! `examples/hello-http` does with the `wasip2` crate.
