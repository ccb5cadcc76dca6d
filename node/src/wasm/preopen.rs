//! Host folders a guest sees (its volume [`Mount`]s), handed to WASI as preopens.

use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use crate::Error;
use crate::runtime::Mount;

/// Preopens every folder in `dirs` for the guest being built.
pub fn add(b: &mut WasiCtxBuilder, dirs: &[Mount]) -> Result<(), Error> {
    for d in dirs {
        let perms = if d.read_only {
            FsPerms::ReadOnly
        } else {
            FsPerms::ReadWrite
        };
        b.preopened_dir(&d.host, &d.path, perms)
            .map_err(|e| Error::Volume {
                path: d.host.clone(),
                reason: format!("{e:#}"),
            })?;
    }
    Ok(())
}
