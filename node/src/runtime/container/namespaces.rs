//! Namespaces that outlive the processes in them, pinned by bind mounts of their
//! `/proc/thread-self/ns/*` files (as `ip netns` pins them, and as a pod's pause container
//! holds them under containerd): a pod's network namespace, and the IPC and UTS
//! namespaces its containers share, named after the pod and with its hostname.

use std::path::{Path, PathBuf};

use rustix::thread::UnshareFlags;

/// The IPC and UTS namespaces of a pod's containers, pinned in the pod's folder.
#[derive(Debug, Clone)]
pub struct PodNamespaces {
    pub ipc: PathBuf,
    pub uts: PathBuf,
}

impl PodNamespaces {
    /// Where the pod in `dir` pins them.
    pub fn in_dir(dir: &Path) -> PodNamespaces {
        PodNamespaces {
            ipc: dir.join("ns/ipc"),
            uts: dir.join("ns/uts"),
        }
    }

    /// Makes them, with `hostname` set in the UTS namespace (already pinned: kept).
    pub fn create(&self, hostname: &str) -> Result<(), String> {
        // Pinned by an earlier agent (a new pod's files do not exist, and the mount table
        // is not read for it).
        let pinned = |p: &Path| p.exists() && super::rootfs::is_mounted(p);
        if pinned(&self.ipc) && pinned(&self.uts) {
            return Ok(());
        }
        self.remove()?;
        pin(
            UnshareFlags::NEWIPC | UnshareFlags::NEWUTS,
            &[("ipc", &self.ipc), ("uts", &self.uts)],
            Some(hostname),
        )
    }

    /// Unpins them; the kernel frees each once no process is in it.
    pub fn remove(&self) -> Result<(), String> {
        unpin(&self.ipc).and(unpin(&self.uts))
    }
}

/// Makes new namespaces (`flags`) and pins each at its path (`(name in
/// /proc/thread-self/ns, path)`), with `hostname` set if given. The work is done on a
/// thread of its own (`unshare` moves only the calling thread), which ends once they
/// are pinned. Nothing is left pinned if it fails.
pub fn pin(
    flags: UnshareFlags,
    at: &[(&str, &Path)],
    hostname: Option<&str>,
) -> Result<(), String> {
    let at: Vec<(String, PathBuf)> = at
        .iter()
        .map(|(n, p)| ((*n).to_owned(), p.to_path_buf()))
        .collect();
    let paths: Vec<PathBuf> = at.iter().map(|(_, p)| p.clone()).collect();
    let hostname = hostname.map(str::to_owned);
    let made = std::thread::spawn(move || -> Result<(), String> {
        for (_, path) in &at {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("creating {}: {e}", dir.display()))?;
            }
            std::fs::File::create(path).map_err(|e| format!("creating {}: {e}", path.display()))?;
        }
        // SAFETY: only namespaces that belong to this thread alone (network, IPC, UTS)
        // are unshared, on a thread that does nothing but pin them and end; no file
        // table or filesystem state is split from the process.
        unsafe { rustix::thread::unshare_unsafe(flags) }
            .map_err(|e| format!("unshare({flags:?}): {e}"))?;
        if let Some(h) = &hostname {
            rustix::system::sethostname(h.as_bytes())
                .map_err(|e| format!("setting the hostname {h:?}: {e}"))?;
        }
        for (name, path) in &at {
            rustix::mount::mount_bind(format!("/proc/thread-self/ns/{name}"), path)
                .map_err(|e| format!("pinning the namespace at {}: {e}", path.display()))?;
        }
        Ok(())
    })
    .join()
    .map_err(|_| "the namespace thread panicked".to_owned())
    .and_then(|r| r);
    if made.is_err() {
        for p in &paths {
            let _ = unpin(p);
        }
    }
    made
}

/// Unmounts what is mounted at `path` (nothing happens if nothing is).
pub fn unmount(path: &Path) -> Result<(), String> {
    match rustix::mount::unmount(path, rustix::mount::UnmountFlags::DETACH) {
        Ok(()) | Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(e) => Err(format!("unmounting {}: {e}", path.display())),
    }
}

/// Unpins and removes a namespace pinned at `path` (nothing happens if none is).
pub fn unpin(path: &Path) -> Result<(), String> {
    unmount(path)?;
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("removing {}: {e}", path.display())),
    }
}
