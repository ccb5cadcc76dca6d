//! Container logs on the node, as the kubelet keeps them.
//!
//! # Layout on disk
//! `<pod dir>/logs/<container>/<run>.log`: one file per run of the container (`run`
//! counts from 0 and survives agent restarts, since it is read back from the folder). When
//! a file passes [`LogPolicy::max_bytes`] it is rotated to `<run>.log.1` (then `.2`, ...;
//! [`LogPolicy::max_files`] files per run in all). The current run and the one before it
//! (`--previous`) are kept; older runs are removed when a new one starts.
//!
//! # Modules
//! - `sink`: the writer a guest's stdout and stderr go to ([`LogFile`], [`LogSink`]).
//! - `read`: reading a run back with kubectl's options ([`LogQuery`]), following it.

mod read;
mod sink;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use read::{LogQuery, read};
pub use sink::{LogFile, LogSink, Stream};

use crate::Error;

/// How big logs grow: the kubelet's defaults (`containerLogMaxSize` 10 MiB,
/// `containerLogMaxFiles` 5).
#[derive(Debug, Clone, Copy)]
pub struct LogPolicy {
    pub max_bytes: u64,
    pub max_files: u32,
}

impl Default for LogPolicy {
    fn default() -> Self {
        LogPolicy {
            max_bytes: 10 << 20,
            max_files: 5,
        }
    }
}

/// The `i`th rotated file of the log at `path` (`N.log.i`).
fn rotated(path: &Path, i: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{i}"));
    PathBuf::from(s)
}

/// The folder of a container's logs in the pod's folder.
pub fn container_dir(pod_dir: &Path, container: &str) -> PathBuf {
    pod_dir.join("logs").join(container)
}

/// The runs whose logs are in `dir`, oldest first.
fn runs(dir: &Path) -> Vec<u32> {
    let mut out: Vec<u32> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let name = e.ok()?.file_name();
            name.to_str()?.strip_suffix(".log")?.parse().ok()
        })
        .collect();
    out.sort_unstable();
    out
}

fn run_path(dir: &Path, run: u32) -> PathBuf {
    dir.join(format!("{run}.log"))
}

/// Starts the log of a new run of the container whose logs are in `dir`; removes runs
/// older than the previous one.
pub fn start_run(dir: &Path, policy: LogPolicy) -> Result<Arc<LogFile>, Error> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        what: "creating the log folder".into(),
        source,
    })?;
    let existing = runs(dir);
    let next = existing.last().map_or(0, |r| r + 1);
    for old in existing.iter().filter(|r| **r + 1 < next) {
        let base = run_path(dir, *old);
        for i in 1..policy.max_files.max(1) {
            let _ = std::fs::remove_file(rotated(&base, i));
        }
        let _ = std::fs::remove_file(base);
    }
    LogFile::open(&run_path(dir, next), policy)
}

#[cfg(test)]
mod tests;
