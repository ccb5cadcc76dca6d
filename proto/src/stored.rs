//! The stored form of an object: an rkyv archive behind a one-byte format tag, validated
//! (bytecheck) whenever it is read back, so a corrupt record is an error, never undefined
//! behaviour.
//!
//! - Format 1: the tag, then the archive.
//! - Format 2, for objects with `metadata.managedFields`: the tag, the archive's length
//!   (4 bytes, little-endian), the archive, then the managed fields as JSON. The archive
//!   is the same as in format 1 (managed fields are not in it), so records written
//!   before server-side apply read as they always did.
//! - Format 3, for objects with fields added to the model after its archived layout was
//!   fixed (a Deployment's canary strategy and status): format 2's framing, with a JSON
//!   object of those fields and the managed fields ([`Side`]) in place of the managed
//!   fields alone. Such fields are skipped by rkyv (`#[rkyv(with = Skip)]`), so adding
//!   one changes no archived layout and every record written before reads as it did.

use rkyv::rancor;
use rkyv::util::AlignedVec;

use crate::error::Error;
use crate::model::ManagedFields;
use crate::model::canary::{CanaryStatus, CanaryStrategy};
use crate::object::Object;

/// The archive alone. Bumped when the archived layout changes incompatibly.
pub const FORMAT_V1: u8 = 1;
/// The archive, then the managed fields.
pub const FORMAT_V2: u8 = 2;
/// The archive, then the fields kept beside it ([`Side`]).
pub const FORMAT_V3: u8 = 3;

/// The fields of an object kept beside its archive, as JSON.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Side {
    #[serde(default, skip_serializing_if = "ManagedFields::is_empty")]
    managed_fields: ManagedFields,
    /// A Deployment's `spec.strategy.canary`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    canary: Option<Box<CanaryStrategy>>,
    /// A Deployment's `status.canary`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    canary_status: Option<Box<CanaryStatus>>,
}

impl Side {
    /// `o`'s fields kept beside the archive, when it has any that only format 3 carries
    /// (managed fields alone keep format 2).
    pub fn of(o: &Object) -> Option<Side> {
        let Object::Deployment(d) = o else {
            return None;
        };
        let canary = d.spec.strategy.as_ref().and_then(|s| s.canary.clone());
        let canary_status = d.status.as_ref().and_then(|s| s.canary.clone());
        (canary.is_some() || canary_status.is_some()).then(|| Side {
            managed_fields: o.metadata().managed_fields.clone(),
            canary,
            canary_status,
        })
    }

    /// `o`'s fields kept beside the archive in format 3, whichever it has: a command in
    /// format 3 carries every object's this way (their managed fields included).
    pub fn all(o: &Object) -> Option<Side> {
        Side::of(o).or_else(|| {
            let managed = &o.metadata().managed_fields;
            (!managed.is_empty()).then(|| Side {
                managed_fields: managed.clone(),
                ..Default::default()
            })
        })
    }

    /// Puts the fields back into `o` (decoded from the archive without them).
    pub fn put(self, o: &mut Object) {
        if !self.managed_fields.is_empty() {
            o.metadata_mut().managed_fields = self.managed_fields;
        }
        if let Object::Deployment(d) = o {
            if let Some(c) = self.canary {
                d.spec.strategy.get_or_insert_with(Default::default).canary = Some(c);
            }
            if let Some(c) = self.canary_status {
                d.status.get_or_insert_with(Default::default).canary = Some(c);
            }
        }
    }
}

/// Encodes an object for the store.
pub fn encode(obj: &Object) -> Result<Vec<u8>, Error> {
    let archived =
        rkyv::to_bytes::<rancor::Error>(obj).map_err(|e| Error::Encode(e.to_string()))?;
    if let Some(side) = Side::of(obj) {
        let json = serde_json::to_vec(&side).map_err(|e| Error::Encode(e.to_string()))?;
        let mut out =
            join_v2(&archived, &json).ok_or_else(|| Error::Encode("object too large".into()))?;
        out[0] = FORMAT_V3;
        return Ok(out);
    }
    let managed = &obj.metadata().managed_fields;
    if managed.is_empty() {
        let mut out = Vec::with_capacity(archived.len() + 1);
        out.push(FORMAT_V1);
        out.extend_from_slice(&archived);
        return Ok(out);
    }
    join_v2(&archived, managed.json().as_bytes())
        .ok_or_else(|| Error::Encode("object too large".into()))
}

/// Format 2's framing, which raft commands share: the tag, the archive's length, the
/// archive, then `json`. `None` for an archive of 4 GiB or more.
pub fn join_v2(archive: &[u8], json: &[u8]) -> Option<Vec<u8>> {
    let len = u32::try_from(archive.len()).ok()?;
    let mut out = Vec::with_capacity(archive.len() + json.len() + 5);
    out.push(FORMAT_V2);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(archive);
    out.extend_from_slice(json);
    Some(out)
}

/// The archive and the JSON of a format 2 record (without its tag); `None` when it is
/// cut short.
pub fn split_v2(body: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = body.split_first_chunk::<4>()?;
    let len = u32::from_le_bytes(*len) as usize;
    Some((rest.get(..len)?, rest.get(len..)?))
}

/// Decodes and validates a stored object.
pub fn decode(bytes: &[u8]) -> Result<Object, Error> {
    let (&tag, body) = bytes
        .split_first()
        .ok_or_else(|| Error::Corrupt("empty record".into()))?;
    match tag {
        FORMAT_V1 => archive(body),
        FORMAT_V2 => {
            let (body, json) = split_v2(body)
                .ok_or_else(|| Error::Corrupt("a managed-fields record is cut short".into()))?;
            let mut o = archive(body)?;
            o.metadata_mut().managed_fields = ManagedFields::from_json(json)
                .map_err(|e| Error::Corrupt(format!("managed fields: {e}")))?;
            Ok(o)
        }
        FORMAT_V3 => {
            let (body, json) = split_v2(body)
                .ok_or_else(|| Error::Corrupt("a side-fields record is cut short".into()))?;
            let mut o = archive(body)?;
            let side: Side = serde_json::from_slice(json)
                .map_err(|e| Error::Corrupt(format!("side fields: {e}")))?;
            side.put(&mut o);
            Ok(o)
        }
        _ => Err(Error::Corrupt(format!(
            "unknown stored format {tag} (this build reads {FORMAT_V1} to {FORMAT_V3})"
        ))),
    }
}

fn archive(body: &[u8]) -> Result<Object, Error> {
    // rkyv reads archives in place and needs them aligned; storage hands out any alignment.
    let mut aligned = AlignedVec::<16>::with_capacity(body.len());
    aligned.extend_from_slice(body);
    rkyv::from_bytes::<Object, rancor::Error>(&aligned).map_err(|e| Error::Corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Namespace, ObjectMeta};

    fn ns() -> Object {
        Object::Namespace(Namespace {
            metadata: ObjectMeta {
                name: "team-a".into(),
                ..Default::default()
            },
            ..Default::default()
        })
    }

    #[test]
    fn round_trips() {
        assert_eq!(decode(&encode(&ns()).unwrap()).unwrap(), ns());
    }

    /// The stored bytes of a few objects, pinned (by their sha256): an `Object` variant moved or a model
    /// field reordered would change them, and every stored object would then be misread.
    #[test]
    fn the_stored_form_does_not_drift() {
        let cm = Object::ConfigMap(crate::model::ConfigMap {
            metadata: ObjectMeta {
                name: "c".into(),
                namespace: "n".into(),
                ..Default::default()
            },
            data: [("k".to_owned(), "v".to_owned())].into(),
            ..Default::default()
        });
        let hex = |o: &Object| -> String {
            use sha2::Digest;
            let digest = sha2::Sha256::digest(encode(o).unwrap());
            digest.iter().map(|b| format!("{b:02x}")).collect()
        };
        assert_eq!(hex(&ns()), NS_V1, "Namespace");
        assert_eq!(hex(&cm), CONFIGMAP_V1, "ConfigMap");
    }

    const NS_V1: &str = "af69eac23d53e85e0f5332847ee94787ea2103d5d5a68051382b646497ff3259";
    const CONFIGMAP_V1: &str = "6efe1ca5a3919a2cad47eff74164528c93ad2064a2edf2a4ba8f683cf0b9114c";

    #[test]
    fn a_canary_is_kept_beside_the_archive() {
        let text = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {app: web}}\n  strategy:\n    type: Canary\n    canary: {stableService: a, canaryService: b, httpRoute: r, steps: [{setWeight: 10}, {pause: {}}]}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: nginx}]}\n";
        let mut d = crate::manifest::decode(text, &crate::manifest::Source::named("test"))
            .objects
            .remove(0);
        if let Object::Deployment(d) = &mut d {
            d.status = Some(crate::model::DeploymentStatus {
                canary: Some(Box::new(CanaryStatus {
                    current_step: 1,
                    weight: 10,
                    ..Default::default()
                })),
                ..Default::default()
            });
        }
        let bytes = encode(&d).unwrap();
        assert_eq!(bytes[0], FORMAT_V3);
        assert_eq!(decode(&bytes).unwrap(), d);
        // Without them, the archive is what it was.
        if let Object::Deployment(d) = &mut d {
            d.spec.strategy = None;
            d.status = None;
        }
        assert_eq!(encode(&d).unwrap()[0], FORMAT_V1);
    }

    #[test]
    fn managed_fields_are_kept_beside_the_archive() {
        let mut o = ns();
        o.metadata_mut().managed_fields =
            ManagedFields::from_entries(&[crate::model::ManagedFieldsEntry {
                manager: "kubectl".into(),
                operation: "Apply".into(),
                fields_type: "FieldsV1".into(),
                fields_v1: serde_json::json!({"f:metadata": {"f:labels": {"f:team": {}}}}),
                ..Default::default()
            }]);
        let bytes = encode(&o).unwrap();
        assert_eq!(bytes[0], FORMAT_V2);
        assert_eq!(decode(&bytes).unwrap(), o);
        // The archive inside is format 1's: the same object without them.
        let plain = encode(&ns()).unwrap();
        assert_eq!(&bytes[5..5 + plain.len() - 1], &plain[1..]);
        assert!(matches!(decode(&bytes[..8]), Err(Error::Corrupt(_))));
    }

    #[test]
    fn corruption_is_an_error_not_a_crash() {
        let good = encode(&ns()).unwrap();
        assert!(matches!(decode(&[]), Err(Error::Corrupt(_))));
        assert!(matches!(decode(&[9, 1, 2]), Err(Error::Corrupt(_))));
        assert!(matches!(
            decode(&good[..good.len() / 2]),
            Err(Error::Corrupt(_))
        ));
        // Flip every byte in turn: each result is either an error or some valid object.
        for i in 1..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0xff;
            let _ = decode(&bad);
        }
    }
}
