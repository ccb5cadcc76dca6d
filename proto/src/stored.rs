//! The stored form of an object: an rkyv archive behind a one-byte format tag, validated
//! (bytecheck) whenever it is read back, so a corrupt record is an error, never undefined
//! behaviour.

use rkyv::rancor;
use rkyv::util::AlignedVec;

use crate::error::Error;
use crate::object::Object;

/// Bumped when the archived layout changes incompatibly.
pub const FORMAT_V1: u8 = 1;

/// Encodes an object for the store.
pub fn encode(obj: &Object) -> Result<Vec<u8>, Error> {
    let archived =
        rkyv::to_bytes::<rancor::Error>(obj).map_err(|e| Error::Encode(e.to_string()))?;
    let mut out = Vec::with_capacity(archived.len() + 1);
    out.push(FORMAT_V1);
    out.extend_from_slice(&archived);
    Ok(out)
}

/// Decodes and validates a stored object.
pub fn decode(bytes: &[u8]) -> Result<Object, Error> {
    let (&tag, body) = bytes
        .split_first()
        .ok_or_else(|| Error::Corrupt("empty record".into()))?;
    if tag != FORMAT_V1 {
        return Err(Error::Corrupt(format!(
            "unknown stored format {tag} (this build reads {FORMAT_V1})"
        )));
    }
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
