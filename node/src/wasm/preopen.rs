//! Host folders a guest sees (its volumes), and how they are handed to WASI.

use std::path::PathBuf;

use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use crate::Error;

/// One host folder at a path in the guest.
#[derive(Debug, Clone)]
pub struct Preopen {
    pub host: PathBuf,
    pub guest: String,
    /// The guest may read, not write (`readOnly` mounts, ConfigMap and Secret volumes).
    pub read_only: bool,
}

impl Preopen {
    pub fn read_write(host: PathBuf, guest: impl Into<String>) -> Preopen {
        Preopen {
            host,
            guest: guest.into(),
            read_only: false,
        }
    }
}

/// Preopens every folder in `dirs` for the guest being built.
pub fn add(b: &mut WasiCtxBuilder, dirs: &[Preopen]) -> Result<(), Error> {
    for d in dirs {
        let perms = if d.read_only {
            FsPerms::ReadOnly
        } else {
            FsPerms::ReadWrite
        };
        b.preopened_dir(&d.host, &d.guest, perms)
            .map_err(|e| Error::Volume {
                path: d.host.clone(),
                reason: format!("{e:#}"),
            })?;
    }
    Ok(())
}
