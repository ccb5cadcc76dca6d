//! A real Prometheus scrapes members and agents; the dashboard's queries resolve.

use std::time::Duration;

use serde_json::Value;

use crate::support::http::Http;
use crate::support::node::{Agent, ingress};
use crate::support::prometheus::Prometheus;
use crate::support::routing::{echo, eventually};
use crate::support::{self, Members, free_port};

const DASHBOARD: &str = include_str!("../../examples/observability/grafana-dashboard.json");

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
