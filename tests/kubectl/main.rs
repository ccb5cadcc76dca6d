//! Real kubectl (the pinned static binary `cargo xtask test` fetches, `SKIFF_KUBECTL`)
//! against a member's Kubernetes REST API, with the kubeconfig `skiff config` writes:
//! version, discovery (`api-resources`), server-side tables (`get`, `-o wide`, `-A`),
//! JSON output, logs, create and delete, a watch, and errors exiting as kubectl does; and
//! the web dashboard, which reads the same API, in a real browser (`dashboard`).

mod apply;
mod dashboard;
mod manifests;
mod python;
#[path = "../support/mod.rs"]
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

/// A member with node `n1` running the Deployment `hello` (2 replicas), and kubectl.
fn setup() -> (Cluster, tempfile::TempDir, Kubectl) {
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

    (c, dir, k)
}

#[test]
fn kubectl_reads_what_it_reads_from_kubernetes() {
    let (c, dir, k) = setup();
    let version = k.ok(&["version"]);
    assert!(
        version.contains("Server Version: v1.36.0-skiff"),
        "{version}"
    );

    // OpenAPI v3, from the model's own schemas: explain reads the fields and their text.
    let explained = k.ok(&["explain", "deployment.spec"]);
    for want in [
        "KIND:       Deployment",
        "FIELD: spec <DeploymentSpec>",
        "replicas\t<integer>",
        "scale to zero",
        "template\t<PodTemplateSpec> -required-",
    ] {
        assert!(explained.contains(want), "{want:?} not in:\n{explained}");
    }
    let strategy = k.ok(&["explain", "deployment.spec.strategy.type"]);
    assert!(
        strategy.contains("RollingUpdate") && strategy.contains("Recreate"),
        "{strategy}"
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
    let nodes = k.ok(&["get", "nodes", "-o", "wide"]);
    let header: Vec<&str> = nodes.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header[..5],
        ["NAME", "STATUS", "ROLES", "AGE", "VERSION"],
        "{nodes}"
    );
    assert!(
        nodes.contains("INTERNAL-IP") && nodes.contains("wasm"),
        "{nodes}"
    );
    let all = k.ok(&["get", "deploy", "-A"]);
    assert!(all.starts_with("NAMESPACE"), "{all}");
    assert!(all.contains("default") && all.contains("2/2"), "{all}");
    let labelled = k.ok(&["get", "pods", "-l", "app=hello", "-o", "name"]);
    assert_eq!(labelled.lines().count(), 2, "{labelled}");
    let json: serde_json::Value =
        serde_json::from_str(&k.ok(&["get", "deployment", "hello", "-o", "json"])).unwrap();
    assert_eq!(json["spec"]["replicas"], 2);
    assert_eq!(json["kind"], "Deployment");

    // `kubectl top` reads metrics.k8s.io, served from the agents' live figures.
    let top = k.ok(&["top", "pods", "-l", "app=hello"]);
    assert_eq!(
        top.lines().filter(|l| l.starts_with("hello-")).count(),
        2,
        "{top}"
    );
    let top = k.ok(&["top", "nodes"]);
    assert!(top.starts_with("NAME") && top.contains("CPU(%)"), "{top}");
    let usage = k.ok(&["get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes"]);
    let usage: serde_json::Value = serde_json::from_str(&usage).unwrap();
    assert_eq!(usage["kind"], "NodeMetricsList", "{usage}");
    assert!(
        usage["items"][0]["usage"]["memory"]
            .as_str()
            .is_some_and(|m| m.ends_with("Ki")),
        "{usage}"
    );

    // Logs through the pod's node, by pod and by Deployment.
    let pod = rows[0].split_whitespace().next().unwrap();
    k.ok(&["logs", pod, "--tail", "5"]);
    k.ok(&["logs", "deploy/hello"]);
    // No run before this one: BadRequest, with the reason.
    let none = k.run(&["logs", pod, "--previous"]);
    let err = String::from_utf8_lossy(&none.stderr);
    assert!(
        !none.status.success()
            && err.contains("Error from server (BadRequest)")
            && err.contains("previous terminated container not found"),
        "{err}"
    );
    // Following keeps the stream open until the client goes.
    let mut follow = k
        .command(&["logs", "-f", pod])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(2));
    let still = follow.try_wait().unwrap();
    let _ = follow.kill();
    let done = follow.wait_with_output().unwrap();
    assert!(
        still.is_none(),
        "logs -f ended by itself: {}",
        String::from_utf8_lossy(&done.stderr)
    );

    // `all` is its category; field selectors; YAML.
    let all = k.ok(&["get", "all"]);
    assert!(
        all.contains("deployment.apps/hello") && all.contains("pod/hello-"),
        "{all}"
    );
    let running = k.ok(&[
        "get",
        "pods",
        "--field-selector",
        "status.phase=Running",
        "-o",
        "name",
    ]);
    assert_eq!(running.lines().count(), 2, "{running}");
    let none = k.ok(&[
        "get",
        "pods",
        "--field-selector",
        "status.phase=Failed",
        "-o",
        "name",
    ]);
    assert!(none.trim().is_empty(), "{none}");
    let yaml = k.ok(&["get", "deploy", "hello", "-o", "yaml"]);
    assert!(
        yaml.contains("kind: Deployment") && yaml.contains("replicas: 2"),
        "{yaml}"
    );
    k.ok(&["get", "svc"]);

    // Events, as `get events` and `describe` show them (selected by involvedObject).
    let events = k.ok(&["get", "events"]);
    assert!(events.starts_with("LAST SEEN"), "{events}");
    // The same events through events.k8s.io/v1, converted.
    let newer: serde_json::Value =
        serde_json::from_str(&k.ok(&["get", "events.v1.events.k8s.io", "-o", "json"])).unwrap();
    let items = newer["items"].as_array().unwrap();
    assert!(items.len() >= events.lines().count() - 1, "{newer}");
    assert!(
        items.iter().all(|e| e["apiVersion"] == "events.k8s.io/v1"
            && e["regarding"]["kind"].is_string()
            && e["eventTime"].is_string()),
        "{newer}"
    );
    let described = k.ok(&["describe", "pod", pod]);
    assert!(
        described.contains("Events:") && described.contains("Started"),
        "{described}"
    );

    // The audit log names the REST path kubectl asked for, its user agent and address.
    let audit = std::fs::read_to_string(c.audit_log()).unwrap();
    assert!(
        audit.lines().any(|l| {
            let e: serde_json::Value = serde_json::from_str(l).unwrap();
            e["verb"] == "list"
                && e["requestURI"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("/api/v1/namespaces/default/pods?"))
                && e["userAgent"]
                    .as_str()
                    .is_some_and(|a| a.starts_with("kubectl"))
                && e["sourceIPs"][0] == "127.0.0.1"
        }),
        "no kubectl list of pods in the audit log:\n{audit}"
    );

    // Who am I, what may I do; a ServiceAccount's token may less.
    assert_eq!(k.ok(&["auth", "can-i", "create", "pods"]).trim(), "yes");
    let whoami = k.ok(&["auth", "whoami"]);
    assert!(
        whoami.contains("admin") && whoami.contains("system:masters"),
        "{whoami}"
    );
    let sa = dir.path().join("sa.yaml");
    std::fs::write(
        &sa,
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: robot}\n",
    )
    .unwrap();
    k.ok(&["create", "-f", sa.to_str().unwrap()]);
    let token = skiff(&c.server, &["create", "token", "robot"]);
    assert!(
        token.status.success(),
        "{}",
        String::from_utf8_lossy(&token.stderr)
    );
    let token = String::from_utf8_lossy(&token.stdout).trim().to_owned();
    let robot = Kubectl {
        config: dir.path().join("robot.kubeconfig"),
        cache: dir.path().join("robot-cache"),
    };
    let out = support::pki::skiff()
        .args([
            "config",
            "--token",
            &token,
            "--output",
            robot.config.to_str().unwrap(),
        ])
        .env("SKIFF_SERVER", &c.server)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let no = robot.run(&["auth", "can-i", "list", "secrets"]);
    assert_eq!(no.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&no.stdout).starts_with("no"));
    // `--list` (a SelfSubjectRulesReview): the robot holds no rules but discovery's.
    let listed = robot.ok(&["auth", "can-i", "--list"]);
    assert!(
        listed.contains("/version") && !listed.contains("secrets"),
        "{listed}"
    );
    assert!(k.ok(&["auth", "can-i", "--list"]).contains("*.*"));
    let forbidden = robot.run(&["get", "secrets"]);
    let err = String::from_utf8_lossy(&forbidden.stderr);
    assert!(err.contains("(Forbidden)"), "{err}");

    // Errors exit 1 with kubectl's words.
    let missing = k.run(&["get", "pod", "nope"]);
    assert_eq!(missing.status.code(), Some(1));
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(
        err.contains(r#"Error from server (NotFound): pods "nope" not found"#),
        "{err}"
    );
}

/// kubectl as a user `name` bound to a Role of `rules` (YAML) in `default`.
fn kubectl_as(c: &Cluster, dir: &Path, name: &str, rules: &str) -> Kubectl {
    let creds = support::pki::issue(
        skiff_pki::Role::User {
            name: name.into(),
            groups: vec![],
        },
        std::time::Duration::from_secs(3600),
        &dir.join(name),
    );
    let config = dir.join(format!("{name}.kubeconfig"));
    let out = skiff(
        &c.server,
        &[
            "config",
            "--credentials",
            creds.to_str().unwrap(),
            "--output",
            config.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{out:?}");
    c.apply(
        name,
        &format!(
            "apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: {name}}}
rules: {rules}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: {name}}}
subjects: [{{kind: User, name: {name}}}]
roleRef: {{kind: Role, name: {name}, apiGroup: rbac.authorization.k8s.io}}
"
        ),
    );
    Kubectl {
        config,
        cache: dir.join(format!("{name}-cache")),
    }
}

/// The scale subresource is authorised on `deployments/scale`, as in Kubernetes: a user
/// who may only scale scales and changes nothing else; one who may update the Deployment
/// but not its scale cannot scale it. `hello` is at 3 replicas, and stays there.
fn scaling_is_its_own_right(c: &Cluster, dir: &tempfile::TempDir, k: &Kubectl) {
    let scaler = kubectl_as(
        c,
        dir.path(),
        "scaler",
        "[{apiGroups: [apps], resources: [deployments], verbs: [get]},
  {apiGroups: [apps], resources: [deployments/scale], verbs: [get, patch, update]}]",
    );
    let editor = kubectl_as(
        c,
        dir.path(),
        "editor",
        "[{apiGroups: [apps], resources: [deployments], verbs: [get, update, patch]}]",
    );
    let scaled = scaler.ok(&["scale", "deployment", "hello", "--replicas=4"]);
    assert!(scaled.contains("deployment.apps/hello scaled"), "{scaled}");
    let labelled = scaler.run(&["label", "deployment", "hello", "x=y"]);
    let err = String::from_utf8_lossy(&labelled.stderr);
    assert!(
        !labelled.status.success() && err.contains("Forbidden"),
        "{err}"
    );
    let refused = editor.run(&["scale", "deployment", "hello", "--replicas=3"]);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && err.contains("deployments/scale"),
        "{err}"
    );
    let replicas = k.ok(&["get", "deploy", "hello", "-o", "jsonpath={.spec.replicas}"]);
    assert_eq!(replicas, "4", "the refused scale changed nothing");
    k.ok(&["scale", "deployment", "hello", "--replicas=3"]);
}

#[test]
fn kubectl_writes_through_the_same_admission_as_skiff() {
    let (c, dir, k) = setup();
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
    // A field given twice loses a value: refused (fieldValidation=Strict, the default).
    let twice = dir.path().join("twice.json");
    std::fs::write(
        &twice,
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"twice"},"data":{"a":"1","a":"2"}}"#,
    )
    .unwrap();
    let path = "/api/v1/namespaces/default/configmaps";
    let out = k.run(&["create", "--raw", path, "-f", twice.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && said.contains("duplicate field \"a\""),
        "{said}"
    );
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

    // The scale subresource, and a restart (a patched template annotation).
    let scaled = k.ok(&["scale", "deployment", "hello", "--replicas=3"]);
    assert!(scaled.contains("deployment.apps/hello scaled"), "{scaled}");
    let replicas = k.ok(&["get", "deploy", "hello", "-o", "jsonpath={.spec.replicas}"]);
    assert_eq!(replicas, "3");
    scaling_is_its_own_right(&c, &dir, &k);
    let restarted = k.ok(&["rollout", "restart", "deployment/hello"]);
    assert!(restarted.contains("restarted"), "{restarted}");
    let status = k.ok(&["rollout", "status", "deployment/hello", "--timeout=60s"]);
    assert!(status.contains("successfully rolled out"), "{status}");
    // drain evicts (pods/eviction) after cordoning; uncordon undoes it.
    let drained = k.ok(&["drain", "n1", "--ignore-daemonsets", "--timeout=60s"]);
    assert!(
        drained.contains("evicted") && drained.contains("node/n1 drained"),
        "{drained}"
    );
    assert!(k.ok(&["get", "node", "n1"]).contains("SchedulingDisabled"));
    k.ok(&["uncordon", "n1"]);

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
    let created = k.ok(&["create", "-f", cm.to_str().unwrap()]);
    assert!(created.contains("configmap/settings created"), "{created}");
    let again = k.run(&["create", "-f", cm.to_str().unwrap()]);
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
    // Client-side apply of a change (a strategic patch with last-applied), then
    // server-side apply, then `edit` through an editor script.
    let apply = |mode: &str| {
        std::fs::write(
            &cm,
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings}}\ndata: {{mode: {mode}}}\n"),
        )
        .unwrap();
    };
    apply("faster");
    let applied = k.ok(&["apply", "-f", cm.to_str().unwrap()]);
    assert!(
        applied.contains("configmap/settings configured"),
        "{applied}"
    );
    let unchanged = k.ok(&["apply", "-f", cm.to_str().unwrap()]);
    assert!(
        unchanged.contains("configmap/settings unchanged"),
        "{unchanged}"
    );
    apply("server");
    let ssa = k.ok(&["apply", "--server-side", "-f", cm.to_str().unwrap()]);
    assert!(ssa.contains("serverside-applied"), "{ssa}");
    let editor = dir.path().join("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nsed -i 's/mode: server/mode: edited/' \"$1\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let edited = k
        .command(&["edit", "configmap", "settings"])
        .env("EDITOR", &editor)
        .output()
        .unwrap();
    assert!(
        edited.status.success(),
        "{}",
        String::from_utf8_lossy(&edited.stderr)
    );
    let got = k.ok(&[
        "get",
        "configmap",
        "settings",
        "-o",
        "jsonpath={.data.mode}",
    ]);
    assert_eq!(got, "edited");
    // diff is a server-side dry run: it shows the change and writes nothing.
    std::fs::write(
        &cm,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {mode: other}\n",
    )
    .unwrap();
    let diff = k.run(&["diff", "-f", cm.to_str().unwrap()]);
    assert_eq!(
        diff.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&diff.stderr)
    );
    assert!(String::from_utf8_lossy(&diff.stdout).contains("+  mode: other"));
    assert_eq!(
        k.ok(&[
            "get",
            "configmap",
            "settings",
            "-o",
            "jsonpath={.data.mode}"
        ]),
        "edited"
    );
    let deleted = k.ok(&["delete", "configmap", "settings", "--wait"]);
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
