//! Pod networking for containers: each pod gets a network namespace of its own, pinned by
//! a bind mount at `<data>/netns/<pod uid>`, and an address from the node's pod CIDR on a
//! bridge of the node ([`PodNetwork`]; the real one is [`Cni`], the CNI reference plugins
//! `bridge` + `host-local` + `loopback`). The bridge's address (the CIDR's first) is the
//! pods' gateway, where the node answers DNS for Services and routes their calls.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use rustix::thread::UnshareFlags;
use tokio::io::AsyncWriteExt;

use super::namespaces::{pin, unpin};

/// A pod's place on the network.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Attachment {
    /// The namespace's name for the CNI plugins (a pool entry's, or the pod's uid).
    #[serde(default)]
    pub id: String,
    pub netns: PathBuf,
    pub ip: IpAddr,
    pub gateway: IpAddr,
}

/// Gives pods network namespaces with addresses, and takes them back.
#[tonic::async_trait]
pub trait PodNetwork: Send + Sync {
    /// A namespace and address for pod `uid` (the ones it has, after an agent restart).
    async fn attach(&self, uid: &str) -> Result<Attachment, String>;
    /// Removes the pod's address and namespace (nothing happens for one it lacks).
    async fn detach(&self, uid: &str) -> Result<(), String>;
    /// The pods that have a namespace here.
    fn attached(&self) -> Vec<String>;
}

/// Makes a network namespace and pins it at `path`.
pub fn create_netns(path: &Path) -> Result<(), String> {
    pin(UnshareFlags::NEWNET, &[("net", path)], None)
}

/// The CNI reference plugins on a bridge of the node's, with a few namespaces attached
/// ahead of need once the node runs container pods (a pod's start does not wait for the
/// plugins; it takes one, and the pool is filled again in the background once the start
/// is done, so the plugins do not compete with it). A node that
/// never runs a container pod never touches the network.
pub struct Cni {
    inner: Arc<CniPlugins>,
    pool: Arc<std::sync::Mutex<Vec<Attachment>>>,
    size: usize,
    /// Pool entries being made now.
    filling: Arc<std::sync::atomic::AtomicUsize>,
    /// Names this agent's pool entries (`pool-<nonce>-<n>`), so a sweep of what earlier
    /// agents left does not take them.
    nonce: String,
    made: std::sync::atomic::AtomicU64,
}

/// How the plugins are run.
pub struct CniPlugins {
    /// Where the plugins are (`/usr/lib/cni`).
    pub bin: PathBuf,
    /// The bridge's name (one per node agent on a machine).
    pub bridge: String,
    /// The node's pod CIDR (`10.88.0.0/24`).
    pub subnet: String,
    /// Where namespaces are pinned, attachments recorded, and `host-local` keeps its
    /// leases.
    pub dir: PathBuf,
}

impl CniPlugins {
    fn netns(&self, id: &str) -> PathBuf {
        self.dir.join("netns").join(id)
    }

    fn bridge_config(&self) -> serde_json::Value {
        serde_json::json!({
            "cniVersion": "1.0.0",
            "name": "skiff",
            "type": "bridge",
            "bridge": self.bridge,
            "isGateway": true,
            "ipMasq": false,
            "hairpinMode": true,
            "ipam": {
                "type": "host-local",
                "ranges": [[{ "subnet": self.subnet }]],
                "routes": [{ "dst": "0.0.0.0/0" }],
                "dataDir": self.dir.join("ipam"),
            }
        })
    }

    /// Runs plugin `kind` with `command` on namespace `id`: its JSON answer.
    async fn plugin(
        &self,
        kind: &str,
        command: &str,
        id: &str,
        ifname: &str,
        config: &serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        let program = self.bin.join(kind);
        let mut child = tokio::process::Command::new(&program)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("CNI_COMMAND", command)
            .env("CNI_CONTAINERID", id)
            .env("CNI_NETNS", self.netns(id))
            .env("CNI_IFNAME", ifname)
            .env("CNI_PATH", &self.bin)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("running the CNI plugin {}: {e}", program.display()))?;
        if let Some(mut stdin) = child.stdin.take() {
            let bytes = serde_json::to_vec(config).map_err(|e| e.to_string())?;
            stdin
                .write_all(&bytes)
                .await
                .map_err(|e| format!("writing to {}: {e}", program.display()))?;
        }
        let out = child
            .wait_with_output()
            .await
            .map_err(|e| format!("{}: {e}", program.display()))?;
        let answer: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        if !out.status.success() {
            let msg = answer["msg"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| String::from_utf8_lossy(&out.stderr).trim().to_owned());
            return Err(format!("CNI {kind} {command} for {id}: {msg}"));
        }
        Ok(answer)
    }

    /// A new namespace `id` with loopback up and an address on the bridge.
    async fn add(&self, id: &str) -> Result<Attachment, String> {
        let netns = self.netns(id);
        let _ = unpin(&netns);
        create_netns(&netns)?;
        let lo = serde_json::json!({"cniVersion": "1.0.0", "name": "lo", "type": "loopback"});
        let attached = async {
            self.plugin("loopback", "ADD", id, "lo", &lo).await?;
            self.plugin("bridge", "ADD", id, "eth0", &self.bridge_config())
                .await
        }
        .await;
        let answer = match attached {
            Ok(a) => a,
            Err(e) => {
                let _ = self.del(id).await;
                return Err(e);
            }
        };
        let ip = answer["ips"][0]["address"]
            .as_str()
            .and_then(|a| a.split('/').next())
            .and_then(|a| a.parse::<IpAddr>().ok())
            .ok_or_else(|| format!("the bridge plugin gave {id} no address: {answer}"))?;
        Ok(Attachment {
            id: id.to_owned(),
            netns,
            ip,
            gateway: Cni::gateway(&self.subnet)?,
        })
    }

    /// Removes namespace `id`'s address and the namespace.
    async fn del(&self, id: &str) -> Result<(), String> {
        let del = self
            .plugin("bridge", "DEL", id, "eth0", &self.bridge_config())
            .await;
        let removed = unpin(&self.netns(id));
        del.and(removed)
    }
}

impl Cni {
    /// The plugins, with `size` namespaces kept ready from the first pod on.
    pub fn new(plugins: CniPlugins, size: usize) -> Cni {
        Cni {
            inner: Arc::new(plugins),
            pool: Arc::default(),
            size,
            filling: Arc::default(),
            nonce: format!("{:08x}", fastrand::u32(..)),
            made: Default::default(),
        }
    }

    /// Removes, in the background, the pool entries earlier agents left unused (no pod's
    /// record names them; they are never a pod's).
    pub fn sweep_pool(&self) {
        let mine = format!("pool-{}-", self.nonce);
        let recorded: Vec<String> = std::fs::read_dir(self.inner.dir.join("attachments"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let uid = e.file_name().to_str()?.strip_suffix(".json")?.to_owned();
                self.recorded(&uid).map(|a| a.id)
            })
            .collect();
        let left: Vec<String> = std::fs::read_dir(self.inner.dir.join("netns"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .filter(|id| id.starts_with("pool-") && !id.starts_with(&mine))
            .filter(|id| !recorded.contains(id))
            .collect();
        if left.is_empty() {
            return;
        }
        let inner = self.inner.clone();
        tokio::spawn(async move {
            for id in left {
                if let Err(e) = inner.del(&id).await {
                    tracing::warn!(netns = %id, error = %e, "removing an unused pod network namespace");
                }
            }
        });
    }

    /// Fills the pool up to its size, in the background (counting what is being made).
    fn refill(&self) {
        use std::sync::atomic::Ordering;
        let ready = self.pool.lock().unwrap_or_else(|p| p.into_inner()).len();
        let making = self.filling.load(Ordering::Acquire);
        for _ in (ready + making)..self.size {
            self.filling.fetch_add(1, Ordering::AcqRel);
            let n = self.made.fetch_add(1, Ordering::Relaxed);
            let id = format!("pool-{}-{n}", self.nonce);
            let (inner, pool, filling) =
                (self.inner.clone(), self.pool.clone(), self.filling.clone());
            tokio::spawn(async move {
                tokio::time::sleep(super::REFILL_AFTER).await;
                match inner.add(&id).await {
                    Ok(a) => pool.lock().unwrap_or_else(|p| p.into_inner()).push(a),
                    Err(e) => tracing::warn!(error = %e, "preparing a pod network namespace"),
                }
                filling.fetch_sub(1, Ordering::AcqRel);
            });
        }
    }

    /// Where pod `uid`'s attachment is recorded, for the agent that comes after this one.
    fn record(&self, uid: &str) -> PathBuf {
        self.inner
            .dir
            .join("attachments")
            .join(format!("{uid}.json"))
    }

    fn recorded(&self, uid: &str) -> Option<Attachment> {
        std::fs::read(self.record(uid))
            .ok()
            .and_then(|b| serde_json::from_slice::<Attachment>(&b).ok())
    }

    /// The gateway of `subnet`: its first address.
    pub fn gateway(subnet: &str) -> Result<IpAddr, String> {
        let (net, bits) = skiff_proto::validate::cidr::ipv4_cidr(subnet)
            .map_err(|e| format!("the node's pod CIDR: {e}"))?;
        if !(8..=30).contains(&bits) {
            return Err(format!(
                "the node's pod CIDR {subnet:?}: the prefix must be 8 to 30 bits"
            ));
        }
        Ok(IpAddr::V4(Ipv4Addr::from(u32::from(net) + 1)))
    }
}

#[tonic::async_trait]
impl PodNetwork for Cni {
    async fn attach(&self, uid: &str) -> Result<Attachment, String> {
        if let Some(a) = self.recorded(uid) {
            if super::rootfs::is_mounted(&a.netns) {
                // An earlier agent attached it: its containers may still run there.
                return Ok(a);
            }
            // Half made: start again.
            let _ = self.detach(uid).await;
        }
        let ready = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let a = match ready {
            Some(a) => a,
            None => self.inner.add(uid).await?,
        };
        self.refill();
        let record = self.record(uid);
        let json = serde_json::to_vec(&a).map_err(|e| e.to_string())?;
        if let Some(dir) = record.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        }
        if let Err(e) = std::fs::write(&record, json) {
            let _ = self.inner.del(&a.id).await;
            return Err(format!("writing {}: {e}", record.display()));
        }
        Ok(a)
    }

    async fn detach(&self, uid: &str) -> Result<(), String> {
        // A pod's namespace is the pool entry it took, or one named after it.
        let id = self.recorded(uid).map_or_else(|| uid.to_owned(), |a| a.id);
        let done = self.inner.del(&id).await;
        let _ = std::fs::remove_file(self.record(uid));
        done
    }

    fn attached(&self) -> Vec<String> {
        let recorded: Vec<(String, String)> = std::fs::read_dir(self.inner.dir.join("attachments"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let uid = e.file_name().to_str()?.strip_suffix(".json")?.to_owned();
                let a = self.recorded(&uid)?;
                Some((uid, a.id))
            })
            .collect();
        let mut out: Vec<String> = recorded.iter().map(|(uid, _)| uid.clone()).collect();
        // Namespaces no pod's record names and named after a pod (half made); pool
        // entries are `sweep_pool`'s.
        for e in std::fs::read_dir(self.inner.dir.join("netns"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let Some(id) = e.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if !id.starts_with("pool-") && !recorded.iter().any(|(_, i)| *i == id) {
                out.push(id);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gateway_is_the_first_address_of_the_cidr() {
        assert_eq!(
            Cni::gateway("10.88.3.0/24").unwrap(),
            IpAddr::V4(Ipv4Addr::new(10, 88, 3, 1))
        );
        assert_eq!(
            Cni::gateway("10.244.0.7/16").unwrap(),
            IpAddr::V4(Ipv4Addr::new(10, 244, 0, 1))
        );
        for bad in ["10.0.0.0", "x/24", "10.0.0.0/31", "10.0.0.0/4"] {
            assert!(Cni::gateway(bad).is_err(), "{bad}");
        }
    }
}
