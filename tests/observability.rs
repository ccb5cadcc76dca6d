//! Observability end to end: a real Prometheus scrapes a 3-member, 2-node cluster at the
//! members' and agents' `--metrics-addr`, and every query of the Grafana dashboard in
//! `examples/observability` returns data.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::http::Http;
use support::node::{Agent, ingress};
use support::prometheus::Prometheus;
use support::routing::{echo, eventually};
use support::{Members, free_port};

const DASHBOARD: &str = include_str!("../examples/observability/grafana-dashboard.json");

/// Every PromQL expression in the dashboard, with Grafana's variables given values.
fn dashboard_queries() -> Vec<(String, String)> {
    let d: Value = serde_json::from_str(DASHBOARD).expect("the dashboard is JSON");
    assert_eq!(d["uid"], "skiff-cluster");
    let mut out = Vec::new();
    for p in d["panels"].as_array().expect("panels") {
        for t in p["targets"].as_array().into_iter().flatten() {
            let expr = t["expr"].as_str().expect("a target has an expr");
            out.push((
                p["title"].as_str().unwrap_or("?").to_owned(),
                expr.replace("$__rate_interval", "1m"),
            ));
        }
    }
    out
}

#[test]
fn prometheus_scrapes_members_and_nodes_and_the_dashboard_resolves() {
    let member_metrics: Vec<String> = (0..3)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect();
    let members = Members::start_each(3, |id| {
        vec![
            "--metrics-addr".into(),
            member_metrics[id as usize - 1].clone(),
        ]
    });
    members.leader(1);
    let server = members.addr(1);
    let dir = tempfile::tempdir().unwrap();
    let mut targets: Vec<(&str, String)> = member_metrics
        .iter()
        .map(|a| ("member", a.clone()))
        .collect();
    let _agents: Vec<Agent> = ["n1", "n2"]
        .iter()
        .map(|n| {
            let at = format!("127.0.0.1:{}", free_port());
            targets.push(("node", at.clone()));
            let d = dir.path();
            Agent::with_args(
                n,
                &server,
                &d.join(n),
                &d.join(format!("{n}.log")),
                &["--metrics-addr", &at],
            )
        })
        .collect();
    // A served app: pods on both nodes, requests through a router.
    let manifests = format!(
        "{}apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: web}}
spec:
  rules:
  - host: web.example.com
    http: {{paths: [{{path: /, pathType: Prefix, backend: {{service: {{name: web, port: {{number: 80}}}}}}}}]}}
",
        echo("web", "web", 4, "")
    );
    let path = dir.path().join("web.yaml");
    support::node::apply(&server, &path, &manifests);
    let addr = ingress(&server, "n1");
    let http = Http::new();
    eventually("the app answers", || {
        http.get(&addr, "web.example.com", "/").status == 200
    });
    let prometheus = Prometheus::start(&targets);
    // Every target is up.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let up = prometheus.query("sum(up)");
        if up.first().and_then(|v| v["value"][1].as_str()) == Some("5") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not every target is up: {}",
            prometheus.targets()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    // Traffic during the scrapes, so rates have something to show.
    let load = std::thread::spawn({
        let addr = addr.clone();
        move || {
            let http = Http::new();
            for _ in 0..60 {
                http.many(&addr, "web.example.com", "/", 20, 4);
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    });
    let within = Duration::from_secs(60);
    // Raft on every member, one leader.
    let terms = prometheus.until_data("skiff_store_raft_term", within);
    assert_eq!(terms.len(), 3, "{terms:?}");
    let leaders = prometheus.until_data("sum(skiff_store_is_leader)", within);
    assert_eq!(leaders[0]["value"][1], "1", "{leaders:?}");
    // The API, the scheduler and the controllers (on the leader).
    prometheus.until_data(
        r#"apiserver_request_total{verb="POST",resource="deployments",code="200"}"#,
        within,
    );
    prometheus.until_data(
        r#"scheduler_schedule_attempts_total{result="scheduled"} >= 4"#,
        within,
    );
    prometheus.until_data(
        r#"controller_runtime_reconcile_total{controller="replicaset",result="success"} > 0"#,
        within,
    );
    // The agents: pods by phase on both nodes, the pods' usage and traffic, the routers.
    let running = prometheus.until_data(r#"sum(skiff_agent_pods{phase="Running"}) == 4"#, within);
    assert!(!running.is_empty());
    let cpu = prometheus.until_data(
        r#"container_cpu_usage_seconds_total{namespace="default",container="echo"}"#,
        within,
    );
    assert_eq!(cpu.len(), 4, "one series per pod: {cpu:?}");
    prometheus.until_data(
        r#"sum(skiff_pod_http_requests_total{namespace="default"}) > 0"#,
        within,
    );
    prometheus.until_data(
        r#"skiff_router_requests_total{route="ingress/default/web",code="200"}"#,
        within,
    );
    // Every query of the dashboard resolves against this live cluster.
    for (title, q) in dashboard_queries() {
        prometheus.until_data(&q, within);
        eprintln!("dashboard panel {title:?}: data");
    }
    load.join().unwrap();
    // `skiff top`: the same pods and nodes, read live from the agents.
    let top = |args: &[&str]| {
        let mut all = vec!["top"];
        all.extend_from_slice(args);
        let out = support::node::skiff(&server, &all);
        assert!(
            out.status.success(),
            "skiff {all:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let pods = top(&["pods", "-l", "app=web"]);
    assert_eq!(
        pods.lines().filter(|l| l.starts_with("web-")).count(),
        4,
        "{pods}"
    );
    assert!(pods.starts_with("NAME"), "{pods}");
    let nodes = top(&["nodes"]);
    for n in ["n1", "n2"] {
        let row = nodes
            .lines()
            .find(|l| l.starts_with(n))
            .unwrap_or_else(|| panic!("no {n} in\n{nodes}"));
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert!(cells[1].ends_with('m') && cells[3].ends_with("Mi"), "{row}");
        assert_ne!(cells[3], "0Mi", "an agent holds memory: {row}");
    }
}

/// `skiff events ARGS...`'s output, which must succeed.
fn events(server: &str, args: &[&str]) -> String {
    let mut all = vec!["events"];
    all.extend_from_slice(args);
    let out = support::node::skiff(server, &all);
    assert!(
        out.status.success(),
        "skiff {all:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Waits until `skiff events ARGS` shows a row with every one of `words`.
fn until_event(server: &str, args: &[&str], words: &[&str]) -> String {
    let mut last = String::new();
    let found = (0..150).any(|_| {
        last = events(server, args);
        let hit = last.lines().any(|l| words.iter().all(|w| l.contains(w)));
        if !hit {
            std::thread::sleep(Duration::from_millis(200));
        }
        hit
    });
    assert!(
        found,
        "no event with {words:?} in `skiff events {args:?}`:\n{last}"
    );
    last
}

#[test]
fn a_pods_life_is_told_in_events_from_scheduling_to_deletion() {
    let c = support::routing::Cluster::start(&["n1"], &[]);
    // Followed from the start, as `kubectl events -w` would be.
    let watch_out = c.dir.path().join("watch.txt");
    let mut watcher = support::pki::skiff()
        .args(["events", "-w", "--server", &c.server])
        .env("HOME", "/nonexistent")
        .stdout(std::fs::File::create(&watch_out).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    c.apply("web.yaml", &echo("web", "web", 1, ""));
    c.ready("web", 1);
    let pods = support::node::wait_for(&c.server, &["pods", "-l", "app=web"], |v| {
        v["items"].as_array().is_some_and(|i| i.len() == 1)
    });
    let pod = pods["items"][0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let about = format!("pod/{pod}");
    // The scheduler, then the node.
    until_event(
        &c.server,
        &["--for", &about],
        &[
            "Normal",
            "Scheduled",
            &format!("Successfully assigned default/{pod} to n1"),
        ],
    );
    for reason in ["Pulled", "Created", "Started"] {
        until_event(&c.server, &["--for", &about], &[reason, &about]);
    }
    // The controllers: the Deployment scaled its ReplicaSet, which created the pod.
    until_event(
        &c.server,
        &["--for", "deployment/web"],
        &["ScalingReplicaSet", "Scaled up replica set web-"],
    );
    until_event(
        &c.server,
        &[],
        &["SuccessfulCreate", &format!("Created pod: {pod}")],
    );
    // Deleted: the ReplicaSet says so, and the node stops it.
    let out = support::node::skiff(&c.server, &["scale", "deployment/web", "--replicas", "0"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    until_event(
        &c.server,
        &[],
        &["SuccessfulDelete", &format!("Deleted pod: {pod}")],
    );
    until_event(
        &c.server,
        &["--for", &about],
        &["Killing", "Stopping container echo"],
    );
    until_event(
        &c.server,
        &["--for", "deployment/web"],
        &["Scaled down replica set web-", "from 1 to 0"],
    );
    // Only warnings: none of these.
    let warnings = events(&c.server, &["--types", "Warning", "--for", &about]);
    assert!(!warnings.contains("Scheduled"), "{warnings}");
    // The watcher printed them as they happened.
    let _ = watcher.kill();
    let _ = watcher.wait();
    let watched = std::fs::read_to_string(&watch_out).unwrap();
    for reason in ["Scheduled", "Started", "SuccessfulDelete", "Killing"] {
        assert!(
            watched.contains(reason),
            "`skiff events -w` missed {reason}:\n{watched}"
        );
    }
}

/// Clients sending `path` to `host` through the router at `addr`, each as fast as its
/// answers come, until dropped.
struct Load {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    clients: Vec<std::thread::JoinHandle<usize>>,
}

impl Load {
    fn start(addr: &str, host: &str, path: &str, clients: usize) -> Load {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let clients = (0..clients)
            .map(|_| {
                let (addr, host, path, stop) = (
                    addr.to_owned(),
                    host.to_owned(),
                    path.to_owned(),
                    stop.clone(),
                );
                std::thread::spawn(move || {
                    let http = Http::new();
                    let mut ok = 0;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        if http.get(&addr, &host, &path).status == 200 {
                            ok += 1;
                        }
                    }
                    ok
                })
            })
            .collect();
        Load { stop, clients }
    }

    /// Stops the clients; how many requests were answered 200.
    fn stop(mut self) -> usize {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.clients.drain(..).map(|c| c.join().unwrap()).sum()
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The replicas a Deployment asks for now.
fn replicas(server: &str, name: &str) -> i64 {
    let out = support::node::skiff(server, &["get", "deployment", name, "-o", "json"]);
    let d: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    d["spec"]["replicas"].as_i64().unwrap_or(-1)
}

/// Waits (up to `within`) until `f` holds of deployment `name`'s replicas.
fn until_replicas(server: &str, name: &str, within: Duration, f: impl Fn(i64) -> bool) -> Duration {
    let start = std::time::Instant::now();
    let mut last = -1;
    while start.elapsed() < within {
        last = replicas(server, name);
        if f(last) {
            return start.elapsed();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("deployment/{name}: replicas not as wanted within {within:?} (last {last})");
}

#[test]
fn an_http_deployment_follows_its_concurrency_up_down_to_zero_and_wakes() {
    let c = support::routing::Cluster::start(&["n1"], &[]);
    let addr = ingress(&c.server, "n1");
    c.apply(
        "web.yaml",
        &format!(
            "{}apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: web}}
spec:
  hostnames: [web.example.com]
  rules: [{{backendRefs: [{{name: web, port: 80}}]}}]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: web
  annotations: {{autoscaling.knative.dev/window: 6s}}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: web}}
  minReplicas: 0
  maxReplicas: 8
  metrics:
  - type: Pods
    pods:
      metric: {{name: http_requests_in_flight}}
      target: {{type: AverageValue, averageValue: \"2\"}}
  behavior:
    scaleDown: {{stabilizationWindowSeconds: 0, policies: [{{type: Percent, value: 100, periodSeconds: 1}}]}}
",
            echo("web", "web", 1, "")
        ),
    );
    c.ready("web", 1);
    let http = Http::new();
    eventually("the route answers", || {
        http.get(&addr, "web.example.com", "/").status == 200
    });
    // 8 clients, each with one request in flight at a time: 4 pods at 2 each.
    let load = Load::start(&addr, "web.example.com", "/sleep?ms=100", 8);
    let up = until_replicas(&c.server, "web", Duration::from_secs(20), |r| r >= 4);
    c.ready("web", 4);
    eprintln!("8 clients: 4 replicas asked for within {up:?}");
    let hpa = support::node::wait_for(&c.server, &["hpa", "web"], |h| {
        h["status"]["desiredReplicas"].as_i64() >= Some(4)
    });
    let conditions = hpa["status"]["conditions"].to_string();
    assert!(conditions.contains("ValidMetricFound"), "{hpa:#}");
    assert!(load.stop() > 0);
    // Idle: down, then to zero after a window without requests.
    let down = until_replicas(&c.server, "web", Duration::from_secs(40), |r| r == 0);
    eprintln!("idle: zero replicas within {down:?}");
    until_event(
        &c.server,
        &["--for", "hpa/web"],
        &["SuccessfulRescale", "New size: 0"],
    );
    // The next request wakes it and is answered.
    let r = http.get(&addr, "web.example.com", "/woken");
    assert_eq!(
        (r.status, r.header("x-echo-name")),
        (200, "web"),
        "{}",
        r.text()
    );
    until_replicas(&c.server, "web", Duration::from_secs(10), |r| r >= 1);
}

#[test]
fn cpu_autoscaling_scales_a_busy_deployment_as_its_behavior_allows() {
    let c = support::routing::Cluster::start(&["n1"], &[]);
    let addr = ingress(&c.server, "n1");
    let requests = "        resources: {requests: {cpu: 100m}}\n";
    c.apply(
        "busy.yaml",
        &format!(
            "{}apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: busy}}
spec:
  hostnames: [busy.example.com]
  rules: [{{backendRefs: [{{name: busy, port: 80}}]}}]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {{name: busy}}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: busy}}
  minReplicas: 1
  maxReplicas: 3
  metrics:
  - type: Resource
    resource: {{name: cpu, target: {{type: Utilization, averageUtilization: 50}}}}
  behavior:
    scaleUp:
      policies: [{{type: Pods, value: 1, periodSeconds: 4}}]
",
            echo("busy", "busy", 1, requests)
        ),
    );
    c.ready("busy", 1);
    let http = Http::new();
    eventually("the route answers", || {
        http.get(&addr, "busy.example.com", "/").status == 200
    });
    // Two clients keep the pods burning CPU: far above 50 % of 100m.
    let load = Load::start(&addr, "busy.example.com", "/burn?ms=20", 2);
    // Far above target from the start, but one pod per 4 s at most: 1 → 2 → 3, never
    // straight from 1 to 3 (the rescale events say each step).
    until_replicas(&c.server, "busy", Duration::from_secs(40), |r| r == 3);
    let rescaled = until_event(&c.server, &["--for", "hpa/busy"], &["New size: 3"]);
    assert!(rescaled.contains("New size: 2"), "{rescaled}");
    let hpa = support::node::wait_for(&c.server, &["hpa", "busy"], |h| {
        h["status"]["currentMetrics"][0]["resource"]["current"]["averageUtilization"]
            .as_i64()
            .is_some_and(|u| u > 50)
    });
    // At the maximum, the HPA says so.
    support::node::wait_for(&c.server, &["hpa", "busy"], |h| {
        h["status"]["conditions"]
            .to_string()
            .contains("TooManyReplicas")
    });
    load.stop();
    let table = support::node::skiff(&c.server, &["get", "hpa"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("REFERENCE") && text.contains("Deployment/busy") && text.contains("cpu: "),
        "{text}\n{hpa:#}"
    );
}

#[test]
fn logs_of_a_deployment_or_selector_follow_every_replica_with_a_prefix() {
    let c = support::routing::Cluster::start(&["n1"], &[]);
    let wasm = support::node::guest("sleep.wasm");
    c.apply(
        "nap.yaml",
        &format!(
            "apiVersion: apps/v1
kind: Deployment
metadata: {{name: nap}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: nap}}}}
  template:
    metadata: {{labels: {{app: nap}}}}
    spec:
      runtimeClassName: wasm
      containers:
      - {{name: main, image: {}, args: ['3600']}}
",
            wasm.display()
        ),
    );
    let pods = support::node::wait_for(&c.server, &["pods", "-l", "app=nap"], |v| {
        v["items"]
            .as_array()
            .is_some_and(|i| i.len() == 2 && i.iter().all(|p| p["status"]["phase"] == "Running"))
    });
    let names: Vec<String> = pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<String> = names
        .iter()
        .map(|n| format!("[pod/{n}/main] sleeping 3600 s"))
        .collect();
    let lines = |args: &[&str]| -> Vec<String> {
        let mut found = Vec::new();
        for _ in 0..50 {
            found = support::node::logs(&c.server, args)
                .lines()
                .map(str::to_owned)
                .collect();
            found.sort();
            if found == expected {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        found
    };
    assert_eq!(lines(&["deploy/nap"]), expected);
    assert_eq!(lines(&["-l", "app=nap"]), expected);
    // Followed: both replicas' streams stay open.
    let out_path = c.dir.path().join("follow.txt");
    let mut follower = support::pki::skiff()
        .args(["logs", "deployment/nap", "-f", "--server", &c.server])
        .env("HOME", "/nonexistent")
        .stdout(std::fs::File::create(&out_path).unwrap())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    assert!(follower.try_wait().unwrap().is_none(), "-f ended by itself");
    let _ = follower.kill();
    let _ = follower.wait();
    let mut followed: Vec<String> = std::fs::read_to_string(&out_path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    followed.sort();
    assert_eq!(followed, expected);
    // Too many to follow: refused with the flag to raise the limit.
    let out = support::node::skiff(
        &c.server,
        &["logs", "-l", "app=nap", "-f", "--max-log-requests", "1"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--max-log-requests"));
}
