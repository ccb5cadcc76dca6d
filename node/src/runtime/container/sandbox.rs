//! A container pod's sandbox: its network namespace and address, the IPC and UTS
//! namespaces its containers share, the files every one of its containers sees at
//! `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf`, their shared `/dev/shm`, and the
//! folder its containers' runs live in (`<data>/containers/<pod uid>/`). Removing it
//! removes every run's leftovers, the pod's cgroup, its address and its namespace.
//!
//! The address comes first (the pod's status shows it); the rest of the sandbox (its
//! namespaces, `/etc` files and `/dev/shm`, a millisecond of system calls) is made in the
//! background while the first container's image and bundle are prepared, and a start
//! waits for it ([`ContainerSandbox::ready`]).

use std::any::Any;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::namespaces::PodNamespaces;
use super::network::Attachment;
use super::rootfs::Rootfs;
use super::run::{ContainerRun, Shim};
use super::shim::{EXIT, ShimConfig};
use super::{Cgroups, Inner};
use crate::runtime::{Mount, Running, Sandbox, Usage};

pub struct ContainerSandbox {
    pub uid: String,
    pub dir: PathBuf,
    pub attachment: Attachment,
    /// The IPC and UTS namespaces its containers share.
    pub namespaces: PodNamespaces,
    pub hostname: String,
    /// The pod's namespace (for `resolv.conf`).
    pub namespace: String,
    pub inner: Arc<Inner>,
    /// The making of the rest of the sandbox, while it is under way.
    pub making: tokio::sync::Mutex<Making>,
}

/// Where the making of a sandbox's namespaces and files stands.
pub enum Making {
    Started(tokio::task::JoinHandle<Result<(), String>>),
    Done,
    Failed,
}

impl ContainerSandbox {
    /// Makes the pod's namespaces, `/etc` files and `/dev/shm` (what is there is kept),
    /// on a blocking thread.
    pub fn make(&self) -> tokio::task::JoinHandle<Result<(), String>> {
        let (namespaces, hostname, namespace, dir, attachment) = (
            self.namespaces.clone(),
            self.hostname.clone(),
            self.namespace.clone(),
            self.dir.clone(),
            self.attachment.clone(),
        );
        tokio::task::spawn_blocking(move || {
            namespaces.create(&hostname)?;
            write_etc(&dir, &hostname, &namespace, &attachment)?;
            mount_shm(&dir)
        })
    }

    /// Waits until the sandbox is whole; one that failed is made again. The making stays
    /// in `making` while it is waited for, so a start that is given up (the pod stopped)
    /// leaves it for [`Self::settle`].
    pub async fn ready(&self) -> Result<(), String> {
        let mut m = self.making.lock().await;
        if let Making::Failed = *m {
            *m = Making::Started(self.make());
        }
        let Making::Started(handle) = &mut *m else {
            return Ok(());
        };
        let made = handle
            .await
            .unwrap_or_else(|e| Err(format!("making the pod's namespaces: {e}")));
        *m = if made.is_ok() {
            Making::Done
        } else {
            Making::Failed
        };
        made
    }

    /// Waits for a making under way to end, whatever comes of it (before removal).
    async fn settle(&self) {
        let mut m = self.making.lock().await;
        if let Making::Started(handle) = &mut *m {
            let _ = handle.await;
        }
        *m = Making::Failed;
    }
}

/// The files of `/etc` a pod's containers share.
pub fn write_etc(
    dir: &Path,
    hostname: &str,
    namespace: &str,
    a: &Attachment,
) -> Result<(), String> {
    let write = |name: &str, text: String| {
        std::fs::write(dir.join(name), text)
            .map_err(|e| format!("writing {}: {e}", dir.join(name).display()))
    };
    write(
        "hosts",
        format!(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{}\t{hostname}\n",
            a.ip
        ),
    )?;
    write("hostname", format!("{hostname}\n"))?;
    write(
        "resolv.conf",
        format!(
            "search {namespace}.svc.cluster.local svc.cluster.local cluster.local\nnameserver {}\noptions ndots:5\n",
            a.gateway
        ),
    )
}

/// The pod's `/dev/shm`: one tmpfs its containers share, as they share its IPC namespace
/// (POSIX shared memory lives there), sized as Docker and the kubelet size it.
const SHM: &str = "shm";
const SHM_OPTIONS: &std::ffi::CStr = c"mode=1777,size=65536k";

/// Mounts the pod's `/dev/shm` in `dir` (one an earlier agent mounted is kept).
pub fn mount_shm(dir: &Path) -> Result<(), String> {
    use rustix::mount::MountFlags;
    let at = dir.join(SHM);
    // A new pod's folder has none; only a pod an earlier agent started reads the table.
    if at.exists() && super::rootfs::is_mounted(&at) {
        return Ok(());
    }
    std::fs::create_dir_all(&at).map_err(|e| format!("creating {}: {e}", at.display()))?;
    rustix::mount::mount(
        "shm",
        &at,
        "tmpfs",
        MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
        Some(SHM_OPTIONS),
    )
    .map_err(|e| {
        format!(
            "mounting the pod's /dev/shm ({SHM_OPTIONS:?}) at {}: {e}",
            at.display()
        )
    })
}

impl ContainerSandbox {
    /// The folder of container `name`'s runs.
    pub fn run_dir(&self, name: &str) -> PathBuf {
        self.dir.join("runs").join(name)
    }

    /// The bind mounts of what the pod's containers share: the `/etc` files and
    /// `/dev/shm`.
    pub fn shared_mounts(&self) -> Vec<Mount> {
        let mut m: Vec<Mount> = ["hosts", "hostname", "resolv.conf"]
            .iter()
            .map(|f| Mount {
                host: self.dir.join(f),
                path: format!("/etc/{f}"),
                read_only: false,
            })
            .collect();
        m.push(Mount {
            host: self.dir.join(SHM),
            path: "/dev/shm".into(),
            read_only: false,
        });
        m
    }

    /// runc's name for a run of container `name`.
    pub fn container_id(&self, name: &str) -> String {
        container_id(&self.uid, name)
    }

    /// Clears what an ended run of `name` left (runc's record, the mount, its folder).
    pub async fn clear_run(&self, name: &str) {
        clear_run(&self.inner, &self.uid, &self.dir, name).await;
    }
}

/// runc's name for a run of container `name` of pod `uid`.
fn container_id(uid: &str, name: &str) -> String {
    format!("{uid}-{name}")
}

/// Clears what an ended run of container `name` of the pod in `dir` left (runc's record,
/// the mount, its folder).
async fn clear_run(inner: &Inner, uid: &str, dir: &Path, name: &str) {
    let run = dir.join("runs").join(name);
    if !run.exists() {
        return;
    }
    let _ = inner.runc.delete(&container_id(uid, name)).await;
    if let Err(e) = Rootfs::in_dir(&run).remove() {
        tracing::warn!(dir = %run.display(), error = %e, "clearing a run");
    }
    let _ = std::fs::remove_dir_all(&run);
}

/// Removes everything of pod `uid` whose folder is `dir`: its runs' leftovers, its
/// cgroup, its address and namespace, the folder. For a sandbox, and for what an earlier
/// agent left of a pod that is gone.
pub async fn remove_pod(inner: &Inner, uid: &str, dir: &Path) {
    for e in std::fs::read_dir(dir.join("runs"))
        .into_iter()
        .flatten()
        .flatten()
    {
        if let Some(name) = e.file_name().to_str() {
            clear_run(inner, uid, dir, name).await;
        }
    }
    if let Err(e) = super::namespaces::unmount(&dir.join(SHM)) {
        tracing::warn!(pod = %uid, error = %e, "unmounting the pod's /dev/shm");
    }
    if let Err(e) = PodNamespaces::in_dir(dir).remove() {
        tracing::warn!(pod = %uid, error = %e, "removing the pod's namespaces");
    }
    if let Err(e) = inner.cgroups.remove(&Cgroups::pod(uid)) {
        tracing::warn!(pod = %uid, error = %e, "removing the pod's cgroup");
    }
    if let Some(net) = inner.network()
        && let Err(e) = net.detach(uid).await
    {
        tracing::warn!(pod = %uid, error = %e, "removing the pod's network");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[tonic::async_trait]
impl Sandbox for ContainerSandbox {
    fn ip(&self) -> IpAddr {
        self.attachment.ip
    }

    fn gateway(&self) -> Option<IpAddr> {
        Some(self.attachment.gateway)
    }

    async fn adopt(&self, container: &str) -> Option<Box<dyn Running>> {
        let dir = self.run_dir(container);
        let config: ShimConfig = std::fs::read(dir.join(super::shim::CONFIG))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())?;
        let shim = match Shim::find(&dir) {
            Some(s) => s,
            // Ended while no agent watched, and not yet acted on.
            None if dir.join(EXIT).exists() => Shim::Ended,
            None => return None,
        };
        Some(Box::new(ContainerRun {
            id: config.id,
            dir,
            runc: self.inner.runc.clone(),
            shim,
            address: None,
            stop_signal: "TERM".into(),
            held: self.inner.images.hold_reference(&config.image),
            ended: None,
        }))
    }

    async fn remove(&self) {
        self.settle().await;
        remove_pod(&self.inner, &self.uid, &self.dir).await;
    }

    fn sample(&self, usage: &Usage) {
        if let Some(u) = self.inner.cgroups.usage(&Cgroups::pod(&self.uid)) {
            usage.set(u.cpu, u.memory_bytes, u.peak_memory_bytes);
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
