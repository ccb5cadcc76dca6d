//! Container images for the benches and the tests: a busybox image whose one layer is
//! built from Debian's static busybox (`/bin/busybox` and a link for every applet), as
//! `docker build` would make it `FROM scratch`, pushed to a registry with `oci-client`.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};
use oci_client::Reference;
use oci_client::client::{Config, ImageLayer};
use oci_client::secrets::RegistryAuth;
use sha2::{Digest, Sha256};

/// Pushes an image of `layers` and `config` to `reference` in `registry`.
pub async fn push(
    registry: &str,
    reference: &str,
    layers: Vec<ImageLayer>,
    config: Config,
) -> Result<()> {
    push_as(
        registry,
        reference,
        layers,
        config,
        &RegistryAuth::Anonymous,
    )
    .await
}

/// [`push`] with credentials.
pub async fn push_as(
    registry: &str,
    reference: &str,
    layers: Vec<ImageLayer>,
    config: Config,
    auth: &RegistryAuth,
) -> Result<()> {
    let r: Reference = reference
        .parse()
        .with_context(|| format!("{reference} is not a reference"))?;
    // The node's own client: plain HTTP for a loopback registry.
    skiff_node::oci::client(registry)
        .push(&r, &layers, config, auth, None)
        .await
        .with_context(|| format!("pushing {reference}"))?;
    Ok(())
}

/// How [`push_busybox_with`] pushes the image.
#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    /// The layer compressed with zstd rather than gzip.
    pub zstd: bool,
    /// A user name and password for the registry.
    pub basic: Option<(String, String)>,
}

/// What a pushed image is made of.
pub struct Pushed {
    /// The layer blob's digest (`sha256:...`), as the registry stores it.
    pub layer: String,
}

/// A busybox image: `/bin/busybox` and a link for every applet, `/etc/passwd` and
/// `/etc/group` with root, `www-data` (33) and `nobody`, `/tmp`, and `/www/index.html`.
/// `cmd` is its Cmd (none: an image that names no command); `arch` its architecture.
pub async fn push_busybox(
    registry: &str,
    reference: &str,
    cmd: Option<&[&str]>,
    arch: &str,
) -> Result<Pushed> {
    push_busybox_with(registry, reference, cmd, arch, &PushOptions::default()).await
}

/// [`push_busybox`] with a choice of layer compression and credentials.
pub async fn push_busybox_with(
    registry: &str,
    reference: &str,
    cmd: Option<&[&str]>,
    arch: &str,
    options: &PushOptions,
) -> Result<Pushed> {
    let tar = busybox_layer(reference)?;
    let diff_id = format!("sha256:{:x}", Sha256::digest(&tar));
    let (blob, media_type) = if options.zstd {
        let z = ruzstd::encoding::compress_to_vec(
            &tar[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        (z, "application/vnd.oci.image.layer.v1.tar+zstd")
    } else {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar)?;
        (gz.finish()?, "application/vnd.oci.image.layer.v1.tar+gzip")
    };
    let layer = format!("sha256:{:x}", Sha256::digest(&blob));
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
    let layers = vec![ImageLayer::new(blob, media_type.into(), None)];
    let config = Config::new(
        serde_json::to_vec(&config)?,
        "application/vnd.oci.image.config.v1+json".into(),
        None,
    );
    let auth = match &options.basic {
        Some((user, password)) => RegistryAuth::Basic(user.clone(), password.clone()),
        None => RegistryAuth::Anonymous,
    };
    push_as(registry, reference, layers, config, &auth).await?;
    Ok(Pushed { layer })
}

/// Debian's static busybox.
fn busybox() -> Result<PathBuf> {
    let path = PathBuf::from("/bin/busybox");
    if !path.exists() {
        bail!("no /bin/busybox: install Debian's busybox-static (`cargo xtask test` does)");
    }
    Ok(path)
}

/// A tar header of `kind` and `mode`, owned by root, dated 0.
fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_uid(0);
    h.set_gid(0);
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(0);
    h
}

/// The layer's tar; `/etc/skiff-image` names `reference`, so no two images share a layer.
fn busybox_layer(reference: &str) -> Result<Vec<u8>> {
    let bin = busybox()?;
    let applets = Command::new(&bin).arg("--list").output()?;
    let applets = String::from_utf8(applets.stdout)?;
    let mut b = tar::Builder::new(Vec::new());
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
        let mut h = header(tar::EntryType::Directory, mode, 0);
        b.append_data(&mut h, d, std::io::empty())?;
    }
    let passwd: &[u8] = b"root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www-data:/www:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n";
    let group: &[u8] = b"root:x:0:\nwww-data:x:33:\nnogroup:x:65534:\n";
    let files: [(&str, u32, Vec<u8>); 5] = [
        ("bin/busybox", 0o755, std::fs::read(&bin)?),
        ("etc/passwd", 0o644, passwd.to_vec()),
        ("etc/group", 0o644, group.to_vec()),
        (
            "www/index.html",
            0o644,
            b"hello from a container\n".to_vec(),
        ),
        ("etc/skiff-image", 0o644, reference.as_bytes().to_vec()),
    ];
    for (name, mode, data) in files {
        let mut h = header(tar::EntryType::Regular, mode, data.len() as u64);
        b.append_data(&mut h, name, data.as_slice())?;
    }
    for applet in applets.lines().map(str::trim).filter(|a| !a.is_empty()) {
        if applet == "busybox" {
            continue;
        }
        let mut h = header(tar::EntryType::Symlink, 0o777, 0);
        b.append_link(&mut h, format!("bin/{applet}"), "busybox")?;
    }
    Ok(b.into_inner()?)
}
