//! Progressive delivery: a Canary Deployment behind an HTTPRoute. A new revision that
//! answers 500 to a fifth of its requests is rolled back by the analysis (with a Warning
//! event); a healthy one walks every step, waits at an open pause, and is promoted.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::{Load, until_event};
use crate::support::http::Http;
use crate::support::node::{guest, ingress, skiff, wait_for};
use crate::support::routing::{Cluster, eventually};

/// The Deployment `web` (4 replicas of echo, `ECHO_NAME=version`) with a canary strategy
/// of `steps`, failing `fail` percent of its echo requests.
fn web(version: &str, fail: u32, steps: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: 4
  selector: {{matchLabels: {{app: web}}}}
  strategy:
    type: Canary
    canary:
      stableService: web-stable
      canaryService: web-canary
      httpRoute: web
      steps: {steps}
      analysis: {{minSuccessPercent: 95, intervalSeconds: 2, minRequests: 20}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      runtimeClassName: wasm
      containers:
      - name: echo
        image: {}
        ports: [{{containerPort: 8080}}]
        env: [{{name: ECHO_NAME, value: {version}}}, {{name: ECHO_FAIL_PERCENT, value: \"{fail}\"}}]
",
        guest("echo.wasm").display()
    )
}

/// Two Services for the two revisions, and the route over both.
const ROUTING: &str = "apiVersion: v1
kind: Service
metadata: {name: web-stable}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web-canary}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web}
spec:
  hostnames: [web.example.com]
  rules:
  - backendRefs: [{name: web-stable, port: 80}, {name: web-canary, port: 80}]
";

/// A cluster serving `web` v1, settled: all traffic to the stable revision.
fn serving(steps: &str) -> (Cluster, String) {
    let c = Cluster::start(&["n1"], &[]);
    let addr = ingress(&c.server, "n1");
    c.apply("routing.yaml", ROUTING);
    c.apply("web.yaml", &web("v1", 0, steps));
    c.ready("web-stable", 4);
    canary(&c.server, |s| s["phase"] == "Healthy");
    let http = Http::new();
    eventually("the route answers v1", || {
        let r = http.get(&addr, "web.example.com", "/");
        r.status == 200 && r.header("x-echo-name") == "v1"
    });
    (c, addr)
}

/// Waits until the Deployment's canary status satisfies `f`.
fn canary(server: &str, f: impl Fn(&Value) -> bool) -> Value {
    wait_for(server, &["deployment", "web"], |d| {
        f(&d["status"]["canary"])
    })["status"]["canary"]
        .clone()
}

/// The route's weights, by backend.
fn weights(server: &str) -> BTreeMap<String, i64> {
    let r = wait_for(server, &["httproute", "web"], |_| true);
    r["spec"]["rules"][0]["backendRefs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| {
            (
                b["name"].as_str().unwrap_or("").to_owned(),
                b["weight"].as_i64().unwrap_or(1),
            )
        })
        .collect()
}

/// Who answered `n` requests, by `x-echo-name`, and how many failed.
fn answers(addr: &str, n: usize) -> (BTreeMap<String, usize>, usize) {
    let http = Http::new();
    let mut by = BTreeMap::new();
    let mut failed = 0;
    for _ in 0..n {
        let r = http.get(addr, "web.example.com", "/");
        if r.status == 200 {
            *by.entry(r.header("x-echo-name").to_owned()).or_insert(0) += 1;
        } else {
            failed += 1;
        }
    }
    (by, failed)
}

#[test]
fn a_canary_failing_a_fifth_of_its_requests_is_rolled_back_with_a_warning() {
    let (c, addr) = serving("[{setWeight: 25}, {pause: {duration: 1h}}]");
    let load = Load::start(&addr, "web.example.com", "/", 4);
    c.apply(
        "web.yaml",
        &web("v2", 20, "[{setWeight: 25}, {pause: {duration: 1h}}]"),
    );
    // The canary gets its share, then fails its analysis.
    canary(&c.server, |s| s["weight"] == 25 || s["phase"] == "Aborted");
    let s = canary(&c.server, |s| s["phase"] == "Aborted");
    let why = s["message"].as_str().unwrap_or("").to_owned();
    assert!(
        why.contains("canary analysis failed") && why.contains("below the minimum success rate"),
        "{s:#}"
    );
    load.stop();
    let events = until_event(
        &c.server,
        &["--for", "deployment/web", "--types", "Warning"],
        &["RolloutAborted"],
    );
    assert!(events.contains("requests succeeded"), "{events}");
    // Everything back on v1: the route, the replicas, the answers.
    let w = weights(&c.server);
    assert_eq!((w["web-stable"], w["web-canary"]), (100, 0), "{w:?}");
    wait_for(&c.server, &["deployment", "web"], |d| {
        d["status"]["replicas"] == 4 && d["status"]["updatedReplicas"] == 0
    });
    let (by, failed) = answers(&addr, 100);
    assert_eq!((by.get("v1"), failed), (Some(&100), 0), "{by:?}");
    // `rollout status` says so, and fails.
    let out = skiff(&c.server, &["rollout", "status", "deployment/web"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("aborted"), "{err}");
    let d = wait_for(&c.server, &["deployment", "web"], |_| true);
    let progressing = d["status"]["conditions"].to_string();
    assert!(progressing.contains("RolloutAborted"), "{d:#}");
}

#[test]
fn a_healthy_canary_walks_every_step_and_is_promoted() {
    let steps = "[{setWeight: 25}, {pause: {duration: 2s}}, {setWeight: 50}, {pause: {}}]";
    let (c, addr) = serving(steps);
    let load = Load::start(&addr, "web.example.com", "/", 2);
    c.apply("web.yaml", &web("v2", 0, steps));
    // Through the timed pause to the open one, at half the traffic.
    let s = canary(&c.server, |s| {
        s["phase"] == "Paused" && s["currentStep"] == 3
    });
    assert_eq!(s["weight"], 50, "{s:#}");
    let w = weights(&c.server);
    assert_eq!((w["web-stable"], w["web-canary"]), (50, 50), "{w:?}");
    let (by, failed) = answers(&addr, 200);
    assert_eq!(failed, 0, "{by:?}");
    assert!(
        by.get("v1") > Some(&40) && by.get("v2") > Some(&40),
        "{by:?}"
    );
    let out = skiff(
        &c.server,
        &["rollout", "status", "deployment/web", "--timeout", "1"],
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("step 4/4 (pause until promoted)"), "{said}");
    assert!(said.contains("canary weight 50%"), "{said}");
    // An open pause waits for `promote`.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(canary(&c.server, |_| true)["currentStep"], 3);
    let out = skiff(&c.server, &["rollout", "promote", "deployment/web"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = canary(&c.server, |s| s["phase"] == "Healthy");
    assert!(s["canaryHash"].is_null(), "{s:#}");
    assert!(load.stop() > 0);
    let out = skiff(
        &c.server,
        &["rollout", "status", "deployment/web", "--timeout", "30"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (by, failed) = answers(&addr, 100);
    assert_eq!((by.get("v2"), failed), (Some(&100), 0), "{by:?}");
    until_event(
        &c.server,
        &["--for", "deployment/web"],
        &["RolloutCompleted"],
    );
    // Nothing to promote or abort any more.
    let out = skiff(&c.server, &["rollout", "abort", "deployment/web"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("no canary is under way"),
        "{err}"
    );
}
