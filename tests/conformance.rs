//! Programs and components written by others (`../shared/conformance`), run as pods through
//! a real control-plane member and a real node agent, exactly as a user would run them:
//! every wasi-testsuite program as a job pod (its args, env and `root` folder preopened at
//! `/` on a per-run copy) must end with the expected exit code and print exactly the
//! expected stdout, read back with `skiff logs`; the `wasi:http` components answer.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod support;

use support::node::{NodeCluster, apply, get, logs, skiff, wait_for};

fn conformance() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance");
    assert!(
        dir.is_dir(),
        "{} is missing: the conformance material lives in ../shared beside the repository",
        dir.display()
    );
    dir
}

/// Every test program (suite, path), sorted.
fn programs() -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let suites = conformance().join("wasi-testsuite");
    for suite in fs::read_dir(suites).unwrap() {
        let suite = suite.unwrap();
        let name = suite.file_name().to_string_lossy().into_owned();
        let dir = suite.path().join("testsuite/wasm32-wasip1");
        for entry in fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            if p.extension().is_some_and(|e| e == "wasm") {
                out.push((name.clone(), p));
            }
        }
    }
    out.sort();
    out
}

/// A pod name (DNS label) for a program: `c-fopen-with-access`.
fn pod_name(suite: &str, wasm: &Path) -> String {
    let stem = wasm.file_stem().unwrap().to_string_lossy();
    let prefix = match suite {
        "assemblyscript" => "as",
        "rust" => "rs",
        other => other,
    };
    let mut name: String = format!("{prefix}-{stem}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    name.truncate(63);
    name.trim_end_matches('-').to_owned()
}

/// A copy of `from` at `to`, so a program that writes leaves the original alone.
fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

struct Expected {
    exit_code: i64,
    stdout: Option<String>,
}

#[test]
fn every_conformance_program_and_component_runs_as_a_pod_through_the_agent() {
    let mut c = NodeCluster::start();
    let (s, work) = (c.server.as_str(), &c.dir);

    let mut expected = BTreeMap::new();
    // The programs' root folders are hostPath volumes: the namespace must allow them.
    let mut docs = vec![
        serde_json::json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "default", "labels": {"pod-security.kubernetes.io/enforce": "privileged"}},
        })
        .to_string(),
    ];
    for (i, (suite, wasm)) in programs().iter().enumerate() {
        let spec: serde_json::Value = fs::read_to_string(wasm.with_extension("json"))
            .map(|t| serde_json::from_str(&t).unwrap())
            .unwrap_or(serde_json::json!({}));
        let name = pod_name(suite, wasm);
        let env: Vec<serde_json::Value> = spec["env"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| serde_json::json!({"name": k, "value": v}))
            .collect();
        let mut container = serde_json::json!({
            "name": "main",
            "image": wasm,
            "command": [wasm.file_name().unwrap().to_string_lossy()],
            "args": spec["args"].as_array().cloned().unwrap_or_default(),
            "env": env,
        });
        let mut pod_spec = serde_json::json!({
            "nodeName": "n1",
            "runtimeClassName": "wasm",
            "restartPolicy": "Never",
        });
        if let Some(root) = spec["root"].as_str() {
            let copy = work.path().join(format!("run-{i}/root"));
            copy_dir(&wasm.parent().unwrap().join(root), &copy);
            container["volumeMounts"] = serde_json::json!([{"name": "root", "mountPath": "/"}]);
            pod_spec["volumes"] = serde_json::json!([{"name": "root", "hostPath": {"path": copy}}]);
        }
        pod_spec["containers"] = serde_json::json!([container]);
        docs.push(
            serde_json::json!({
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name},
                "spec": pod_spec,
            })
            .to_string(),
        );
        let e = Expected {
            exit_code: spec["exit_code"].as_i64().unwrap_or(0),
            stdout: spec["stdout"].as_str().map(str::to_owned),
        };
        assert!(
            expected.insert(name.clone(), e).is_none(),
            "two programs named {name}"
        );
    }
    assert!(expected.len() >= 30, "{} programs", expected.len());
    let manifests = work.path().join("testsuite.yaml");
    // Each pod as a JSON document (JSON is YAML) in one multi-document YAML file.
    apply(s, &manifests, &format!("---\n{}", docs.join("\n---\n")));

    // Every job pod ends (Succeeded or Failed) within two minutes.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut finished = BTreeMap::new();
    while finished.len() < expected.len() && Instant::now() < deadline {
        let out = skiff(s, &["get", "pods", "-o", "json"]);
        if out.status.success() {
            let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            for p in list["items"].as_array().into_iter().flatten() {
                let phase = p["status"]["phase"].as_str().unwrap_or_default();
                if matches!(phase, "Succeeded" | "Failed") {
                    let name = p["metadata"]["name"].as_str().unwrap().to_owned();
                    finished.insert(name, p.clone());
                }
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let unfinished: Vec<&String> = expected
        .keys()
        .filter(|k| !finished.contains_key(*k))
        .collect();
    if let Some(name) = unfinished.first() {
        let out = skiff(s, &["get", "pod", name, "-o", "yaml"]);
        panic!(
            "never finished: {unfinished:?}; the first:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }

    let mut failures = Vec::new();
    for (name, want) in &expected {
        let p = &finished[name];
        let t = &p["status"]["containerStatuses"][0]["state"]["terminated"];
        let code = t["exitCode"].as_i64().unwrap_or(-1);
        let stdout = logs(s, &[name]);
        let stdout_ok = want.stdout.as_ref().is_none_or(|w| *w == stdout);
        if code != want.exit_code || !stdout_ok {
            failures.push(format!(
                "{name}: exit {code} (want {}), stdout {stdout:?} (want {:?}); {}: {}",
                want.exit_code, want.stdout, t["reason"], t["message"]
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} failed:\n{}",
        failures.len(),
        expected.len(),
        failures.join("\n")
    );

    // The wasi:http components written by others answer on their pods' addresses.
    let components = conformance().join("components");
    let http = work.path().join("http.yaml");
    let pod = |name: &str, file: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  nodeName: n1\n  runtimeClassName: wasm\n  containers:\n  - name: web\n    image: {}\n",
            components.join(file).display()
        )
    };
    apply(
        s,
        &http,
        &[
            pod("hello-wasi-http", "runwasi-hello_wasi_http.wasm"),
            pod("fetch-rs", "runwasi-fetch_rs.wasm"),
        ]
        .join("---\n"),
    );
    for (name, body) in [
        (
            "hello-wasi-http",
            "Hello, this is your first wasi:http/proxy world!\n",
        ),
        ("fetch-rs", ""),
    ] {
        let p = wait_for(s, &["pod", name], |p| p["status"]["podIP"].is_string());
        let ip = p["status"]["podIP"].as_str().unwrap();
        assert_eq!(
            get(&format!("{ip}:8080"), "/"),
            (200, body.to_owned()),
            "{name}"
        );
    }
    c.agent.stop();
}
