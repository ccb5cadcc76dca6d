//! The harness the process tests share: real `skiff control` members on free loopback
//! ports, each killed by its PID when the harness is dropped, pass or fail (and their logs
//! printed when a test fails).

#![allow(dead_code)] // Each test file uses a different part.

pub mod containers;
pub mod http;
pub mod node;
pub mod pki;
pub mod prometheus;
pub mod registry;
pub mod routing;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use skiff_proto::grpc::api::object_service_client::ObjectServiceClient;

/// Kills the members when dropped, whatever the test's outcome.
pub struct Members {
    /// By member id − 1; `None` once killed.
    pub children: Vec<Option<Child>>,
    pub ports: Vec<u16>,
    pub cluster: String,
    pub dir: tempfile::TempDir,
}

impl Drop for Members {
    fn drop(&mut self) {
        for c in self.children.iter_mut().flatten() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Logs show when a test fails, or always with SKIFF_TEST_LOGS=1.
        if std::thread::panicking() || std::env::var_os("SKIFF_TEST_LOGS").is_some() {
            for id in 1..=self.ports.len() {
                let log = std::fs::read_to_string(self.dir.path().join(format!("m{id}.log")));
                eprintln!("--- member {id} log:\n{}", log.unwrap_or_default());
            }
        }
    }
}

/// A free port on 127.0.0.1 for a member or agent about to listen on it, outside the
/// range the kernel takes other sockets' ports from (see `unused_listener`).
pub fn free_port() -> u16 {
    skiff_benches::cluster::unused_port()
}

impl Members {
    pub fn start(n: usize) -> Self {
        Self::start_each(n, |_| Vec::new())
    }

    /// Founds a cluster of `n`, member `id` started with `extra(id)` flags too.
    pub fn start_each(n: usize, extra: impl Fn(u64) -> Vec<String>) -> Self {
        let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        Self::found(ports.clone(), &ports, extra)
    }

    /// Founds a cluster whose members reach each other at `fronts` (a proxy in front of
    /// each, say) rather than where they listen.
    pub fn start_behind(fronts: &[u16]) -> Self {
        let ports: Vec<u16> = fronts.iter().map(|_| free_port()).collect();
        Self::found(ports, fronts, |id| {
            vec![
                "--advertise".into(),
                format!("127.0.0.1:{}", fronts[id as usize - 1]),
            ]
        })
    }

    fn found(ports: Vec<u16>, reached: &[u16], extra: impl Fn(u64) -> Vec<String>) -> Self {
        let n = ports.len();
        let cluster = reached
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{}=127.0.0.1:{p}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let mut m = Members {
            children: Vec::new(),
            ports,
            cluster,
            dir: tempfile::TempDir::new().unwrap(),
        };
        for id in 1..=n as u64 {
            let mut flags = vec!["--initial-cluster".to_owned(), m.cluster.clone()];
            flags.extend(extra(id));
            let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
            let child = m.spawn_with(id, &flags);
            m.children.push(Some(child));
        }
        m
    }

    /// Starts founding member `id` (or restarts it on its data directory).
    pub fn spawn(&self, id: u64) -> Child {
        self.spawn_with(id, &["--initial-cluster", &self.cluster])
    }

    /// Starts a new member that joins through member `via`; returns its id.
    pub fn join(&mut self, via: u64) -> u64 {
        self.ports.push(free_port());
        let id = self.ports.len() as u64;
        let through = self.addr(via);
        let child = self.spawn_with(id, &["--join", &through]);
        self.children.push(Some(child));
        id
    }

    pub fn addr(&self, id: u64) -> String {
        format!("127.0.0.1:{}", self.ports[id as usize - 1])
    }

    /// Kills member `id` with SIGKILL.
    pub fn kill(&mut self, id: u64) {
        if let Some(mut c) = self.children[id as usize - 1].take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// The log member `id` wrote so far.
    pub fn log(&self, id: u64) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("m{id}.log"))).unwrap_or_default()
    }

    /// Starts member `id` with `extra` flags after its id, address and data directory.
    pub fn spawn_with(&self, id: u64, extra: &[&str]) -> Child {
        let mut all = extra.to_vec();
        let dir = pki::dir().to_str().unwrap();
        all.extend(["--pki", dir]);
        self.spawn_bare(id, &all)
    }

    /// Starts a new member that joins through member `via` with a join token (no CA is
    /// given to it); returns its id.
    pub fn join_with_token(&mut self, via: u64, token: &str) -> u64 {
        self.ports.push(free_port());
        let id = self.ports.len() as u64;
        let through = self.addr(via);
        let child = self.spawn_bare(id, &["--join", &through, "--join-token", token]);
        self.children.push(Some(child));
        id
    }

    /// Starts member `id` with exactly `extra` besides its id, address and data folder.
    fn spawn_bare(&self, id: u64, extra: &[&str]) -> Child {
        let port = self.ports[id as usize - 1];
        pki::skiff()
            .args([
                "control",
                "--id",
                &id.to_string(),
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .args(extra)
            .arg("--data-dir")
            .arg(self.dir.path().join(format!("m{id}")))
            .stdout(Stdio::null())
            .stderr(self.log_file(id))
            .spawn()
            .expect("start skiff control")
    }

    /// Each run of a member appends its log to `mID.log`, shown when a test fails.
    fn log_file(&self, id: u64) -> Stdio {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("m{id}.log")))
            .expect("open member log");
        Stdio::from(f)
    }

    /// `skiff members` as seen through member `via`: (id, role, applied) rows.
    pub fn table(&self, via: u64) -> Vec<(u64, String, Option<u64>)> {
        let out = pki::skiff()
            .args([
                "members",
                "--server",
                &format!("127.0.0.1:{}", self.ports[via as usize - 1]),
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .skip(1)
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                Some((
                    f.first()?.parse().ok()?,
                    f.get(2)?.to_string(),
                    f.get(4).and_then(|a| a.parse().ok()),
                ))
            })
            .collect()
    }

    /// Waits for exactly one leader as seen through `via`.
    pub fn leader(&self, via: u64) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let leaders: Vec<u64> = self
                .table(via)
                .into_iter()
                .filter(|(_, r, _)| r == "leader")
                .map(|(id, _, _)| id)
                .collect();
            if let [l] = leaders[..] {
                return l;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("no single leader within 20 s: {:?}", self.table(via));
    }
}

pub fn config_map(name: &str) -> Vec<u8> {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  k: v\n")
        .into_bytes()
}

/// A client of the member on `port`, waiting for it to listen.
pub async fn client(port: u16) -> ObjectServiceClient<tonic::transport::Channel> {
    let addr = format!("127.0.0.1:{port}");
    for _ in 0..100 {
        if let Ok(c) = pki::channel(&addr).await {
            return ObjectServiceClient::new(c);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no member listening on {addr}");
}
