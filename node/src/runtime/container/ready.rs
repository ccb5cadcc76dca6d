//! Root filesystems mounted ahead of need. An overlay mount costs about a millisecond
//! (overlayfs checks its work folder with a few writes on every mount), so once a
//! container of an image has started, one more root filesystem of that image is mounted
//! in the background, in a folder of its own under `ready/`. The next run of the image
//! takes it by renaming that folder to the run's folder: the mount moves with it (a
//! folder that holds a mount point may be renamed; only the mount point itself may not).
//!
//! A few images are kept ready, the most recently started; an entry no start has taken
//! for [`KEEP_FOR`] is removed, so it does not keep its image from being collected.
//! What an earlier agent left under `ready/` is removed when the runtime starts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::rootfs::Rootfs;
use crate::oci::{Held, Image, ImageStore};

/// How many images have a root filesystem kept ready.
const IMAGES: usize = 4;

/// How long an entry is kept if no start takes it.
pub const KEEP_FOR: Duration = Duration::from_secs(600);

struct Entry {
    dir: PathBuf,
    made: Instant,
    /// Keeps the image (and so the layers the mount stacks) from being collected.
    _held: Held,
}

/// The root filesystems kept ready, one per image (by image id).
pub struct ReadyRoots {
    dir: PathBuf,
    /// The lower folder of an image with no layers.
    empty: PathBuf,
    entries: Mutex<HashMap<String, Entry>>,
    /// Images whose entry is being mounted now.
    filling: Mutex<Vec<String>>,
    made: AtomicU64,
}

impl ReadyRoots {
    /// Ready roots in `dir`, after removing what an earlier agent left there.
    pub fn new(dir: PathBuf, empty: PathBuf) -> ReadyRoots {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            remove(&e.path());
        }
        ReadyRoots {
            dir,
            empty,
            entries: Mutex::default(),
            filling: Mutex::default(),
            made: AtomicU64::new(0),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Moves a root filesystem of `image` ready to `run` (a run's folder, absent or
    /// empty): whether there was one. `run` then holds `rootfs`, `upper` and `work` as
    /// [`Rootfs::mount`] leaves them.
    pub fn take(&self, image: &Image, run: &Path) -> bool {
        let Some(entry) = self.entries().remove(&image.id) else {
            return false;
        };
        match std::fs::rename(&entry.dir, run) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(from = %entry.dir.display(), to = %run.display(), error = %e, "moving a ready root filesystem");
                remove(&entry.dir);
                false
            }
        }
    }

    /// Mounts a root filesystem of `image` ready, in the background and a little later
    /// (after `after`, so it does not compete with the start that asked), unless one is
    /// ready or being mounted.
    pub fn refill(self: &Arc<Self>, images: &Arc<ImageStore>, image: Arc<Image>, after: Duration) {
        if self.entries().contains_key(&image.id) {
            return;
        }
        {
            let mut filling = self.filling.lock().unwrap_or_else(|p| p.into_inner());
            if filling.contains(&image.id) {
                return;
            }
            filling.push(image.id.clone());
        }
        let (this, held) = (self.clone(), images.hold(&image));
        let n = self.made.fetch_add(1, Ordering::Relaxed);
        let dir = self.dir.join(n.to_string());
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let mounted = {
                let (dir, empty, image) = (dir.clone(), this.empty.clone(), image.clone());
                tokio::task::spawn_blocking(move || {
                    std::fs::create_dir_all(&empty)
                        .map_err(|e| format!("creating {}: {e}", empty.display()))?;
                    Rootfs::in_dir(&dir).mount(&image.layers, &empty)
                })
                .await
                .unwrap_or_else(|e| Err(e.to_string()))
            };
            this.filling
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|id| id != &image.id);
            if let Err(e) = mounted {
                tracing::warn!(image = %image.reference, error = %e, "mounting a root filesystem ahead of need");
                remove(&dir);
                return;
            }
            let evicted = {
                let mut entries = this.entries();
                let replaced = entries.insert(
                    image.id.clone(),
                    Entry {
                        dir,
                        made: Instant::now(),
                        _held: held,
                    },
                );
                let mut out: Vec<Entry> = replaced.into_iter().collect();
                while entries.len() > IMAGES {
                    let oldest = entries
                        .iter()
                        .min_by_key(|(_, e)| e.made)
                        .map(|(id, _)| id.clone());
                    out.extend(oldest.and_then(|id| entries.remove(&id)));
                }
                out
            };
            for e in evicted {
                remove(&e.dir);
            }
        });
    }

    /// Removes the entries made more than `keep_for` ago.
    pub fn expire(&self, keep_for: Duration) {
        let old: Vec<Entry> = {
            let mut entries = self.entries();
            let ids: Vec<String> = entries
                .iter()
                .filter(|(_, e)| e.made.elapsed() >= keep_for)
                .map(|(id, _)| id.clone())
                .collect();
            ids.iter().filter_map(|id| entries.remove(id)).collect()
        };
        for e in old {
            remove(&e.dir);
        }
    }
}

/// Unmounts and removes an entry's folder.
fn remove(dir: &Path) {
    if let Err(e) = Rootfs::in_dir(dir).remove() {
        tracing::warn!(dir = %dir.display(), error = %e, "removing a ready root filesystem");
    }
    let _ = std::fs::remove_dir(dir);
}
