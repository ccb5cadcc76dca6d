//! Rules for ConfigMaps and Secrets: keys that can become file names, and a size bound.

use std::collections::BTreeMap;

use super::{Violations, names};
use crate::manifest::FieldPath;
use crate::model::{ConfigMap, KeyValue, Secret};

/// Like Kubernetes, one object's data is bounded (it is replicated and kept in memory).
pub const MAX_DATA_BYTES: usize = 1024 * 1024;

fn keys<V>(map: &BTreeMap<String, V>, field: &str, v: &mut Violations) {
    for key in map.keys() {
        if let Err(why) = names::config_key(key) {
            v.add(
                FieldPath::root().field(field).field(key),
                format!("invalid key {key:?}: {why}"),
            );
        }
    }
}

fn size_limit(size: usize, v: &mut Violations) {
    if size > MAX_DATA_BYTES {
        v.add_hint(
            FieldPath::root().field("data"),
            format!("the data holds {size} bytes; the limit is {MAX_DATA_BYTES}"),
            "split it into several objects, or mount a volume",
        );
    }
}

pub fn config_map(c: &ConfigMap, v: &mut Violations) {
    keys(&c.data, "data", v);
    keys(&c.binary_data, "binaryData", v);
    for key in c.binary_data.keys().filter(|k| c.data.contains_key(*k)) {
        v.add(
            FieldPath::root().field("binaryData").field(key),
            format!("duplicate key {key:?}: it is also in `data`"),
        );
    }
    size_limit(
        c.data
            .iter()
            .map(|(k, d)| k.len() + d.len())
            .chain(c.binary_data.iter().map(|(k, d)| k.len() + d.0.len()))
            .sum(),
        v,
    );
}

pub fn secret(s: &Secret, v: &mut Violations) {
    keys(&s.data, "data", v);
    keys(&s.string_data, "stringData", v);
    size_limit(
        s.data
            .iter()
            .map(|(k, d)| k.len() + d.0.len())
            .chain(s.string_data.iter().map(|(k, d)| k.len() + d.len()))
            .sum(),
        v,
    );
}

/// A key-value entry: a DNS-label bucket, a key of bounded size, a value within the
/// limit, and the name and bucket label its node looks it up by.
pub fn key_value(kv: &KeyValue, v: &mut Violations) {
    use crate::model::keyvalue::{BUCKET_LABEL, MAX_KEY_BYTES, MAX_VALUE_BYTES};
    let root = FieldPath::root();
    if let Err(why) = names::dns_label(&kv.bucket) {
        v.add(
            root.field("bucket"),
            format!("invalid bucket {:?}: {why}", kv.bucket),
        );
    }
    if kv.key.is_empty() || kv.key.len() > MAX_KEY_BYTES {
        v.add(
            root.field("key"),
            format!(
                "a key holds 1 to {MAX_KEY_BYTES} bytes, not {}",
                kv.key.len()
            ),
        );
    }
    if kv.value.0.len() > MAX_VALUE_BYTES {
        v.add_hint(
            root.field("value"),
            format!(
                "the value holds {} bytes; the limit is {MAX_VALUE_BYTES}",
                kv.value.0.len()
            ),
            "store large data elsewhere and keep its address here",
        );
    }
    let name = KeyValue::object_name(&kv.bucket, &kv.key);
    if kv.metadata.name != name {
        v.add_hint(
            root.field("metadata").field("name"),
            format!(
                "{:?} is not the name of key {:?} in bucket {:?}",
                kv.metadata.name, kv.key, kv.bucket
            ),
            format!("name it {name:?} (the bucket, a dot, and 40 hex digits of the key's sha256)"),
        );
    }
    if kv.metadata.labels.get(BUCKET_LABEL) != Some(&kv.bucket) {
        v.add_hint(
            root.field("metadata").field("labels").field(BUCKET_LABEL),
            format!(
                "the label {BUCKET_LABEL} must name the bucket {:?}",
                kv.bucket
            ),
            format!("set `{BUCKET_LABEL}: {}`", kv.bucket),
        );
    }
}
