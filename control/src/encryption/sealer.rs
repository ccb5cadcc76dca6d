//! The store transformer that keeps Secrets sealed: a Secret's data (with its
//! `stringData`) becomes one entry, `skiff.dev/sealed`, holding the name of the key that
//! sealed it and the AES-256-GCM ciphertext, bound to the Secret's store key.

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

use ring::aead::LessSafeKey;
use skiff_proto::Object;
use skiff_proto::model::secret::Secret;
use skiff_proto::model::values::Base64Bytes;

use super::kek::{self, Kek};
use super::keys::{self, Record};
use crate::store::key;
use crate::store::transform::{TransformError, Transformer};

/// The one data entry of a sealed Secret (a key users cannot write: it has a `/`).
pub const SEALED: &str = "skiff.dev/sealed";
const VERSION: u8 = 1;

#[derive(Default)]
struct Keys {
    active: Option<String>,
    deks: HashMap<String, LessSafeKey>,
}

/// Seals Secrets with the active data key; opens them with whichever key sealed them.
pub struct Sealer {
    kek: Option<Kek>,
    keys: RwLock<Keys>,
}

fn failed(e: impl Into<String>) -> TransformError {
    TransformError::Failed(e.into())
}

/// `name` and ciphertext in one value: `VERSION ‖ len(name) ‖ name ‖ sealed`.
fn pack(name: &str, sealed: Vec<u8>) -> Vec<u8> {
    let mut v = vec![VERSION, name.len() as u8];
    v.extend_from_slice(name.as_bytes());
    v.extend(sealed);
    v
}

fn unpack(v: &[u8]) -> Result<(&str, &[u8]), TransformError> {
    let bad = || failed("a sealed Secret's value is malformed");
    let (&[version, len], rest) = v.split_first_chunk::<2>().ok_or_else(bad)?;
    if version != VERSION {
        return Err(failed(format!(
            "sealed with format {version}, not {VERSION}"
        )));
    }
    let (name, sealed) = rest.split_at_checked(len as usize).ok_or_else(bad)?;
    Ok((std::str::from_utf8(name).map_err(|_| bad())?, sealed))
}

impl Sealer {
    /// A sealer wrapping its keys under `kek` (`None`: this member has no KEK; it can
    /// neither seal nor open, and says so).
    pub fn new(kek: Option<Kek>) -> Sealer {
        Sealer {
            kek,
            keys: RwLock::default(),
        }
    }

    fn kek(&self) -> Result<&Kek, TransformError> {
        self.kek.as_ref().ok_or_else(|| {
            failed(format!(
                "this member has no key-encryption key (no CA key in its data folder, and no {})",
                kek::ENV
            ))
        })
    }

    /// The KEK, to wrap a new data key with.
    pub fn kek_for_rotation(&self) -> Result<&Kek, TransformError> {
        self.kek()
    }

    /// The name of the key that sealed `o` as stored (`None`: not sealed).
    pub fn sealed_with(o: &Object) -> Option<String> {
        let Object::Secret(s) = o else { return None };
        let v = s.data.get(SEALED)?;
        unpack(&v.0).ok().map(|(name, _)| name.to_owned())
    }

    /// The keys this member knows, the active one first.
    pub fn known(&self) -> (Option<String>, Vec<String>) {
        let k = self.keys.read().unwrap_or_else(|p| p.into_inner());
        (k.active.clone(), k.deks.keys().cloned().collect())
    }

    /// The Secret's plaintext data: `data` with `stringData` merged in.
    fn plain(s: &Secret) -> BTreeMap<String, Base64Bytes> {
        let mut data = s.data.clone();
        for (k, v) in &s.string_data {
            data.insert(k.clone(), Base64Bytes(v.clone().into_bytes()));
        }
        data
    }
}

impl Transformer for Sealer {
    fn seal(&self, o: &mut Object) -> Result<(), TransformError> {
        let aad = key::of(o);
        let Object::Secret(s) = o else { return Ok(()) };
        if keys::is_record(s) || s.data.contains_key(SEALED) {
            return Ok(());
        }
        let plain = serde_json::to_vec(&Sealer::plain(s)).map_err(|e| failed(e.to_string()))?;
        let k = self.keys.read().unwrap_or_else(|p| p.into_inner());
        let Some(active) = k.active.clone() else {
            drop(k);
            self.kek()?;
            return Err(TransformError::NeedsKeys);
        };
        let dek = k
            .deks
            .get(&active)
            .ok_or_else(|| failed(format!("the active data key {active} did not unwrap")))?;
        let sealed = kek::seal(dek, aad.as_bytes(), &plain).map_err(failed)?;
        s.string_data.clear();
        s.data = BTreeMap::from([(SEALED.to_owned(), Base64Bytes(pack(&active, sealed)))]);
        Ok(())
    }

    fn unseal(&self, o: &mut Object) -> Result<(), TransformError> {
        let aad = key::of(o);
        let Object::Secret(s) = o else { return Ok(()) };
        let Some(v) = s.data.get(SEALED) else {
            return Ok(());
        };
        let (name, sealed) = unpack(&v.0)?;
        let k = self.keys.read().unwrap_or_else(|p| p.into_inner());
        let dek = k.deks.get(name).ok_or_else(|| {
            failed(format!(
                "sealed with data key {name}, which this member does not have (removed, or its key-encryption key differs)"
            ))
        })?;
        let plain = kek::open(dek, aad.as_bytes(), sealed).map_err(failed)?;
        s.data = serde_json::from_slice(&plain).map_err(|e| failed(e.to_string()))?;
        Ok(())
    }

    fn config_key(&self) -> Option<String> {
        Some(keys::store_key())
    }

    fn configure(&self, o: &Object) {
        let Object::Secret(s) = o else { return };
        let Some(record) = Record::read(s) else {
            return;
        };
        let Ok(kek) = self.kek() else {
            tracing::warn!("encryption keys found, but this member has no key-encryption key");
            return;
        };
        let mut deks = HashMap::new();
        for (name, w) in &record.wrapped {
            match kek.unwrap(name, w) {
                Ok(k) => {
                    deks.insert(name.clone(), k);
                }
                Err(e) => tracing::warn!(key = %name, error = %e, "a data key does not unwrap"),
            }
        }
        let mut k = self.keys.write().unwrap_or_else(|p| p.into_inner());
        k.active = Some(record.active);
        k.deks = deks;
    }

    fn first_keys(&self) -> Result<Object, TransformError> {
        let r = Record::default()
            .with_new_key(self.kek()?)
            .map_err(failed)?;
        Ok(r.to_object())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_proto::model::meta::ObjectMeta;

    fn secret(name: &str, value: &str) -> Object {
        Object::Secret(Secret {
            metadata: ObjectMeta {
                name: name.into(),
                namespace: "a".into(),
                ..Default::default()
            },
            data: BTreeMap::from([("pw".into(), Base64Bytes(value.as_bytes().to_vec()))]),
            string_data: BTreeMap::from([("user".into(), "root".into())]),
            ..Default::default()
        })
    }

    #[test]
    fn a_secret_is_sealed_bound_to_its_name_and_opens_after_rotation() {
        let s = Sealer::new(Some(Kek::from_ca_key("ca").unwrap()));
        let mut o = secret("db", "hunter2");
        assert!(matches!(s.seal(&mut o), Err(TransformError::NeedsKeys)));
        let first = s.first_keys().unwrap();
        s.configure(&first);
        s.seal(&mut o).unwrap();
        let stored = skiff_proto::stored::encode(&o).unwrap();
        assert!(!stored.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(Sealer::sealed_with(&o).as_deref(), Some("key-1"));
        // Moved to another Secret's name, it does not open.
        let mut moved = o.clone();
        moved.metadata_mut().name = "other".into();
        assert!(s.unseal(&mut moved).is_err());
        // A second key: old values still open, new ones use it.
        let Object::Secret(rec) = &first else {
            panic!()
        };
        let r2 = Record::read(rec)
            .unwrap()
            .with_new_key(s.kek().unwrap())
            .unwrap();
        s.configure(&r2.to_object());
        let mut old = o.clone();
        s.unseal(&mut old).unwrap();
        let Object::Secret(plain) = &old else {
            panic!()
        };
        assert_eq!(plain.data["pw"].0, b"hunter2");
        assert_eq!(plain.data["user"].0, b"root");
        let mut again = secret("db", "hunter2");
        s.seal(&mut again).unwrap();
        assert_eq!(Sealer::sealed_with(&again).as_deref(), Some("key-2"));
        // Without the first key, the old value says which key it needs.
        let mut r3 = r2.clone();
        r3.wrapped.remove("key-1");
        s.configure(&r3.to_object());
        let e = s.unseal(&mut o.clone()).unwrap_err().to_string();
        assert!(e.contains("key-1"), "{e}");
        // Another member with another KEK cannot read any of it.
        let stranger = Sealer::new(Some(Kek::from_ca_key("other ca").unwrap()));
        stranger.configure(&r2.to_object());
        assert!(stranger.unseal(&mut again).is_err());
    }
}
