//! A real `skiff node` agent for the process tests, killed by its PID when dropped (its
//! log printed when the test failed), and the client verbs the tests drive it with.

use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

/// The agent process, killed (by its PID) when dropped.
pub struct Agent {
    pub child: Option<Child>,
    pub log: PathBuf,
}

impl Agent {
    pub fn start(control: &str, data: &Path, log: &Path) -> Agent {
        Self::named("n1", control, data, log)
    }

    /// An agent for the node `name`.
    pub fn named(name: &str, control: &str, data: &Path, log: &Path) -> Agent {
        Self::with_args(name, control, data, log, &[])
    }

    /// An agent for the node `name`, with more flags.
    pub fn with_args(name: &str, control: &str, data: &Path, log: &Path, extra: &[&str]) -> Agent {
        let creds = super::pki::node(name, &data.with_extension(format!("{name}.creds")));
        let auth = ["--credentials".into(), creds.into_os_string()];
        Self::spawn(name, control, data, log, &auth, extra)
    }

    /// An agent for the node `name` that joins with a join token (no credentials given).
    pub fn joining(name: &str, control: &str, data: &Path, log: &Path, token: &str) -> Agent {
        let auth = ["--join-token".into(), token.into()];
        Self::spawn(name, control, data, log, &auth, &[])
    }

    fn spawn(
        name: &str,
        control: &str,
        data: &Path,
        log: &Path,
        auth: &[std::ffi::OsString],
        extra: &[&str],
    ) -> Agent {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let child = super::pki::skiff()
            .args(["node", "--name", name, "--control", control])
            .args(auth)
            .args(["--heartbeat-seconds", "1", "--backoff-seconds", "1"])
            .args(["--listen", "127.0.0.1:0", "--usage-seconds", "1"])
            .args([
                "--ingress-addr",
                "127.0.0.1:0",
                "--peer-listen",
                "127.0.0.1:0",
            ])
            .args(extra)
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

    pub fn stop(&mut self) {
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

pub fn skiff(server: &str, args: &[&str]) -> Output {
    super::pki::skiff()
        .args(args)
        .env("SKIFF_SERVER", server)
        .env("HOME", "/nonexistent")
        .output()
        .unwrap()
}

/// `skiff get KIND NAME -o json`, once it exists and `ready` says so (within 30 s).
pub fn wait_for(
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

/// `skiff logs ARGS...`'s output, which must succeed.
pub fn logs(server: &str, args: &[&str]) -> String {
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
pub fn logs_error(server: &str, args: &[&str]) -> String {
    let mut all = vec!["logs"];
    all.extend_from_slice(args);
    let out = skiff(server, &all);
    assert_eq!(out.status.code(), Some(1), "skiff {all:?} should fail");
    String::from_utf8(out.stderr).unwrap()
}

pub fn guest(file: &str) -> PathBuf {
    std::env::var_os("SKIFF_GUESTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/target/wasm32-wasip2/release")
        })
        .join(file)
}

/// A plain HTTP/1.1 GET: (status, body).
pub fn get(addr: &str, path: &str) -> (u16, String) {
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

/// One control-plane member and the agent `n1`, in a temporary folder; the agent is
/// killed first when dropped, then the member.
pub struct NodeCluster {
    pub agent: Agent,
    pub members: super::Members,
    /// The member's API address.
    pub server: String,
    pub dir: tempfile::TempDir,
}

impl NodeCluster {
    pub fn start() -> NodeCluster {
        let members = super::Members::start(1);
        members.leader(1);
        let server = members.addr(1);
        let dir = tempfile::tempdir().unwrap();
        let agent = Agent::start(
            &server,
            &dir.path().join("node"),
            &dir.path().join("agent.log"),
        );
        NodeCluster {
            agent,
            members,
            server,
            dir,
        }
    }
}

/// Where node `name`'s router listens, once the node reports it.
pub fn ingress(server: &str, name: &str) -> String {
    let n = wait_for(server, &["node", name], |n| {
        n["status"]["daemonEndpoints"]["routerEndpoint"]["port"].is_u64()
    });
    format!(
        "127.0.0.1:{}",
        n["status"]["daemonEndpoints"]["routerEndpoint"]["port"]
    )
}

/// Writes `manifests` to `path` and `skiff apply`s it, which must succeed.
pub fn apply(server: &str, path: &Path, manifests: &str) {
    std::fs::write(path, manifests).unwrap();
    let out = skiff(server, &["apply", "-f", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
