//! Configuration through `wasi:config`: on Skiff, the keys of the ConfigMaps and Secrets
//! the container's `wasi.config` names (read when it starts); on Spin, its variables.
//!
//! ```ignore
//! let greeting = skiff_sdk::config::get("greeting")?.unwrap_or_else(|| "Hello".into());
//! ```

use crate::bindings::wasi::config::store;

/// Why a value could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

fn error(e: store::Error) -> Error {
    match e {
        store::Error::Upstream(m) => Error(format!("the configuration store failed: {m}")),
        store::Error::Io(m) => Error(format!("reading the configuration failed: {m}")),
    }
}

/// The value of `key`, if it is set.
pub fn get(key: &str) -> Result<Option<String>, Error> {
    store::get(key).map_err(error)
}

/// Every key and value.
pub fn all() -> Result<Vec<(String, String)>, Error> {
    store::get_all().map_err(error)
}
