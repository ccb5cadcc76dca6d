//! Pod networking for containers: each pod gets a network namespace of its own, pinned by
//! a bind mount at `<data>/netns/<pod uid>`, and an address from the node's pod CIDR on a
//! bridge of the node ([`PodNetwork`]; the real one is [`Cni`], the CNI reference plugins
//! `bridge` + `host-local` + `loopback`). The bridge's address (the CIDR's first) is the
//! pods' gateway, where the node answers DNS for Services and routes their calls.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::AsyncWriteExt;

/// A pod's place on the network.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Attachment {
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

/// Makes a network namespace and pins it at `path`. The namespace is made on a thread of
/// its own (`unshare` moves only the calling thread), which ends once it is pinned.
pub fn create_netns(path: &Path) -> Result<(), String> {
    let pinned = path.to_owned();
    let made = std::thread::spawn(move || -> Result<(), String> {
        if let Some(dir) = pinned.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        }
        std::fs::File::create(&pinned)
            .map_err(|e| format!("creating {}: {e}", pinned.display()))?;
        // SAFETY: only the network namespace is unshared, on a thread that does nothing
        // but pin it and end; no file table or filesystem state is split from the process.
        unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNET) }
            .map_err(|e| format!("unshare(CLONE_NEWNET): {e}"))?;
        rustix::mount::mount_bind("/proc/thread-self/ns/net", &pinned)
            .map_err(|e| format!("pinning the namespace at {}: {e}", pinned.display()))
    })
    .join()
    .map_err(|_| "the namespace thread panicked".to_owned())
    .and_then(|r| r);
    if made.is_err() {
        let _ = remove_netns_file(path);
    }
    made
}

/// Unpins and removes a namespace made by [`create_netns`]; the kernel frees it once no
/// process is in it.
pub fn remove_netns_file(path: &Path) -> Result<(), String> {
    match rustix::mount::unmount(path, rustix::mount::UnmountFlags::DETACH) {
        Ok(()) | Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => {}
        Err(e) => return Err(format!("unmounting {}: {e}", path.display())),
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("removing {}: {e}", path.display())),
    }
}

/// The CNI reference plugins on a bridge of the node's.
pub struct Cni {
    /// Where the plugins are (`/usr/lib/cni`).
    pub bin: PathBuf,
    /// The bridge's name (one per node agent on a machine).
    pub bridge: String,
    /// The node's pod CIDR (`10.88.0.0/24`).
    pub subnet: String,
    /// Where namespaces are pinned and `host-local` keeps its leases.
    pub dir: PathBuf,
}

impl Cni {
    fn netns(&self, uid: &str) -> PathBuf {
        self.dir.join("netns").join(uid)
    }

    /// Where a pod's attachment is recorded, for the agent that comes after this one.
    fn record(&self, uid: &str) -> PathBuf {
        self.dir.join("attachments").join(format!("{uid}.json"))
    }

    /// The gateway of `subnet`: its first address.
    pub fn gateway(subnet: &str) -> Result<IpAddr, String> {
        let (net, bits) = subnet
            .split_once('/')
            .ok_or_else(|| format!("pod CIDR {subnet:?} is not ADDRESS/BITS"))?;
        let net: Ipv4Addr = net
            .parse()
            .map_err(|_| format!("pod CIDR {subnet:?}: {net:?} is not an IPv4 address"))?;
        let bits: u32 = bits
            .parse()
            .ok()
            .filter(|b| (8..=30).contains(b))
            .ok_or_else(|| format!("pod CIDR {subnet:?}: the prefix must be 8 to 30 bits"))?;
        let mask = u32::MAX << (32 - bits);
        Ok(IpAddr::V4(Ipv4Addr::from((u32::from(net) & mask) + 1)))
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

    /// Runs plugin `kind` with `command` on pod `uid`'s namespace: its JSON answer.
    async fn plugin(
        &self,
        kind: &str,
        command: &str,
        uid: &str,
        ifname: &str,
        config: &serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        let program = self.bin.join(kind);
        let mut child = tokio::process::Command::new(&program)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("CNI_COMMAND", command)
            .env("CNI_CONTAINERID", uid)
            .env("CNI_NETNS", self.netns(uid))
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
            return Err(format!("CNI {kind} {command} for pod {uid}: {msg}"));
        }
        Ok(answer)
    }
}

#[tonic::async_trait]
impl PodNetwork for Cni {
    async fn attach(&self, uid: &str) -> Result<Attachment, String> {
        let netns = self.netns(uid);
        let record = self.record(uid);
        if super::rootfs::is_mounted(&netns) {
            // An earlier agent attached it: its containers may still run there.
            if let Some(a) = std::fs::read(&record)
                .ok()
                .and_then(|b| serde_json::from_slice::<Attachment>(&b).ok())
            {
                return Ok(a);
            }
            // Half made: start again.
            let _ = self.detach(uid).await;
        }
        let _ = remove_netns_file(&netns);
        create_netns(&netns)?;
        let lo = serde_json::json!({"cniVersion": "1.0.0", "name": "lo", "type": "loopback"});
        let attached = async {
            self.plugin("loopback", "ADD", uid, "lo", &lo).await?;
            // host-local hands a pod that asks again the address it already has.
            self.plugin("bridge", "ADD", uid, "eth0", &self.bridge_config())
                .await
        }
        .await;
        let answer = match attached {
            Ok(a) => a,
            Err(e) => {
                let _ = self.detach(uid).await;
                return Err(e);
            }
        };
        let ip = answer["ips"][0]["address"]
            .as_str()
            .and_then(|a| a.split('/').next())
            .and_then(|a| a.parse::<IpAddr>().ok())
            .ok_or_else(|| format!("the bridge plugin gave pod {uid} no address: {answer}"))?;
        let a = Attachment {
            netns,
            ip,
            gateway: Cni::gateway(&self.subnet)?,
        };
        let json = serde_json::to_vec(&a).map_err(|e| e.to_string())?;
        if let Some(dir) = record.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        }
        std::fs::write(&record, json).map_err(|e| format!("writing {}: {e}", record.display()))?;
        Ok(a)
    }

    async fn detach(&self, uid: &str) -> Result<(), String> {
        let netns = self.netns(uid);
        let del = self
            .plugin("bridge", "DEL", uid, "eth0", &self.bridge_config())
            .await;
        let removed = remove_netns_file(&netns);
        let _ = std::fs::remove_file(self.record(uid));
        del.and(removed)
    }

    fn attached(&self) -> Vec<String> {
        std::fs::read_dir(self.dir.join("netns"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .collect()
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
