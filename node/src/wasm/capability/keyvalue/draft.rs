//! `wasi:keyvalue@0.2.0-draft`, the version wasmCloud's components import: the same
//! buckets as draft2, with unsigned counters and numeric cursors.

use wasmtime::component::{Linker, Resource};

use super::super::bindings::wasi::keyvalue0_2_0_draft::{atomics, batch, store};
use super::super::{CapabilityCtxView, CapabilityView, HasCapabilities};
use super::{Bucket, KvError};

impl store::Host for CapabilityCtxView<'_> {
    async fn open(&mut self, identifier: String) -> Result<Resource<Bucket>, KvError> {
        CapabilityCtxView::open(self, identifier)
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
        self.kv_get(&b, &key).await
    }

    async fn set(
        &mut self,
        b: Resource<Bucket>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), KvError> {
        self.kv_set(&b, &key, value).await
    }

    async fn delete(&mut self, b: Resource<Bucket>, key: String) -> Result<(), KvError> {
        self.kv_delete(&b, &key).await
    }

    async fn exists(&mut self, b: Resource<Bucket>, key: String) -> Result<bool, KvError> {
        Ok(self.kv_get(&b, &key).await?.is_some())
    }

    async fn list_keys(
        &mut self,
        b: Resource<Bucket>,
        cursor: Option<u64>,
    ) -> Result<store::KeyResponse, KvError> {
        let from = usize::try_from(cursor.unwrap_or(0)).unwrap_or(usize::MAX);
        let (keys, next) = self.page(&b, from).await?;
        Ok(store::KeyResponse {
            keys,
            cursor: next.map(|n| n as u64),
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
        let delta = i64::try_from(delta)
            .map_err(|_| format!("an increment of {delta} is more than a counter holds"))?;
        let n = super::increment(s.as_ref(), &bucket, &key, delta).await?;
        Ok(u64::try_from(n).map_err(|_| format!("the counter {key:?} is negative ({n})"))?)
    }
}

impl batch::Host for CapabilityCtxView<'_> {
    async fn get_many(
        &mut self,
        b: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Result<Vec<Option<(String, Vec<u8>)>>, KvError> {
        let values = CapabilityCtxView::get_many(self, &b, &keys).await?;
        Ok(keys
            .into_iter()
            .zip(values)
            .map(|(k, v)| v.map(|v| (k, v)))
            .collect())
    }

    async fn set_many(
        &mut self,
        b: Resource<Bucket>,
        kvs: Vec<(String, Vec<u8>)>,
    ) -> Result<(), KvError> {
        CapabilityCtxView::set_many(self, &b, kvs).await
    }

    async fn delete_many(&mut self, b: Resource<Bucket>, keys: Vec<String>) -> Result<(), KvError> {
        CapabilityCtxView::delete_many(self, &b, keys).await
    }
}

pub fn add_to_linker<T: CapabilityView + 'static>(l: &mut Linker<T>) -> wasmtime::Result<()> {
    store::add_to_linker::<T, HasCapabilities>(l, T::capabilities)?;
    atomics::add_to_linker::<T, HasCapabilities>(l, T::capabilities)?;
    batch::add_to_linker::<T, HasCapabilities>(l, T::capabilities)?;
    Ok(())
}
