//! `wasi:keyvalue@0.2.0-draft2`, what the SDK and Spin import: signed counters, string
//! cursors, and compare-and-swap (`cas`): a handle remembers the revision it read, and
//! `swap` writes only if the entry is still at it; otherwise the guest gets a fresh
//! handle to retry with.

use wasmtime::component::{Linker, Resource};

use super::super::bindings::wasi::keyvalue0_2_0_draft2::{atomics, batch, store};
use super::super::{CapabilityCtxView, CapabilityView, HasCapabilities};
use super::{Bucket, KvError, Versioned};

/// A compare-and-swap handle (the guest's `cas` resource): the entry as it was read.
pub struct Cas {
    bucket: String,
    key: String,
    seen: Versioned,
}

impl store::Host for CapabilityCtxView<'_> {
    async fn open(&mut self, identifier: String) -> Result<Resource<Bucket>, KvError> {
        CapabilityCtxView::open(self, identifier)
    }

    fn convert_error(&mut self, e: KvError) -> wasmtime::Result<store::Error> {
        Ok(to_guest(e))
    }
}

fn to_guest(e: KvError) -> store::Error {
    match e {
        KvError::AccessDenied => store::Error::AccessDenied,
        KvError::Other(m) => store::Error::Other(m),
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
        cursor: Option<String>,
    ) -> Result<store::KeyResponse, KvError> {
        let from = match cursor {
            None => 0,
            Some(c) => c
                .parse::<usize>()
                .map_err(|_| format!("cursor {c:?} is not one list-keys returned"))?,
        };
        let (keys, next) = self.page(&b, from).await?;
        Ok(store::KeyResponse {
            keys,
            cursor: next.map(|n| n.to_string()),
        })
    }

    async fn drop(&mut self, b: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(b)?;
        Ok(())
    }
}

impl CapabilityCtxView<'_> {
    /// Reads the entry and keeps what was read in a new handle.
    async fn new_cas(&mut self, bucket: String, key: String) -> Result<Resource<Cas>, KvError> {
        let seen = self.store()?.read(&bucket, &key).await?;
        Ok(self.table.push(Cas { bucket, key, seen })?)
    }
}

impl atomics::HostCas for CapabilityCtxView<'_> {
    async fn new(&mut self, b: Resource<Bucket>, key: String) -> Result<Resource<Cas>, KvError> {
        let bucket = self.table.get(&b)?.name.clone();
        self.new_cas(bucket, key).await
    }

    async fn current(&mut self, c: Resource<Cas>) -> Result<Option<Vec<u8>>, KvError> {
        Ok(self.table.get(&c)?.seen.value.clone())
    }

    async fn drop(&mut self, c: Resource<Cas>) -> wasmtime::Result<()> {
        self.table.delete(c)?;
        Ok(())
    }
}

impl atomics::Host for CapabilityCtxView<'_> {
    async fn increment(
        &mut self,
        b: Resource<Bucket>,
        key: String,
        delta: i64,
    ) -> Result<i64, KvError> {
        let (s, bucket) = self.bucket(&b)?;
        Ok(super::increment(s.as_ref(), &bucket, &key, delta).await?)
    }

    async fn swap(
        &mut self,
        c: Resource<Cas>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), atomics::CasError>> {
        let cas = self.table.delete(c)?;
        let swapped = match self.store() {
            Ok(s) => s
                .swap(&cas.bucket, &cas.key, value, cas.seen.revision)
                .await
                .map_err(KvError::Other),
            Err(e) => Err(e),
        };
        Ok(match swapped {
            Ok(true) => Ok(()),
            Ok(false) => match self.new_cas(cas.bucket, cas.key).await {
                Ok(fresh) => Err(atomics::CasError::CasFailed(fresh)),
                Err(e) => Err(atomics::CasError::StoreError(to_guest(e))),
            },
            Err(e) => Err(atomics::CasError::StoreError(to_guest(e))),
        })
    }
}

impl batch::Host for CapabilityCtxView<'_> {
    async fn get_many(
        &mut self,
        b: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Result<Vec<(String, Option<Vec<u8>>)>, KvError> {
        let values = CapabilityCtxView::get_many(self, &b, &keys).await?;
        Ok(keys.into_iter().zip(values).collect())
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
