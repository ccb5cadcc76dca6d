//! Skiff's benchmark harnesses. Each benchmark runs its anchor (etcd, `wasmtime serve`,
//! `runc`, ...) in the same run and prints ratios, medians and p99 over many runs; none is
//! a test and none gates CI on wall-clock time.
//!
//! Empty for now: the first benchmarks come with the replicated store.
