//! The Python `kubernetes` client (pinned; `cargo xtask test` installs it and exports
//! `SKIFF_PYTHONPATH`) runs `client.py` against a member: CRUD, lists in pages, every
//! patch type, watches (with a timeout, and watch-list) and `ApiException` codes.

use super::*;

#[test]
fn the_python_client_works_against_skiff() {
    let Some(path) = std::env::var_os("SKIFF_PYTHONPATH") else {
        panic!(
            "SKIFF_PYTHONPATH is not set: run the tests with `cargo xtask test`, which installs the Python client"
        );
    };
    let c = Cluster::start(&[], &[]);
    let dir = tempfile::tempdir().unwrap();
    let config = kubeconfig(&c.server, dir.path());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kubectl/client.py");
    let out = Command::new("python3")
        .arg(&script)
        .env("PYTHONPATH", &path)
        .env("KUBECONFIG", &config)
        .env("HOME", dir.path())
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("all python client checks passed"),
        "{stdout}"
    );
}
