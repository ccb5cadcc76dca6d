//! What every benchmark does before it measures: find or build the `skiff` binary, wait
//! until a cluster elects a leader and acknowledges a write through every member, and
//! describe the machine.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::cluster::Cluster;
use crate::{System, Writer};

/// The flags every bench takes for the systems it starts.
#[derive(Debug, clap::Args)]
pub struct Systems {
    /// The `skiff` binary. Without it the bench runs `cargo build --release --bin skiff`
    /// in this workspace first and uses target/release/skiff.
    #[arg(long)]
    pub skiff: Option<PathBuf>,
    /// The `etcd` binary (3.4; Debian: `apt-get install etcd-server`).
    #[arg(long, default_value = "etcd")]
    pub etcd: PathBuf,
    /// Where the members' data directories go (a temporary directory inside it). Use a
    /// real disk: on tmpfs fsync is free.
    #[arg(long, default_value_os_t = std::env::temp_dir())]
    pub dir: PathBuf,
    /// Run etcd without TLS, as the benches did before 2026-12-07. By default etcd runs
    /// with mutual TLS on its client and peer links (certificates from the bench CA), as
    /// Skiff always does, so both sides pay for encryption.
    #[arg(long)]
    pub etcd_plaintext: bool,
}

impl Systems {
    /// Applies the flags that hold for the whole run (how etcd is started and dialled);
    /// call once, before starting anything.
    pub fn apply(&self) {
        crate::etcd::set_plaintext(self.etcd_plaintext);
    }

    /// How etcd's links are secured, for the run's header.
    pub fn etcd_security(&self) -> &'static str {
        if self.etcd_plaintext {
            "etcd in plaintext (--etcd-plaintext), Skiff with mutual TLS"
        } else {
            "mutual TLS on client and peer links for etcd and Skiff alike"
        }
    }
}

/// The 1, 5 and 15 minute load averages, to tell a quiet machine from a busy one.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "?".into(),
        |s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    )
}

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("benches/ is inside the workspace")
        .to_path_buf()
}

/// The skiff binary: `--skiff`, or a fresh `cargo build --release --bin skiff`.
pub fn skiff_binary(arg: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(p) = arg {
        if !p.is_file() {
            bail!("--skiff {}: no such file", p.display());
        }
        // Absolute, so commands run from other folders find it too.
        return p
            .canonicalize()
            .with_context(|| format!("--skiff {}", p.display()));
    }
    let ws = workspace();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("building skiff: cargo build --release --bin skiff (pass --skiff PATH to skip)");
    let status = Command::new(&cargo)
        .args(["build", "--release", "--bin", "skiff"])
        .current_dir(&ws)
        .status()
        .context("running cargo build --release --bin skiff")?;
    if !status.success() {
        bail!(
            "`cargo build --release --bin skiff` failed ({status}); fix the build, or pass --skiff PATH"
        );
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| ws.join("target"), PathBuf::from);
    let bin = target.join("release").join("skiff");
    if !bin.is_file() {
        bail!(
            "built skiff, but {} is missing; pass --skiff PATH",
            bin.display()
        );
    }
    Ok(bin)
}

/// The first line of `program args...`'s output, or why not.
pub fn first_line(program: &Path, args: &[&str], dir: Option<&Path>) -> String {
    let mut c = Command::new(program);
    c.args(args);
    if let Some(d) = dir {
        c.current_dir(d);
    }
    match c.output() {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_string(),
        Ok(o) => format!(
            "({}: {})",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => format!("(cannot run {}: {e})", program.display()),
    }
}

/// Waits for a leader, then checks that a write through every member is acknowledged
/// (retrying while there is no leader), failing with the write's error otherwise.
pub async fn wait_ready<S: System>(cluster: &mut Cluster) -> Result<()> {
    let start = Instant::now();
    let all: Vec<usize> = (0..cluster.api.len()).collect();
    let leader = loop {
        // A member that fails to start says why in its log.
        cluster.check_running()?;
        if let Ok(Some(l)) = S::leader(cluster, &all).await {
            break l;
        }
        if start.elapsed() > Duration::from_secs(30) {
            bail!(
                "{} elected no leader within 30 s; the members' logs:\n{}",
                S::NAME,
                cluster.logs()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for (i, addr) in cluster.api.clone().iter().enumerate() {
        let w = S::connect(addr).await?;
        loop {
            let name = format!("ready-{i}-{}", start.elapsed().as_micros());
            match tokio::time::timeout(Duration::from_secs(5), w.write(name)).await {
                Ok(Ok(())) => break,
                Ok(Err(s))
                    if s.code() == tonic::Code::Unavailable
                        && start.elapsed() < Duration::from_secs(30) => {}
                Ok(Err(s)) => bail!(
                    "a test write to {} member {} ({addr}) failed: {:?}: {}\nthe members' logs:\n{}",
                    S::NAME,
                    i + 1,
                    s.code(),
                    s.message(),
                    cluster.logs()
                ),
                Err(_) => bail!(
                    "a test write to {} member {} ({addr}) got no answer within 5 s",
                    S::NAME,
                    i + 1
                ),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    eprintln!(
        "{}: 3 members up, leader is member {}, test writes acknowledged ({:.1} s)",
        S::NAME,
        leader + 1,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
