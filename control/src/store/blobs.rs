//! The artifact store: Wasm components (and any other blob) a client uploads, kept on
//! every member's disk, content-addressed by sha256 as OCI registries keep blobs.
//!
//! An artifact travels through raft as chunks (`Op::PutChunk`, each stored under its own
//! digest, so a chunk two artifacts share is stored once) and a manifest
//! (`Op::SealArtifact`) that lists the chunks in order. Sealing checks on every member
//! that each chunk is there and that their concatenation has the artifact's digest.
//!
//! Files under the store's directory: `chunks/<hex>` and `sha256/<hex>` (the manifest).
//! Each is written to a temporary file, fsync'd and renamed, so a file that exists is
//! whole. Writes happen as entries apply and are idempotent: an entry replayed after a
//! crash writes the same bytes again.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::command::Rejection;
use super::wal::{io, sync_dir};
use crate::Error;

/// The most bytes one chunk carries (one raft entry each).
pub const CHUNK_BYTES: usize = 1 << 20;

const MANIFEST_HEADER: &str = "skiff-artifact v1";

/// An artifact: its digest (hex), size and chunks (hex digests, in order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub digest: String,
    pub size: u64,
    pub chunks: Vec<String>,
}

impl Manifest {
    pub(super) fn encode(&self) -> String {
        let mut s = format!("{MANIFEST_HEADER}\nsize {}\n", self.size);
        for c in &self.chunks {
            s.push_str(c);
            s.push('\n');
        }
        s
    }

    pub(super) fn decode(digest: &str, text: &str) -> Option<Manifest> {
        let mut lines = text.lines();
        if lines.next()? != MANIFEST_HEADER {
            return None;
        }
        let size = lines.next()?.strip_prefix("size ")?.parse().ok()?;
        let chunks: Vec<String> = lines.map(str::to_owned).collect();
        chunks.iter().all(|c| is_hex_digest(c)).then(|| Manifest {
            digest: digest.to_owned(),
            size,
            chunks,
        })
    }
}

/// The hex sha256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 64 lowercase hex digits: safe as a file name.
pub fn is_hex_digest(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// One member's artifact files. Cloning shares the directory.
#[derive(Debug, Clone)]
pub struct Blobs {
    dir: PathBuf,
}

impl Blobs {
    pub fn open(dir: &Path) -> Result<Blobs, Error> {
        for sub in ["chunks", "sha256", "tmp"] {
            let d = dir.join(sub);
            fs::create_dir_all(&d).map_err(|e| io(&d, "creating", e))?;
        }
        // Half-written files of a crash: whatever they held is replayed from the log.
        let tmp = dir.join("tmp");
        for entry in fs::read_dir(&tmp).map_err(|e| io(&tmp, "listing", e))? {
            let path = entry.map_err(|e| io(&tmp, "listing", e))?.path();
            fs::remove_file(&path).map_err(|e| io(&path, "removing", e))?;
        }
        Ok(Blobs {
            dir: dir.to_path_buf(),
        })
    }

    fn chunk_path(&self, hex: &str) -> PathBuf {
        self.dir.join("chunks").join(hex)
    }

    fn manifest_path(&self, hex: &str) -> PathBuf {
        self.dir.join("sha256").join(hex)
    }

    /// Stores `data` under its digest (a no-op when it is there) and returns the digest.
    pub fn put_chunk(&self, data: &[u8]) -> Result<String, Error> {
        let digest = sha256_hex(data);
        let path = self.chunk_path(&digest);
        if !path.exists() {
            self.write_file(&path, data)?;
        }
        Ok(digest)
    }

    /// The chunk `hex`, checked against its digest.
    pub fn chunk(&self, hex: &str) -> Result<Option<Vec<u8>>, Error> {
        if !is_hex_digest(hex) {
            return Ok(None);
        }
        let path = self.chunk_path(hex);
        let data = match fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&path, "reading", e)),
        };
        if sha256_hex(&data) != hex {
            return Err(Error::Corrupt {
                path,
                what: "artifact chunk".into(),
                reason: "its contents do not match its digest".into(),
            });
        }
        Ok(Some(data))
    }

    /// Records `m` once every chunk is stored and their concatenation has `m.digest`; the
    /// rejection says what is missing or wrong (the same on every member).
    pub fn seal(&self, m: &Manifest) -> Result<Result<(), Rejection>, Error> {
        let bad = |why: String| {
            Ok(Err(Rejection::BadArtifact(format!(
                "sha256:{}: {why}",
                m.digest
            ))))
        };
        if !is_hex_digest(&m.digest) {
            return bad("the digest is not 64 lowercase hex digits".into());
        }
        if self.manifest_path(&m.digest).exists() {
            return Ok(Ok(()));
        }
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        for c in &m.chunks {
            let Some(data) = self.chunk(c)? else {
                return bad(format!(
                    "chunk {c} was never uploaded; upload the artifact again"
                ));
            };
            size += data.len() as u64;
            hasher.update(&data);
        }
        if size != m.size {
            return bad(format!(
                "the chunks hold {size} bytes, not the declared {}",
                m.size
            ));
        }
        let actual = hex(&hasher.finalize());
        if actual != m.digest {
            return bad(format!("the uploaded bytes have digest sha256:{actual}"));
        }
        self.write_file(&self.manifest_path(&m.digest), m.encode().as_bytes())?;
        Ok(Ok(()))
    }

    /// The sealed artifact `hex`, if this member has it.
    pub fn manifest(&self, hex: &str) -> Result<Option<Manifest>, Error> {
        if !is_hex_digest(hex) {
            return Ok(None);
        }
        let path = self.manifest_path(hex);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&path, "reading", e)),
        };
        Manifest::decode(hex, &text)
            .map(Some)
            .ok_or_else(|| Error::Corrupt {
                path,
                what: "artifact manifest".into(),
                reason: "it does not decode".into(),
            })
    }

    /// The digest of every stored chunk, sorted.
    pub fn chunk_digests(&self) -> Result<Vec<String>, Error> {
        let dir = self.dir.join("chunks");
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(|e| io(&dir, "listing", e))? {
            let name = entry.map_err(|e| io(&dir, "listing", e))?.file_name();
            out.extend(
                name.to_str()
                    .filter(|n| is_hex_digest(n))
                    .map(str::to_owned),
            );
        }
        out.sort();
        Ok(out)
    }

    /// Every sealed artifact, by digest.
    pub fn manifests(&self) -> Result<Vec<Manifest>, Error> {
        let dir = self.dir.join("sha256");
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(|e| io(&dir, "listing", e))? {
            let name = entry.map_err(|e| io(&dir, "listing", e))?.file_name();
            if let Some(m) = name.to_str().map(|n| self.manifest(n)).transpose()? {
                out.extend(m);
            }
        }
        out.sort_by(|a, b| a.digest.cmp(&b.digest));
        Ok(out)
    }

    /// Writes `data` to `path` whole or not at all, durably.
    fn write_file(&self, path: &Path, data: &[u8]) -> Result<(), Error> {
        let name = path.file_name().unwrap_or_default();
        let tmp = self.dir.join("tmp").join(name);
        File::create(&tmp)
            .and_then(|mut f| f.write_all(data).and_then(|()| f.sync_all()))
            .map_err(|e| io(&tmp, "writing", e))?;
        fs::rename(&tmp, path).map_err(|e| io(path, "renaming into", e))?;
        sync_dir(path.parent().unwrap_or(&self.dir))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_content_addressed_and_seals_verify_the_whole() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::open(dir.path()).unwrap();
        let (a, b) = (vec![1u8; 1000], vec![2u8; 10]);
        let ca = blobs.put_chunk(&a).unwrap();
        assert_eq!(blobs.put_chunk(&a).unwrap(), ca, "idempotent");
        let cb = blobs.put_chunk(&b).unwrap();
        let whole: Vec<u8> = a.iter().chain(&b).copied().collect();
        let m = Manifest {
            digest: sha256_hex(&whole),
            size: 1010,
            chunks: vec![ca.clone(), cb.clone()],
        };
        assert_eq!(blobs.seal(&m).unwrap(), Ok(()));
        assert_eq!(blobs.manifest(&m.digest).unwrap(), Some(m.clone()));
        assert_eq!(blobs.manifests().unwrap(), vec![m.clone()]);

        let swapped = Manifest {
            digest: sha256_hex(b"other"),
            size: 1010,
            chunks: vec![cb, ca],
        };
        let Err(Rejection::BadArtifact(why)) = blobs.seal(&swapped).unwrap() else {
            panic!("a wrong digest must be refused");
        };
        assert!(why.contains("have digest"), "{why}");
        let missing = Manifest {
            chunks: vec![sha256_hex(b"never")],
            ..swapped
        };
        let Err(Rejection::BadArtifact(why)) = blobs.seal(&missing).unwrap() else {
            panic!("a missing chunk must be refused");
        };
        assert!(why.contains("never uploaded"), "{why}");

        // A damaged chunk is reported, not served.
        fs::write(dir.path().join("chunks").join(&m.chunks[0]), b"rot").unwrap();
        assert!(matches!(
            blobs.chunk(&m.chunks[0]),
            Err(Error::Corrupt { .. })
        ));
    }
}
