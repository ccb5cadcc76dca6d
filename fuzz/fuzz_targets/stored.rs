//! The stored-form decoder (objects read from the database, snapshots, raft commands): see
//! `skiff_proto::fuzzing::stored`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    skiff_proto::fuzzing::stored(data);
});
