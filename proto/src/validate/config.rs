//! Rules for ConfigMaps and Secrets: keys that can become file names, and a size bound.

use std::collections::BTreeMap;

use super::{Violations, names};
use crate::manifest::FieldPath;
use crate::model::{ConfigMap, Secret};

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
