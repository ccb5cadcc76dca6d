//! A container's root filesystem: an overlay mount of its image's layers (read-only,
//! shared by every container of the image) under a writable layer of its own, in the
//! run's folder. Unmounted and removed with the run.

use std::fs;
use std::path::{Path, PathBuf};

use rustix::mount::{MountFlags, UnmountFlags};

/// The mount's folders in a run's folder.
pub struct Rootfs {
    pub target: PathBuf,
    upper: PathBuf,
    work: PathBuf,
}

impl Rootfs {
    pub fn in_dir(run: &Path) -> Rootfs {
        Rootfs {
            target: run.join("rootfs"),
            upper: run.join("upper"),
            work: run.join("work"),
        }
    }

    /// Mounts `layers` (lowest first) with a fresh writable layer over them.
    pub fn mount(&self, layers: &[PathBuf], empty: &Path) -> Result<(), String> {
        for d in [&self.target, &self.upper, &self.work] {
            fs::create_dir_all(d).map_err(|e| format!("creating {}: {e}", d.display()))?;
        }
        // overlayfs lists the top layer first; an image of no layers still needs one.
        let lower: Vec<String> = if layers.is_empty() {
            vec![empty.display().to_string()]
        } else {
            layers
                .iter()
                .rev()
                .map(|l| l.display().to_string())
                .collect()
        };
        let data = format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.join(":"),
            self.upper.display(),
            self.work.display()
        );
        // The kernel takes one page of mount options.
        if data.len() >= 4096 {
            return Err(format!(
                "the image has {} layers, too many for one overlay mount's options ({} bytes); squash it",
                layers.len(),
                data.len()
            ));
        }
        let data = std::ffi::CString::new(data).map_err(|e| e.to_string())?;
        rustix::mount::mount(
            "overlay",
            &self.target,
            "overlay",
            MountFlags::empty(),
            data.as_c_str(),
        )
        .map_err(|e| {
            format!(
                "mounting the root filesystem at {}: {e}",
                self.target.display()
            )
        })
    }

    /// Unmounts the root filesystem if it is mounted (lazily, should something still hold
    /// it) and removes the writable layer.
    pub fn remove(&self) -> Result<(), String> {
        match rustix::mount::unmount(&self.target, UnmountFlags::DETACH) {
            Ok(()) | Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => {}
            Err(e) => return Err(format!("unmounting {}: {e}", self.target.display())),
        }
        for d in [&self.target, &self.upper, &self.work] {
            match fs::remove_dir_all(d) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("removing {}: {e}", d.display())),
            }
        }
        Ok(())
    }
}

/// Whether `path` is a mount point (listed in this process's mount table).
pub fn is_mounted(path: &Path) -> bool {
    let Ok(table) = fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = path.display().to_string();
    table
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|m| m == want)
}
