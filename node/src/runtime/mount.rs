//! A host folder or file a workload sees at a path of its own: a volume mount. The Wasm
//! runtime preopens folders for WASI; the container runtime bind-mounts them into the
//! container's root filesystem.

use std::path::PathBuf;

/// One host path at a path inside the workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub host: PathBuf,
    /// Where the workload sees it (absolute).
    pub path: String,
    /// The workload may read, not write (`readOnly` mounts, ConfigMap and Secret volumes).
    pub read_only: bool,
}

impl Mount {
    pub fn read_write(host: PathBuf, path: impl Into<String>) -> Mount {
        Mount {
            host,
            path: path.into(),
            read_only: false,
        }
    }
}
