//! `wasi:keyvalue` (store, atomics, batch): buckets of the pod's namespace, opened only
//! when its container's grant allows them, kept by a [`KeyValueStore`].
//!
//! Two versions of the proposal are served over the same buckets: `0.2.0-draft2`
//! (`draft2`, what the SDK and Spin import; it has compare-and-swap) and `0.2.0-draft`
//! (`draft`, what wasmCloud's components import).
//!
//! On a node the store is the control plane (`crate::cluster::keyvalue`): every entry is a
//! replicated object, writes go through raft and reads are linearizable, so `increment`
//! and a compare-and-swap are exact however many replicas write at once. Batches are key
//! by key (not one transaction), which the proposal allows.

mod draft;
mod draft2;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use skiff_proto::validate::names;
use wasmtime::component::{Linker, Resource};

use super::{CapabilityCtxView, CapabilityView};

pub use draft2::Cas;

/// Keys a `list-keys` call returns at most; the cursor says where the next page starts.
const PAGE: usize = 1000;

/// Tries of a read-modify-write that keeps losing to other writers before giving up.
const CAS_TRIES: usize = 64;

/// An entry as read: its value and revision (`0` when there is no entry; a write makes
/// the revision grow).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Versioned {
    pub value: Option<Vec<u8>>,
    pub revision: u64,
}

/// Where a pod's buckets are kept: one namespace's.
#[tonic::async_trait]
pub trait KeyValueStore: Send + Sync {
    /// The entry of `key`, with the revision it was read at.
    async fn read(&self, bucket: &str, key: &str) -> Result<Versioned, String>;
    /// Writes `value` if the entry is still at `revision` (`0`: if there is none).
    /// `Ok(false)`: another writer changed it first, nothing was written.
    async fn swap(
        &self,
        bucket: &str,
        key: &str,
        value: Vec<u8>,
        revision: u64,
    ) -> Result<bool, String>;
    /// Writes `value` whatever is there (last writer wins).
    async fn set(&self, bucket: &str, key: &str, value: Vec<u8>) -> Result<(), String>;
    /// Deleting a key that is not there is no error.
    async fn delete(&self, bucket: &str, key: &str) -> Result<(), String>;
    /// Every key of `bucket`, sorted.
    async fn keys(&self, bucket: &str) -> Result<Vec<String>, String>;
}

/// Adds `delta` to the counter at `key` (none counts as 0) with a compare-and-swap,
/// retried when another writer got there first, and returns the sum.
pub async fn increment(
    store: &dyn KeyValueStore,
    bucket: &str,
    key: &str,
    delta: i64,
) -> Result<i64, String> {
    for _ in 0..CAS_TRIES {
        let now = store.read(bucket, key).await?;
        let n = counter(now.value.as_deref(), delta)?;
        if store
            .swap(bucket, key, n.to_string().into_bytes(), now.revision)
            .await?
        {
            return Ok(n);
        }
    }
    Err(format!(
        "gave up incrementing {key:?} after {CAS_TRIES} races with other writers"
    ))
}

/// The number a counter's value holds (decimal text, as wasmtime's and Spin's stores
/// keep it) plus `delta`.
pub fn counter(value: Option<&[u8]>, delta: i64) -> Result<i64, String> {
    let now = match value {
        None => 0,
        Some(v) => std::str::from_utf8(v)
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .ok_or("the value is not a decimal number, so it cannot be incremented")?,
    };
    now.checked_add(delta)
        .ok_or_else(|| format!("{now} + {delta} overflows a 64-bit counter"))
}

/// Buckets in memory, for `skiff run` without a cluster and for unit tests.
#[derive(Default)]
pub struct MemoryStore(Mutex<Memory>);

#[derive(Default)]
struct Memory {
    buckets: HashMap<String, BTreeMap<String, (Vec<u8>, u64)>>,
    revision: u64,
}

impl MemoryStore {
    fn with<R>(&self, f: impl FnOnce(&mut Memory) -> R) -> R {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Memory {
    fn put(&mut self, bucket: &str, key: &str, value: Vec<u8>) {
        self.revision += 1;
        let r = self.revision;
        self.buckets
            .entry(bucket.into())
            .or_default()
            .insert(key.into(), (value, r));
    }
}

#[tonic::async_trait]
impl KeyValueStore for MemoryStore {
    async fn read(&self, bucket: &str, key: &str) -> Result<Versioned, String> {
        Ok(
            self.with(|m| match m.buckets.get(bucket).and_then(|b| b.get(key)) {
                Some((v, r)) => Versioned {
                    value: Some(v.clone()),
                    revision: *r,
                },
                None => Versioned::default(),
            }),
        )
    }
    async fn swap(
        &self,
        bucket: &str,
        key: &str,
        value: Vec<u8>,
        revision: u64,
    ) -> Result<bool, String> {
        Ok(self.with(|m| {
            let now = m
                .buckets
                .get(bucket)
                .and_then(|b| b.get(key))
                .map_or(0, |(_, r)| *r);
            let won = now == revision;
            if won {
                m.put(bucket, key, value);
            }
            won
        }))
    }
    async fn set(&self, bucket: &str, key: &str, value: Vec<u8>) -> Result<(), String> {
        self.with(|m| m.put(bucket, key, value));
        Ok(())
    }
    async fn delete(&self, bucket: &str, key: &str) -> Result<(), String> {
        self.with(|m| m.buckets.get_mut(bucket).map(|b| b.remove(key)));
        Ok(())
    }
    async fn keys(&self, bucket: &str) -> Result<Vec<String>, String> {
        Ok(self.with(|m| {
            m.buckets
                .get(bucket)
                .map(|b| b.keys().cloned().collect())
                .unwrap_or_default()
        }))
    }
}

/// An open bucket (the guest's `bucket` resource, either version).
pub struct Bucket {
    name: String,
}

/// A failed call, as the guest sees it.
pub enum KvError {
    AccessDenied,
    Other(String),
}

impl From<wasmtime::component::ResourceTableError> for KvError {
    fn from(e: wasmtime::component::ResourceTableError) -> KvError {
        KvError::Other(e.to_string())
    }
}

impl From<String> for KvError {
    fn from(e: String) -> KvError {
        KvError::Other(e)
    }
}

/// `KvError` passed to the guest; wasmtime's `trappable_error_type` wants it as an error.
impl std::fmt::Debug for KvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KvError::AccessDenied => f.write_str("access denied"),
            KvError::Other(e) => f.write_str(e),
        }
    }
}

impl CapabilityCtxView<'_> {
    /// The store and the bucket's name.
    fn bucket(&self, b: &Resource<Bucket>) -> Result<(Arc<dyn KeyValueStore>, String), KvError> {
        Ok((self.store()?, self.table.get(b)?.name.clone()))
    }

    /// The container's store, if it was granted one.
    fn store(&self) -> Result<Arc<dyn KeyValueStore>, KvError> {
        let access = self
            .ctx
            .grants
            .keyvalue
            .as_ref()
            .ok_or(KvError::AccessDenied)?;
        Ok(access.store.clone())
    }

    /// Opens the bucket `identifier` if the container was granted it.
    fn open(&mut self, identifier: String) -> Result<Resource<Bucket>, KvError> {
        let Some(access) = &self.ctx.grants.keyvalue else {
            return Err(KvError::AccessDenied);
        };
        if let Err(why) = names::dns_label(&identifier) {
            return Err(KvError::Other(format!(
                "bucket {identifier:?} is not a valid name ({why}); buckets are DNS labels such as \"counters\""
            )));
        }
        if !access.grant.allows(&identifier) {
            return Err(KvError::Other(format!(
                "bucket {identifier:?} is not granted to this container; add it to `wasi.keyvalue.buckets`"
            )));
        }
        Ok(self.table.push(Bucket { name: identifier })?)
    }

    async fn kv_get(
        &mut self,
        b: &Resource<Bucket>,
        key: &str,
    ) -> Result<Option<Vec<u8>>, KvError> {
        let (s, bucket) = self.bucket(b)?;
        Ok(s.read(&bucket, key).await?.value)
    }

    async fn kv_set(
        &mut self,
        b: &Resource<Bucket>,
        key: &str,
        value: Vec<u8>,
    ) -> Result<(), KvError> {
        let (s, bucket) = self.bucket(b)?;
        Ok(s.set(&bucket, key, value).await?)
    }

    async fn kv_delete(&mut self, b: &Resource<Bucket>, key: &str) -> Result<(), KvError> {
        let (s, bucket) = self.bucket(b)?;
        Ok(s.delete(&bucket, key).await?)
    }

    /// One page of the bucket's keys from `from`, and where the next page starts.
    async fn page(
        &mut self,
        b: &Resource<Bucket>,
        from: usize,
    ) -> Result<(Vec<String>, Option<usize>), KvError> {
        let (s, bucket) = self.bucket(b)?;
        let keys = s.keys(&bucket).await?;
        let from = from.min(keys.len());
        let to = (from + PAGE).min(keys.len());
        Ok((keys[from..to].to_vec(), (to < keys.len()).then_some(to)))
    }

    /// The values of `keys`, in order.
    async fn get_many(
        &mut self,
        b: &Resource<Bucket>,
        keys: &[String],
    ) -> Result<Vec<Option<Vec<u8>>>, KvError> {
        let (s, bucket) = self.bucket(b)?;
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            out.push(s.read(&bucket, k).await?.value);
        }
        Ok(out)
    }

    async fn set_many(
        &mut self,
        b: &Resource<Bucket>,
        kvs: Vec<(String, Vec<u8>)>,
    ) -> Result<(), KvError> {
        let (s, bucket) = self.bucket(b)?;
        for (k, v) in kvs {
            s.set(&bucket, &k, v).await?;
        }
        Ok(())
    }

    async fn delete_many(
        &mut self,
        b: &Resource<Bucket>,
        keys: Vec<String>,
    ) -> Result<(), KvError> {
        let (s, bucket) = self.bucket(b)?;
        for k in keys {
            s.delete(&bucket, &k).await?;
        }
        Ok(())
    }
}

pub fn add_to_linker<T: CapabilityView + 'static>(l: &mut Linker<T>) -> wasmtime::Result<()> {
    draft2::add_to_linker(l)?;
    draft::add_to_linker(l)
}

#[cfg(test)]
mod store_tests {
    use super::*;

    #[test]
    fn counters_are_decimal_text_and_refuse_anything_else() {
        assert_eq!(counter(None, 3), Ok(3));
        assert_eq!(counter(Some(b"41"), 1), Ok(42));
        assert_eq!(counter(Some(b"2"), -5), Ok(-3));
        assert!(
            counter(Some(b"forty"), 1)
                .unwrap_err()
                .contains("not a decimal")
        );
        assert!(
            counter(Some(i64::MAX.to_string().as_bytes()), 1)
                .unwrap_err()
                .contains("overflows")
        );
    }

    #[tokio::test]
    async fn a_swap_wins_only_at_the_revision_it_read() {
        let s = MemoryStore::default();
        assert!(s.swap("b", "k", b"1".to_vec(), 0).await.unwrap(), "creates");
        assert!(
            !s.swap("b", "k", b"2".to_vec(), 0).await.unwrap(),
            "exists now"
        );
        let now = s.read("b", "k").await.unwrap();
        assert_eq!(now.value.as_deref(), Some(&b"1"[..]));
        assert!(s.swap("b", "k", b"3".to_vec(), now.revision).await.unwrap());
        assert!(!s.swap("b", "k", b"4".to_vec(), now.revision).await.unwrap());
        assert_eq!(increment(&s, "b", "k", 4).await, Ok(7));
        assert_eq!(
            s.read("b", "k").await.unwrap().value.as_deref(),
            Some(&b"7"[..])
        );
    }
}
