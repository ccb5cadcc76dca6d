//! Real guests through [`skiff_node::wasm::inspect`]: components and modules written by
//! others (`../shared/conformance`, beside the repository), and the project's own example
//! guests (built by `cargo xtask guests`).
//!
//! Every file found is checked against an expectation, so a guest added to either place
//! without one fails here rather than going untested.

use std::fs;
use std::path::{Path, PathBuf};

use skiff_node::wasm::{WorkloadKind, inspect};
use wasmtime::Engine;

/// The repository root: this crate lives in `<root>/node`.
fn repo_root() -> PathBuf {
    let node = Path::new(env!("CARGO_MANIFEST_DIR"));
    node.parent()
        .expect("the node crate sits inside the repository")
        .to_path_buf()
}

/// `../shared/conformance`, relative to the repository root.
fn conformance() -> PathBuf {
    let dir = repo_root().join("../shared/conformance");
    assert!(
        dir.is_dir(),
        "{} is missing: the conformance material lives in ../shared beside the repository",
        dir.display()
    );
    dir
}

/// The `.wasm` files directly in `dir`, sorted.
fn wasm_files(dir: &Path) -> Vec<PathBuf> {
    let entries =
        fs::read_dir(dir).unwrap_or_else(|err| panic!("cannot list {}: {err}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|entry| {
            entry
                .unwrap_or_else(|err| panic!("cannot list {}: {err}", dir.display()))
                .path()
        })
        .filter(|path| path.extension().is_some_and(|ext| ext == "wasm"))
        .collect();
    files.sort();
    files
}

fn kind_of(engine: &Engine, path: &Path) -> WorkloadKind {
    let bytes =
        fs::read(path).unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
    match inspect(engine, &bytes) {
        Ok(workload) => workload.kind(),
        Err(err) => panic!("{}: {err}", path.display()),
    }
}

#[test]
fn conformance_components_have_their_kinds() {
    let engine = Engine::default();
    let expected = [
        ("hello_wasi_http", WorkloadKind::HttpHandler),
        ("fetch_rs", WorkloadKind::HttpHandler),
        ("component-hello-world", WorkloadKind::Command),
    ];
    let files = wasm_files(&conformance().join("components"));
    assert_eq!(files.len(), expected.len(), "components found: {files:?}");
    for path in files {
        let name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some((_, kind)) = expected.iter().find(|(part, _)| name.contains(part)) else {
            panic!(
                "{}: no expectation for this component; add one here",
                path.display()
            );
        };
        assert_eq!(kind_of(&engine, &path), *kind, "{}", path.display());
    }
}

#[test]
fn wasi_testsuite_modules_are_preview1() {
    let engine = Engine::default();
    let suites = conformance().join("wasi-testsuite");
    // One suite per source language; the Rust one is large (13 MB), so a handful of it.
    for (language, take) in [
        ("assemblyscript", usize::MAX),
        ("c", usize::MAX),
        ("rust", 3),
    ] {
        let dir = suites.join(language).join("testsuite/wasm32-wasip1");
        let files = wasm_files(&dir);
        assert!(!files.is_empty(), "no .wasm in {}", dir.display());
        for path in files.into_iter().take(take) {
            assert_eq!(
                kind_of(&engine, &path),
                WorkloadKind::Preview1Module,
                "{}",
                path.display()
            );
        }
    }
}

#[test]
fn example_guests_have_their_kinds() {
    let dir = std::env::var_os("SKIFF_GUESTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("examples/target/wasm32-wasip2/release"));
    let expected = [
        ("auth_filter.wasm", WorkloadKind::HttpFilter),
        ("config.wasm", WorkloadKind::HttpHandler),
        ("echo.wasm", WorkloadKind::HttpHandler),
        ("hello.wasm", WorkloadKind::HttpHandler),
        ("job.wasm", WorkloadKind::Command),
        ("kv_counter.wasm", WorkloadKind::HttpHandler),
        ("hello_http.wasm", WorkloadKind::HttpHandler),
        ("require_labels.wasm", WorkloadKind::AdmissionPolicy),
        ("show-config.wasm", WorkloadKind::Command),
        ("sleep.wasm", WorkloadKind::Command),
        ("upload.wasm", WorkloadKind::HttpHandler),
    ];
    let engine = Engine::default();
    for (file, kind) in expected {
        let path = dir.join(file);
        assert!(
            path.is_file(),
            "{} is missing: build the guests with `cargo xtask guests` (or run the tests \
             with `cargo xtask test`, which does)",
            path.display()
        );
        assert_eq!(kind_of(&engine, &path), kind, "{}", path.display());
    }
    let known: Vec<&str> = expected.iter().map(|(file, _)| *file).collect();
    for path in wasm_files(&dir) {
        let name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        assert!(
            known.contains(&name.as_str()),
            "{}: a guest without an expectation: add one here (or delete the file if the guest is gone)",
            path.display()
        );
    }
}
