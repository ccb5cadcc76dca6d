//! What a write carries: the body read (JSON, or YAML when its type says so) and made
//! ready to store: `null`s dropped, put in the URL's namespace, and fields the kind does
//! not have handled as `fieldValidation` says: `Strict` refuses them (the decoder names
//! each; the default, as Skiff loses nothing silently), `Warn` drops them with a
//! `Warning` each, `Ignore` drops them.

use axum::body::Body;
use serde_json::Value;
use skiff_proto::Kind;
use skiff_proto::schema::Schemas;
use tonic::Status;

use super::Call;
use super::paths::Objects;
use crate::api::objects::drop_nulls;

/// The largest body a write may carry (an object is at most 1 MiB; YAML is wordier).
pub(super) const MAX_BODY: usize = 3 << 20;

/// A write's object, ready for the API, and what the client should be told about it.
pub(super) struct Prepared {
    pub manifest: Vec<u8>,
    pub warnings: Vec<String>,
}

/// What `fieldValidation` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Validation {
    Strict,
    Warn,
    Ignore,
}

fn validation(call: &Call) -> Result<Validation, Status> {
    match call.query_str("fieldValidation") {
        None | Some("" | "Strict") => Ok(Validation::Strict),
        Some("Warn") => Ok(Validation::Warn),
        Some("Ignore") => Ok(Validation::Ignore),
        Some(other) => Err(Status::invalid_argument(format!(
            "fieldValidation {other:?} is not one of Strict, Warn or Ignore"
        ))),
    }
}

/// The object a write carries: JSON or YAML, made ready by [`prepare`].
pub(super) async fn body_object(at: &Objects, call: &Call, body: Body) -> Result<Prepared, Status> {
    let v = read_body(call, body).await?;
    prepare(at, call, v)
}

/// The body as a JSON value (JSON, or YAML when its type says so).
pub(super) async fn read_body(call: &Call, body: Body) -> Result<Value, Status> {
    let bytes = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|e| Status::invalid_argument(format!("reading the body: {e}")))?;
    if call.content_type.contains("yaml") {
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| Status::invalid_argument("the body is not UTF-8"))?;
        serde_saphyr::from_str(text)
            .map_err(|e| Status::invalid_argument(format!("the body is not YAML: {e}")))
    } else if call.content_type.is_empty() || call.content_type.contains("json") {
        if validation(call)? == Validation::Strict {
            // A field given twice would lose one of its values: Strict refuses it.
            serde_json::from_slice::<Unique>(&bytes)
                .map_err(|e| Status::invalid_argument(format!("strict decoding error: {e}")))?;
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| Status::invalid_argument(format!("the body is not JSON: {e}")))
    } else {
        Err(super::errors::unsupported_body(&call.content_type))
    }
}

/// Reads a JSON document for nothing but this: no object in it names a field twice.
struct Unique;

impl<'de> serde::Deserialize<'de> for Unique {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Unique)
    }
}

impl<'de> serde::de::Visitor<'de> for Unique {
    type Value = Unique;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Unique, E> {
        Ok(Unique)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Unique, E> {
        Ok(Unique)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Unique, E> {
        Ok(Unique)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Unique, E> {
        Ok(Unique)
    }

    fn visit_str<E>(self, _: &str) -> Result<Unique, E> {
        Ok(Unique)
    }

    fn visit_unit<E>(self) -> Result<Unique, E> {
        Ok(Unique)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Unique, A::Error> {
        while seq.next_element::<Unique>()?.is_some() {}
        Ok(Unique)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Unique, A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(serde::de::Error::custom(format!("duplicate field {key:?}")));
            }
            map.next_value::<Unique>()?;
        }
        Ok(Unique)
    }
}

/// An object to write, as a manifest: `null`s dropped (clients send `creationTimestamp:
/// null`), unknown fields handled as `call` asks, put in the path's namespace and checked
/// against its name.
pub(super) fn prepare(at: &Objects, call: &Call, mut v: Value) -> Result<Prepared, Status> {
    drop_nulls(&mut v);
    header(at, &mut v)?;
    let mode = validation(call)?;
    let mut warnings = Vec::new();
    if mode != Validation::Strict {
        let kind = v["kind"].as_str().and_then(Kind::lookup).unwrap_or(at.kind);
        let unknown = Schemas::all().prune_unknown(kind, &mut v);
        if mode == Validation::Warn {
            warnings = unknown
                .iter()
                .map(|f| format!("unknown field \"{f}\""))
                .collect();
        }
    }
    let meta = v
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| Status::invalid_argument("the object has no metadata"))?;
    if let Some(ns) = &at.namespace {
        match meta.get("namespace").and_then(Value::as_str) {
            None | Some("") => {
                meta.insert("namespace".into(), Value::String(ns.clone()));
            }
            Some(other) if other != ns => {
                return Err(Status::invalid_argument(format!(
                    "the namespace of the object ({other}) does not match the namespace of the request ({ns})"
                )));
            }
            Some(_) => {}
        }
    }
    if let Some(name) = &at.name
        && meta.get("name").and_then(Value::as_str) != Some(name.as_str())
    {
        return Err(Status::invalid_argument(format!(
            "the name of the object does not match the name in the URL ({name})"
        )));
    }
    let manifest = serde_json::to_vec(&v).map_err(|e| Status::internal(e.to_string()))?;
    Ok(Prepared { manifest, warnings })
}

/// Fills in the `apiVersion` and `kind` the URL implies when the body leaves them out
/// (client libraries often do), and refuses a body of another kind.
fn header(at: &Objects, v: &mut Value) -> Result<(), Status> {
    let Some(m) = v.as_object_mut() else {
        return Err(Status::invalid_argument("the body is not a JSON object"));
    };
    let info = at.kind.info();
    for (field, want) in [("apiVersion", info.api_version), ("kind", info.name)] {
        match m.get(field).and_then(Value::as_str) {
            None | Some("") => {
                m.insert(field.into(), Value::String(want.into()));
            }
            Some(have) if have != want => {
                return Err(Status::invalid_argument(format!(
                    "the body's {field} is {have:?}, but the URL names {}: send a {want} to this URL",
                    info.plural
                )));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_json::json;

    use super::*;

    #[test]
    fn nulls_are_dropped_at_every_depth() {
        let mut v = json!({"metadata": {"name": "a", "creationTimestamp": null}, "spec": {"x": [{"y": null}]}});
        drop_nulls(&mut v);
        assert_eq!(v, json!({"metadata": {"name": "a"}, "spec": {"x": [{}]}}));
    }

    fn call(mode: Option<&str>) -> Call {
        Call {
            method: "POST".into(),
            query: mode
                .map(|m| HashMap::from([("fieldValidation".to_owned(), m.to_owned())]))
                .unwrap_or_default(),
            accept: String::new(),
            content_type: "application/json".into(),
            user_agent: String::new(),
        }
    }

    #[test]
    fn strict_refuses_a_field_given_twice() {
        let twice = br#"{"metadata": {"name": "a", "labels": {"x": "1", "x": "2"}}}"#;
        assert!(serde_json::from_slice::<Unique>(twice).is_err());
        let once = br#"{"metadata": {"name": "a", "labels": {"x": "1"}}, "data": [1, {"x": 2}, {"x": 3}]}"#;
        assert!(serde_json::from_slice::<Unique>(once).is_ok());
    }

    #[test]
    fn unknown_fields_are_kept_for_the_decoder_dropped_or_warned_about() {
        let at = Objects {
            kind: Kind::ConfigMap,
            namespace: Some("default".into()),
            name: None,
            subresource: None,
            view: None,
        };
        let object = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}, "colour": "red"});
        let kept = prepare(&at, &call(None), object.clone()).unwrap();
        let v: Value = serde_json::from_slice(&kept.manifest).unwrap();
        assert_eq!(
            v["colour"], "red",
            "Strict leaves the refusal to the decoder"
        );
        assert_eq!(v["metadata"]["namespace"], "default");
        let warned = prepare(&at, &call(Some("Warn")), object.clone()).unwrap();
        assert_eq!(warned.warnings, ["unknown field \"colour\""]);
        let v: Value = serde_json::from_slice(&warned.manifest).unwrap();
        assert!(v.get("colour").is_none() && v["data"]["k"] == "v");
        let ignored = prepare(&at, &call(Some("Ignore")), object.clone()).unwrap();
        assert!(ignored.warnings.is_empty());
        let bad = prepare(&at, &call(Some("Loose")), object).err().unwrap();
        assert!(bad.message().contains("Strict, Warn or Ignore"), "{bad:?}");
        // The header comes from the URL when left out; another kind is refused.
        let bare = json!({"metadata": {"name": "c"}, "data": {}});
        let p = prepare(&at, &call(None), bare).unwrap();
        let v: Value = serde_json::from_slice(&p.manifest).unwrap();
        assert_eq!(
            (v["apiVersion"].as_str(), v["kind"].as_str()),
            (Some("v1"), Some("ConfigMap"))
        );
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "c"}});
        let wrong = prepare(&at, &call(None), secret).err().unwrap();
        assert!(wrong.message().contains("configmaps"), "{wrong:?}");
    }
}
