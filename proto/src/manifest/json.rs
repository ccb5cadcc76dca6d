//! The fast path for JSON manifests (what the CLI, the SDK and kubectl send over the API):
//! text that is valid as it stands is decoded straight from serde_json, skipping the
//! position-marked tree that only diagnostics need. The same strict typed decoding and
//! validation rules run; whatever they refuse goes through the full pipeline, which
//! explains it with positions.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::Source;
use crate::object::{Kind, Object};
use crate::validate;

/// Decodes `text` if it is one valid JSON object that passes every check; `None` otherwise.
pub(super) fn decode(text: &str, source: &Source) -> Option<Object> {
    if !text.trim_start().starts_with('{') {
        return None;
    }
    let Strict(mut value) = serde_json::from_str(text).ok()?;
    let map = value.as_object_mut()?;
    let kind = Kind::from_name(map.remove("kind")?.as_str()?)?;
    if map.remove("apiVersion")?.as_str()? != kind.api_version() {
        return None;
    }
    let obj = crate::kinds::decode(kind, value).ok()?;
    let context = validate::Context {
        base_dir: source.base_dir.as_deref(),
    };
    validate::object(&obj, &context).is_empty().then_some(obj)
}

/// A JSON value whose objects repeat no key (as the YAML path checks: a repeated key is an
/// error there, where `serde_json::Value` would keep the last one silently).
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("not a finite number"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let Strict(v) = map.next_value()?;
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate key `{key}`")));
            }
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CM: &str = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"default"},"data":{"k":"v"}}"#;

    #[test]
    fn valid_json_takes_the_fast_path_and_matches_the_full_one() {
        let source = Source::named("<request>");
        let fast = decode(CM, &source).expect("valid JSON is decoded directly");
        let full = super::super::decode(CM, &source);
        assert_eq!(full.objects, vec![fast]);
    }

    #[test]
    fn anything_doubtful_is_left_to_the_full_pipeline() {
        let source = Source::named("<request>");
        for text in [
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"k":"v","k":"w"}}"#,
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},}"#,
            r#"{"apiVersion":"apps/v1","kind":"ConfigMap","metadata":{"name":"a"}}"#,
            r#"{"apiVersion":"v1","kind":"ConfigMapp","metadata":{"name":"a"}}"#,
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"A_b"}}"#,
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"extra":1}"#,
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}{"x":1}"#,
        ] {
            assert!(decode(text, &source).is_none(), "{text}");
        }
        let dup = super::super::decode(
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"k":"v","k":"w"}}"#,
            &source,
        );
        assert!(
            dup.objects.is_empty(),
            "the full pipeline refuses a repeated key"
        );
    }
}
