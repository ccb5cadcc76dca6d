//! The record of data-encryption keys: a Secret `skiff-system/encryption-keys` of type
//! `skiff.dev/encryption-keys` whose `active` names the key new writes use and whose
//! `key.<name>` entries hold each key wrapped under the KEK. It is the one Secret not
//! sealed itself (its keys are wrapped instead).

use std::collections::BTreeMap;

use skiff_proto::Object;
use skiff_proto::model::bootstrap::NAMESPACE;
use skiff_proto::model::meta::ObjectMeta;
use skiff_proto::model::secret::Secret;
use skiff_proto::model::values::Base64Bytes;

use super::kek::{Kek, random_key};

pub const NAME: &str = "encryption-keys";
pub const TYPE: &str = "skiff.dev/encryption-keys";
const ACTIVE: &str = "active";
const PREFIX: &str = "key.";

/// The record's key in the store.
pub fn store_key() -> String {
    crate::store::key::make(skiff_proto::Kind::Secret, NAMESPACE, NAME)
}

/// Whether `s` is the record.
pub fn is_record(s: &Secret) -> bool {
    s.type_.as_deref() == Some(TYPE) && s.metadata.namespace == NAMESPACE && s.metadata.name == NAME
}

/// The DEKs, wrapped, by name, and the active one's name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    pub active: String,
    pub wrapped: BTreeMap<String, Vec<u8>>,
}

impl Record {
    pub fn read(s: &Secret) -> Option<Record> {
        if !is_record(s) {
            return None;
        }
        let active = String::from_utf8(s.data.get(ACTIVE)?.0.clone()).ok()?;
        let wrapped = s
            .data
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(PREFIX)?.to_owned(), v.0.clone())))
            .collect();
        Some(Record { active, wrapped })
    }

    pub fn to_object(&self) -> Object {
        let mut data = BTreeMap::new();
        data.insert(
            ACTIVE.to_owned(),
            Base64Bytes(self.active.clone().into_bytes()),
        );
        for (name, w) in &self.wrapped {
            data.insert(format!("{PREFIX}{name}"), Base64Bytes(w.clone()));
        }
        Object::Secret(Secret {
            metadata: ObjectMeta {
                name: NAME.into(),
                namespace: NAMESPACE.into(),
                ..Default::default()
            },
            type_: Some(TYPE.into()),
            data,
            ..Default::default()
        })
    }

    /// The next key's name: `key-<n+1>`.
    fn next_name(&self) -> String {
        let n = self
            .wrapped
            .keys()
            .filter_map(|k| k.strip_prefix("key-")?.parse::<u64>().ok())
            .max()
            .unwrap_or(0);
        format!("key-{}", n + 1)
    }

    /// The record with a new random key, made active.
    pub fn with_new_key(&self, kek: &Kek) -> Result<Record, String> {
        let name = self.next_name();
        let dek = random_key()?;
        let mut r = self.clone();
        r.wrapped.insert(name.clone(), kek.wrap(&name, &dek)?);
        r.active = name;
        Ok(r)
    }
}
