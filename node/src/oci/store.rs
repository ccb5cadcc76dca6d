//! The node's images on disk, content-addressed:
//!
//! ```text
//! images/layers/sha256/<diff id>/   one unpacked layer, shared by every image that has it
//! images/configs/sha256/<hex>.json  image configs
//! images/refs/<sha256 of the reference>.json   what a reference resolved to, and when used
//! images/tmp/                       downloads and unpacks under way (emptied on open)
//! ```
//!
//! A pull resolves the reference, fetches the config and then only the layers this node
//! lacks, each streamed to `tmp/`, unpacked and verified, then renamed into place, so a
//! half-done pull never looks done. Images no container uses and that were not used for a
//! while are collected, with the layers no image keeps.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use oci_client::Reference;
use oci_spec::image::ImageConfiguration;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use skiff_proto::model::container::PullPolicy;
use skiff_proto::model::node::ContainerImage;

use super::layers::{self, Compression};
use super::registry::{self, Credentials};
use crate::runtime::NotStarted;
use crate::single_flight::SingleFlight;

/// An image config larger than this is refused (they are a few KiB).
const MAX_CONFIG_BYTES: i64 = 8 << 20;

/// An image ready to run: its config and its layers' folders, lowest first.
#[derive(Debug, Clone)]
pub struct Image {
    /// The reference as the pod wrote it.
    pub reference: String,
    /// `registry/repository@sha256:...`: the pulled manifest (the pod's `imageID`).
    pub id: String,
    pub config: ImageConfiguration,
    pub layers: Vec<PathBuf>,
    pub size: u64,
}

/// What a reference resolved to, kept on disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    reference: String,
    /// `registry/repository`.
    repository: String,
    manifest: String,
    config: String,
    diff_ids: Vec<String>,
    size: u64,
    /// Seconds since the epoch.
    last_used: u64,
}

/// The node's images.
pub struct ImageStore {
    root: PathBuf,
    records: Mutex<HashMap<String, Record>>,
    pulls: SingleFlight<Arc<Image>>,
    /// Manifests containers use now, counted.
    in_use: Mutex<HashMap<String, usize>>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn hex_of(digest: &str) -> Result<&str, String> {
    digest
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| format!("{digest:?} is not a sha256 digest"))
}

fn pull_error(message: String) -> NotStarted {
    NotStarted::new("ErrImagePull", message)
}

impl ImageStore {
    /// Opens (or makes) the store under `root`; what an interrupted pull left is removed.
    pub fn open(root: &Path) -> Result<ImageStore, crate::Error> {
        let io = |what: &str, path: &Path, e: std::io::Error| crate::Error::Io {
            path: path.to_owned(),
            what: what.into(),
            source: e,
        };
        let tmp = root.join("tmp");
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(|e| io("emptying", &tmp, e))?;
        }
        for d in ["layers/sha256", "configs/sha256", "refs", "tmp"] {
            let p = root.join(d);
            fs::create_dir_all(&p).map_err(|e| io("creating", &p, e))?;
        }
        let mut records = HashMap::new();
        let refs = root.join("refs");
        for entry in fs::read_dir(&refs).map_err(|e| io("reading", &refs, e))? {
            let Ok(entry) = entry else { continue };
            let parsed = fs::read(entry.path())
                .ok()
                .and_then(|b| serde_json::from_slice::<Record>(&b).ok());
            match parsed {
                Some(r) => {
                    records.insert(r.reference.clone(), r);
                }
                None => {
                    tracing::warn!(file = %entry.path().display(), "an unreadable image record; removed");
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
        Ok(ImageStore {
            root: root.to_owned(),
            records: Mutex::new(records),
            pulls: SingleFlight::default(),
            in_use: Mutex::default(),
        })
    }

    fn layer_dir(&self, diff_id: &str) -> Result<PathBuf, String> {
        Ok(self.root.join("layers/sha256").join(hex_of(diff_id)?))
    }

    fn config_path(&self, digest: &str) -> Result<PathBuf, String> {
        Ok(self
            .root
            .join("configs/sha256")
            .join(format!("{}.json", hex_of(digest)?)))
    }

    fn record_path(&self, reference: &str) -> PathBuf {
        let h = Sha256::digest(reference.as_bytes());
        self.root.join("refs").join(format!("{h:x}.json"))
    }

    /// The image `reference` names, pulled as `policy` says with `credentials`.
    pub async fn image(
        &self,
        reference: &str,
        policy: PullPolicy,
        credentials: &Credentials,
    ) -> Result<Arc<Image>, NotStarted> {
        let parsed: Reference = reference.parse().map_err(|e| {
            NotStarted::new(
                "InvalidImageName",
                format!("{reference:?} is not an image reference: {e}"),
            )
        })?;
        if policy != PullPolicy::Always
            && let Some(image) = self.present(reference)
        {
            return Ok(image);
        }
        if policy == PullPolicy::Never {
            return Err(NotStarted::new(
                "ErrImageNeverPull",
                format!("container image {reference:?} is not present with pull policy of Never"),
            ));
        }
        // Pulls under the same credentials share one flight; a pod's pull never waits on
        // (nor takes the outcome of) one made with another pod's credentials.
        let key = format!(
            "{reference}#{}",
            credentials.identity_for(parsed.resolve_registry())
        );
        self.pulls
            .run(&key, self.pull(reference, &parsed, credentials))
            .await
    }

    /// Whether `reference` is here, all its layers with it.
    pub fn is_present(&self, reference: &str) -> bool {
        self.present(reference).is_some()
    }

    /// The image recorded for `reference`, when all its layers are here.
    fn present(&self, reference: &str) -> Option<Arc<Image>> {
        let record = self
            .records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(reference)
            .cloned()?;
        self.load(&record).ok()
    }

    fn load(&self, r: &Record) -> Result<Arc<Image>, String> {
        let path = self.config_path(&r.config)?;
        let config = ImageConfiguration::from_file(&path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        let mut layers = Vec::with_capacity(r.diff_ids.len());
        for d in &r.diff_ids {
            let dir = self.layer_dir(d)?;
            if !dir.is_dir() {
                return Err(format!("layer {d} is missing"));
            }
            layers.push(dir);
        }
        Ok(Arc::new(Image {
            reference: r.reference.clone(),
            id: format!("{}@{}", r.repository, r.manifest),
            config,
            layers,
            size: r.size,
        }))
    }

    async fn pull(
        &self,
        reference: &str,
        r: &Reference,
        credentials: &Credentials,
    ) -> Result<Arc<Image>, NotStarted> {
        let registry = r.resolve_registry().to_owned();
        let client = registry::client(&registry);
        let auth = credentials.auth_for(&registry);
        let (manifest, digest) = registry::manifest(&client, r, &auth)
            .await
            .map_err(pull_error)?;
        let config_bytes = registry::small_blob(&client, r, &manifest.config, MAX_CONFIG_BYTES)
            .await
            .map_err(pull_error)?;
        let config = ImageConfiguration::from_reader(config_bytes.as_slice()).map_err(|e| {
            pull_error(format!(
                "{reference}: its config is not an OCI image config: {e}"
            ))
        })?;
        let (os, arch) = registry::platform();
        if config.os().to_string() != os || config.architecture().to_string() != arch {
            return Err(pull_error(format!(
                "{reference} is an image for {}/{}; this node runs {os}/{arch}",
                config.os(),
                config.architecture()
            )));
        }
        let diff_ids = config.rootfs().diff_ids().clone();
        if diff_ids.len() != manifest.layers.len() {
            return Err(pull_error(format!(
                "{reference}: its manifest has {} layers but its config {} diff_ids; the image is corrupt",
                manifest.layers.len(),
                diff_ids.len()
            )));
        }
        let mut size = 0u64;
        for (layer, diff_id) in manifest.layers.iter().zip(&diff_ids) {
            let dir = self.layer_dir(diff_id).map_err(pull_error)?;
            size = size.saturating_add(u64::try_from(layer.size).unwrap_or(0));
            if dir.is_dir() {
                continue;
            }
            let compression = Compression::of(&layer.media_type)
                .map_err(|e| pull_error(format!("{reference}: {e}")))?;
            let tmp = self.root.join("tmp").join(uuid_like());
            let blob = tmp.with_extension("blob");
            tracing::info!(image = reference, layer = %layer.digest, bytes = layer.size, "pulling a layer");
            registry::blob_to_file(&client, r, layer, &blob)
                .await
                .map_err(pull_error)?;
            let (from, to, id) = (blob.clone(), tmp.clone(), diff_id.clone());
            let unpacked =
                tokio::task::spawn_blocking(move || layers::unpack(&from, compression, &id, &to))
                    .await
                    .map_err(|e| pull_error(format!("unpacking: {e}")))
                    .and_then(|r| {
                        r.map_err(|e| {
                            pull_error(format!("{reference}: layer {}: {e}", layer.digest))
                        })
                    });
            let _ = fs::remove_file(&blob);
            unpacked?;
            if fs::rename(&tmp, &dir).is_err() {
                // Another pull put the same layer in place first.
                let _ = fs::remove_dir_all(&tmp);
            }
        }
        let config_path = self
            .config_path(&manifest.config.digest)
            .map_err(pull_error)?;
        write_atomically(&config_path, &config_bytes).map_err(pull_error)?;
        let record = Record {
            reference: reference.to_owned(),
            repository: format!("{}/{}", r.resolve_registry(), r.repository()),
            manifest: digest,
            config: manifest.config.digest.clone(),
            diff_ids,
            size,
            last_used: now_secs(),
        };
        self.save(&record).map_err(pull_error)?;
        let image = self.load(&record).map_err(pull_error)?;
        tracing::info!(image = reference, id = %image.id, "image pulled");
        Ok(image)
    }

    fn save(&self, record: &Record) -> Result<(), String> {
        let json = serde_json::to_vec(record).map_err(|e| e.to_string())?;
        write_atomically(&self.record_path(&record.reference), &json)?;
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(record.reference.clone(), record.clone());
        Ok(())
    }

    /// Marks `image` used by a container until the guard is dropped.
    pub fn hold(self: &Arc<Self>, image: &Image) -> Held {
        *self
            .in_use
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(image.id.clone())
            .or_default() += 1;
        Held {
            store: self.clone(),
            id: image.id.clone(),
            reference: image.reference.clone(),
        }
    }

    /// Marks the image `reference` was pulled as used, if it is here (a container an
    /// earlier agent started).
    pub fn hold_reference(self: &Arc<Self>, reference: &str) -> Option<Held> {
        let image = self.present(reference)?;
        Some(self.hold(&image))
    }

    /// The images here, for the Node's `status.images`.
    pub fn images(&self) -> Vec<ContainerImage> {
        let records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        let mut by_id: HashMap<String, (Vec<String>, u64)> = HashMap::new();
        for r in records.values() {
            let e = by_id
                .entry(format!("{}@{}", r.repository, r.manifest))
                .or_default();
            e.0.push(r.reference.clone());
            e.1 = r.size;
        }
        by_id
            .into_iter()
            .map(|(id, (mut names, size))| {
                names.push(id);
                names.sort();
                ContainerImage {
                    names,
                    size_bytes: Some(size),
                }
            })
            .collect()
    }

    /// Forgets images no container uses that were last used more than `unused_for` ago,
    /// and removes the layers and configs no remaining image needs. Returns the
    /// references forgotten.
    pub fn collect_garbage(&self, unused_for: Duration) -> Vec<String> {
        let cutoff = now_secs().saturating_sub(unused_for.as_secs());
        let in_use = self
            .in_use
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        let gone: Vec<String> = records
            .values()
            .filter(|r| {
                let id = format!("{}@{}", r.repository, r.manifest);
                r.last_used <= cutoff && !in_use.contains_key(&id)
            })
            .map(|r| r.reference.clone())
            .collect();
        for reference in &gone {
            records.remove(reference);
            let _ = fs::remove_file(self.record_path(reference));
        }
        let keep_layers: HashSet<String> = records
            .values()
            .flat_map(|r| {
                r.diff_ids
                    .iter()
                    .filter_map(|d| hex_of(d).ok())
                    .map(str::to_owned)
            })
            .collect();
        let keep_configs: HashSet<String> = records
            .values()
            .filter_map(|r| hex_of(&r.config).ok().map(|h| format!("{h}.json")))
            .collect();
        drop(records);
        sweep(&self.root.join("layers/sha256"), &keep_layers, true);
        sweep(&self.root.join("configs/sha256"), &keep_configs, false);
        if !gone.is_empty() {
            tracing::info!(images = ?gone, "unused images collected");
        }
        gone
    }
}

/// Removes the entries of `dir` not in `keep`.
fn sweep(dir: &Path, keep: &HashSet<String>, folders: bool) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if keep.contains(&name) {
            continue;
        }
        let _ = if folders {
            fs::remove_dir_all(e.path())
        } else {
            fs::remove_file(e.path())
        };
    }
}

/// A container's hold on its image (so it is not collected while used).
pub struct Held {
    store: Arc<ImageStore>,
    id: String,
    reference: String,
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut in_use = self.store.in_use.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = in_use.get_mut(&self.id) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                in_use.remove(&self.id);
            }
        }
        drop(in_use);
        // Last used now.
        let record = self
            .store
            .records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&self.reference)
            .cloned();
        if let Some(mut r) = record {
            r.last_used = now_secs();
            let _ = self.store.save(&r);
        }
    }
}

/// A name no other download shares.
fn uuid_like() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

/// Writes `bytes` to `path` through a temporary file and a rename.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension(format!("tmp-{}", uuid_like()));
    fs::write(&tmp, bytes).map_err(|e| format!("writing {}: {e}", tmp.display()))?;
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        format!("renaming to {}: {e}", path.display())
    })
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
