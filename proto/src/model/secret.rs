//! Secret: like a ConfigMap, for sensitive values (base64 `data`, or plain `stringData`).

use skiff_proto_macros::model;
use std::collections::BTreeMap;

use super::meta::ObjectMeta;
use super::values::Base64Bytes;

#[model]
pub struct Secret {
    pub metadata: ObjectMeta,
    /// `Opaque` by default; kept as written for tools that switch on it.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, Base64Bytes>,
    /// Write-only convenience: merged into `data` when the Secret is stored.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub string_data: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
}
