//! The routing tests' harness: a member and node agents, the echo guest's Deployment and
//! Service, and small waits.

use std::time::{Duration, Instant};

use super::node::{Agent, apply, guest, wait_for};

/// A member and agents, in a temporary folder.
pub struct Cluster {
    _agents: Vec<Agent>,
    _members: super::Members,
    pub server: String,
    pub dir: tempfile::TempDir,
}

impl Cluster {
    pub fn start(nodes: &[&str], extra: &[&str]) -> Cluster {
        let members = super::Members::start(1);
        members.leader(1);
        let server = members.addr(1);
        let dir = tempfile::tempdir().unwrap();
        let agents = nodes
            .iter()
            .map(|n| {
                let d = dir.path();
                Agent::with_args(n, &server, &d.join(n), &d.join(format!("{n}.log")), extra)
            })
            .collect();
        Cluster {
            _agents: agents,
            _members: members,
            server,
            dir,
        }
    }

    /// The member's audit log.
    pub fn audit_log(&self) -> std::path::PathBuf {
        self._members.dir.path().join("m1/audit.log")
    }

    pub fn apply(&self, name: &str, manifests: &str) {
        apply(&self.server, &self.dir.path().join(name), manifests);
    }

    /// Waits until Endpoints `name` has `n` ready addresses.
    pub fn ready(&self, name: &str, n: usize) {
        wait_for(&self.server, &["endpoints", name], |e| {
            let ready: usize = e["subsets"]
                .as_array()
                .map(|ss| {
                    ss.iter()
                        .map(|s| s["addresses"].as_array().map_or(0, Vec::len))
                        .sum()
                })
                .unwrap_or(0);
            ready == n
        });
    }
}

/// A Deployment of the echo guest answering with `ECHO_NAME=name`, labelled `app`, and
/// a Service `name` (port 80) in front of it; `extra` is added to the pod spec.
pub fn echo(name: &str, app: &str, replicas: u32, extra: &str) -> String {
    let wasm = guest("echo.wasm");
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {app}, name: {name}}}}}
  template:
    metadata: {{labels: {{app: {app}, name: {name}}}}}
    spec:
      runtimeClassName: wasm
      containers:
      - name: echo
        image: {}
        ports: [{{containerPort: 8080}}]
        env: [{{name: ECHO_NAME, value: {name}}}]
{extra}---
apiVersion: v1
kind: Service
metadata: {{name: {name}}}
spec:
  selector: {{name: {name}}}
  ports: [{{port: 80, targetPort: 8080}}]
---
",
        wasm.display()
    )
}

/// Sends a request head (no body) and reads the status the router answers with.
pub fn head_only(addr: &str, head: &str) -> u16 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).unwrap();
    let line = String::from_utf8_lossy(&buf[..n]).into_owned();
    line.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {line:?}"))
}

/// Retries `f` until it holds (within 30 s).
pub fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what}: not within 30 s");
}
