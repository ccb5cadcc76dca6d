//! The router's request handling: one client connection's bytes through a node's ingress
//! (or pod gateway) connection handler, see `skiff_node::fuzzing::router`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    skiff_node::fuzzing::router(data);
});
