//! A real `skiff node` agent beside a real `skiff control` member: it registers a Ready
//! Node, runs Wasm pods bound to it (WASI programs written by others), reports their
//! status in Kubernetes' words, restarts them as their policy says, and after its own
//! restart leaves finished pods alone. Every process is killed when the test ends.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;

use support::Members;
use support::node::{Agent, NodeCluster, apply, get, guest, logs, logs_error, skiff, wait_for};

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
    // runc is on the test machine, so the node runs containers too.
    assert_eq!(
        node["status"]["runtimes"],
        serde_json::json!(["wasm", "oci"])
    );

    let manifests = dir.path().join("pods.yaml");
    apply(
        s,
        &manifests,
        &[
            pod("hello", &testsuite("fd_write-to-stdout.wasm"), "Never"),
            pod("fails", &testsuite("proc_exit-failure.wasm"), "Never"),
            pod("retries", &testsuite("proc_exit-failure.wasm"), "OnFailure"),
        ]
        .join("---\n"),
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
    apply(
        s,
        &http,
        &format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: web}}\nspec:\n  nodeName: n1\n  runtimeClassName: wasm\n  containers:\n  - name: web\n    image: {}\n    ports: [{{containerPort: 8080}}]\n    resources: {{limits: {{memory: 64Mi, cpu: 500m}}}}\n",
            component.display()
        ),
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
    let before = std::fs::read_to_string(&log).unwrap();
    assert!(before.contains("compiled an artifact"), "{before}");
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
    // Nothing was compiled again: every artifact came from the compile cache on disk.
    let after = std::fs::read_to_string(&log).unwrap()[before.len()..].to_owned();
    assert!(!after.contains("compiled an artifact"), "{after}");
    assert!(
        after.contains("loaded from the compile cache on disk"),
        "{after}"
    );
    // One new run of the HTTP pod, not two: no duplicate instances.
    let uid = web["metadata"]["uid"].as_str().unwrap();
    let mut runs: Vec<_> = std::fs::read_dir(data.join(format!("pods/default_web_{uid}/logs/web")))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    runs.sort();
    assert_eq!(runs, ["0.log", "1.log"]);
    agent.stop();
}

#[test]
fn skiff_logs_reads_a_pods_log_through_the_api_as_kubectl_does() {
    let mut c = NodeCluster::start();
    let (s, dir) = (c.server.as_str(), &c.dir);
    wait_for(s, &["node", "n1"], |n| {
        n["status"]["daemonEndpoints"]["agentEndpoint"]["port"].as_u64() > Some(0)
    });
    // The runwasi `wasi:cli` component prints one line per run; Always restarts it.
    let hello = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/conformance/components/runwasi-component-hello-world.wasm");
    let manifests = dir.path().join("pods.yaml");
    let unbound = "apiVersion: v1\nkind: Pod\nmetadata: {name: nowhere}\nspec:\n  runtimeClassName: wasm\n  nodeSelector: {zone: nowhere}\n  containers:\n  - {name: a, image: sha256:0000000000000000000000000000000000000000000000000000000000000000}\n";
    apply(
        s,
        &manifests,
        &[pod("hw", &hello, "Always"), unbound.to_owned()].join("---\n"),
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
    let mut follow = support::pki::skiff()
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
    let e = logs_error(s, &["service/hw"]);
    assert!(e.contains("logs are read from pods"), "{e}");
    let e = logs_error(s, &["deployment/hw"]);
    assert!(e.contains("not found"), "{e}");
    c.agent.stop();
}

#[test]
fn a_pod_gets_env_and_files_from_config_maps_secrets_and_its_own_fields() {
    let mut c = NodeCluster::start();
    let (s, dir) = (c.server.as_str(), &c.dir);
    let manifests = dir.path().join("config.yaml");
    apply(
        s,
        &manifests,
        &format!(
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
    c.agent.stop();
}

/// The misbehaving test guests (WebAssembly text shared with the runtime's own tests),
/// compiled into `dir`.
fn misbehaving(dir: &Path, name: &str) -> PathBuf {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("node/tests/misbehaving/{name}.wat")),
    )
    .unwrap();
    let path = dir.join(format!("{name}.wasm"));
    std::fs::write(&path, wat::parse_str(&text).unwrap()).unwrap();
    path
}

#[test]
fn misbehaving_guests_are_stopped_and_named_while_a_neighbour_keeps_answering() {
    let mut c = NodeCluster::start();
    let (s, dir) = (c.server.as_str(), &c.dir);
    let web = dir.path().join("web.yaml");
    apply(
        s,
        &web,
        &format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: web}}\nspec:\n  nodeName: n1\n  runtimeClassName: wasm\n  containers:\n  - name: web\n    image: {}\n",
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../shared/conformance/components/runwasi-hello_wasi_http.wasm")
                .display()
        ),
    );
    let p = wait_for(s, &["pod", "web"], |p| p["status"]["podIP"].is_string());
    let addr = format!("{}:8080", p["status"]["podIP"].as_str().unwrap());
    assert_eq!(get(&addr, "/").0, 200);

    // The neighbour is asked all along.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let asking = {
        let (stop, addr) = (stop.clone(), addr.clone());
        std::thread::spawn(move || {
            let (mut ok, mut bad) = (0, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match get(&addr, "/") {
                    (200, _) => ok += 1,
                    other => bad.push(other),
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            (ok, bad)
        })
    };
    let job = |name: &str, wasm: &Path, extra: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  nodeName: n1\n  runtimeClassName: wasm\n  restartPolicy: Never\n{extra}  containers:\n  - name: main\n    image: {}\n    resources: {{limits: {{memory: 16Mi, cpu: 200m}}}}\n",
            wasm.display()
        )
    };
    let d = dir.path();
    let jobs = dir.path().join("jobs.yaml");
    apply(
        s,
        &jobs,
        &[
            job("bomb", &misbehaving(d, "memory-bomb"), ""),
            job(
                "spin",
                &misbehaving(d, "busy-loop"),
                "  activeDeadlineSeconds: 2\n",
            ),
            job("overflow", &misbehaving(d, "stack-overflow"), ""),
            job("unreachable", &misbehaving(d, "unreachable"), ""),
        ]
        .join("---\n"),
    );
    let ended = |name: &str| {
        let p = wait_for(s, &["pod", name], |p| p["status"]["phase"] == "Failed");
        p["status"]["containerStatuses"][0]["state"]["terminated"].clone()
    };
    let t = ended("bomb");
    assert_eq!(
        (t["reason"].as_str(), t["exitCode"].as_i64()),
        (Some("OOMKilled"), Some(137)),
        "{t}"
    );
    let t = ended("spin");
    assert_eq!(t["reason"], "DeadlineExceeded", "{t}");
    let t = ended("overflow");
    assert_eq!(t["reason"], "Trapped", "{t}");
    assert!(
        t["message"]
            .as_str()
            .unwrap()
            .contains("call stack exhausted"),
        "{t}"
    );
    let t = ended("unreachable");
    assert_eq!(t["reason"], "Trapped", "{t}");
    let message = t["message"].as_str().unwrap();
    assert!(
        message.contains("unreachable") && message.contains("broken"),
        "{t}"
    );

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (ok, bad) = asking.join().unwrap();
    assert!(
        bad.is_empty(),
        "the neighbour failed {} times: {bad:?}",
        bad.len()
    );
    assert!(ok >= 10, "the neighbour answered {ok} times");
    let web = wait_for(s, &["pod", "web"], |_| true);
    assert_eq!(web["status"]["phase"], "Running");
    c.agent.stop();
}

#[test]
fn skiff_dev_serves_the_example_and_prints_what_to_curl() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let api = format!("127.0.0.1:{}", support::free_port());
    let ingress = format!("127.0.0.1:{}", support::free_port());
    // As a new user runs it: no credentials in the environment.
    let child = Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args([
            "dev",
            "--api-addr",
            &api,
            "--ingress-addr",
            &ingress,
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .env("HOME", dir.path())
        .env_remove("SKIFF_CONFIG")
        // Any folder: the example app and its component are built into the binary.
        .current_dir(dir.path())
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
    // The client config is written beside the data (not the default one's ~/.skiff), and
    // the output says how to use it.
    let config_path = dir.path().join("data/config");
    let config = std::fs::read_to_string(&config_path).unwrap();
    assert!(config.contains(&format!("server: {api}")), "{config}");
    assert!(config.contains("credentials: "), "{config}");
    assert!(!dir.path().join(".skiff/config").exists());
    assert!(
        seen.iter()
            .any(|l| l.contains(&format!("export SKIFF_CONFIG={}", config_path.display()))),
        "{seen:?}"
    );
    // The client verbs find the server and the admin credential in SKIFF_CONFIG.
    let pods = Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args(["get", "pods"])
        .env("HOME", dir.path())
        .env("SKIFF_CONFIG", &config_path)
        .env_remove("SKIFF_CREDENTIALS")
        .env_remove("SKIFF_SERVER")
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&pods.stdout);
    assert!(
        pods.status.success() && listed.contains("hello-"),
        "{listed}{}",
        String::from_utf8_lossy(&pods.stderr)
    );
    // Another cluster's credentials are refused in the handshake, with a hint.
    let stranger = support::pki::skiff()
        .args(["get", "pods", "--server", &api])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&stranger.stderr);
    assert!(!stranger.status.success() && said.contains("TLS"), "{said}");
    assert_eq!(url, format!("http://{ingress}/"), "the example's Ingress");
    // The SDK's hello, on the Service's port 80 although the pod names no port.
    let (status, body) = get(&ingress, "/a/b?c=d");
    assert_eq!(
        (status, body.as_str()),
        (200, "Hello from Skiff! You asked for /a/b\n")
    );
    agent.stop();
}

/// The hello component `skiff dev` ships (examples/hello/dist/hello.wasm) is what its
/// source builds: its sources are the ones it was built from (digests in
/// `dist/sources.txt`); it offers the interface the freshly built one offers; and, built
/// by the same compiler in the same folder (cargo hashes path dependencies' absolute
/// paths into symbol names, which order the code), it is the same bytes.
#[test]
fn the_shipped_hello_component_is_what_its_source_builds() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dist = root.join("examples/hello/dist");
    let rebuild = "run `cargo xtask ship` and commit examples/hello/dist/";
    let read = |p: &std::path::Path| {
        std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}; {rebuild}", p.display()))
    };
    let shipped = read(&dist.join("hello.wasm"));
    let sources = String::from_utf8(read(&dist.join("sources.txt"))).unwrap();
    let built_in = sources
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("# built in "))
        .unwrap_or_default();
    let recorded: Vec<(&str, &str)> = sources
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once("  "))
        .collect();
    let mut now = Vec::new();
    shipped_sources(root, &root.join("examples/hello"), &mut now);
    shipped_sources(root, &root.join("sdk"), &mut now);
    now.extend([
        "examples/Cargo.toml".to_owned(),
        "examples/Cargo.lock".to_owned(),
    ]);
    now.sort();
    let listed: Vec<&str> = recorded.iter().map(|(_, f)| *f).collect();
    assert_eq!(
        listed, now,
        "the sources of hello.wasm are not the ones it was built from: {rebuild}"
    );
    for (digest, file) in &recorded {
        let bytes = std::fs::read(root.join(file)).unwrap();
        assert_eq!(
            skiff_control::store::blobs::sha256_hex(&bytes),
            *digest,
            "{file} changed since hello.wasm was built: {rebuild}"
        );
    }
    let built = std::fs::read(support::node::guest("hello.wasm")).unwrap();
    let interface = |bytes: &[u8]| {
        let engine = wasmtime::Engine::default();
        let c = wasmtime::component::Component::new(&engine, bytes).unwrap();
        let ty = c.component_type();
        let imports: Vec<String> = ty.imports(&engine).map(|(n, _)| n.to_owned()).collect();
        let exports: Vec<String> = ty.exports(&engine).map(|(n, _)| n.to_owned()).collect();
        (imports, exports)
    };
    assert_eq!(interface(&shipped), interface(&built), "{rebuild}");
    let shipped_by = String::from_utf8(read(&dist.join("toolchain.txt"))).unwrap();
    let built_by = std::fs::read_to_string(support::node::guest("toolchain.txt")).unwrap();
    if shipped_by == built_by && std::path::Path::new(built_in) == root {
        assert!(
            shipped == built,
            "examples/hello/dist/hello.wasm ({} bytes) is not what its source builds ({} bytes): {rebuild}",
            shipped.len(),
            built.len()
        );
    }
}

/// The files under `dir` the compiler reads (not `target/`, `dist/`, `.md`, `.yaml`),
/// relative to `root`.
fn shipped_sources(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if name == "target" || name == "dist" || name.ends_with(".md") || name.ends_with(".yaml") {
            continue;
        }
        if path.is_dir() {
            shipped_sources(root, &path, out);
        } else {
            out.push(
                path.strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
}
