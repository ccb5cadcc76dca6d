//! ConfigMap: configuration a pod reads as environment variables or files.

use skiff_proto_macros::model;
use std::collections::BTreeMap;

use super::meta::ObjectMeta;
use super::values::Base64Bytes;

#[model]
pub struct ConfigMap {
    pub metadata: ObjectMeta,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub binary_data: BTreeMap<String, Base64Bytes>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
}
