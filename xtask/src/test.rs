//! `cargo xtask test`: the single test command, for a fresh Debian machine as much as for a
//! developer's. CI runs it (through `.ci/run`) as root on a clean clone.
//!
//! 1. The machine: runc, the CNI plugins, iproute2, busybox, a registry and skopeo,
//!    installed if missing. The container tests need root (network namespaces, mounts,
//!    cgroups): CI runs this as root.
//! 2. The guests: built into components (see `guests`), their folder exported to the tests
//!    as `SKIFF_GUESTS_DIR`; kubectl, the Python client and geckodriver (see `clients`),
//!    exported as `SKIFF_KUBECTL`, `SKIFF_PYTHONPATH` and `SKIFF_GECKODRIVER`.
//! 3. The tests: the doc tests (which nextest does not run), then `cargo nextest run
//!    --workspace` (or `cargo test --workspace` where nextest cannot be had).
//! 4. The guest SDK's unit tests again, inside wasm, run by the `skiff` binary the tests
//!    built (see `wasm_tests`).
//! 5. Every fuzz target for 30 s (see `fuzz`).

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use crate::{clients, cmd, fuzz, guests, system, wasm_tests};

/// How long each fuzz target runs in a test run.
const FUZZ_SECONDS: u64 = 30;

/// How the workspace's tests are run.
enum Runner {
    Nextest,
    /// `cargo test`, when cargo-nextest is neither installed nor installable.
    CargoTest,
}

pub fn run(root: &Path, nextest_args: &[String]) -> Result<()> {
    system::ensure(
        "test machine (runc, containernetworking-plugins, iproute2, busybox-static, docker-registry, skopeo, apache2-utils, prometheus, python3-pip, chromium, chromium-driver, firefox-esr)",
        system::test_host_missing,
    )?;
    let guests_dir = guests::build(root)?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), std::path::PathBuf::from);
    let kubectl = clients::kubectl(&target)?;
    let python_client = clients::python_client(&target)?;
    let geckodriver = clients::geckodriver(root, &target)?;

    // Doc tests first: nextest does not run them, they are cheap (they link against the
    // libraries the tests need anyway), and this way the log closes on nextest's summary,
    // which counts every test, rather than on the last crate's (often empty) doc-test run.
    let mut doc_tests = cargo(root);
    doc_tests
        .args(["test", "--workspace", "--doc"])
        .env("SKIFF_GUESTS_DIR", &guests_dir);
    cmd::run(&mut doc_tests).context("the doc tests failed")?;

    let mut tests = cargo(root);
    match runner(root) {
        Runner::Nextest => tests.args(["nextest", "run", "--workspace"]),
        Runner::CargoTest => tests.args(["test", "--workspace"]),
    };
    tests
        .args(nextest_args)
        .env("SKIFF_GUESTS_DIR", &guests_dir)
        .env("SKIFF_KUBECTL", &kubectl)
        .env("SKIFF_PYTHONPATH", &python_client)
        .env("SKIFF_GECKODRIVER", &geckodriver);
    cmd::run(&mut tests).context("the workspace's tests failed")?;
    wasm_tests::run(root, &target.join("debug").join("skiff"))?;
    fuzz::run(root, &fuzz::TARGETS, FUZZ_SECONDS, false)?;
    eprintln!("xtask: all tests passed");
    Ok(())
}

/// nextest if it is here or can be installed, else `cargo test`; says which.
fn runner(root: &Path) -> Runner {
    if has_nextest(root) {
        return Runner::Nextest;
    }
    eprintln!("xtask: cargo-nextest is missing; installing it");
    let installed = cmd::run(cargo(root).args(["install", "cargo-nextest", "--locked"]));
    match installed {
        Ok(()) if has_nextest(root) => Runner::Nextest,
        Ok(()) => {
            eprintln!(
                "xtask: cargo-nextest installed but `cargo nextest` does not run; falling back to `cargo test --workspace`"
            );
            Runner::CargoTest
        }
        Err(err) => {
            eprintln!(
                "xtask: cannot install cargo-nextest ({err:#}); falling back to `cargo test --workspace`"
            );
            Runner::CargoTest
        }
    }
}

fn has_nextest(root: &Path) -> bool {
    cmd::probe(cargo(root).args(["nextest", "--version"])).is_some()
}

/// The cargo that runs xtask (so the same toolchain builds the tests), in the workspace root.
fn cargo(root: &Path) -> Command {
    cmd::cargo(root)
}
