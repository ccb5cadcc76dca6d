//! Reading manifests: YAML or JSON text → typed, validated [`Object`]s, or diagnostics that
//! name the file, document, line, field path and a fix.
//!
//! Valid JSON takes a shortcut (`json`) to the same typed decoding and validation.
//!
//! Pipeline: `tree` parses every document into a position-marked tree; the tree becomes a
//! JSON value whose `apiVersion`/`kind` pick the Rust type; strict serde decoding (unknown
//! fields are errors) runs under `serde_path_to_error` to learn the failing field; then
//! [`crate::validate`] checks what types cannot (names, ranges, cross-field rules). Paths
//! from either stage are mapped back to lines through the tree.

mod diagnostic;
mod hints;
mod json;
mod path;
mod tree;

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

pub use diagnostic::{Diagnostic, Diagnostics};
pub use hints::closest;
pub use path::{FieldPath, Segment};

use crate::object::{Kind, Object};
use crate::validate::{self, Violation};
use tree::Marked;

/// Where a manifest came from, and how much to check.
#[derive(Debug, Clone, Default)]
pub struct Source {
    /// Shown in diagnostics: a file path, `<stdin>` or `<request>`.
    pub name: String,
    /// The manifest's folder: relative Wasm artifact paths are resolved against it, and
    /// must exist there. `None` skips the check (e.g. for manifests sent over the API).
    pub base_dir: Option<PathBuf>,
}

impl Source {
    /// A file on disk; its folder resolves relative artifact paths.
    pub fn file(path: &Path) -> Self {
        Source {
            name: path.display().to_string(),
            base_dir: path.parent().map(Path::to_path_buf),
        }
    }

    /// Text with no folder (stdin, API requests): artifact paths are not checked.
    pub fn named(name: &str) -> Self {
        Source {
            name: name.to_owned(),
            base_dir: None,
        }
    }
}

/// The objects of one source, and every problem found in it.
#[derive(Debug, Default)]
pub struct Decoded {
    pub objects: Vec<Object>,
    pub diagnostics: Diagnostics,
}

/// Decodes and validates every document of `text`, keeping going after a bad document so
/// all problems are reported at once.
pub fn decode(text: &str, source: &Source) -> Decoded {
    let mut out = Decoded::default();
    if let Some(obj) = json::decode(text, source) {
        out.objects.push(obj);
        return out;
    }
    let docs = match parse(text) {
        Ok(docs) => docs,
        Err((position, message, hint)) => {
            out.diagnostics.0.push(Diagnostic {
                source: source.name.clone(),
                document: 1,
                object: None,
                path: FieldPath::root(),
                position,
                message,
                hint: Some(hint),
            });
            return out;
        }
    };
    for (i, doc) in docs.iter().enumerate() {
        match decode_document(doc, source).and_then(|(obj, name)| validated(obj, name, doc, source))
        {
            Ok(obj) => out.objects.push(obj),
            Err(mut found) => {
                for d in &mut found {
                    d.document = i + 1;
                }
                out.diagnostics.0.extend(found);
            }
        }
    }
    out
}

/// Decodes text that must hold exactly one object (an API request body).
pub fn decode_one(text: &str, source: &Source) -> Result<Object, Diagnostics> {
    let mut d = decode(text, source);
    if !d.diagnostics.0.is_empty() {
        return Err(d.diagnostics);
    }
    match d.objects.len() {
        1 => Ok(d.objects.remove(0)),
        n => Err(Diagnostics(vec![Diagnostic {
            source: source.name.clone(),
            document: 1,
            object: None,
            path: FieldPath::root(),
            position: None,
            message: format!("expected exactly one object, found {n}"),
            hint: Some("send one manifest per request".to_owned()),
        }])),
    }
}

type SyntaxError = (Option<(u64, u64)>, String, String);

/// Parses the documents of `text`. Text that starts like JSON must be strict JSON (as
/// kubectl decodes it): YAML would quietly accept JSON's common slips, such as a trailing
/// comma.
fn parse(text: &str) -> Result<Vec<Marked>, SyntaxError> {
    if text.trim_start().starts_with(['{', '[']) {
        let mut stream =
            serde_json::Deserializer::from_str(text).into_iter::<serde::de::IgnoredAny>();
        if let Some(Err(e)) = stream.find(Result::is_err) {
            let position = (e.line() > 0).then(|| (e.line() as u64, e.column() as u64));
            return Err((
                position,
                format!("JSON syntax error: {e}"),
                "check the commas, quotes and brackets near that position".into(),
            ));
        }
    }
    tree::parse_documents(text).map_err(|e| {
        let position = e
            .location()
            .map(|l| (l.line(), l.column()))
            .filter(|(l, _)| *l > 0);
        let rendered = e.to_string();
        // serde-saphyr renders "error: line L column C: MESSAGE" and a snippet below it.
        let first = rendered
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or(&rendered)
            .trim();
        let first = first.strip_prefix("error:").unwrap_or(first).trim();
        let message = match first.split_once(": ") {
            Some((at, rest)) if at.starts_with("line ") => rest,
            _ => first,
        };
        if let Some(key) = message.strip_prefix("duplicate mapping key: ") {
            let key = key.split(", set DuplicateKeyPolicy").next().unwrap_or(key);
            return (
                position,
                format!("duplicate key `{key}` in a mapping"),
                "each key may appear once; remove or rename one of them".into(),
            );
        }
        (
            position,
            format!("YAML syntax error: {message}"),
            "check the indentation and quoting near that line; YAML uses spaces, not tabs".into(),
        )
    })
}

/// A diagnostic for `doc`, positioned at `path`.
fn diagnostic(
    doc: &Marked,
    source: &Source,
    path: FieldPath,
    object: Option<String>,
    message: String,
    hint: Option<String>,
) -> Diagnostic {
    Diagnostic {
        source: source.name.clone(),
        document: 0,
        object,
        position: Some(doc.locate(&path)),
        path,
        message,
        hint,
    }
}

/// Runs the validation rules on a decoded object.
fn validated(
    obj: Object,
    name: String,
    doc: &Marked,
    source: &Source,
) -> Result<Object, Vec<Diagnostic>> {
    let violations = validate::object(
        &obj,
        &validate::Context {
            base_dir: source.base_dir.as_deref(),
        },
    );
    if violations.is_empty() {
        return Ok(obj);
    }
    Err(violations
        .into_iter()
        .map(
            |Violation {
                 path,
                 message,
                 hint,
             }| diagnostic(doc, source, path, Some(name.clone()), message, hint),
        )
        .collect())
}

/// Parses and strictly decodes one document of `text`, without the validation rules
/// (for tests of the decoding layer itself).
#[cfg(test)]
pub(crate) fn decode_typed_only(text: &str) -> Result<Object, String> {
    let docs = tree::parse_documents(text).map_err(|e| e.to_string())?;
    let doc = docs.first().ok_or("no document")?;
    decode_document(doc, &Source::named("test"))
        .map(|(o, _)| o)
        .map_err(|d| Diagnostics(d).to_string())
}

/// Strict typed decoding of one document; returns the object and its `Kind/name`.
fn decode_document(doc: &Marked, source: &Source) -> Result<(Object, String), Vec<Diagnostic>> {
    let diag = |path, object, message, hint| diagnostic(doc, source, path, object, message, hint);
    let mut value = doc
        .to_json()
        .map_err(|(p, m)| vec![diag(p, None, m, None)])?;
    let Some(map) = value.as_object_mut() else {
        return Err(vec![diag(
            FieldPath::root(),
            None,
            "invalid type: a manifest must be a mapping with apiVersion, kind, metadata and spec"
                .into(),
            None,
        )]);
    };
    let header = |field: &str| -> Result<String, Box<Diagnostic>> {
        match map.get(field) {
            Some(serde_json::Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(Box::new(diag(
                FieldPath::root().field(field),
                None,
                format!("invalid type: `{field}` must be a string"),
                None,
            ))),
            None => Err(Box::new(diag(
                FieldPath::root(),
                None,
                format!("missing field `{field}`: every manifest starts with apiVersion and kind"),
                Some("e.g. `apiVersion: apps/v1` and `kind: Deployment`".into()),
            ))),
        }
    };
    let kind_name = header("kind").map_err(|d| vec![*d])?;
    let api_version = header("apiVersion").map_err(|d| vec![*d])?;
    let Some(kind) = Kind::from_name(&kind_name) else {
        let hint = match closest(&kind_name, Kind::ALL.iter().map(|k| k.name())) {
            Some(best) => format!("did you mean `{best}`?"),
            None => format!(
                "kinds Skiff knows: {}",
                Kind::ALL.map(|k| k.name()).join(", ")
            ),
        };
        return Err(vec![diag(
            FieldPath::root(),
            None,
            format!("unknown kind `{kind_name}`"),
            Some(hint),
        )]);
    };
    if api_version != kind.api_version() {
        return Err(vec![diag(
            FieldPath::root().field("apiVersion"),
            None,
            format!("apiVersion `{api_version}` does not serve kind {kind}"),
            Some(format!("use `apiVersion: {}`", kind.api_version())),
        )]);
    }
    map.remove("kind");
    map.remove("apiVersion");
    let name = map
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(|n| n.as_str())
        .map(|n| format!("{kind}/{n}"))
        .unwrap_or_else(|| kind.name().to_owned());
    let obj = crate::kinds::decode(kind, value).map_err(|(mut path, message)| {
        let e = hints::explain(&message);
        // serde names the object a required field is missing from; point at the field.
        if let Some(field) = e
            .message
            .strip_prefix("missing field `")
            .and_then(|m| m.strip_suffix('`'))
        {
            path = path.field(field);
        }
        vec![diag(path, Some(name.clone()), e.message, e.hint)]
    })?;
    Ok((obj, name))
}

pub(crate) fn from_value<T: DeserializeOwned>(
    v: serde_json::Value,
) -> Result<T, (FieldPath, String)> {
    serde_path_to_error::deserialize(v)
        .map_err(|e| (FieldPath::from(e.path()), e.inner().to_string()))
}
