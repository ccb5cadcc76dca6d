//! Bootstrap tokens as the control plane keeps them: a Secret `bootstrap-token-<id>` of
//! type `bootstrap.kubernetes.io/token` in `skiff-system`, as Kubernetes keeps them in
//! `kube-system`, except that the secret half is stored only as its SHA-256.

use std::collections::BTreeMap;

use super::meta::ObjectMeta;
use super::secret::Secret;
use super::values::{Base64Bytes, Time};

/// The namespace of the cluster's own objects.
pub const NAMESPACE: &str = "skiff-system";
/// The Secret type of a bootstrap token.
pub const TYPE: &str = "bootstrap.kubernetes.io/token";
const PREFIX: &str = "bootstrap-token-";
const ID: &str = "token-id";
const HASH: &str = "token-secret-sha256";
const EXPIRATION: &str = "expiration";
const USES_LEFT: &str = "uses-left";
const DESCRIPTION: &str = "description";

/// What a token may join as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    Node,
    Member,
}

impl Usage {
    pub fn name(self) -> &'static str {
        match self {
            Usage::Node => "node",
            Usage::Member => "member",
        }
    }

    fn key(self) -> String {
        format!("usage-bootstrap-{}", self.name())
    }
}

/// A bootstrap token's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: String,
    pub secret_sha256: String,
    pub expiration: Time,
    pub usages: Vec<Usage>,
    /// `None`: as many joins as it likes until it expires.
    pub uses_left: Option<u32>,
    pub description: String,
}

/// The Secret's name for token `id`.
pub fn secret_name(id: &str) -> String {
    format!("{PREFIX}{id}")
}

impl TokenRecord {
    pub fn to_secret(&self) -> Secret {
        let mut data = BTreeMap::new();
        let mut put = |k: &str, v: String| {
            data.insert(k.to_owned(), Base64Bytes(v.into_bytes()));
        };
        put(ID, self.id.clone());
        put(HASH, self.secret_sha256.clone());
        put(EXPIRATION, self.expiration.to_string());
        for u in &self.usages {
            put(&u.key(), "true".into());
        }
        if let Some(n) = self.uses_left {
            put(USES_LEFT, n.to_string());
        }
        if !self.description.is_empty() {
            put(DESCRIPTION, self.description.clone());
        }
        Secret {
            metadata: ObjectMeta {
                name: secret_name(&self.id),
                namespace: NAMESPACE.into(),
                ..Default::default()
            },
            type_: Some(TYPE.into()),
            data,
            ..Default::default()
        }
    }

    /// The record a Secret holds; `None` if it is not a well-formed bootstrap token.
    pub fn from_secret(s: &Secret) -> Option<TokenRecord> {
        if s.type_.as_deref() != Some(TYPE) {
            return None;
        }
        let get = |k: &str| {
            s.data
                .get(k)
                .and_then(|v| String::from_utf8(v.0.clone()).ok())
        };
        Some(TokenRecord {
            id: get(ID)?,
            secret_sha256: get(HASH)?,
            expiration: Time::parse(&get(EXPIRATION)?).ok()?,
            usages: [Usage::Node, Usage::Member]
                .into_iter()
                .filter(|u| get(&u.key()).as_deref() == Some("true"))
                .collect(),
            uses_left: match get(USES_LEFT) {
                Some(n) => Some(n.parse().ok()?),
                None => None,
            },
            description: get(DESCRIPTION).unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_survives_its_secret() {
        let r = TokenRecord {
            id: "abcdef".into(),
            secret_sha256: "00".repeat(32),
            expiration: Time {
                unix_seconds: 1_900_000_000,
            },
            usages: vec![Usage::Node, Usage::Member],
            uses_left: Some(3),
            description: "rack 4".into(),
        };
        let s = r.to_secret();
        assert_eq!(s.metadata.name, "bootstrap-token-abcdef");
        assert_eq!(TokenRecord::from_secret(&s), Some(r));
        let mut other = s.clone();
        other.type_ = None;
        assert_eq!(TokenRecord::from_secret(&other), None);
    }
}
