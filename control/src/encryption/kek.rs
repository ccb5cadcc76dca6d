//! The key-encryption key: 32 bytes that wrap data-encryption keys (AES-256-GCM). Every
//! member derives the same one from the cluster CA's key (HKDF-SHA256), or takes one from
//! the environment (`SKIFF_ENCRYPTION_KEY`, base64), the same on every member.

use base64::Engine;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf;
use ring::rand::{SecureRandom, SystemRandom};

/// The environment variable that gives the KEK instead of deriving it.
pub const ENV: &str = "SKIFF_ENCRYPTION_KEY";

pub struct Kek(LessSafeKey);

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kek(..)")
    }
}

/// 32 random bytes.
pub fn random_key() -> Result<[u8; 32], String> {
    let mut k = [0u8; 32];
    SystemRandom::new()
        .fill(&mut k)
        .map_err(|_| "the system's random source failed".to_owned())?;
    Ok(k)
}

/// An AES-256-GCM key.
pub fn aes(bytes: &[u8]) -> Result<LessSafeKey, String> {
    UnboundKey::new(&AES_256_GCM, bytes)
        .map(LessSafeKey::new)
        .map_err(|_| "an AES-256 key is 32 bytes".to_owned())
}

/// `nonce ‖ ciphertext ‖ tag` of `plain` under `key`, bound to `aad`.
pub fn seal(key: &LessSafeKey, aad: &[u8], plain: &[u8]) -> Result<Vec<u8>, String> {
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| "the system's random source failed".to_owned())?;
    let mut out = plain.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        &mut out,
    )
    .map_err(|_| "encryption failed".to_owned())?;
    let mut sealed = nonce.to_vec();
    sealed.extend(out);
    Ok(sealed)
}

/// The plaintext of [`seal`]'s output, if `key` and `aad` are the ones it was sealed with.
pub fn open(key: &LessSafeKey, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, String> {
    let (nonce, body) = sealed
        .split_at_checked(NONCE_LEN)
        .ok_or_else(|| "the sealed value is too short".to_owned())?;
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| "bad nonce".to_owned())?;
    let mut buf = body.to_vec();
    let plain = key
        .open_in_place(nonce, Aad::from(aad), &mut buf)
        .map_err(|_| {
            "the sealed value does not open with its key (tampered, or another key)".to_owned()
        })?;
    Ok(plain.to_vec())
}

struct Len32;

impl hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        32
    }
}

impl Kek {
    /// The KEK every holder of the CA key derives alike.
    pub fn from_ca_key(ca_key_pem: &str) -> Result<Kek, String> {
        let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, b"skiff encryption at rest");
        let prk = salt.extract(ca_key_pem.as_bytes());
        let okm = prk
            .expand(&[b"key-encryption key v1"], Len32)
            .map_err(|_| "deriving the key-encryption key failed".to_owned())?;
        let mut k = [0u8; 32];
        okm.fill(&mut k)
            .map_err(|_| "deriving the key-encryption key failed".to_owned())?;
        Ok(Kek(aes(&k)?))
    }

    /// The KEK in `text` (base64 of 32 bytes).
    pub fn from_base64(text: &str) -> Result<Kek, String> {
        let k = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| format!("{ENV} is not base64: {e}"))?;
        if k.len() != 32 {
            return Err(format!("{ENV} holds {} bytes; it must be 32", k.len()));
        }
        Ok(Kek(aes(&k)?))
    }

    /// `dek` wrapped, bound to its name.
    pub fn wrap(&self, name: &str, dek: &[u8; 32]) -> Result<Vec<u8>, String> {
        seal(&self.0, name.as_bytes(), dek)
    }

    /// The DEK `name` that [`Kek::wrap`] wrapped.
    pub fn unwrap(&self, name: &str, wrapped: &[u8]) -> Result<LessSafeKey, String> {
        let k = open(&self.0, name.as_bytes(), wrapped).map_err(|e| {
            format!("data key {name}: {e}; is this member's key-encryption key the cluster's?")
        })?;
        aes(&k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealing_is_bound_to_key_and_additional_data() {
        let k = aes(&random_key().unwrap()).unwrap();
        let s = seal(&k, b"Secret/a/db", b"hunter2").unwrap();
        assert!(!s.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(open(&k, b"Secret/a/db", &s).unwrap(), b"hunter2");
        assert!(open(&k, b"Secret/b/db", &s).is_err());
        let other = aes(&random_key().unwrap()).unwrap();
        assert!(open(&other, b"Secret/a/db", &s).is_err());
        assert!(open(&k, b"Secret/a/db", &s[..5]).is_err());
        let mut flipped = s.clone();
        flipped[20] ^= 1;
        assert!(open(&k, b"Secret/a/db", &flipped).is_err());
    }

    #[test]
    fn the_kek_is_the_same_from_the_same_ca_key_and_wraps_keys_by_name() {
        let a = Kek::from_ca_key("-----BEGIN PRIVATE KEY-----\nabc\n").unwrap();
        let b = Kek::from_ca_key("-----BEGIN PRIVATE KEY-----\nabc\n").unwrap();
        let dek = random_key().unwrap();
        let w = a.wrap("key-1", &dek).unwrap();
        assert!(b.unwrap("key-1", &w).is_ok());
        assert!(b.unwrap("key-2", &w).is_err());
        let c = Kek::from_ca_key("another").unwrap();
        assert!(c.unwrap("key-1", &w).is_err());
        assert!(Kek::from_base64("c2hvcnQ=").unwrap_err().contains("32"));
    }
}
