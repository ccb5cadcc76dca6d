//! A real `skiff node` agent beside a real `skiff control` member: it registers a Ready
//! Node, runs Wasm pods bound to it (WASI programs written by others), reports their
//! status in Kubernetes' words, restarts them as their policy says, and after its own
//! restart leaves finished pods alone. Every process is killed when the test ends.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

mod support;

use support::Members;

/// The agent process, killed (by its PID) when dropped.
struct Agent {
    child: Option<Child>,
    log: PathBuf,
}

impl Agent {
    fn start(control: &str, data: &Path, log: &Path) -> Agent {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_skiff"))
            .args(["node", "--name", "n1", "--control", control])
            .args(["--heartbeat-seconds", "1", "--backoff-seconds", "1"])
            .args(["--listen", "127.0.0.1:0", "--usage-seconds", "1"])
            .arg("--data-dir")
            .arg(data)
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .unwrap();
        Agent {
            child: Some(child),
            log: log.to_path_buf(),
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!(
                "--- agent log:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }
}

fn skiff(server: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args(args)
        .env("SKIFF_SERVER", server)
        .env("HOME", "/nonexistent")
        .output()
        .unwrap()
}

/// `skiff get KIND NAME -o json`, once it exists and `ready` says so (within 30 s).
fn wait_for(
    server: &str,
    what: &[&str],
    ready: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = serde_json::Value::Null;
    while Instant::now() < deadline {
        let mut args = vec!["get"];
        args.extend_from_slice(what);
        args.extend_from_slice(&["-o", "json"]);
        let out = skiff(server, &args);
        if out.status.success() {
            last = serde_json::from_slice(&out.stdout).unwrap();
            if ready(&last) {
                return last;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{what:?} not as expected within 30 s; last seen:\n{last:#}");
}

fn testsuite(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/conformance/wasi-testsuite/assemblyscript/testsuite/wasm32-wasip1")
        .join(name)
}

fn pod(name: &str, wasm: &Path, restart: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  nodeName: n1\n  runtimeClassName: wasm\n  restartPolicy: {restart}\n  containers:\n  - name: main\n    image: {}\n",
        wasm.display()
    )
}

#[test]
fn an_agent_runs_wasm_pods_and_reports_them_as_kubernetes_does() {
    let m = Members::start(1);
    m.leader(1);
    let server = m.addr(1);
    let s = server.as_str();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    let log = dir.path().join("agent.log");
    let mut agent = Agent::start(s, &data, &log);

    let node = wait_for(s, &["node", "n1"], |n| {
        n["status"]["conditions"][0]["status"] == "True"
    });
    assert_eq!(node["status"]["conditions"][0]["type"], "Ready");
    assert_eq!(node["status"]["runtimes"][0], "wasm");

    let manifests = dir.path().join("pods.yaml");
    std::fs::write(
        &manifests,
        [
            pod("hello", &testsuite("fd_write-to-stdout.wasm"), "Never"),
            pod("fails", &testsuite("proc_exit-failure.wasm"), "Never"),
            pod("retries", &testsuite("proc_exit-failure.wasm"), "OnFailure"),
        ]
        .join("---\n"),
    )
    .unwrap();
    let out = skiff(s, &["apply", "-f", manifests.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let hello = wait_for(s, &["pod", "hello"], |p| {
        p["status"]["phase"] == "Succeeded"
    });
    let t = &hello["status"]["containerStatuses"][0]["state"]["terminated"];
    assert_eq!(
        (t["reason"].as_str(), t["exitCode"].as_i64()),
        (Some("Completed"), Some(0))
    );
    let uid = hello["metadata"]["uid"].as_str().unwrap();
    let runs = data.join(format!("pods/default_hello_{uid}/logs/main"));
    assert_eq!(logs(s, &["hello"]), "hello");

    let fails = wait_for(s, &["pod", "fails"], |p| p["status"]["phase"] == "Failed");
    let t = &fails["status"]["containerStatuses"][0]["state"]["terminated"];
    assert_eq!(
        (t["reason"].as_str(), t["exitCode"].as_i64()),
        (Some("Error"), Some(33))
    );

    let retries = wait_for(s, &["pod", "retries"], |p| {
        p["status"]["containerStatuses"][0]["restartCount"].as_u64() >= Some(2)
    });
    let c = &retries["status"]["containerStatuses"][0];
    assert_eq!(c["lastState"]["terminated"]["exitCode"], 33);
    assert_eq!(retries["status"]["phase"], "Running", "it will run again");

    // An HTTP handler written by others answers on the pod's own address, a fresh
    // instance per request.
    let http = dir.path().join("http.yaml");
    let component = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/conformance/components/runwasi-hello_wasi_http.wasm");
    std::fs::write(
        &http,
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: web}}\nspec:\n  nodeName: n1\n  runtimeClassName: wasm\n  containers:\n  - name: web\n    image: {}\n    ports: [{{containerPort: 8080}}]\n    resources: {{limits: {{memory: 64Mi, cpu: 500m}}}}\n",
            component.display()
        ),
    )
    .unwrap();
    let out = skiff(s, &["apply", "-f", http.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let web = wait_for(s, &["pod", "web"], |p| {
        p["status"]["phase"] == "Running" && p["status"]["podIP"].is_string()
    });
    assert_eq!(web["status"]["conditions"][0]["status"], "True", "Ready");
    let ip = web["status"]["podIP"].as_str().unwrap();
    for _ in 0..3 {
        let (status, body) = get(&format!("{ip}:8080"), "/hello?x=1");
        assert_eq!(status, 200);
        assert_eq!(body, "Hello, this is your first wasi:http/proxy world!\n");
    }

    // What the pods used is in their status: the HTTP pod's requests, CPU and memory
    // (it holds none between requests: each instance is gone with its request), and a
    // finished job's CPU.
    let web = wait_for(s, &["pod", "web"], |p| {
        p["status"]["usage"]["requests"].as_u64() >= Some(3)
    });
    let usage = &web["status"]["usage"];
    assert!(usage["cpuNanos"].as_u64() > Some(0), "{usage}");
    assert_eq!(usage["failedRequests"], 0, "{usage}");
    let peak: u64 = usage["peakMemory"].as_str().unwrap().parse().unwrap();
    assert!(
        peak >= 64 << 10,
        "at least one page of linear memory: {usage}"
    );
    assert!(peak <= 64 << 20, "within limits.memory: {usage}");
    assert_eq!(usage["memory"], "0", "{usage}");
    let hello = wait_for(s, &["pod", "hello"], |p| p["status"]["usage"].is_object());
    assert!(hello["status"]["usage"]["cpuNanos"].as_u64() > Some(0));

    // The agent restarts: finished pods are not run again.
    agent.stop();
    let mut agent = Agent::start(s, &data, &log);
    wait_for(s, &["pod", "retries"], |p| {
        p["status"]["containerStatuses"][0]["restartCount"].as_u64() == Some(0)
            || p["status"]["containerStatuses"][0]["restartCount"].as_u64() >= Some(3)
    });
    std::thread::sleep(Duration::from_secs(1));
    let names: Vec<_> = std::fs::read_dir(&runs)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["0.log"], "not run twice");
    assert_eq!(logs(s, &["hello"]), "hello");
    let again = wait_for(s, &["pod", "hello"], |_| true);
    assert_eq!(again["status"]["phase"], "Succeeded");
    // ...and the HTTP pod serves again, from the compile cache.
    let web = wait_for(s, &["pod", "web"], |p| p["status"]["podIP"].is_string());
    let ip = web["status"]["podIP"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match std::net::TcpStream::connect(format!("{ip}:8080")) {
            Ok(_) => break,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("the web pod does not listen again: {e}"),
        }
    }
    assert_eq!(get(&format!("{ip}:8080"), "/").0, 200);
    agent.stop();
}

/// `skiff logs ARGS...`'s output, which must succeed.
fn logs(server: &str, args: &[&str]) -> String {
    let mut all = vec!["logs"];
    all.extend_from_slice(args);
    let out = skiff(server, &all);
    assert!(
        out.status.success(),
        "skiff {all:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `skiff logs ARGS...`'s error, which must fail with exit code 1.
fn logs_error(server: &str, args: &[&str]) -> String {
    let mut all = vec!["logs"];
    all.extend_from_slice(args);
    let out = skiff(server, &all);
    assert_eq!(out.status.code(), Some(1), "skiff {all:?} should fail");
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn skiff_logs_reads_a_pods_log_through_the_api_as_kubectl_does() {
    let m = Members::start(1);
    m.leader(1);
    let s = &m.addr(1);
    let dir = tempfile::tempdir().unwrap();
    let mut agent = Agent::start(s, &dir.path().join("node"), &dir.path().join("agent.log"));
    wait_for(s, &["node", "n1"], |n| {
        n["status"]["daemonEndpoints"]["agentEndpoint"]["port"].as_u64() > Some(0)
    });
    // The runwasi `wasi:cli` component prints one line per run; Always restarts it.
    let hello = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/conformance/components/runwasi-component-hello-world.wasm");
    let manifests = dir.path().join("pods.yaml");
    let unbound = "apiVersion: v1\nkind: Pod\nmetadata: {name: nowhere}\nspec:\n  runtimeClassName: wasm\n  containers:\n  - {name: a, image: sha256:0000000000000000000000000000000000000000000000000000000000000000}\n";
    std::fs::write(
        &manifests,
        [pod("hw", &hello, "Always"), unbound.to_owned()].join("---\n"),
    )
    .unwrap();
    let out = skiff(s, &["apply", "-f", manifests.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Two restarts: at least two runs have logs (the current one and the previous).
    wait_for(s, &["pod", "hw"], |p| {
        p["status"]["containerStatuses"][0]["restartCount"].as_u64() >= Some(2)
    });

    assert_eq!(logs(s, &["hw"]), "Hello, world!\n");
    assert_eq!(
        logs(s, &["pod/hw", "-c", "main", "--previous"]),
        "Hello, world!\n"
    );
    let stamped = logs(s, &["hw", "--timestamps", "--tail", "1"]);
    let (ts, line) = stamped.trim_end().split_once(' ').unwrap();
    assert!(ts.starts_with("20") && ts.ends_with('Z'), "{stamped}");
    assert_eq!(line, "Hello, world!");
    assert_eq!(logs(s, &["hw", "--since-time", "2999-01-01T00:00:00Z"]), "");
    assert_eq!(logs(s, &["hw", "--since", "1h"]), "Hello, world!\n");

    // -f keeps streaming: the next run's line arrives on the same stream.
    let mut follow = Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args(["logs", "hw", "-f"])
        .env("SKIFF_SERVER", s)
        .env("HOME", "/nonexistent")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = follow.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                return;
            }
        }
    });
    let mut seen = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen < 2 && Instant::now() < deadline {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
            assert_eq!(l, "Hello, world!");
            seen += 1;
        }
    }
    let _ = follow.kill();
    let _ = follow.wait();
    assert_eq!(seen, 2, "a second run's line through `skiff logs -f`");

    // Errors say what is wrong and what to do.
    let e = logs_error(s, &["hw", "-c", "nope"]);
    assert!(
        e.contains("container nope is not valid for pod hw, choose one of: [main]"),
        "{e}"
    );
    let e = logs_error(s, &["missing"]);
    assert!(e.contains("not found"), "{e}");
    let e = logs_error(s, &["nowhere"]);
    assert!(e.contains("is not on a node yet"), "{e}");
    let e = logs_error(s, &["hw", "--since", "soon"]);
    assert!(e.contains("--since \"soon\""), "{e}");
    let e = logs_error(s, &["deployment/hw"]);
    assert!(e.contains("logs are read from pods"), "{e}");
    agent.stop();
}

fn guest(file: &str) -> PathBuf {
    std::env::var_os("SKIFF_GUESTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/target/wasm32-wasip2/release")
        })
        .join(file)
}

#[test]
fn a_pod_gets_env_and_files_from_config_maps_secrets_and_its_own_fields() {
    let m = Members::start(1);
    m.leader(1);
    let s = &m.addr(1);
    let dir = tempfile::tempdir().unwrap();
    let mut agent = Agent::start(s, &dir.path().join("node"), &dir.path().join("agent.log"));
    let manifests = dir.path().join("config.yaml");
    std::fs::write(
        &manifests,
        format!(
            r#"apiVersion: v1
kind: ConfigMap
metadata: {{name: settings}}
data: {{greeting: hello, app.conf: "mode=fast"}}
---
apiVersion: v1
kind: Secret
metadata: {{name: creds}}
stringData: {{password: s3cret}}
data: {{token: dG9rZW4tYnl0ZXM=}}
---
apiVersion: v1
kind: Pod
metadata: {{name: config, labels: {{tier: web}}}}
spec:
  nodeName: n1
  runtimeClassName: wasm
  restartPolicy: Never
  containers:
  - name: show
    image: {guest}
    args: [/etc/app/app.conf, /secrets/password, /secrets/token, "write:/etc/app/new", "write:/scratch/x", /scratch]
    envFrom: [{{prefix: CM_, configMapRef: {{name: settings}}}}]
    env:
    - {{name: LITERAL, value: plain}}
    - {{name: GREETING, valueFrom: {{configMapKeyRef: {{name: settings, key: greeting}}}}}}
    - {{name: PASSWORD, valueFrom: {{secretKeyRef: {{name: creds, key: password}}}}}}
    - {{name: POD, valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}}}
    - {{name: TIER, valueFrom: {{fieldRef: {{fieldPath: "metadata.labels['tier']"}}}}}}
    - {{name: COMBINED, value: "$(GREETING)-$(POD)"}}
    - {{name: ABSENT, valueFrom: {{configMapKeyRef: {{name: nope, key: k, optional: true}}}}}}
    volumeMounts:
    - {{name: cfg, mountPath: /etc/app}}
    - {{name: sec, mountPath: /secrets}}
    - {{name: scratch, mountPath: /scratch}}
  volumes:
  - {{name: cfg, configMap: {{name: settings}}}}
  - {{name: sec, secret: {{secretName: creds}}}}
  - {{name: scratch, emptyDir: {{}}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: unconfigured}}
spec:
  nodeName: n1
  runtimeClassName: wasm
  restartPolicy: Never
  containers:
  - name: show
    image: {guest}
    env:
    - {{name: X, valueFrom: {{configMapKeyRef: {{name: nope, key: k}}}}}}
"#,
            guest = guest("show-config.wasm").display()
        ),
    )
    .unwrap();
    let out = skiff(s, &["apply", "-f", manifests.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for(s, &["pod", "config"], |p| {
        p["status"]["phase"] == "Succeeded"
    });
    let printed = logs(s, &["config"]);
    let lines: Vec<&str> = printed.lines().collect();
    for want in [
        "CM_app.conf=mode=fast",
        "CM_greeting=hello",
        "COMBINED=hello-config",
        "GREETING=hello",
        "LITERAL=plain",
        "PASSWORD=s3cret",
        "POD=config",
        "TIER=web",
        "/etc/app/app.conf: mode=fast",
        "/secrets/password: s3cret",
        "/secrets/token: token-bytes",
        "write /scratch/x: ok",
        "/scratch: entries x",
    ] {
        assert!(lines.contains(&want), "{want:?} missing from:\n{printed}");
    }
    assert!(
        !printed.contains("ABSENT"),
        "an optional missing key is unset:\n{printed}"
    );
    let refused = lines
        .iter()
        .find(|l| l.starts_with("write /etc/app/new: "))
        .unwrap();
    assert!(
        !refused.ends_with(": ok"),
        "a ConfigMap volume is read-only: {refused}"
    );

    let stuck = wait_for(s, &["pod", "unconfigured"], |p| {
        p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]
            == "CreateContainerConfigError"
    });
    let message = &stuck["status"]["containerStatuses"][0]["state"]["waiting"]["message"];
    assert_eq!(message, "configmap \"nope\" not found");
    // Once the ConfigMap exists, the container starts (after its back-off).
    std::fs::write(
        &manifests,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: nope}\ndata: {k: v}\n",
    )
    .unwrap();
    let out = skiff(s, &["apply", "-f", manifests.to_str().unwrap()]);
    assert!(out.status.success());
    wait_for(s, &["pod", "unconfigured"], |p| {
        p["status"]["phase"] == "Succeeded"
    });
    assert!(logs(s, &["unconfigured"]).lines().any(|l| l == "X=v"));
    agent.stop();
}

/// A plain HTTP/1.1 GET: (status, body).
fn get(addr: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    // A chunked body: keep the data, drop the chunk sizes.
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, after)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            out.push_str(&after[..n.min(after.len())]);
            rest = after.get(n + 2..).unwrap_or("");
        }
        out
    } else {
        body.to_owned()
    };
    (status, body)
}

#[test]
fn skiff_dev_serves_the_example_and_prints_what_to_curl() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let api = format!("127.0.0.1:{}", support::free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args(["dev", "--api-addr", &api, "--data-dir"])
        .arg(dir.path().join("data"))
        .env("HOME", dir.path())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut agent = Agent {
        child: Some(child),
        log: dir.path().join("none.log"),
    };
    let stdout = agent.child.as_mut().unwrap().stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                return;
            }
        }
    });
    let mut seen = Vec::new();
    let url = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no curl line within 60 s: {seen:?}"));
        if let Some(u) = line.split("curl ").nth(1) {
            break u.trim().to_owned();
        }
        seen.push(line);
    };
    let config = std::fs::read_to_string(dir.path().join(".skiff/config")).unwrap();
    assert!(config.contains(&format!("server: {api}")), "{config}");
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let (status, body) = get(addr, "/");
    assert_eq!(status, 200);
    assert!(body.contains("Hello from Skiff"), "{body}");
    agent.stop();
}
