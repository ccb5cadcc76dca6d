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
