//! The container tests' harness: a network namespace of the test's own (this test
//! thread's; every process it starts lives in it, so the node's bridge and the pods'
//! addresses never touch the machine's network), a registry with the busybox image, a
//! control-plane member and node agents running real runc; and a sweep, pass or fail, of
//! every process, mount, cgroup and namespace the agents made.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::node::{Agent, wait_for};
use super::registry::{Registry, push_busybox};

/// Moves this thread (and every process it starts from now on) into a new network
/// namespace with its loopback up. The namespace goes when its last process does.
pub fn isolate_network() {
    // SAFETY: only the network namespace is unshared, and only for this thread, which
    // runs the whole test.
    unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNET) }
        .expect("unshare(CLONE_NEWNET): the container tests run as root (cargo xtask test)");
    let up = Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status()
        .expect("ip (Debian package iproute2)");
    assert!(up.success(), "ip link set lo up");
}

/// A cluster for containers: one member, the registry, and agents.
pub struct ContainerCluster {
    pub agents: Vec<Agent>,
    pub members: super::Members,
    pub server: String,
    pub registry: Registry,
    /// `REGISTRY/busybox:1` (with `httpd` and every other applet).
    pub busybox: String,
    pub dir: tempfile::TempDir,
}

impl ContainerCluster {
    /// Nodes `names`, each with its own bridge, in this thread's network namespace
    /// (which this makes).
    pub fn start(names: &[&str]) -> ContainerCluster {
        isolate_network();
        let registry = Registry::start();
        let busybox = format!("{}/skiff/busybox:1", registry.addr);
        push_busybox(&registry.addr, &busybox, Some(&["sh"]), "amd64");
        let members = super::Members::start(1);
        members.leader(1);
        let server = members.addr(1);
        let dir = tempfile::tempdir().unwrap();
        let mut c = ContainerCluster {
            agents: Vec::new(),
            members,
            server,
            registry,
            busybox,
            dir,
        };
        for (i, name) in names.iter().enumerate() {
            let agent = c.agent(name, i);
            c.agents.push(agent);
            wait_for(&c.server, &["node", name], |n| {
                n["spec"]["podCIDR"].is_string()
            });
        }
        c
    }

    /// The data folder of node `name`.
    pub fn data(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Starts (or restarts) the agent of node `name`, the `i`th.
    pub fn agent(&self, name: &str, i: usize) -> Agent {
        Agent::with_args(
            name,
            &self.server,
            &self.data(name),
            &self.dir.path().join(format!("{name}.log")),
            &["--bridge", &format!("skiffbr{i}"), "--pod-pids-limit", "64"],
        )
    }
}

impl Drop for ContainerCluster {
    fn drop(&mut self) {
        for a in &mut self.agents {
            a.stop();
        }
        sweep(self.dir.path());
    }
}

/// Everything under `dir` the agents made: shims and their containers, mounts, pod
/// cgroups, pinned namespaces. Returns what it had to remove (empty: nothing was left).
pub fn sweep(dir: &Path) -> Vec<String> {
    let mut left = Vec::new();
    let dir_text = dir.display().to_string();
    // Shims and anything else working in the folder or started with it on its command
    // line.
    for pid in processes_of(&dir_text) {
        left.push(format!("process {pid}"));
        if let Some(p) = rustix::process::Pid::from_raw(pid as i32) {
            let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
        }
    }
    for runc_root in glob_dirs(dir, "containers/runc") {
        let list = Command::new("runc")
            .arg("--root")
            .arg(&runc_root)
            .args(["list", "-q"])
            .output();
        if let Ok(out) = list {
            for id in String::from_utf8_lossy(&out.stdout).lines() {
                left.push(format!("container {id}"));
                let _ = Command::new("runc")
                    .arg("--root")
                    .arg(&runc_root)
                    .args(["delete", "--force", id])
                    .status();
            }
        }
    }
    let mut mounts = mounts_under(&dir_text);
    mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in mounts {
        left.push(format!("mount {m}"));
        let _ = rustix::mount::unmount(m.as_str(), rustix::mount::UnmountFlags::DETACH);
    }
    for uid in pod_uids(dir) {
        for cg in pod_cgroups(&uid) {
            left.push(format!("cgroup {}", cg.display()));
            remove_cgroup(&cg);
        }
    }
    // runc's parent folder for every pod, once no test's pods are left in it (another
    // test's agent may still use it: then it stays, and that test removes it).
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        let _ = std::fs::remove_dir(hierarchy.path().join("skiff"));
    }
    let _ = std::fs::remove_dir("/sys/fs/cgroup/skiff");
    left
}

/// The pod folders the agents under `dir` made.
fn pod_uids(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for node in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let pods = node.path().join("containers/pods");
        for p in std::fs::read_dir(pods).into_iter().flatten().flatten() {
            out.push(p.file_name().to_string_lossy().into_owned());
        }
    }
    out
}

fn glob_dirs(dir: &Path, rel: &str) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join(rel))
        .filter(|p| p.is_dir())
        .collect()
}

/// Pids whose command line mentions `text` or whose working folder is under it (a shim
/// works in its run's folder).
pub fn processes_of(text: &str) -> Vec<u32> {
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            let named = std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(text));
            let inside =
                std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|d| d.starts_with(text));
            named || inside
        })
        .collect()
}

/// Mount points at or under `prefix`.
pub fn mounts_under(prefix: &str) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

/// The cgroup folders of pod `uid` that exist (v1: in any hierarchy; v2: unified).
pub fn pod_cgroups(uid: &str) -> Vec<PathBuf> {
    let rel = format!("skiff/pod{uid}");
    let mut out = Vec::new();
    let root = Path::new("/sys/fs/cgroup");
    if root.join("cgroup.controllers").is_file() {
        out.push(root.join(&rel));
    } else {
        for e in std::fs::read_dir(root).into_iter().flatten().flatten() {
            out.push(e.path().join(&rel));
        }
    }
    out.retain(|p| p.is_dir());
    out
}

fn remove_cgroup(dir: &Path) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            remove_cgroup(&e.path());
        }
    }
    let _ = std::fs::remove_dir(dir);
}

/// Links (network interfaces) in this thread's namespace whose name starts with `prefix`.
pub fn links(prefix: &str) -> Vec<String> {
    let out = Command::new("ip")
        .args(["-o", "link", "show"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_owned())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

/// Waits up to `within` for `f`.
pub fn eventually(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !f() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
