//! The JSON schemas of the kinds, in the OpenAPI 3 form Kubernetes publishes, made from
//! the model's own types (schemars reads their serde attributes and doc comments), so
//! the documents say exactly which fields Skiff accepts.
//!
//! schemars' output is brought to Kubernetes' conventions, which `kubectl explain` and
//! validating clients expect: optional fields are plain (no `null` types), enums are
//! `enum` lists with their values described in the text, `title` joins the description,
//! and each kind's schema carries `apiVersion`, `kind` and
//! `x-kubernetes-group-version-kind`.
//!
//! The same schemas find fields a write carries that its kind does not have
//! ([`Schemas::prune_unknown`]), for the API's `fieldValidation=Warn|Ignore`.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use schemars::generate::SchemaSettings;
use schemars::transform::{AddNullable, Transform, transform_subschemas};
use serde_json::{Map, Value, json};

use crate::Kind;

/// Where references point, as in OpenAPI 3 documents.
pub const REF_PREFIX: &str = "#/components/schemas/";

/// The schemas of some kinds and of every type they use.
#[derive(Debug, Clone)]
pub struct Schemas {
    components: Map<String, Value>,
    roots: BTreeMap<Kind, String>,
}

impl Schemas {
    /// The schemas of `kinds` (one group-version's, for its document).
    pub fn of(kinds: impl IntoIterator<Item = Kind>) -> Schemas {
        let settings = SchemaSettings::openapi3().with(|s| {
            if let Some(at) = s.transforms.iter().position(|t| t.is::<AddNullable>()) {
                s.transforms[at] = Box::new(Kubernetes);
            }
            s.meta_schema = None;
        });
        let mut generator = settings.into_generator();
        let mut roots = BTreeMap::new();
        for kind in kinds {
            let reference = kind.schema(&mut generator);
            let name = reference
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix(REF_PREFIX))
                .unwrap_or_else(|| unreachable!("a kind's schema is a reference"))
                .to_owned();
            roots.insert(kind, name);
        }
        let mut components = generator.take_definitions(true);
        for (kind, name) in &roots {
            if let Some(Value::Object(root)) = components.get_mut(name) {
                headers(*kind, root);
            }
        }
        Schemas { components, roots }
    }

    /// The schemas of every kind.
    pub fn all() -> &'static Schemas {
        static ALL: LazyLock<Schemas> = LazyLock::new(|| Schemas::of(Kind::ALL));
        &ALL
    }

    /// Every schema, by name (`components.schemas` of a document).
    pub fn components(&self) -> &Map<String, Value> {
        &self.components
    }

    /// The name of `kind`'s own schema, if it is one of these.
    pub fn root(&self, kind: Kind) -> Option<&str> {
        self.roots.get(&kind).map(String::as_str)
    }

    /// Removes from `object` (a whole `kind` object, as JSON) every field its schema does
    /// not have, and returns where they were (`spec.template.spec.containers[0].colour`).
    pub fn prune_unknown(&self, kind: Kind, object: &mut Value) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(root) = self.root(kind).and_then(|n| self.components.get(n)) {
            self.prune(root, object, String::new(), &mut out);
        }
        out
    }

    /// The schema `s` stands for once references are followed.
    fn resolve<'a>(&'a self, mut s: &'a Value) -> &'a Value {
        for _ in 0..16 {
            let next = s
                .get("$ref")
                .or_else(|| s.get("allOf").and_then(|a| a.get(0)?.get("$ref")))
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix(REF_PREFIX))
                .and_then(|n| self.components.get(n));
            match next {
                Some(n) => s = n,
                None => break,
            }
        }
        s
    }

    fn prune(&self, schema: &Value, v: &mut Value, at: String, out: &mut Vec<String>) {
        let schema = self.resolve(schema);
        match v {
            Value::Object(fields) => {
                let properties = schema.get("properties").and_then(Value::as_object);
                let extra = schema.get("additionalProperties").filter(|a| a.is_object());
                let join = |k: &str| {
                    if at.is_empty() {
                        k.to_owned()
                    } else {
                        format!("{at}.{k}")
                    }
                };
                if let Some(properties) = properties {
                    fields.retain(|k, _| {
                        let known = properties.contains_key(k);
                        if !known {
                            out.push(join(k));
                        }
                        known
                    });
                }
                for (k, field) in fields.iter_mut() {
                    let sub = properties.and_then(|p| p.get(k)).or(extra);
                    if let Some(sub) = sub {
                        self.prune(sub, field, join(k), out);
                    }
                }
            }
            Value::Array(items) => {
                if let Some(sub) = schema.get("items") {
                    for (i, item) in items.iter_mut().enumerate() {
                        self.prune(sub, item, format!("{at}[{i}]"), out);
                    }
                }
            }
            _ => {}
        }
    }
}

/// What a kind's own schema has besides its type's fields: the manifest header and the
/// group-version-kind clients find it by.
fn headers(kind: Kind, root: &mut Map<String, Value>) {
    let info = kind.info();
    if let Some(Value::Object(properties)) = root.get_mut("properties") {
        properties.insert(
            "apiVersion".into(),
            json!({"type": "string", "description": format!("The version of the schema the object is written in: `{}`.", info.api_version)}),
        );
        properties.insert(
            "kind".into(),
            json!({"type": "string", "description": format!("The kind of the object: `{}`.", info.name)}),
        );
    }
    root.entry("description").or_insert_with(|| {
        Value::String(format!(
            "A {} ({}), as Skiff serves it.",
            info.name, info.api_version
        ))
    });
    root.insert(
        "x-kubernetes-group-version-kind".into(),
        json!([{"group": kind.group(), "version": kind.version(), "kind": info.name}]),
    );
}

/// schemars' schemas → Kubernetes' conventions (see the module docs).
#[derive(Debug, Clone, Copy)]
struct Kubernetes;

impl Transform for Kubernetes {
    fn transform(&mut self, schema: &mut schemars::Schema) {
        transform_subschemas(self, schema);
        let Some(s) = schema.as_object_mut() else {
            return;
        };
        not_null(s);
        plain_enum(s);
        if let Some(Value::String(title)) = s.remove("title") {
            let text = match s.get("description").and_then(Value::as_str) {
                Some(d) => format!("{title}\n\n{d}"),
                None => title,
            };
            s.insert("description".into(), Value::String(text));
        }
        // A field's default is Skiff's to apply, not the client's.
        s.remove("default");
    }
}

/// An optional value is absent, never `null`: `type: [T, "null"]` → `type: T`,
/// `anyOf: [S, {type: null}]` → S, and no `enum` lists `null`.
fn not_null(s: &mut Map<String, Value>) {
    if let Some(Value::Array(types)) = s.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let only = types.remove(0);
            s.insert("type".into(), only);
        }
    }
    let is_null =
        |v: &Value| v.get("type") == Some(&json!("null")) || v.get("const") == Some(&Value::Null);
    if let Some(Value::Array(options)) = s.get_mut("anyOf")
        && options.iter().any(is_null)
    {
        options.retain(|o| !is_null(o));
        if options.len() == 1
            && let Some(Value::Object(only)) = options.pop()
        {
            s.remove("anyOf");
            for (k, v) in only {
                s.entry(k).or_insert(v);
            }
        }
    }
    if let Some(Value::Array(values)) = s.get_mut("enum") {
        values.retain(|v| !v.is_null());
    }
    s.remove("nullable");
}

/// An enum whose values are documented (`oneOf` of `const`s) → `type: string` with an
/// `enum` list, the values' texts listed in the description as Kubernetes does.
fn plain_enum(s: &mut Map<String, Value>) {
    let Some(Value::Array(options)) = s.get("oneOf") else {
        return;
    };
    let consts: Option<Vec<(Value, Option<String>)>> = options
        .iter()
        .map(|o| {
            let value = o.get("const").or_else(|| {
                o.get("enum")
                    .and_then(Value::as_array)
                    .filter(|e| e.len() == 1)
                    .and_then(|e| e.first())
            })?;
            let text = o
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_owned);
            Some((value.clone(), text))
        })
        .collect();
    let Some(consts) = consts else {
        return;
    };
    let mut text = s
        .get("description")
        .and_then(Value::as_str)
        .map(|d| format!("{d}\n\n"))
        .unwrap_or_default();
    text.push_str("Possible enum values:");
    for (value, about) in &consts {
        text.push_str(&format!("\n - `{value}`"));
        if let Some(about) = about {
            text.push_str(&format!(" {about}"));
        }
    }
    s.remove("oneOf");
    s.insert("type".into(), json!("string"));
    s.insert("enum".into(), consts.into_iter().map(|(v, _)| v).collect());
    s.insert("description".into(), Value::String(text));
}

#[cfg(test)]
mod tests;
