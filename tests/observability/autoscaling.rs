//! HPAs: concurrency with scale to zero and wake, CPU with behavior.

use std::time::Duration;

use super::{Load, until_event, until_replicas};
use crate::support;
use crate::support::http::Http;
use crate::support::node::ingress;
use crate::support::routing::{echo, eventually};

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
