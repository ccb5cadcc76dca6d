//! Layers unpacked for overlayfs: a layer blob (a tar, gzip- or zstd-compressed or not) becomes a
//! folder that one overlay mount stacks with the others. The tar's whiteouts are turned
//! into what overlayfs reads: `.wh.NAME` into a 0/0 character device at `NAME`, and
//! `.wh..wh..opq` into the `trusted.overlay.opaque` attribute of its folder. The
//! uncompressed bytes are checked against the image config's `diff_id` as they stream by.
//! Nothing in a layer may land outside its folder (`tar` refuses `..` and absolute
//! names, and links are made inside it).

use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

/// How a layer blob is compressed, from its media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// The compression `media_type` names, or why Skiff cannot unpack it.
    pub fn of(media_type: &str) -> Result<Compression, String> {
        match media_type {
            "application/vnd.oci.image.layer.v1.tar"
            | "application/vnd.docker.image.rootfs.diff.tar"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar" => Ok(Compression::None),
            "application/vnd.oci.image.layer.v1.tar+gzip"
            | "application/vnd.docker.image.rootfs.diff.tar.gzip"
            | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip" => {
                Ok(Compression::Gzip)
            }
            "application/vnd.oci.image.layer.v1.tar+zstd"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd" => {
                Ok(Compression::Zstd)
            }
            other => Err(format!(
                "layer media type {other} is not a filesystem layer"
            )),
        }
    }
}

/// A reader that hashes what passes through it.
struct Hashing<R> {
    inner: R,
    hash: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}

/// Unpacks the layer blob at `blob` into the new folder `dest`; `diff_id`
/// (`sha256:<hex>`) is what the uncompressed tar must hash to. Returns the bytes the
/// folder holds. A failure leaves no `dest` behind.
pub fn unpack(
    blob: &Path,
    compression: Compression,
    diff_id: &str,
    dest: &Path,
) -> Result<u64, String> {
    let result = unpack_into(blob, compression, diff_id, dest);
    if result.is_err() {
        let _ = fs::remove_dir_all(dest);
    }
    result
}

fn unpack_into(
    blob: &Path,
    compression: Compression,
    diff_id: &str,
    dest: &Path,
) -> Result<u64, String> {
    let file = File::open(blob).map_err(|e| format!("opening {}: {e}", blob.display()))?;
    let raw: Box<dyn Read> = match compression {
        Compression::None => Box::new(BufReader::with_capacity(1 << 20, file)),
        Compression::Gzip => Box::new(flate2::read::GzDecoder::new(BufReader::with_capacity(
            1 << 20,
            file,
        ))),
        Compression::Zstd => Box::new(super::zstd::Frames::new(BufReader::with_capacity(
            1 << 20,
            file,
        ))),
    };
    let mut reader = Hashing {
        inner: raw,
        hash: Sha256::new(),
    };
    fs::create_dir_all(dest).map_err(|e| format!("creating {}: {e}", dest.display()))?;
    let mut size = 0u64;
    {
        let mut archive = tar::Archive::new(&mut reader);
        archive.set_preserve_permissions(true);
        archive.set_preserve_ownerships(true);
        archive.set_preserve_mtime(true);
        archive.set_unpack_xattrs(true);
        archive.set_overwrite(true);
        let entries = archive
            .entries()
            .map_err(|e| format!("reading the layer: {e}"))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| format!("reading the layer: {e}"))?;
            let path = entry
                .path()
                .map_err(|e| format!("a layer entry's name: {e}"))?
                .into_owned();
            size = size.saturating_add(entry.header().size().unwrap_or(0));
            if whiteout(dest, &path)? {
                continue;
            }
            entry
                .unpack_in(dest)
                .map_err(|e| format!("unpacking {}: {}", path.display(), chain(&e)))?;
        }
    }
    // What tar did not read (its end-of-archive padding) is part of the digest.
    io::copy(&mut reader, &mut io::sink()).map_err(|e| format!("reading the layer: {e}"))?;
    let got = format!("sha256:{:x}", reader.hash.finalize());
    if got != diff_id {
        return Err(format!(
            "the layer unpacks to {got}, not the {diff_id} its image config names; the image is corrupt"
        ));
    }
    Ok(size)
}

/// Handles `path` as overlayfs wants it when it is a whiteout (`true`).
fn whiteout(dest: &Path, path: &Path) -> Result<bool, String> {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return Ok(false);
    };
    if !name.starts_with(WHITEOUT_PREFIX) {
        return Ok(false);
    }
    let parent = inside(dest, path.parent().unwrap_or(Path::new("")))?;
    fs::create_dir_all(&parent).map_err(|e| format!("creating {}: {e}", parent.display()))?;
    if name == OPAQUE {
        rustix::fs::setxattr(
            &parent,
            "trusted.overlay.opaque",
            b"y",
            rustix::fs::XattrFlags::empty(),
        )
        .map_err(|e| format!("marking {} opaque: {e}", parent.display()))?;
        return Ok(true);
    }
    let hidden = name.trim_start_matches(WHITEOUT_PREFIX);
    if hidden.is_empty() || hidden == "." || hidden == ".." {
        return Err(format!("{}: not a valid whiteout", path.display()));
    }
    let target = parent.join(hidden);
    let _ = fs::remove_file(&target);
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &target,
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::empty(),
        rustix::fs::makedev(0, 0),
    )
    .map_err(|e| format!("whiting out {}: {e}", target.display()))?;
    Ok(true)
}

/// An error and its causes, as one line.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// `rel` under `dest`, refusing anything that climbs out.
fn inside(dest: &Path, rel: &Path) -> Result<PathBuf, String> {
    let mut out = dest.to_path_buf();
    for c in rel.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            _ => {
                return Err(format!(
                    "{}: a layer entry outside the layer",
                    rel.display()
                ));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_uid(0);
            h.set_gid(0);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn digest(bytes: &[u8]) -> String {
        format!("sha256:{:x}", Sha256::digest(bytes))
    }

    #[test]
    fn media_types_name_their_compression() {
        assert_eq!(
            Compression::of("application/vnd.docker.image.rootfs.diff.tar.gzip"),
            Ok(Compression::Gzip)
        );
        assert_eq!(
            Compression::of("application/vnd.oci.image.layer.v1.tar"),
            Ok(Compression::None)
        );
        assert_eq!(
            Compression::of("application/vnd.oci.image.layer.v1.tar+zstd"),
            Ok(Compression::Zstd)
        );
        assert!(Compression::of("application/wasm").is_err());
    }

    #[test]
    fn a_gzip_layer_unpacks_and_is_checked_against_its_diff_id() {
        let dir = tempfile::tempdir().unwrap();
        let tar = tar_of(&[("etc/motd", b"hello\n"), ("bin/tool", b"#!/bin/sh\n")]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, &tar).unwrap();
        let blob = dir.path().join("blob");
        fs::write(&blob, gz.finish().unwrap()).unwrap();
        let dest = dir.path().join("layer");
        unpack(&blob, Compression::Gzip, &digest(&tar), &dest).unwrap();
        assert_eq!(fs::read(dest.join("etc/motd")).unwrap(), b"hello\n");

        let wrong = dir.path().join("wrong");
        let e = unpack(&blob, Compression::Gzip, &digest(b"other"), &wrong).unwrap_err();
        assert!(e.contains("corrupt"), "{e}");
        assert!(!wrong.exists(), "a failed unpack leaves nothing");
    }

    #[test]
    fn entries_that_climb_out_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(inside(dir.path(), Path::new("a/../../x")).is_err());
        assert!(inside(dir.path(), Path::new("/etc")).is_err());
        assert_eq!(
            inside(dir.path(), Path::new("./a/b")).unwrap(),
            dir.path().join("a/b")
        );
    }

    #[test]
    fn whiteouts_become_what_overlayfs_reads() {
        // Device nodes and trusted.* attributes need root, as the node agent has.
        if !rustix::process::geteuid().is_root() {
            panic!("this test needs root (cargo xtask test runs as root in CI)");
        }
        let dir = tempfile::tempdir().unwrap();
        let tar = tar_of(&[("etc/.wh.passwd", b""), ("var/.wh..wh..opq", b"")]);
        let blob = dir.path().join("blob");
        fs::write(&blob, &tar).unwrap();
        let dest = dir.path().join("layer");
        unpack(&blob, Compression::None, &digest(&tar), &dest).unwrap();
        let m = fs::symlink_metadata(dest.join("etc/passwd")).unwrap();
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        assert!(m.file_type().is_char_device());
        assert_eq!(m.rdev(), 0);
        assert!(!dest.join("etc/.wh.passwd").exists());
        let mut value = [0u8; 4];
        let n =
            rustix::fs::getxattr(dest.join("var"), "trusted.overlay.opaque", &mut value).unwrap();
        assert_eq!(value.get(..n), Some(&b"y"[..]));
    }
}
