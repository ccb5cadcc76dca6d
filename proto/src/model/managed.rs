//! `metadata.managedFields`: who set which fields, for server-side apply.
//!
//! Objects carry them as the JSON text the server wrote ([`ManagedFields`]) and only
//! server-side apply parses them ([`ManagedFields::entries`]). Every read of an applied
//! object (a get, a list, a watch event) checks the text and copies it into the answer
//! (see [`verbatim`]), rather than parsing it into a tree and walking it back out:
//! `benches/src/bin/objects.rs` measures the difference.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;

use serde_json::value::RawValue;

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
/// checked JSON text. Empty when no manager owns anything (the object was never applied).
///
/// [`Object::to_json`](crate::Object::to_json) writes the text verbatim (see
/// [`verbatim`]); any other serializer gets the array transcoded from the text, not parsed
/// into a tree. Any deserializer's array is kept as JSON text, its entries checked only
/// when [`entries`](Self::entries) reads them.
#[derive(Clone, Default)]
pub struct ManagedFields(Option<Box<RawValue>>);

thread_local! {
    /// Set while [`verbatim`] runs: the serializer is serde_json's.
    static VERBATIM: Cell<bool> = const { Cell::new(false) };
}

/// Runs `serialize`, a serialization by serde_json, with managed fields written as the
/// text they are: no parse, no transcoding. Only serde_json knows its raw-value token; any
/// other serializer must run outside it.
pub fn verbatim<T>(serialize: impl FnOnce() -> T) -> T {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            VERBATIM.with(|v| v.set(self.0));
        }
    }
    let _reset = Reset(VERBATIM.with(|v| v.replace(true)));
    serialize()
}

impl ManagedFields {
    /// The entries' JSON, as a store record or a raft command carries it: checked to be
    /// JSON (not parsed into a tree). An empty array is no entries.
    pub fn from_json(json: &[u8]) -> Result<Self, serde_json::Error> {
        let raw: Box<RawValue> = serde_json::from_slice(json)?;
        Ok(Self::from_raw(raw))
    }

    /// The given entries; none is empty.
    pub fn from_entries(entries: &[ManagedFieldsEntry]) -> Self {
        if entries.is_empty() {
            return Self::default();
        }
        // Plain data with string keys: serializing it to JSON cannot fail.
        serde_json::value::to_raw_value(entries).map_or_else(|_| Self::default(), Self::from_raw)
    }

    fn from_raw(raw: Box<RawValue>) -> Self {
        match raw.get() {
            "[]" | "null" => Self::default(),
            _ => Self(Some(raw)),
        }
    }

    /// The entries, parsed. An error when the text is not an array of entries (a
    /// client's, say: the server's own always is).
    pub fn entries(&self) -> Result<Vec<ManagedFieldsEntry>, serde_json::Error> {
        match &self.0 {
            None => Ok(Vec::new()),
            Some(raw) => serde_json::from_str(raw.get()),
        }
    }

    /// The JSON text (empty when there are no entries).
    pub fn json(&self) -> &str {
        self.0.as_deref().map_or("", RawValue::get)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    pub fn clear(&mut self) {
        self.0 = None;
    }
}

impl PartialEq for ManagedFields {
    fn eq(&self, other: &Self) -> bool {
        self.json() == other.json()
    }
}

impl Eq for ManagedFields {}

impl fmt::Debug for ManagedFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_empty() { "[]" } else { self.json() })
    }
}

impl serde::Serialize for ManagedFields {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Some(raw) = &self.0 else {
            return serializer.collect_seq(std::iter::empty::<()>());
        };
        if VERBATIM.with(Cell::get) {
            return raw.serialize(serializer);
        }
        let mut json = serde_json::Deserializer::from_str(raw.get());
        serde_transcode::transcode(&mut json, serializer)
    }
}

impl<'de> serde::Deserialize<'de> for ManagedFields {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut text = Vec::new();
        serde_transcode::transcode(deserializer, &mut serde_json::Serializer::new(&mut text))
            .map_err(serde::de::Error::custom)?;
        Self::from_json(&text).map_err(serde::de::Error::custom)
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
    fn verbatim_json_is_the_text_itself() {
        let m = ManagedFields::from_entries(&[entry("kubectl")]);
        let plain = serde_json::to_string(&m).unwrap();
        let copied = verbatim(|| serde_json::to_string(&m).unwrap());
        assert_eq!(plain, copied);
        assert_eq!(copied, m.json());
        // The flag is only set inside.
        assert!(!VERBATIM.with(Cell::get));
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
