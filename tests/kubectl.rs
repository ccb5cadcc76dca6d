//! Real kubectl (the pinned static binary `cargo xtask test` fetches, `SKIFF_KUBECTL`)
//! against a member's Kubernetes REST API, with the kubeconfig `skiff config` writes:
//! version, discovery (`api-resources`), server-side tables (`get`, `-o wide`, `-A`),
//! JSON output, logs, create and delete, a watch, and errors exiting as kubectl does.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::node::{guest, skiff, wait_for};
use support::routing::{Cluster, eventually};

/// kubectl, as `cargo xtask test` provides it; without it the test fails saying how to
/// get it (it does not skip).
fn kubectl_bin() -> PathBuf {
    match std::env::var_os("SKIFF_KUBECTL") {
        Some(p) => PathBuf::from(p),
        None => panic!(
            "SKIFF_KUBECTL is not set: run the tests with `cargo xtask test`, which fetches kubectl"
        ),
    }
}

/// A kubeconfig for `server` as the admin, written by `skiff config`.
fn kubeconfig(server: &str, dir: &Path) -> PathBuf {
    let path = dir.join("kubeconfig");
    let out = skiff(server, &["config", "--output", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

struct Kubectl {
    config: PathBuf,
    cache: PathBuf,
}

impl Kubectl {
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(kubectl_bin());
        c.arg("--kubeconfig")
            .arg(&self.config)
            .arg("--cache-dir")
            .arg(&self.cache)
            .args(args)
            .env("HOME", self.cache.parent().unwrap());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// stdout of a run that must succeed.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

const APP: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: hello, labels: {app: hello}}
spec:
  replicas: 2
  selector: {matchLabels: {app: hello}}
  template:
    metadata: {labels: {app: hello}}
    spec:
      runtimeClassName: wasm
      containers: [{name: hello, image: WASM}]
";

#[test]
fn kubectl_discovers_lists_watches_and_writes() {
    let c = Cluster::start(&["n1"], &[]);
    let dir = tempfile::tempdir().unwrap();
    let k = Kubectl {
        config: kubeconfig(&c.server, dir.path()),
        cache: dir.path().join("cache"),
    };
    c.apply(
        "app.yaml",
        &APP.replace("WASM", &guest("hello.wasm").display().to_string()),
    );
    wait_for(&c.server, &["deployment", "hello"], |d| {
        d["status"]["readyReplicas"] == 2
    });

    let version = k.ok(&["version"]);
    assert!(
        version.contains("Server Version: v1.36.0-skiff"),
        "{version}"
    );

    // Discovery: every kind with its short names and group, from the table of kinds.
    let resources = k.ok(&["api-resources"]);
    let line = |name: &str| {
        resources
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no {name} in:\n{resources}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        line("deployments"),
        ["deployments", "deploy", "apps/v1", "true", "Deployment"]
    );
    assert_eq!(line("nodes"), ["nodes", "no", "v1", "false", "Node"]);
    assert_eq!(
        line("httproutes"),
        [
            "httproutes",
            "gateway.networking.k8s.io/v1",
            "true",
            "HTTPRoute"
        ]
    );
    assert!(
        !resources.contains("statefulsets"),
        "kinds Skiff lacks are absent"
    );

    // Server-side tables, as kubectl prints them for Kubernetes.
    let pods = k.ok(&["get", "pods"]);
    let mut lines = pods.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        "{pods}"
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 2, "{pods}");
    assert!(
        rows.iter()
            .all(|r| r.starts_with("hello-") && r.contains("Running")),
        "{pods}"
    );
    let wide = k.ok(&["get", "pods", "-o", "wide"]);
    assert!(wide.lines().next().unwrap().ends_with("NODE"), "{wide}");
    assert!(wide.lines().nth(1).unwrap().ends_with("n1"), "{wide}");
    let all = k.ok(&["get", "deploy", "-A"]);
    assert!(all.starts_with("NAMESPACE"), "{all}");
    assert!(all.contains("default") && all.contains("2/2"), "{all}");
    let labelled = k.ok(&["get", "pods", "-l", "app=hello", "-o", "name"]);
    assert_eq!(labelled.lines().count(), 2, "{labelled}");
    let json: serde_json::Value =
        serde_json::from_str(&k.ok(&["get", "deployment", "hello", "-o", "json"])).unwrap();
    assert_eq!(json["spec"]["replicas"], 2);
    assert_eq!(json["kind"], "Deployment");

    // Patches of each type, through the same admission as any write.
    let labelled = k.ok(&["label", "deployment", "hello", "tier=web"]);
    assert!(
        labelled.contains("deployment.apps/hello labeled"),
        "{labelled}"
    );
    k.ok(&["annotate", "deployment", "hello", "note=hi"]);
    k.ok(&[
        "patch",
        "deployment",
        "hello",
        "--type=merge",
        "-p",
        r#"{"spec":{"revisionHistoryLimit":4}}"#,
    ]);
    k.ok(&[
        "patch",
        "deployment",
        "hello",
        "--type=json",
        "-p",
        r#"[{"op":"add","path":"/spec/minReadySeconds","value":1}]"#,
    ]);
    // Strategic (kubectl's default): the container merges by name, keeping its image.
    k.ok(&["patch", "deployment", "hello", "-p", r#"{"spec":{"template":{"spec":{"containers":[{"name":"hello","env":[{"name":"MODE","value":"fast"}]}]}}}}"#]);
    let d: serde_json::Value =
        serde_json::from_str(&k.ok(&["get", "deploy", "hello", "-o", "json"])).unwrap();
    assert_eq!(d["metadata"]["labels"]["tier"], "web");
    assert_eq!(d["metadata"]["annotations"]["note"], "hi");
    assert_eq!(
        (
            d["spec"]["revisionHistoryLimit"].as_i64(),
            d["spec"]["minReadySeconds"].as_i64()
        ),
        (Some(4), Some(1))
    );
    let container = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["env"][0]["value"], "fast");
    assert!(
        container["image"].as_str().unwrap().starts_with("sha256:"),
        "the image kept: {container}"
    );
    let wrong = k.run(&[
        "patch",
        "deployment",
        "hello",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/spec/nope"}]"#,
    ]);
    assert_eq!(
        wrong.status.code(),
        Some(1),
        "a patch that does not apply is refused"
    );
    let err = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        err.contains("is invalid") && err.contains("does not apply"),
        "{err}"
    );

    // Logs through the pod's node, by pod and by Deployment.
    let pod = rows[0].split_whitespace().next().unwrap();
    k.ok(&["logs", pod, "--tail", "5"]);
    k.ok(&["logs", "deploy/hello"]);

    // The scale subresource, and a restart (a patched template annotation).
    let scaled = k.ok(&["scale", "deployment", "hello", "--replicas=3"]);
    assert!(scaled.contains("deployment.apps/hello scaled"), "{scaled}");
    let replicas = k.ok(&["get", "deploy", "hello", "-o", "jsonpath={.spec.replicas}"]);
    assert_eq!(replicas, "3");
    let restarted = k.ok(&["rollout", "restart", "deployment/hello"]);
    assert!(restarted.contains("restarted"), "{restarted}");
    let status = k.ok(&["rollout", "status", "deployment/hello", "--timeout=60s"]);
    assert!(status.contains("successfully rolled out"), "{status}");

    // Errors exit 1 with kubectl's words.
    let missing = k.run(&["get", "pod", "nope"]);
    assert_eq!(missing.status.code(), Some(1));
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(
        err.contains(r#"Error from server (NotFound): pods "nope" not found"#),
        "{err}"
    );

    // A watch sees a ConfigMap created through kubectl, then its deletion.
    let mut watch = k
        .command(&["get", "configmaps", "-w", "--output-watch-events"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let printed = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let printed = printed.clone();
        let stdout = watch.stdout.take().unwrap();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let mut p = printed.lock().unwrap();
                p.push_str(&line);
                p.push('\n');
            }
        })
    };
    std::fs::write(
        dir.path().join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {mode: fast}\n",
    )
    .unwrap();
    let cm = dir.path().join("cm.yaml");
    let created = k.ok(&["create", "-f", cm.to_str().unwrap(), "--validate=false"]);
    assert!(created.contains("configmap/settings created"), "{created}");
    let again = k.run(&["create", "-f", cm.to_str().unwrap(), "--validate=false"]);
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("(AlreadyExists)"), "{err}");
    let got = k.ok(&[
        "get",
        "configmap",
        "settings",
        "-o",
        "jsonpath={.data.mode}",
    ]);
    assert_eq!(got, "fast");
    let deleted = k.ok(&["delete", "configmap", "settings"]);
    assert!(
        deleted.contains("configmap \"settings\" deleted"),
        "{deleted}"
    );
    let out = skiff(&c.server, &["get", "configmap", "settings"]);
    assert!(
        !out.status.success(),
        "deleted through kubectl, gone for skiff too"
    );
    eventually("the watch prints the deletion", || {
        printed.lock().unwrap().contains("DELETED")
    });
    let _ = watch.kill();
    let _ = watch.wait();
    let _ = reader.join();
    let printed = printed.lock().unwrap().clone();
    let added = printed
        .lines()
        .find(|l| l.contains("settings") && l.starts_with("ADDED"));
    assert!(added.is_some(), "{printed}");
}
