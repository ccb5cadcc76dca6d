//! The container runtime: OCI images run by runc, one shim per container, as the kubelet
//! runs them through containerd. A pod's sandbox is a network namespace on the node's
//! bridge; each run of a container is a bundle (an overlay root filesystem and a
//! `config.json`) in the sandbox's folder, started and watched by its shim, so it outlives
//! the agent and is adopted again when the agent restarts.
//!
//! # Modules
//! - `bundle`: `config.json` from the image's config and the pod spec; `seccomp`: the
//!   default filter it carries.
//! - `rootfs`: the overlay root filesystem of a run; `ready`: root filesystems mounted
//!   ahead of need.
//! - `shim`: the per-container supervisor (the `skiff` binary in its shim mode);
//!   `spawn`: starting shims, one kept ready.
//! - `run`: a run as the agent follows it (wait, stop, exec).
//! - `runc`: the agent's calls to runc.
//! - `cgroup`: cgroup v1 and v2: usage, OOM kills, removal.
//! - `network`: network namespaces and addresses (the CNI reference plugins);
//!   `namespaces`: pinning namespaces, and the IPC and UTS ones a pod's containers share.
//! - `sandbox`: a pod's sandbox.

mod bundle;
mod cgroup;
mod namespaces;
mod network;
mod ready;
mod rootfs;
mod run;
mod runc;
mod sandbox;
mod seccomp;
pub mod shim;
mod spawn;

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use skiff_proto::model::container::PullPolicy;
use skiff_proto::model::node::{ContainerImage, Runtime};

pub use cgroup::{CgroupUsage, Cgroups};
pub use network::{Attachment, Cni, CniPlugins, PodNetwork};
pub use runc::Runc;

use super::{NotStarted, PodRef, Prepared, Pull, Running, Sandbox, StartSpec, WorkloadRuntime};
use crate::oci::{Image, ImageStore};
use bundle::BundleSpec;
use namespaces::PodNamespaces;
use ready::ReadyRoots;
use rootfs::Rootfs;
use run::{ContainerRun, Shim};
use sandbox::ContainerSandbox;
use shim::ShimConfig;
use spawn::Shims;

/// Pod network namespaces kept attached ahead of need.
const NETNS_POOL: usize = 2;

/// How long after a pod's start the pools of ready network namespaces, shims and root
/// filesystems are filled again, so that work does not compete with the start.
const REFILL_AFTER: Duration = Duration::from_millis(200);

/// How the container runtime runs.
#[derive(Debug, Clone)]
pub struct ContainerConfig {
    /// Its folder: images, sandboxes and runs, runc's state, network namespaces.
    pub dir: PathBuf,
    pub runc: PathBuf,
    /// The CNI plugins' folder.
    pub cni_bin: PathBuf,
    /// The node's bridge.
    pub bridge: String,
    /// The command that runs a shim (`skiff __shim`), to which the run's folder is added,
    /// or `-` for a shim started ahead of need that reads it from stdin.
    pub shim: Vec<OsString>,
    /// Processes a container may have (`None`: no limit).
    pub pids_limit: Option<i64>,
}

/// What the runtime's parts share.
pub struct Inner {
    config: ContainerConfig,
    images: Arc<ImageStore>,
    runc: Runc,
    cgroups: Cgroups,
    seccomp: bool,
    network: RwLock<Option<Arc<dyn PodNetwork>>>,
    shims: Arc<Shims>,
    ready: Arc<ReadyRoots>,
}

impl Inner {
    fn network(&self) -> Option<Arc<dyn PodNetwork>> {
        self.network
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// OCI containers through runc.
pub struct ContainerRuntime {
    inner: Arc<Inner>,
    metrics: crate::metrics::NodeMetrics,
}

impl ContainerRuntime {
    /// The runtime, once runc is found; `Err` says what is missing.
    pub async fn new(config: ContainerConfig) -> Result<ContainerRuntime, crate::Error> {
        if !rustix::process::geteuid().is_root() {
            return Err(crate::Error::NotRunnable {
                reason: "containers need root (network namespaces, mounts, cgroups); run the node agent as root for them".into(),
            });
        }
        let found = tokio::process::Command::new(&config.runc)
            .arg("--version")
            .output()
            .await;
        if !found.is_ok_and(|o| o.status.success()) {
            return Err(crate::Error::NotRunnable {
                reason: format!(
                    "runc is not at {} (install Debian's runc, or pass --runc)",
                    config.runc.display()
                ),
            });
        }
        let images = Arc::new(ImageStore::open(&config.dir.join("images"))?);
        let seccomp = Runc::has_seccomp(&config.runc).await;
        let runc = Runc {
            bin: config.runc.clone(),
            root: config.dir.join("runc"),
        };
        let shims = Shims::new(config.shim.clone());
        let ready = Arc::new(ReadyRoots::new(
            config.dir.join("ready"),
            config.dir.join("empty"),
        ));
        Ok(ContainerRuntime {
            inner: Arc::new(Inner {
                config,
                images,
                runc,
                cgroups: Cgroups::detect(),
                seccomp,
                network: RwLock::new(None),
                shims,
                ready,
            }),
            metrics: Default::default(),
        })
    }

    /// Counts pulls into `m` (the node's series).
    pub fn measured(mut self, m: crate::metrics::NodeMetrics) -> Self {
        self.metrics = m;
        self
    }

    /// Gives pods addresses from `pod_cidr` (the Node's `spec.podCIDR`) once it is known.
    pub fn set_pod_cidr(&self, pod_cidr: &str) -> Result<(), String> {
        let mut net = self
            .inner
            .network
            .write()
            .unwrap_or_else(|p| p.into_inner());
        if net.is_some() {
            return Ok(());
        }
        Cni::gateway(pod_cidr)?;
        let cni = Cni::new(
            CniPlugins {
                bin: self.inner.config.cni_bin.clone(),
                bridge: self.inner.config.bridge.clone(),
                subnet: pod_cidr.to_owned(),
                dir: self.inner.config.dir.join("net"),
            },
            NETNS_POOL,
        );
        cni.sweep_pool();
        *net = Some(Arc::new(cni));
        tracing::info!(pod_cidr, bridge = %self.inner.config.bridge, "container pod network ready");
        Ok(())
    }

    /// Whether pods can have addresses yet.
    pub fn has_network(&self) -> bool {
        self.inner.network().is_some()
    }

    /// The images on this node.
    pub fn image_store(&self) -> Arc<ImageStore> {
        self.inner.images.clone()
    }

    /// Removes the root filesystems kept ready that no start has taken for a while, so
    /// they do not keep their images from being collected.
    pub fn expire_ready(&self) {
        self.inner.ready.expire(ready::KEEP_FOR);
    }
}

/// Kubernetes' default pull policy: `Always` for `:latest` or no tag, else `IfNotPresent`.
pub fn default_policy(image: &str) -> PullPolicy {
    let last = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') {
        return PullPolicy::IfNotPresent;
    }
    match last.split_once(':') {
        Some((_, "latest")) | None => PullPolicy::Always,
        Some(_) => PullPolicy::IfNotPresent,
    }
}

#[tonic::async_trait]
impl WorkloadRuntime for ContainerRuntime {
    fn kind(&self) -> Runtime {
        Runtime::Oci
    }

    async fn sandbox(&self, pod: &PodRef) -> Result<Arc<dyn Sandbox>, NotStarted> {
        let Some(net) = self.inner.network() else {
            return Err(NotStarted::new(
                "NetworkNotReady",
                "the node has no pod CIDR yet (Node spec.podCIDR, which the control plane assigns)",
            ));
        };
        let t0 = std::time::Instant::now();
        let dir = self.inner.config.dir.join("pods").join(&pod.uid);
        // A pod an earlier agent started (its containers may still run) is never undone here.
        let new_pod = !dir.exists();
        std::fs::create_dir_all(dir.join("runs")).map_err(|e| {
            NotStarted::new("CreatePodSandboxError", format!("{}: {e}", dir.display()))
        })?;
        let attachment = match net.attach(&pod.uid).await {
            Ok(a) => a,
            Err(e) => {
                // Nothing half made of a new pod is left: the next attempt starts clean.
                if new_pod {
                    sandbox::remove_pod(&self.inner, &pod.uid, &dir).await;
                }
                return Err(NotStarted::new("CreatePodSandboxError", e));
            }
        };
        tracing::debug!(
            pod = %pod.name,
            address_us = t0.elapsed().as_micros() as u64,
            "sandbox addressed"
        );
        let mut sb = ContainerSandbox {
            uid: pod.uid.clone(),
            namespaces: PodNamespaces::in_dir(&dir),
            dir,
            attachment,
            hostname: pod.name.clone(),
            namespace: pod.namespace.clone(),
            inner: self.inner.clone(),
            making: tokio::sync::Mutex::new(sandbox::Making::Done),
        };
        *sb.making.get_mut() = sandbox::Making::Started(sb.make());
        Ok(Arc::new(sb))
    }

    async fn prepare(&self, image: &str, pull: &Pull) -> Result<Arc<dyn Prepared>, NotStarted> {
        let policy = pull.policy.unwrap_or_else(|| default_policy(image));
        let pulls = policy == PullPolicy::Always || !self.inner.images.is_present(image);
        let began = std::time::Instant::now();
        let got = self
            .inner
            .images
            .image(image, policy, &pull.credentials)
            .await;
        if pulls && policy != PullPolicy::Never {
            self.metrics
                .pulled("container", got.is_ok(), began.elapsed());
        }
        let image = got?;
        Ok(Arc::new(PreparedContainer {
            image,
            inner: self.inner.clone(),
        }))
    }

    fn images(&self) -> Vec<ContainerImage> {
        self.inner.images.images()
    }

    async fn sweep(&self, keep: &HashSet<String>) {
        let pods = self.inner.config.dir.join("pods");
        let gone: Vec<String> = std::fs::read_dir(&pods)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .filter(|uid| !keep.contains(uid))
            .collect();
        let mut gone_net: Vec<String> = self
            .inner
            .network()
            .map(|n| n.attached())
            .unwrap_or_default();
        gone_net.retain(|uid| !keep.contains(uid) && !gone.contains(uid));
        for uid in gone.iter().chain(&gone_net) {
            tracing::info!(pod = %uid, "removing what an earlier agent left for a pod that is gone");
            sandbox::remove_pod(&self.inner, uid, &pods.join(uid)).await;
        }
    }
}

struct PreparedContainer {
    image: Arc<Image>,
    inner: Arc<Inner>,
}

fn create_error(message: impl Into<String>) -> NotStarted {
    NotStarted::new("CreateContainerError", message)
}

#[tonic::async_trait]
impl Prepared for PreparedContainer {
    async fn start(
        &self,
        sandbox: &Arc<dyn Sandbox>,
        container: &str,
        spec: StartSpec,
    ) -> Result<Box<dyn Running>, NotStarted> {
        let sb = sandbox
            .as_any()
            .downcast_ref::<ContainerSandbox>()
            .ok_or_else(|| create_error("a container needs a container pod's sandbox"))?;
        sb.clear_run(container).await;
        let dir = sb.run_dir(container);
        std::fs::create_dir_all(&dir)
            .map_err(|e| create_error(format!("creating {}: {e}", dir.display())))?;
        let started = self.launch(sb, container, &dir, spec).await;
        if started.is_err() {
            sb.clear_run(container).await;
        }
        started
    }
}

/// Waits for a mount started by [`PreparedContainer::mount`] (none: done already).
async fn mounted(
    mounting: Option<tokio::task::JoinHandle<Result<(), String>>>,
) -> Result<(), NotStarted> {
    let Some(m) = mounting else { return Ok(()) };
    m.await
        .map_err(|e| create_error(format!("mounting the root filesystem: {e}")))?
        .map_err(create_error)
}

impl PreparedContainer {
    /// Mounts the run's root filesystem on a blocking thread.
    fn mount(&self, dir: &std::path::Path) -> tokio::task::JoinHandle<Result<(), String>> {
        let image = self.image.clone();
        let empty = self.inner.config.dir.join("empty");
        let dir = dir.to_owned();
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&empty)
                .map_err(|e| format!("creating {}: {e}", empty.display()))?;
            Rootfs::in_dir(&dir).mount(&image.layers, &empty)
        })
    }

    /// Writes the run's `config.json` and the shim's config; returns the container's id.
    fn write_bundle(
        &self,
        sb: &ContainerSandbox,
        container: &str,
        dir: &std::path::Path,
        rootfs: &Rootfs,
        spec: StartSpec,
    ) -> Result<(String, StartSpec), NotStarted> {
        let mut mounts = sb.shared_mounts();
        mounts.extend(spec.mounts.iter().cloned());
        let image_config = self.image.config.config().as_ref();
        let cgroup = Cgroups::container(&sb.uid, container);
        let oci = bundle::spec(&BundleSpec {
            image: image_config,
            command: &spec.command,
            args: &spec.args,
            env: &spec.env,
            working_dir: spec.working_dir.as_deref(),
            mounts: &mounts,
            limits: &spec.limits,
            security: &spec.security,
            rootfs: &rootfs.target,
            hostname: &sb.hostname,
            netns: Some(&sb.attachment.netns),
            shared: Some(&sb.namespaces),
            cgroups_path: cgroup.clone(),
            pids_limit: self.inner.config.pids_limit,
            seccomp: self.inner.seccomp,
        })
        .map_err(create_error)?;
        oci.save(dir.join("config.json"))
            .map_err(|e| create_error(format!("writing config.json: {e}")))?;
        let id = sb.container_id(container);
        let shim_config = ShimConfig {
            id: id.clone(),
            bundle: dir.to_owned(),
            runc: self.inner.runc.bin.clone(),
            runc_root: self.inner.runc.root.clone(),
            log: spec.log.path().to_owned(),
            log_max_bytes: spec.log.policy().max_bytes,
            log_max_files: spec.log.policy().max_files,
            cgroup,
            image: self.image.reference.clone(),
        };
        let json = serde_json::to_vec(&shim_config).map_err(|e| create_error(e.to_string()))?;
        std::fs::write(dir.join(shim::CONFIG), json)
            .map_err(|e| create_error(format!("writing the shim's config: {e}")))?;
        Ok((id, spec))
    }

    async fn launch(
        &self,
        sb: &ContainerSandbox,
        container: &str,
        dir: &std::path::Path,
        spec: StartSpec,
    ) -> Result<Box<dyn Running>, NotStarted> {
        let t0 = std::time::Instant::now();
        let rootfs = Rootfs::in_dir(dir);
        let image_config = self.image.config.config().as_ref();
        let image_user = image_config
            .and_then(|c| c.user().clone())
            .unwrap_or_default();
        // A root filesystem mounted ahead of need is taken; else the overlay mount runs
        // beside the spec and the config files, unless the spec reads the image's
        // accounts from the mounted root.
        let mut mounting = if self.inner.ready.take(&self.image, dir) {
            None
        } else {
            Some(self.mount(dir))
        };
        let ready_root = mounting.is_none();
        if bundle::user_reads_rootfs(&image_user) {
            mounted(mounting.take()).await?;
        }
        let written = self.write_bundle(sb, container, dir, &rootfs, spec);
        let t1 = std::time::Instant::now();
        let mount = mounted(mounting).await;
        let (id, spec) = written?;
        mount?;
        sb.ready()
            .await
            .map_err(|e| NotStarted::new("CreatePodSandboxError", e))?;
        let t2 = std::time::Instant::now();
        let child = self.inner.shims.start(dir).await?;
        self.inner
            .ready
            .refill(&self.inner.images, self.image.clone(), REFILL_AFTER);
        tracing::debug!(
            container,
            bundle_us = (t1 - t0).as_micros() as u64,
            ready_root,
            mount_and_sandbox_wait_us = (t2 - t1).as_micros() as u64,
            shim_us = t2.elapsed().as_micros() as u64,
            "container started"
        );
        let stop_signal = image_config
            .and_then(|c| c.stop_signal().clone())
            .map(|s| s.trim_start_matches("SIG").to_owned())
            .unwrap_or_else(|| "TERM".into());
        Ok(Box::new(ContainerRun {
            id,
            dir: dir.to_owned(),
            runc: self.inner.runc.clone(),
            shim: Shim::Child(child),
            address: spec
                .port
                .map(|p| std::net::SocketAddr::new(sb.attachment.ip, p)),
            stop_signal,
            held: Some(self.inner.images.hold(&self.image)),
            ended: None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policy_defaults_as_kubernetes_defaults_it() {
        assert_eq!(default_policy("busybox"), PullPolicy::Always);
        assert_eq!(default_policy("busybox:latest"), PullPolicy::Always);
        assert_eq!(default_policy("busybox:1.36"), PullPolicy::IfNotPresent);
        assert_eq!(default_policy("127.0.0.1:5000/busybox"), PullPolicy::Always);
        assert_eq!(
            default_policy("127.0.0.1:5000/busybox:v1"),
            PullPolicy::IfNotPresent
        );
        assert_eq!(
            default_policy(
                "r.example/b@sha256:0000000000000000000000000000000000000000000000000000000000000000"
            ),
            PullPolicy::IfNotPresent
        );
    }
}
