//! The raft transport's frames as a member receives them from a peer: see
//! `skiff_control::store::fuzzing::raft_frame`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    skiff_control::store::fuzzing::raft_frame(data);
});
