//! The manifest decoder (`skiff apply`, API request bodies): see
//! `skiff_proto::fuzzing::manifest`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| skiff_proto::fuzzing::manifest(data));
