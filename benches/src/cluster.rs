//! Three-member clusters as child processes on loopback: `skiff control` or `etcd`, each
//! member on free 127.0.0.1 ports with its own data directory in one temporary directory.
//! Every child is killed by PID (SIGKILL) when its [`Proc`] is dropped, whether the bench
//! passed or failed, and the temporary directory is removed after.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// One member process: how to (re)start it, where its output goes, and the running child.
pub struct Proc {
    pub name: String,
    program: PathBuf,
    args: Vec<String>,
    log: PathBuf,
    child: Option<Child>,
}

impl Proc {
    pub fn new(name: String, program: &Path, args: Vec<String>, log: PathBuf) -> Proc {
        Proc {
            name,
            program: program.to_path_buf(),
            args,
            log,
            child: None,
        }
    }

    /// Starts the process (again, after [`Proc::kill`]) with the same arguments; output is
    /// appended to its log file.
    pub fn start(&mut self) -> Result<()> {
        if self.child.is_some() {
            bail!("{} is already running", self.name);
        }
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        let err = out.try_clone().context("duplicating the log file handle")?;
        let child = Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("starting {} ({})", self.name, self.program.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// `kill -9` by PID, then reaps the child. Does nothing if it is not running.
    pub fn kill(&mut self) -> Result<()> {
        if let Some(mut c) = self.child.take() {
            // `Child::kill` sends SIGKILL to this PID on Unix.
            let _ = c.kill();
            c.wait()
                .with_context(|| format!("waiting for {} to exit", self.name))?;
        }
        Ok(())
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Fails, with the end of the log, if the process has exited.
    pub fn check_running(&mut self) -> Result<()> {
        let Some(c) = self.child.as_mut() else {
            bail!("{} is not running", self.name);
        };
        if let Some(status) = c.try_wait().context("polling a child")? {
            self.child = None;
            bail!(
                "{} exited ({status}); the end of its log {}:\n{}",
                self.name,
                self.log.display(),
                self.log_tail(2000)
            );
        }
        Ok(())
    }

    /// The last `max` bytes of the process's output.
    pub fn log_tail(&self, max: u64) -> String {
        let read = || -> std::io::Result<String> {
            let mut f = File::open(&self.log)?;
            let len = f.metadata()?.len();
            f.seek(SeekFrom::Start(len.saturating_sub(max)))?;
            let mut buf = Vec::new();
            f.read_to_end(&mut buf)?;
            Ok(String::from_utf8_lossy(&buf).into_owned())
        };
        read().unwrap_or_else(|e| format!("(cannot read {}: {e})", self.log.display()))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// The members of one system (three unless said). `api[i]` is member `i`'s client address (`127.0.0.1:PORT`).
pub struct Cluster {
    pub members: Vec<Proc>,
    pub api: Vec<String>,
    /// Declared last: dropped after every member is killed.
    dir: tempfile::TempDir,
}

/// etcd's flags for mutual TLS on client and peer links with the credentials in `pki`.
fn etcd_tls_flags(pki: &Path) -> Vec<String> {
    use skiff_pki::credentials::{CA_FILE, CERT_FILE, KEY_FILE};
    let file = |f: &str| pki.join(f).display().to_string();
    let mut flags = Vec::new();
    for side in ["", "peer-"] {
        flags.extend([
            format!("--{side}cert-file={}", file(CERT_FILE)),
            format!("--{side}key-file={}", file(KEY_FILE)),
            format!("--{side}trusted-ca-file={}", file(CA_FILE)),
            format!("--{side}client-cert-auth"),
        ]);
    }
    flags
}

/// `n` distinct free ports on 127.0.0.1 (held together while choosing, then released;
/// see [`unused_listener`]).
pub fn free_ports(n: usize) -> Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| unused_listener())
        .collect::<std::io::Result<Vec<_>>>()
        .context("finding free ports on 127.0.0.1")?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

/// A free port on 127.0.0.1 for a process about to be started on it (see
/// [`unused_listener`]).
pub fn unused_port() -> u16 {
    unused_listener()
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// A listener on a random free port of 127.0.0.1 below the kernel's ephemeral range: a
/// port that is released for another process to listen on is not taken meanwhile by
/// the kernel's choices for port 0 or for outgoing connections (a browser's, a
/// client's), which all come from that range. Random, so that tests running at once in
/// other processes seldom pick the same; a port in use is skipped.
pub fn unused_listener() -> std::io::Result<TcpListener> {
    let ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let low = ephemeral.saturating_sub(20_000).max(10_000);
    if low >= ephemeral {
        return TcpListener::bind("127.0.0.1:0");
    }
    // Not one this process gave out before (it may not be listened on yet).
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
    for _ in 0..1000 {
        let port = fastrand::u16(low..ephemeral);
        if given.contains(&port) {
            continue;
        }
        if let Ok(l) = TcpListener::bind(("127.0.0.1", port)) {
            given.push(port);
            return Ok(l);
        }
    }
    TcpListener::bind("127.0.0.1:0")
}

fn temp_dir(parent: &Path, prefix: &str) -> Result<tempfile::TempDir> {
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(parent)
        .with_context(|| format!("creating a temporary directory in {}", parent.display()))
}

impl Cluster {
    /// Starts `skiff control --id N ...` for N = 1, 2, 3 (the default 50 ms raft tick). The
    /// binary is copied into the temporary directory first, so a rebuild during the bench
    /// cannot change what a restarted member runs.
    pub fn skiff(bin: &Path, parent: &Path) -> Result<Cluster> {
        Cluster::skiff_members(bin, parent, 3)
    }

    /// [`Cluster::skiff`] with `n` members.
    pub fn skiff_members(bin: &Path, parent: &Path, n: usize) -> Result<Cluster> {
        Cluster::skiff_with(bin, parent, n, &[])
    }

    /// [`Cluster::skiff_members`], each member also given `extra` flags.
    pub fn skiff_with(bin: &Path, parent: &Path, n: usize, extra: &[&str]) -> Result<Cluster> {
        let dir = temp_dir(parent, "skiff-bench-skiff-")?;
        let copy = dir.path().join("skiff");
        std::fs::copy(bin, &copy)
            .with_context(|| format!("copying {} to {}", bin.display(), copy.display()))?;
        let bin = copy.as_path();
        let ports = free_ports(n)?;
        let api: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let initial = api
            .iter()
            .enumerate()
            .map(|(i, a)| format!("{}={a}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let mut members = Vec::new();
        for (i, addr) in api.iter().enumerate() {
            let id = i + 1;
            let mut args = vec![
                "control".to_string(),
                "--id".into(),
                id.to_string(),
                "--data-dir".into(),
                dir.path().join(format!("m{id}")).display().to_string(),
                "--listen".into(),
                addr.clone(),
                "--initial-cluster".into(),
                initial.clone(),
                "--pki".into(),
                crate::pki::dir()?.display().to_string(),
            ];
            args.extend(extra.iter().map(|s| s.to_string()));
            let log = dir.path().join(format!("m{id}.log"));
            members.push(Proc::new(format!("skiff member {id}"), bin, args, log));
        }
        let mut c = Cluster { members, api, dir };
        for m in &mut c.members {
            m.start()?;
        }
        Ok(c)
    }

    /// Starts `etcd --name nN ...` for N = 1, 2, 3 with etcd's defaults otherwise (fsync on,
    /// 100 ms heartbeat, 1 s election timeout, snapshot every 100,000 entries), with mutual
    /// TLS on client and peer links unless [`crate::etcd::plaintext`].
    pub fn etcd(bin: &Path, parent: &Path) -> Result<Cluster> {
        Self::etcd_timed(bin, parent, None)
    }

    /// As [`Cluster::etcd`]; with `election_ms`, that election timeout (and a heartbeat a
    /// fifth of it), to compare failovers with Skiff's timing.
    pub fn etcd_timed(bin: &Path, parent: &Path, election_ms: Option<u32>) -> Result<Cluster> {
        let dir = temp_dir(parent, "skiff-bench-etcd-")?;
        let ports = free_ports(6)?;
        let (client, peer) = ports.split_at(3);
        let api: Vec<String> = client.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let (scheme, tls) = if crate::etcd::plaintext() {
            ("http", Vec::new())
        } else {
            (
                "https",
                etcd_tls_flags(&crate::pki::etcd(&dir.path().join("pki"))?),
            )
        };
        let initial = peer
            .iter()
            .enumerate()
            .map(|(i, p)| format!("n{}={scheme}://127.0.0.1:{p}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let mut members = Vec::new();
        for i in 0..3 {
            let name = format!("n{}", i + 1);
            let client_url = format!("{scheme}://{}", api[i]);
            let peer_url = format!("{scheme}://127.0.0.1:{}", peer[i]);
            let mut args = vec![
                "--name".to_string(),
                name.clone(),
                "--data-dir".into(),
                dir.path().join(&name).display().to_string(),
                "--listen-client-urls".into(),
                client_url.clone(),
                "--advertise-client-urls".into(),
                client_url,
                "--listen-peer-urls".into(),
                peer_url.clone(),
                "--initial-advertise-peer-urls".into(),
                peer_url,
                "--initial-cluster".into(),
                initial.clone(),
                "--initial-cluster-state".into(),
                "new".into(),
                "--initial-cluster-token".into(),
                "skiff-bench".into(),
            ];
            args.extend(tls.iter().cloned());
            if let Some(ms) = election_ms {
                args.extend([
                    "--election-timeout".into(),
                    ms.to_string(),
                    "--heartbeat-interval".into(),
                    (ms / 5).to_string(),
                ]);
            }
            let log = dir.path().join(format!("{name}.log"));
            members.push(Proc::new(format!("etcd member {name}"), bin, args, log));
        }
        let mut c = Cluster { members, api, dir };
        for m in &mut c.members {
            m.start()?;
        }
        Ok(c)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Fails, with the end of the member's log, if any member has exited.
    pub fn check_running(&mut self) -> Result<()> {
        for m in &mut self.members {
            m.check_running()?;
        }
        Ok(())
    }

    /// CPU time (user + system) the running members have used since they started.
    pub fn cpu_time(&self) -> Duration {
        self.members
            .iter()
            .filter_map(|m| m.pid())
            .filter_map(process_cpu_time)
            .sum()
    }

    /// The end of every member's log, for error messages.
    pub fn logs(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("--- {} ---\n{}", m.name, m.log_tail(1500)))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// User + system CPU time of process `pid`, from /proc/PID/stat.
pub fn process_cpu_time(pid: u32) -> Option<Duration> {
    stat_cpu_times(pid).map(|(own, _)| own)
}

/// Process `pid`'s own user + system CPU time, and that of its children that ended and
/// were waited for (`cutime` + `cstime`), from /proc/PID/stat.
fn stat_cpu_times(pid: u32) -> Option<(Duration, Duration)> {
    static TICKS: OnceLock<f64> = OnceLock::new();
    let ticks = *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    });
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces): state is field 3, utime 14,
    // stime 15, cutime 16, cstime 17.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok());
    let own = field(11)? + field(12)?;
    let children = field(13)? + field(14)?;
    Some((
        Duration::from_secs_f64(own / ticks),
        Duration::from_secs_f64(children / ticks),
    ))
}

/// User + system CPU time of the processes in process group `group`, with that of the
/// children they waited for (a browser's renderers that came and went, say).
pub fn group_cpu_time(group: u32) -> Duration {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Duration::ZERO;
    };
    procs
        .flatten()
        .filter_map(|p| p.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            // After the command name: state, ppid, pgrp.
            let rest = stat.rfind(')').map_or("", |i| &stat[i + 1..]);
            rest.split_whitespace().nth(2) == Some(group.to_string().as_str())
        })
        .filter_map(stat_cpu_times)
        .map(|(own, children)| own + children)
        .sum()
}

/// Time process `pid`'s threads have spent on a CPU, from each thread's
/// `/proc/PID/task/TID/schedstat` (nanoseconds, unlike `stat`'s clock ticks). Threads that
/// ended are not counted.
pub fn process_on_cpu(pid: u32) -> Option<Duration> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let ns: u64 = tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Some(Duration::from_nanos(ns))
}

/// The filesystem type holding `path` (from /proc/mounts), to warn when it is a tmpfs on
/// which fsync costs nothing.
pub fn filesystem_type(path: &Path) -> Option<String> {
    let path = path.canonicalize().ok()?;
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let _dev = f.next()?;
            let mount = f.next()?;
            let kind = f.next()?;
            path.starts_with(mount)
                .then(|| (mount.len(), kind.to_string()))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, kind)| kind)
}
