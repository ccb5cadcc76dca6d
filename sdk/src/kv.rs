//! Key-value buckets through `wasi:keyvalue`: on Skiff, buckets of the pod's namespace
//! that the container's `wasi.keyvalue` grants, replicated in the control plane.
//! Reads are linearizable; [`Bucket::increment`] and [`Bucket::update`] (a
//! compare-and-swap loop) are atomic across every replica.
//!
//! ```ignore
//! let hits = skiff_sdk::kv::Bucket::open("counters")?.increment("hits", 1)?;
//! ```
//!
//! The proposal is `wasi:keyvalue@0.2.0-draft2`, which Spin serves too.

use crate::bindings::wasi::keyvalue0_2_0_draft2::{atomics, batch, store};

/// Tries of [`Bucket::update`] that keep losing to other writers before it gives up.
const UPDATE_TRIES: usize = 64;

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// No bucket by that name.
    NoSuchStore,
    /// The component may not use the bucket (it was not granted).
    AccessDenied,
    /// Anything else, with the host's reason.
    Other(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::NoSuchStore => f.write_str("no such bucket"),
            Error::AccessDenied => f.write_str("access to the bucket was denied"),
            Error::Other(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

impl From<store::Error> for Error {
    fn from(e: store::Error) -> Error {
        match e {
            store::Error::NoSuchStore => Error::NoSuchStore,
            store::Error::AccessDenied => Error::AccessDenied,
            store::Error::Other(m) => Error::Other(m),
        }
    }
}

/// An open bucket.
pub struct Bucket(store::Bucket);

impl Bucket {
    /// Opens the bucket `name` (a DNS label, e.g. `counters`).
    pub fn open(name: &str) -> Result<Bucket, Error> {
        Ok(Bucket(store::open(name)?))
    }

    /// The value of `key`, if there is one.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.0.get(key)?)
    }

    /// Sets `key` to `value`.
    pub fn set(&self, key: &str, value: impl AsRef<[u8]>) -> Result<(), Error> {
        Ok(self.0.set(key, value.as_ref())?)
    }

    /// Removes `key` (no error if it is not there).
    pub fn delete(&self, key: &str) -> Result<(), Error> {
        Ok(self.0.delete(key)?)
    }

    /// Whether `key` has a value.
    pub fn exists(&self, key: &str) -> Result<bool, Error> {
        Ok(self.0.exists(key)?)
    }

    /// Every key of the bucket (all pages).
    pub fn keys(&self) -> Result<Vec<String>, Error> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self.0.list_keys(cursor.as_deref())?;
            out.extend(page.keys);
            match page.cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(out),
            }
        }
    }

    /// Adds `delta` to the counter at `key` (none counts as 0) atomically and returns the
    /// new value. A counter's value is its decimal text.
    pub fn increment(&self, key: &str, delta: i64) -> Result<i64, Error> {
        Ok(atomics::increment(&self.0, key, delta)?)
    }

    /// Replaces the value of `key` by `f(current value)` atomically: if another writer
    /// changes it between the read and the write, `f` runs again on the newer value.
    /// Returns what was written.
    ///
    /// ```ignore
    /// // Appends a line to a log that many replicas write at once.
    /// bucket.update("log", |old| [old.unwrap_or_default(), b"one more\n"].concat())?;
    /// ```
    pub fn update(
        &self,
        key: &str,
        mut f: impl FnMut(Option<&[u8]>) -> Vec<u8>,
    ) -> Result<Vec<u8>, Error> {
        let mut cas = atomics::Cas::new(&self.0, key)?;
        for _ in 0..UPDATE_TRIES {
            let new = f(cas.current()?.as_deref());
            match atomics::swap(cas, &new) {
                Ok(()) => return Ok(new),
                Err(atomics::CasError::CasFailed(newer)) => cas = newer,
                Err(atomics::CasError::StoreError(e)) => return Err(e.into()),
            }
        }
        Err(Error::Other(format!(
            "gave up updating {key:?} after {UPDATE_TRIES} races with other writers"
        )))
    }

    /// The values of `keys`, in order (`None` where there is none).
    pub fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>, Error> {
        let owned: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
        let found = batch::get_many(&self.0, &owned)?;
        Ok(found.into_iter().map(|(_, v)| v).collect())
    }
}
