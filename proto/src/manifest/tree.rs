//! A YAML (or JSON) document as a tree that remembers where each node was written, so a
//! field path found later (by serde or by validation) can be turned into a line number.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use super::path::{FieldPath, Segment};

/// A node of the document and its position (1-based line and column).
#[derive(Debug, Clone)]
pub struct Marked {
    pub line: u64,
    pub column: u64,
    pub value: Node,
}

#[derive(Debug, Clone)]
pub enum Node {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Marked>),
    /// Keys in the order written, with the position of the key itself.
    Map(Vec<(Marked, Marked)>),
}

impl Marked {
    fn from_spanned(s: Spanned<Node>) -> Self {
        Marked {
            line: s.referenced.line(),
            column: s.referenced.column(),
            value: s.value,
        }
    }

    /// The deepest node along `path` and whether the whole path was found. For a path
    /// ending in a map key the key's own position is used.
    pub fn locate(&self, path: &FieldPath) -> (u64, u64) {
        let mut here = self;
        let mut at = (self.line, self.column);
        for seg in path.segments() {
            let next = match (&here.value, seg) {
                (Node::Map(entries), Segment::Field(name)) => entries
                    .iter()
                    .find(|(k, _)| k.value.as_key().as_deref() == Some(name.as_str()))
                    .map(|(k, v)| {
                        at = (k.line, k.column);
                        v
                    }),
                (Node::Seq(items), Segment::Index(i)) => {
                    items.get(*i).inspect(|v| at = (v.line, v.column))
                }
                _ => None,
            };
            match next {
                Some(n) => here = n,
                None => break,
            }
        }
        at
    }

    /// The tree as a JSON value, which typed decoding reads.
    pub fn to_json(&self) -> Result<serde_json::Value, (FieldPath, String)> {
        self.to_json_at(&mut FieldPath::root())
    }

    fn to_json_at(&self, path: &mut FieldPath) -> Result<serde_json::Value, (FieldPath, String)> {
        use serde_json::Value;
        Ok(match &self.value {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Int(i) => Value::from(*i),
            Node::UInt(u) => Value::from(*u),
            Node::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .ok_or_else(|| {
                    (
                        path.clone(),
                        format!("invalid value: {f} is not a finite number"),
                    )
                })?,
            Node::Str(s) => Value::String(s.clone()),
            Node::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    path.push(Segment::Index(i));
                    out.push(item.to_json_at(path)?);
                    path.pop();
                }
                Value::Array(out)
            }
            Node::Map(entries) => {
                let mut out = serde_json::Map::with_capacity(entries.len());
                for (k, v) in entries {
                    let key = k.value.as_key().ok_or_else(|| {
                        (
                            path.clone(),
                            "invalid type: a mapping key must be a plain value such as a string"
                                .to_owned(),
                        )
                    })?;
                    path.push(Segment::Field(key.clone()));
                    out.insert(key, v.to_json_at(path)?);
                    path.pop();
                }
                Value::Object(out)
            }
        })
    }
}

impl Node {
    /// A scalar as a mapping key; collections and null are not keys.
    fn as_key(&self) -> Option<String> {
        match self {
            Node::Str(s) => Some(s.clone()),
            Node::Bool(b) => Some(b.to_string()),
            Node::Int(i) => Some(i.to_string()),
            Node::UInt(u) => Some(u.to_string()),
            Node::Float(f) => Some(f.to_string()),
            Node::Null | Node::Seq(_) | Node::Map(_) => None,
        }
    }
}

/// Parses every document of a YAML (or JSON) text. Empty documents are skipped.
pub fn parse_documents(text: &str) -> Result<Vec<Marked>, serde_saphyr::Error> {
    let docs: Vec<Spanned<Node>> = serde_saphyr::from_multiple(text)?;
    Ok(docs.into_iter().map(Marked::from_spanned).collect())
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(Node::UInt(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            items.push(Marked::from_spanned(item));
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some((k, v)) = map.next_entry::<Spanned<Node>, Spanned<Node>>()? {
            entries.push((Marked::from_spanned(k), Marked::from_spanned(v)));
        }
        Ok(Node::Map(entries))
    }
}
