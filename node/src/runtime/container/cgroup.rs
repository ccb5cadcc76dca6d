//! Containers' cgroups, as runc makes them from the bundle's `linux.cgroupsPath`
//! (`/skiff/pod<uid>/<container>`, one folder per pod so its containers can be read and
//! removed together), on cgroup v2 (unified) and v1 (one hierarchy per controller; these
//! development machines run v1 beside an empty v2 hierarchy: "hybrid").
//!
//! Read here: CPU time, memory now and at most, and the OOM killer's count (for
//! `OOMKilled`); removed here: a pod's folders once its containers are gone.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The machine's cgroup layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cgroups {
    /// The unified hierarchy at `root` (`/sys/fs/cgroup`).
    V2 { root: PathBuf },
    /// One hierarchy per controller under `root` (`/sys/fs/cgroup/<controller>`).
    V1 { root: PathBuf },
}

/// What a cgroup has used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CgroupUsage {
    pub cpu: Duration,
    pub memory_bytes: u64,
    pub peak_memory_bytes: u64,
}

fn read(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok()
}

fn number(path: &Path) -> Option<u64> {
    read(path)?.trim().parse().ok()
}

/// The value of `key` in a flat-keyed file (`key value` per line).
fn keyed(path: &Path, key: &str) -> Option<u64> {
    read(path)?
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}

impl Cgroups {
    /// The layout of this machine, as runc decides it: v2 when `/sys/fs/cgroup` is the
    /// unified hierarchy.
    pub fn detect() -> Cgroups {
        let root = PathBuf::from("/sys/fs/cgroup");
        if root.join("cgroup.controllers").is_file() {
            Cgroups::V2 { root }
        } else {
            Cgroups::V1 { root }
        }
    }

    /// The cgroup of a pod.
    pub fn pod(uid: &str) -> String {
        format!("/skiff/pod{uid}")
    }

    /// The cgroup of a container of a pod (the bundle's `cgroupsPath`).
    pub fn container(uid: &str, container: &str) -> String {
        format!("{}/{container}", Cgroups::pod(uid))
    }

    fn at(&self, controller: &str, cgroup: &str) -> PathBuf {
        let rel = cgroup.trim_start_matches('/');
        match self {
            Cgroups::V2 { root } => root.join(rel),
            Cgroups::V1 { root } => root.join(controller).join(rel),
        }
    }

    /// What `cgroup` (and everything under it) has used; `None` when it does not exist.
    pub fn usage(&self, cgroup: &str) -> Option<CgroupUsage> {
        match self {
            Cgroups::V2 { .. } => {
                let dir = self.at("", cgroup);
                let cpu = keyed(&dir.join("cpu.stat"), "usage_usec")?;
                let memory = number(&dir.join("memory.current")).unwrap_or(0);
                Some(CgroupUsage {
                    cpu: Duration::from_micros(cpu),
                    memory_bytes: memory,
                    // memory.peak is there from Linux 5.19.
                    peak_memory_bytes: number(&dir.join("memory.peak")).unwrap_or(memory),
                })
            }
            Cgroups::V1 { .. } => {
                let cpu = number(&self.at("cpuacct", cgroup).join("cpuacct.usage"))?;
                let mem = self.at("memory", cgroup);
                Some(CgroupUsage {
                    cpu: Duration::from_nanos(cpu),
                    memory_bytes: number(&mem.join("memory.usage_in_bytes")).unwrap_or(0),
                    peak_memory_bytes: number(&mem.join("memory.max_usage_in_bytes")).unwrap_or(0),
                })
            }
        }
    }

    /// How many times the OOM killer killed a process of `cgroup`.
    pub fn oom_kills(&self, cgroup: &str) -> u64 {
        match self {
            Cgroups::V2 { .. } => {
                keyed(&self.at("", cgroup).join("memory.events"), "oom_kill").unwrap_or(0)
            }
            Cgroups::V1 { .. } => keyed(
                &self.at("memory", cgroup).join("memory.oom_control"),
                "oom_kill",
            )
            .unwrap_or(0),
        }
    }

    /// Every folder of `cgroup` (v1: in each hierarchy), whether it exists.
    fn folders(&self, cgroup: &str) -> Vec<PathBuf> {
        match self {
            Cgroups::V2 { .. } => vec![self.at("", cgroup)],
            // Every hierarchy mounted (runc makes the folder in each, the empty v2 one of
            // a hybrid machine included); links such as `cpu` -> `cpu,cpuacct` are
            // skipped, their target is listed.
            Cgroups::V1 { root } => std::fs::read_dir(root)
                .into_iter()
                .flatten()
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .filter_map(|e| e.file_name().to_str().map(|c| self.at(c, cgroup)))
                .collect(),
        }
    }

    /// Removes `cgroup` and the empty folders under it, deepest first. Folders that still
    /// hold processes stay (and are named in the error).
    pub fn remove(&self, cgroup: &str) -> Result<(), String> {
        let mut stuck = Vec::new();
        for dir in self.folders(cgroup) {
            remove_tree(&dir, &mut stuck);
        }
        if stuck.is_empty() {
            Ok(())
        } else {
            Err(format!("cgroup folders still in use: {}", stuck.join(", ")))
        }
    }
}

/// rmdir `dir` after its subfolders (cgroup folders hold only pseudo-files, which rmdir
/// takes along).
fn remove_tree(dir: &Path, stuck: &mut Vec<String>) {
    if !dir.is_dir() {
        return;
    }
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            remove_tree(&e.path(), stuck);
        }
    }
    if let Err(e) = fs::remove_dir(dir)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        stuck.push(format!("{} ({e})", dir.display()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_and_v2_files_are_read_as_the_kernel_writes_them() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_owned();
        let v2 = Cgroups::V2 { root: root.clone() };
        let cg = Cgroups::container("u1", "web");
        let d = v2.at("", &cg);
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("cpu.stat"), "usage_usec 2500000\nuser_usec 1\n").unwrap();
        fs::write(d.join("memory.current"), "4096\n").unwrap();
        fs::write(d.join("memory.events"), "low 0\noom 2\noom_kill 1\n").unwrap();
        assert_eq!(
            v2.usage(&cg),
            Some(CgroupUsage {
                cpu: Duration::from_millis(2500),
                memory_bytes: 4096,
                peak_memory_bytes: 4096
            })
        );
        assert_eq!(v2.oom_kills(&cg), 1);

        let v1 = Cgroups::V1 { root: root.clone() };
        let mem = v1.at("memory", &cg);
        let cpu = v1.at("cpuacct", &cg);
        fs::create_dir_all(&mem).unwrap();
        fs::create_dir_all(&cpu).unwrap();
        fs::write(cpu.join("cpuacct.usage"), "1000000000\n").unwrap();
        fs::write(mem.join("memory.usage_in_bytes"), "10\n").unwrap();
        fs::write(mem.join("memory.max_usage_in_bytes"), "20\n").unwrap();
        fs::write(
            mem.join("memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
        )
        .unwrap();
        assert_eq!(
            v1.usage(&cg),
            Some(CgroupUsage {
                cpu: Duration::from_secs(1),
                memory_bytes: 10,
                peak_memory_bytes: 20
            })
        );
        assert_eq!(v1.oom_kills(&cg), 3);
        assert_eq!(v1.usage("/skiff/none"), None);
    }
}
