//! A real OCI registry for the tests (Debian's `docker-registry`, the CNCF distribution
//! registry, on a free loopback port), and images pushed into it: Wasm artifacts, and the
//! busybox image the benches build too (`skiff_benches::images`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use oci_client::client::{Config, ImageLayer};

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

/// Pushes `wasm` to `reference` as a Wasm OCI artifact.
pub fn push_wasm(registry: &str, reference: &str, wasm: Vec<u8>) {
    let layer = ImageLayer::new(wasm, "application/wasm".into(), None);
    let config = Config::new(
        b"{}".to_vec(),
        "application/vnd.wasm.config.v0+json".into(),
        None,
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(skiff_benches::images::push(
        registry,
        reference,
        vec![layer],
        config,
    ))
    .unwrap();
}

/// What a pushed image is made of.
pub use skiff_benches::images::Pushed;

/// How an image is pushed (layer compression, credentials).
pub use skiff_benches::images::PushOptions;

/// Pushes the busybox image (see `skiff_benches::images`) to `reference`.
pub fn push_busybox(registry: &str, reference: &str, cmd: Option<&[&str]>, arch: &str) -> Pushed {
    push_busybox_with(registry, reference, cmd, arch, &PushOptions::default())
}

/// [`push_busybox`] with `options`.
pub fn push_busybox_with(
    registry: &str,
    reference: &str,
    cmd: Option<&[&str]>,
    arch: &str,
    options: &PushOptions,
) -> Pushed {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(skiff_benches::images::push_busybox_with(
        registry, reference, cmd, arch, options,
    ))
    .unwrap()
}

/// A registry that serves only user `user` with `password` (htpasswd, bcrypt, made with
/// `htpasswd` of apache2-utils).
pub fn private_registry(dir: &Path, user: &str, password: &str) -> Registry {
    let out = Command::new("htpasswd")
        .args(["-Bbn", user, password])
        .output()
        .expect("htpasswd (Debian package apache2-utils; `cargo xtask test` installs it)");
    assert!(out.status.success(), "htpasswd: {out:?}");
    let file = dir.join("htpasswd");
    std::fs::write(&file, &out.stdout).unwrap();
    Registry::start_with(&format!(
        "auth:\n  htpasswd:\n    realm: skiff-tests\n    path: {}\n",
        file.display()
    ))
}
