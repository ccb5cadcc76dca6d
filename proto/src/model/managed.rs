//! `metadata.managedFields`: who set which fields, for server-side apply.
//!
//! Objects carry them as the JSON text the server wrote ([`ManagedFields`]) and only
//! server-side apply parses them ([`ManagedFields::entries`]). Every read of an applied
//! object (a get, a list, a watch event) passes them through untouched, so they cost a
//! copy there rather than a parse into a tree and a walk back out of it.

use std::borrow::Cow;
use std::fmt;

use super::values::Time;

/// The fields one manager owns, as Kubernetes writes them (`FieldsV1`: a tree of
/// `f:field`, `k:{"name":"web"}` list items, `v:"value"` set members and `.` for an item
/// itself).
#[derive(
    Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ManagedFieldsEntry {
    /// Who: kubectl's `--field-manager`, `skiff`, a controller.
    pub manager: String,
    /// `Apply` (server-side apply) or `Update` (any other write).
    pub operation: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// When the set last changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<Time>,
    /// Always `FieldsV1`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fields_type: String,
    /// The fields, as a tree (see the type's text).
    #[serde(
        rename = "fieldsV1",
        default,
        skip_serializing_if = "serde_json::Value::is_null"
    )]
    pub fields_v1: serde_json::Value,
    /// `status` or `scale` for a write through a subresource; empty for the object.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subresource: String,
}

/// The managed fields of one object: a JSON array of [`ManagedFieldsEntry`], kept as
/// text. Empty when no manager owns anything (the object was never applied).
///
/// Any serializer gets the array itself (the text is transcoded, not parsed into a tree);
/// any deserializer's array is kept as JSON text, checked only when
/// [`entries`](Self::entries) reads it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ManagedFields(String);

impl ManagedFields {
    /// The entries' JSON, as a store record or a raft command carries it. The text is
    /// checked to be JSON (not parsed into a tree); an empty array is no entries.
    pub fn from_json(json: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice::<serde::de::IgnoredAny>(json)?;
        let text = std::str::from_utf8(json).map_err(serde::de::Error::custom)?;
        Ok(Self::from_text(text.trim().to_owned()))
    }

    /// The given entries; none is empty.
    pub fn from_entries(entries: &[ManagedFieldsEntry]) -> Self {
        if entries.is_empty() {
            return Self::default();
        }
        // Plain data with string keys: serializing it to JSON cannot fail.
        Self(serde_json::to_string(entries).unwrap_or_default())
    }

    fn from_text(text: String) -> Self {
        match text.as_str() {
            "[]" | "null" => Self::default(),
            _ => Self(text),
        }
    }

    /// The entries, parsed. An error when the text is not an array of entries (a
    /// client's, say: the server's own always is).
    pub fn entries(&self) -> Result<Vec<ManagedFieldsEntry>, serde_json::Error> {
        if self.0.is_empty() {
            return Ok(Vec::new());
        }
        serde_json::from_str(&self.0)
    }

    /// The JSON text (empty when there are no entries).
    pub fn json(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }
}

impl fmt::Debug for ManagedFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "[]" } else { &self.0 })
    }
}

impl serde::Serialize for ManagedFields {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0.is_empty() {
            return serializer.collect_seq(std::iter::empty::<()>());
        }
        let mut json = serde_json::Deserializer::from_str(&self.0);
        serde_transcode::transcode(&mut json, serializer)
    }
}

impl<'de> serde::Deserialize<'de> for ManagedFields {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut text = Vec::new();
        serde_transcode::transcode(deserializer, &mut serde_json::Serializer::new(&mut text))
            .map_err(serde::de::Error::custom)?;
        let text = String::from_utf8(text).map_err(serde::de::Error::custom)?;
        Ok(Self::from_text(text))
    }
}

impl schemars::JsonSchema for ManagedFields {
    fn inline_schema() -> bool {
        <Vec<ManagedFieldsEntry>>::inline_schema()
    }

    fn schema_name() -> Cow<'static, str> {
        <Vec<ManagedFieldsEntry>>::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        <Vec<ManagedFieldsEntry>>::json_schema(generator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(manager: &str) -> ManagedFieldsEntry {
        ManagedFieldsEntry {
            manager: manager.into(),
            operation: "Apply".into(),
            fields_type: "FieldsV1".into(),
            fields_v1: serde_json::json!({"f:data": {"f:k": {}}}),
            ..Default::default()
        }
    }

    #[test]
    fn entries_round_trip_through_the_text() {
        let m = ManagedFields::from_entries(&[entry("kubectl"), entry("skiff")]);
        assert_eq!(m.entries().unwrap(), vec![entry("kubectl"), entry("skiff")]);
        assert!(ManagedFields::from_entries(&[]).is_empty());
        assert_eq!(ManagedFields::from_json(m.json().as_bytes()).unwrap(), m);
    }

    #[test]
    fn json_and_yaml_show_the_array() {
        let m = ManagedFields::from_entries(&[entry("kubectl")]);
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json[0]["manager"], "kubectl");
        assert_eq!(json[0]["fieldsV1"]["f:data"]["f:k"], serde_json::json!({}));
        let yaml = serde_saphyr::to_string(&m).unwrap();
        assert!(yaml.contains("manager: kubectl"), "{yaml}");
        let back: ManagedFields = serde_saphyr::from_str(&yaml).unwrap();
        assert_eq!(back.entries().unwrap(), vec![entry("kubectl")]);
    }

    #[test]
    fn bad_text_is_an_error_not_a_crash() {
        assert!(ManagedFields::from_json(b"[{").is_err());
        assert!(ManagedFields::from_json(&[0xff]).is_err());
        let odd: ManagedFields = serde_json::from_str(r#"[{"nope": 1}]"#).unwrap();
        assert!(odd.entries().is_err());
        let none: ManagedFields = serde_json::from_str("[]").unwrap();
        assert!(none.is_empty());
    }
}
