//! A namespace's `wasi:keyvalue` buckets in the control plane: each entry a KeyValue
//! object (named from its bucket and key, labelled with its bucket), so it is replicated
//! by raft, counted by quotas and readable with `skiff get keyvalues`.
//!
//! Reads are linearizable. `set` and `delete` are last-writer-wins; `swap` is a
//! compare-and-swap on the entry's revision (the object's `resourceVersion`), so
//! concurrent increments and CAS loops from any number of pods all count.

use std::sync::Arc;

use skiff_proto::grpc::api::object_service_client::ObjectServiceClient;
use skiff_proto::grpc::api::{
    CreateRequest, DeleteRequest, GetRequest, ListRequest, ObjectKey, ReadConsistency,
    UpdateRequest,
};
use skiff_proto::model::keyvalue::{BUCKET_LABEL, KeyValue};
use skiff_proto::model::{Base64Bytes, ObjectMeta};
use skiff_proto::{Kind, Object};
use tonic::{Code, Status};

use super::{ControlPlane, object};
use crate::runtime::KeyValueStore;
use crate::wasm::capability::Versioned;

/// Tries of a compare-and-swap that keeps losing to other writers before giving up.
const CAS_TRIES: usize = 64;

/// One namespace's buckets.
pub struct Buckets {
    cp: Arc<ControlPlane>,
    namespace: String,
}

/// An entry and the revision it was read at.
struct Entry {
    value: Vec<u8>,
    revision: u64,
}

impl Buckets {
    pub fn new(cp: Arc<ControlPlane>, namespace: &str) -> Buckets {
        Buckets {
            cp,
            namespace: namespace.to_owned(),
        }
    }

    fn key(&self, bucket: &str, key: &str) -> ObjectKey {
        ObjectKey {
            kind: Kind::KeyValue.name().into(),
            namespace: self.namespace.clone(),
            name: KeyValue::object_name(bucket, key),
        }
    }

    /// The manifest of `key` in `bucket` holding `value`.
    fn manifest(&self, bucket: &str, key: &str, value: Vec<u8>) -> Result<Vec<u8>, String> {
        let kv = KeyValue {
            metadata: ObjectMeta {
                name: KeyValue::object_name(bucket, key),
                namespace: self.namespace.clone(),
                labels: [(BUCKET_LABEL.to_owned(), bucket.to_owned())].into(),
                ..Default::default()
            },
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            value: Base64Bytes(value),
        };
        Object::KeyValue(kv)
            .to_json()
            .map(String::into_bytes)
            .map_err(|e| format!("encoding a key-value entry: {e}"))
    }

    async fn entry(&self, bucket: &str, key: &str) -> Result<Option<Entry>, String> {
        let k = self.key(bucket, key);
        let r = self
            .cp
            .call_status("reading a key-value entry", |ch| {
                let k = k.clone();
                async move {
                    ObjectServiceClient::new(ch)
                        .get(GetRequest {
                            key: Some(k),
                            consistency: ReadConsistency::Linearizable as i32,
                        })
                        .await
                        .map(|r| r.into_inner().object)
                }
            })
            .await
            .map_err(|e| e.to_string())?;
        let envelope = match r {
            Ok(Some(e)) => e,
            Ok(None) => return Ok(None),
            Err(s) if s.code() == Code::NotFound => return Ok(None),
            Err(s) => return Err(refused(&s)),
        };
        match object(&envelope).map_err(|e| e.to_string())? {
            Object::KeyValue(kv) => Ok(Some(Entry {
                value: kv.value.0,
                revision: envelope.resource_version,
            })),
            other => Err(format!("{} is not a key-value entry", other.display_name())),
        }
    }

    /// Writes `value`: replaces the entry if it is at `expected` (any revision when
    /// `None`), or creates it when `expected` is `Some(0)` or there is none. `Ok(false)`:
    /// another writer changed it first.
    async fn write(
        &self,
        bucket: &str,
        key: &str,
        value: Vec<u8>,
        expected: Option<u64>,
    ) -> Result<bool, String> {
        let manifest = self.manifest(bucket, key, value)?;
        let create = expected == Some(0);
        let r = self
            .cp
            .call_status("writing a key-value entry", |ch| {
                let manifest = manifest.clone();
                async move {
                    let mut c = ObjectServiceClient::new(ch);
                    if create {
                        c.create(CreateRequest {
                            manifest,
                            ..Default::default()
                        })
                        .await
                        .map(|_| ())
                    } else {
                        c.update(UpdateRequest {
                            manifest,
                            expected_resource_version: expected,
                            ..Default::default()
                        })
                        .await
                        .map(|_| ())
                    }
                }
            })
            .await
            .map_err(|e| e.to_string())?;
        match r {
            Ok(()) => Ok(true),
            Err(s) if matches!(s.code(), Code::AlreadyExists | Code::Aborted) => Ok(false),
            // An update of an entry that is not there (yet, or any more) creates it.
            Err(s) if s.code() == Code::NotFound && !create => Ok(false),
            Err(s) => Err(refused(&s)),
        }
    }
}

/// A refusal from the control plane, as the guest reads it (a quota, a size limit, an
/// authorization).
fn refused(s: &Status) -> String {
    format!("the control plane refused: {}", s.message())
}

#[tonic::async_trait]
impl KeyValueStore for Buckets {
    async fn read(&self, bucket: &str, key: &str) -> Result<Versioned, String> {
        Ok(match self.entry(bucket, key).await? {
            Some(e) => Versioned {
                value: Some(e.value),
                revision: e.revision,
            },
            None => Versioned::default(),
        })
    }

    async fn swap(
        &self,
        bucket: &str,
        key: &str,
        value: Vec<u8>,
        revision: u64,
    ) -> Result<bool, String> {
        self.write(bucket, key, value, Some(revision)).await
    }

    async fn set(&self, bucket: &str, key: &str, value: Vec<u8>) -> Result<(), String> {
        for _ in 0..CAS_TRIES {
            let expected = match self.entry(bucket, key).await? {
                Some(_) => None,
                None => Some(0),
            };
            if self.write(bucket, key, value.clone(), expected).await? {
                return Ok(());
            }
        }
        Err(format!(
            "gave up setting {key:?} after {CAS_TRIES} races with other writers"
        ))
    }

    async fn delete(&self, bucket: &str, key: &str) -> Result<(), String> {
        let k = self.key(bucket, key);
        let r = self
            .cp
            .call_status("deleting a key-value entry", |ch| {
                let k = k.clone();
                async move {
                    ObjectServiceClient::new(ch)
                        .delete(DeleteRequest {
                            key: Some(k),
                            ..Default::default()
                        })
                        .await
                        .map(|_| ())
                }
            })
            .await
            .map_err(|e| e.to_string())?;
        match r {
            Ok(()) => Ok(()),
            Err(s) if s.code() == Code::NotFound => Ok(()),
            Err(s) => Err(refused(&s)),
        }
    }

    async fn keys(&self, bucket: &str) -> Result<Vec<String>, String> {
        let selector = format!("{BUCKET_LABEL}={bucket}");
        let ns = self.namespace.clone();
        let r = self
            .cp
            .call_status("listing a key-value bucket", |ch| {
                let (selector, ns) = (selector.clone(), ns.clone());
                async move {
                    ObjectServiceClient::new(ch)
                        .list(ListRequest {
                            kind: Kind::KeyValue.name().into(),
                            namespace: ns,
                            label_selector: selector,
                            consistency: ReadConsistency::Linearizable as i32,
                            ..Default::default()
                        })
                        .await
                        .map(|r| r.into_inner())
                }
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|s| refused(&s))?;
        let mut keys = Vec::with_capacity(r.items.len());
        for item in &r.items {
            if let Object::KeyValue(kv) = object(item).map_err(|e| e.to_string())? {
                keys.push(kv.key);
            }
        }
        keys.sort();
        Ok(keys)
    }
}
