//! `skiff logs` of a workload or a label selector.

use std::time::Duration;

use crate::support;

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
