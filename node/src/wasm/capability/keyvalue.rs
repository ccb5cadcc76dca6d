//! `wasi:keyvalue` (store, atomics, batch): buckets of the pod's namespace, opened only
//! when its container's grant allows them, kept by a [`KeyValueStore`].
//!
//! On a node the store is the control plane (`crate::agent::keyvalue`): every entry is a
//! replicated object, writes go through raft and reads are linearizable, so `increment`
//! is exact however many replicas count at once. Batches are key by key (not one
//! transaction), which the proposal allows.

use std::collections::HashMap;
use std::sync::Mutex;

use skiff_proto::validate::names;
use wasmtime::component::{Linker, Resource};

use super::bindings::wasi::keyvalue::{atomics, batch, store};
use super::{CapabilityCtxView, CapabilityView, HasCapabilities};

/// Keys a `list-keys` call returns at most; the cursor says where the next page starts.
const PAGE: usize = 1000;

/// Where a pod's buckets are kept: one namespace's.
#[tonic::async_trait]
pub trait KeyValueStore: Send + Sync {
    async fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, String>;
    async fn set(&self, bucket: &str, key: &str, value: Vec<u8>) -> Result<(), String>;
    /// Deleting a key that is not there is no error.
    async fn delete(&self, bucket: &str, key: &str) -> Result<(), String>;
    /// Every key of `bucket`, sorted.
    async fn keys(&self, bucket: &str) -> Result<Vec<String>, String>;
    /// Adds `delta` to the key's value (a decimal number; none counts as 0) at once, and
    /// returns the sum.
    async fn increment(&self, bucket: &str, key: &str, delta: u64) -> Result<u64, String>;
}

/// The number a counter's value holds (decimal text, as wasmtime's and Spin's stores
/// keep it).
pub fn counter(value: Option<&[u8]>, delta: u64) -> Result<u64, String> {
    let now = match value {
        None => 0,
        Some(v) => std::str::from_utf8(v)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .ok_or("the value is not a decimal number, so it cannot be incremented")?,
    };
    now.checked_add(delta)
        .ok_or_else(|| format!("{now} + {delta} overflows a u64"))
}

/// Buckets in memory, for `skiff run` without a cluster and for unit tests.
#[derive(Default)]
pub struct MemoryStore(Mutex<HashMap<String, std::collections::BTreeMap<String, Vec<u8>>>>);

impl MemoryStore {
    fn with<R>(
        &self,
        f: impl FnOnce(&mut HashMap<String, std::collections::BTreeMap<String, Vec<u8>>>) -> R,
    ) -> R {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

#[tonic::async_trait]
impl KeyValueStore for MemoryStore {
    async fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, String> {
        Ok(self.with(|m| m.get(bucket).and_then(|b| b.get(key)).cloned()))
    }
    async fn set(&self, bucket: &str, key: &str, value: Vec<u8>) -> Result<(), String> {
        self.with(|m| {
            m.entry(bucket.into())
                .or_default()
                .insert(key.into(), value)
        });
        Ok(())
    }
    async fn delete(&self, bucket: &str, key: &str) -> Result<(), String> {
        self.with(|m| m.get_mut(bucket).map(|b| b.remove(key)));
        Ok(())
    }
    async fn keys(&self, bucket: &str) -> Result<Vec<String>, String> {
        Ok(self.with(|m| {
            m.get(bucket)
                .map(|b| b.keys().cloned().collect())
                .unwrap_or_default()
        }))
    }
    async fn increment(&self, bucket: &str, key: &str, delta: u64) -> Result<u64, String> {
        self.with(|m| {
            let b = m.entry(bucket.into()).or_default();
            let n = counter(b.get(key).map(Vec::as_slice), delta)?;
            b.insert(key.into(), n.to_string().into_bytes());
            Ok(n)
        })
    }
}

/// An open bucket (the guest's `bucket` resource).
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
    fn bucket(
        &self,
        b: &Resource<Bucket>,
    ) -> Result<(std::sync::Arc<dyn KeyValueStore>, String), KvError> {
        let access = self
            .ctx
            .grants
            .keyvalue
            .as_ref()
            .ok_or(KvError::AccessDenied)?;
        Ok((access.store.clone(), self.table.get(b)?.name.clone()))
    }
}

impl store::Host for CapabilityCtxView<'_> {
    async fn open(&mut self, identifier: String) -> Result<Resource<Bucket>, KvError> {
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

    fn convert_error(&mut self, e: KvError) -> wasmtime::Result<store::Error> {
        Ok(match e {
            KvError::AccessDenied => store::Error::AccessDenied,
            KvError::Other(m) => store::Error::Other(m),
        })
    }
}

impl store::HostBucket for CapabilityCtxView<'_> {
    async fn get(&mut self, b: Resource<Bucket>, key: String) -> Result<Option<Vec<u8>>, KvError> {
        let (s, bucket) = self.bucket(&b)?;
        Ok(s.get(&bucket, &key).await?)
    }

    async fn set(
        &mut self,
        b: Resource<Bucket>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), KvError> {
        let (s, bucket) = self.bucket(&b)?;
        Ok(s.set(&bucket, &key, value).await?)
    }

    async fn delete(&mut self, b: Resource<Bucket>, key: String) -> Result<(), KvError> {
        let (s, bucket) = self.bucket(&b)?;
        Ok(s.delete(&bucket, &key).await?)
    }

    async fn exists(&mut self, b: Resource<Bucket>, key: String) -> Result<bool, KvError> {
        let (s, bucket) = self.bucket(&b)?;
        Ok(s.get(&bucket, &key).await?.is_some())
    }

    async fn list_keys(
        &mut self,
        b: Resource<Bucket>,
        cursor: Option<u64>,
    ) -> Result<store::KeyResponse, KvError> {
        let (s, bucket) = self.bucket(&b)?;
        let keys = s.keys(&bucket).await?;
        let from = usize::try_from(cursor.unwrap_or(0))
            .unwrap_or(usize::MAX)
            .min(keys.len());
        let to = (from + PAGE).min(keys.len());
        Ok(store::KeyResponse {
            keys: keys[from..to].to_vec(),
            cursor: (to < keys.len()).then_some(to as u64),
        })
    }

    async fn drop(&mut self, b: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(b)?;
        Ok(())
    }
}

impl atomics::Host for CapabilityCtxView<'_> {
    async fn increment(
        &mut self,
        b: Resource<Bucket>,
        key: String,
        delta: u64,
    ) -> Result<u64, KvError> {
        let (s, bucket) = self.bucket(&b)?;
        Ok(s.increment(&bucket, &key, delta).await?)
    }
}

impl batch::Host for CapabilityCtxView<'_> {
    async fn get_many(
        &mut self,
        b: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Result<Vec<Option<(String, Vec<u8>)>>, KvError> {
        let (s, bucket) = self.bucket(&b)?;
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            let v = s.get(&bucket, &k).await?;
            out.push(v.map(|v| (k, v)));
        }
        Ok(out)
    }

    async fn set_many(
        &mut self,
        b: Resource<Bucket>,
        kvs: Vec<(String, Vec<u8>)>,
    ) -> Result<(), KvError> {
        let (s, bucket) = self.bucket(&b)?;
        for (k, v) in kvs {
            s.set(&bucket, &k, v).await?;
        }
        Ok(())
    }

    async fn delete_many(&mut self, b: Resource<Bucket>, keys: Vec<String>) -> Result<(), KvError> {
        let (s, bucket) = self.bucket(&b)?;
        for k in keys {
            s.delete(&bucket, &k).await?;
        }
        Ok(())
    }
}

pub fn add_to_linker<T: CapabilityView + 'static>(l: &mut Linker<T>) -> wasmtime::Result<()> {
    store::add_to_linker::<T, HasCapabilities>(l, T::capabilities)?;
    atomics::add_to_linker::<T, HasCapabilities>(l, T::capabilities)?;
    batch::add_to_linker::<T, HasCapabilities>(l, T::capabilities)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_decimal_text_and_refuse_anything_else() {
        assert_eq!(counter(None, 3), Ok(3));
        assert_eq!(counter(Some(b"41"), 1), Ok(42));
        assert!(
            counter(Some(b"forty"), 1)
                .unwrap_err()
                .contains("not a decimal")
        );
        assert!(
            counter(Some(u64::MAX.to_string().as_bytes()), 1)
                .unwrap_err()
                .contains("overflows")
        );
    }
}
