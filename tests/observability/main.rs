//! Observability and autoscaling end to end, one test binary:
//! - `prometheus`: a real Prometheus scrapes a 3-member, 2-node cluster at the members' and
//!   agents' `--metrics-addr`, and every query of the Grafana dashboard in
//!   `examples/observability` returns data; `skiff top`;
//! - `events`: a pod's life told in events, `skiff events -w`;
//! - `autoscaling`: HPAs on concurrency (to zero and woken) and CPU with `behavior`;
//! - `canary`: a canary Deployment rolled back on its error rate, and one promoted;
//! - `logs`: `skiff logs` of a workload or a selector.

mod autoscaling;
mod canary;
mod events;
mod logs;
mod prometheus;
#[path = "../support/mod.rs"]
mod support;

use std::time::Duration;

use serde_json::Value;
use support::http::Http;

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
