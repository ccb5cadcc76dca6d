//! KeyValue: one entry of a `wasi:keyvalue` bucket, kept in the control plane like any
//! object so it is replicated, quota'd (`count/keyvalues.skiff.dev`), listed and watched. A pod
//! whose container is granted key-value (`wasi.keyvalue`) reads and writes its
//! namespace's buckets through its node; people can read them with `skiff get keyvalues`.
//!
//! The object's name is derived from the bucket and the key ([`KeyValue::object_name`]),
//! since keys are any string and names are DNS subdomains.

use skiff_proto_macros::model;

use super::meta::ObjectMeta;
use super::values::Base64Bytes;

/// The label that names an entry's bucket, so one bucket's keys list by selector.
pub const BUCKET_LABEL: &str = "keyvalue.skiff.dev/bucket";
/// The longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// The largest value, in bytes (as ConfigMaps and Secrets: it is replicated in memory).
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;

#[model]
pub struct KeyValue {
    pub metadata: ObjectMeta,
    /// The bucket (a DNS label), as the guest opened it.
    pub bucket: String,
    /// The key, as the guest wrote it.
    pub key: String,
    /// The value, base64 in manifests.
    pub value: Base64Bytes,
}

impl KeyValue {
    /// The object name of `key` in `bucket`: the bucket, a dot, and 40 hex digits of the
    /// key's sha256 (unique for any key in practice, and always a valid name).
    pub fn object_name(bucket: &str, key: &str) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(key.as_bytes());
        let hex: String = digest[..20].iter().map(|b| format!("{b:02x}")).collect();
        format!("{bucket}.{hex}")
    }
}
