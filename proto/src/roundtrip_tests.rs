//! Property tests: YAML → object → rkyv → object → YAML changes nothing, for arbitrary
//! objects of every kind (the decoding here is the strict typed layer; validation rules are
//! tested on their own).

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::manifest::decode_typed_only;
use crate::object::Object;
use crate::stored;

/// The derived strategies for a type this deep need more stack than a test thread's 2 MiB
/// in debug builds, so each property runs on a thread of its own.
fn run_property(name: &str, test: fn(Object) -> Result<(), TestCaseError>) {
    let handle = std::thread::Builder::new()
        .name(name.to_owned())
        .stack_size(256 << 20)
        .spawn(move || {
            let mut runner = TestRunner::new(Config {
                cases: 256,
                failure_persistence: None,
                ..Config::default()
            });
            runner
                .run(&any::<Object>(), test)
                .map_err(|e| e.to_string())
        })
        .expect("spawn property thread");
    if let Err(e) = handle.join().expect("property thread panicked") {
        panic!("{name}: {e}");
    }
}

#[test]
fn yaml_rkyv_yaml_round_trip() {
    run_property("yaml_rkyv_yaml", |obj| {
        let yaml = obj
            .to_yaml()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let parsed = decode_typed_only(&yaml)
            .map_err(|e| TestCaseError::fail(format!("{e}\n--- yaml:\n{yaml}")))?;
        prop_assert_eq!(&parsed, &obj);
        let bytes = stored::encode(&parsed).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let restored = stored::decode(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&restored, &obj);
        prop_assert_eq!(
            restored
                .to_yaml()
                .map_err(|e| TestCaseError::fail(e.to_string()))?,
            yaml
        );
        Ok(())
    });
}

#[test]
fn json_round_trip() {
    run_property("json", |obj| {
        let json = obj
            .to_json()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let parsed = decode_typed_only(&json)
            .map_err(|e| TestCaseError::fail(format!("{e}\n--- json:\n{json}")))?;
        prop_assert_eq!(parsed, obj);
        Ok(())
    });
}
