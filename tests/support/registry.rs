//! A real OCI registry for the tests (Debian's `docker-registry`, the CNCF distribution
//! registry, on a free loopback port), and images pushed into it: Wasm artifacts, and a
//! busybox image whose one layer is built from Debian's static busybox (every applet a
//! link to it), as `docker build` would make it from `FROM scratch`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use sha2::{Digest, Sha256};

/// The registry process, killed by its PID when dropped.
pub struct Registry {
    child: Child,
    pub addr: String,
    dir: tempfile::TempDir,
}

impl Registry {
    pub fn start() -> Registry {
        Registry::start_with("")
    }

    /// A registry whose config has `extra` YAML appended (e.g. `auth:`).
    pub fn start_with(extra: &str) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = super::free_port();
        let addr = format!("127.0.0.1:{port}");
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n{extra}",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "docker-registry (Debian package docker-registry; `cargo xtask test` installs it)",
            );
        let r = Registry { child, addr, dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&r.addr).is_err() {
            assert!(Instant::now() < deadline, "the registry never listened");
            std::thread::sleep(Duration::from_millis(100));
        }
        r
    }

    /// Where the registry keeps the blob `sha256:<hex>`.
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    pub fn folder(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client(registry: &str) -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::new(ClientConfig {
        protocol: ClientProtocol::HttpsExcept(vec![registry.to_owned()]),
        ..ClientConfig::default()
    })
}

fn push_image(registry: &str, reference: &str, layers: Vec<ImageLayer>, config: Config) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let r: Reference = reference.parse().unwrap();
        client(registry)
            .push(&r, &layers, config, &RegistryAuth::Anonymous, None)
            .await
            .unwrap();
    });
}

/// Pushes `wasm` to `reference` as a Wasm OCI artifact.
pub fn push_wasm(registry: &str, reference: &str, wasm: Vec<u8>) {
    let layer = ImageLayer::new(wasm, "application/wasm".into(), None);
    let config = Config::new(
        b"{}".to_vec(),
        "application/vnd.wasm.config.v0+json".into(),
        None,
    );
    push_image(registry, reference, vec![layer], config);
}

/// What a pushed image is made of.
pub struct Pushed {
    /// The layer blob's digest (`sha256:...`), as the registry stores it.
    pub layer: String,
}

/// A busybox image: `/bin/busybox` and a link for every applet, `/etc/passwd` and
/// `/etc/group` with root, `www-data` (33) and `nobody`, `/tmp`, and `/www/index.html`.
/// `cmd` is its Cmd (none: an image that names no command); `arch` its architecture.
pub fn push_busybox(registry: &str, reference: &str, cmd: Option<&[&str]>, arch: &str) -> Pushed {
    let tar = busybox_layer(reference);
    let diff_id = format!("sha256:{:x}", Sha256::digest(&tar));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let gz = gz.finish().unwrap();
    let layer_digest = format!("sha256:{:x}", Sha256::digest(&gz));
    let mut config = serde_json::json!({
        "architecture": arch,
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "WorkingDir": "/",
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    });
    if let Some(cmd) = cmd {
        config["config"]["Cmd"] = serde_json::json!(cmd);
    }
    push_image(
        registry,
        reference,
        vec![ImageLayer::new(
            gz,
            "application/vnd.oci.image.layer.v1.tar+gzip".into(),
            None,
        )],
        Config::new(
            serde_json::to_vec(&config).unwrap(),
            "application/vnd.oci.image.config.v1+json".into(),
            None,
        ),
    );
    Pushed {
        layer: layer_digest,
    }
}

fn busybox() -> PathBuf {
    let path = PathBuf::from("/bin/busybox");
    assert!(
        path.exists(),
        "a static busybox (Debian package busybox-static; `cargo xtask test` installs it)"
    );
    path
}

/// The layer's tar; `/etc/skiff-image` names `reference`, so no two images share a layer.
fn busybox_layer(reference: &str) -> Vec<u8> {
    let bin = busybox();
    let applets = Command::new(&bin).arg("--list").output().unwrap();
    let applets = String::from_utf8(applets.stdout).unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let dir = |b: &mut tar::Builder<Vec<u8>>, name: &str, mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(mode);
        h.set_size(0);
        h.set_mtime(0);
        b.append_data(&mut h, name, std::io::empty()).unwrap();
    };
    for (d, mode) in [
        ("bin", 0o755),
        ("etc", 0o755),
        ("tmp", 0o1777),
        ("www", 0o755),
        ("root", 0o700),
        ("proc", 0o755),
        ("sys", 0o755),
        ("dev", 0o755),
    ] {
        dir(&mut b, d, mode);
    }
    let file = |b: &mut tar::Builder<Vec<u8>>, name: &str, mode: u32, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        h.set_mtime(0);
        b.append_data(&mut h, name, data).unwrap();
    };
    file(&mut b, "bin/busybox", 0o755, &std::fs::read(&bin).unwrap());
    file(
        &mut b,
        "etc/passwd",
        0o644,
        b"root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www-data:/www:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    );
    file(
        &mut b,
        "etc/group",
        0o644,
        b"root:x:0:\nwww-data:x:33:\nnogroup:x:65534:\n",
    );
    file(&mut b, "www/index.html", 0o644, b"hello from a container\n");
    file(&mut b, "etc/skiff-image", 0o644, reference.as_bytes());
    for applet in applets.lines().map(str::trim).filter(|a| !a.is_empty()) {
        if applet == "busybox" {
            continue;
        }
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_size(0);
        h.set_mtime(0);
        b.append_link(&mut h, format!("bin/{applet}"), "busybox")
            .unwrap();
    }
    b.into_inner().unwrap()
}
