//! Bearer tokens for ServiceAccounts, as Kubernetes' bound tokens: a JWT (ES256) signed
//! with the cluster CA's key, naming the account (and its uid, so a token dies with the
//! account), an audience and an expiry. Every member can verify one with the CA
//! certificate alone; only a member that holds the CA key issues them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::Error;
use crate::credentials::first_cert;

/// Who issues tokens (`iss`).
pub const ISSUER: &str = "https://control.skiff.internal";
/// The audience the API accepts (`aud`).
pub const AUDIENCE: &str = "skiff";
/// How far clocks may disagree when checking `exp` and `nbf`.
const LEEWAY: Duration = Duration::from_secs(5);
/// Tokens longer than this are refused, as a header this long is a mistake or an attack.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The ServiceAccount a token names (Kubernetes' `kubernetes.io` claim).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct KubeClaim {
    namespace: String,
    serviceaccount: Named,
}

#[derive(Debug, Serialize, Deserialize)]
struct Named {
    name: String,
    uid: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: Vec<String>,
    exp: u64,
    iat: u64,
    nbf: u64,
    #[serde(rename = "kubernetes.io")]
    kube: KubeClaim,
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Signs tokens (held by members with the CA key).
pub struct Issuer {
    key: EncodingKey,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Issuer(the CA key)")
    }
}

impl Issuer {
    /// An issuer signing with `key_pem` (the CA's PKCS#8 key).
    pub(crate) fn from_pem(key_pem: &str) -> Result<Issuer, Error> {
        let key = EncodingKey::from_ec_pem(key_pem.as_bytes())
            .map_err(|e| Error::cert(format!("the CA key cannot sign tokens: {e}")))?;
        Ok(Issuer { key })
    }

    /// A token for `who`, good from `now` for `valid_for`; returns it and its expiry.
    pub fn issue(
        &self,
        who: &Account,
        now: SystemTime,
        valid_for: Duration,
    ) -> Result<(String, SystemTime), Error> {
        let exp = now + valid_for;
        let claims = Claims {
            iss: ISSUER.into(),
            sub: format!("system:serviceaccount:{}:{}", who.namespace, who.name),
            aud: vec![AUDIENCE.into()],
            exp: unix(exp),
            iat: unix(now),
            nbf: unix(now),
            kube: KubeClaim {
                namespace: who.namespace.clone(),
                serviceaccount: Named {
                    name: who.name.clone(),
                    uid: who.uid.clone(),
                },
            },
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &self.key)
            .map_err(|e| Error::cert(format!("signing a token: {e}")))?;
        Ok((token, exp))
    }
}

/// Checks tokens against the CA certificate.
#[derive(Clone)]
pub struct Verifier {
    key: DecodingKey,
    validation: Validation,
}

/// Why a token was refused (said to the caller as `Unauthenticated: ...`).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    #[error("the token is {0} bytes; tokens are at most {MAX_TOKEN_BYTES}")]
    TooLong(usize),
    #[error("the token has expired; ask for a new one (`skiff create token`)")]
    Expired,
    #[error("the token is not valid yet")]
    NotYet,
    #[error("the token's signature does not verify: it was not issued by this cluster")]
    Signature,
    #[error("the token is not for this API (audience or issuer)")]
    Audience,
    #[error("the token is malformed: {0}")]
    Malformed(String),
}

impl Verifier {
    /// A verifier trusting the CA in `ca_pem`.
    pub fn from_ca_pem(ca_pem: &str) -> Result<Verifier, Error> {
        let der = first_cert(ca_pem.as_bytes())?;
        let (_, cert) = X509Certificate::from_der(der.as_ref())
            .map_err(|e| Error::cert(format!("the CA certificate does not parse: {e}")))?;
        let point = cert.public_key().subject_public_key.data.to_vec();
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&[ISSUER]);
        validation.leeway = LEEWAY.as_secs();
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub", "nbf"]);
        Ok(Verifier {
            key: DecodingKey::from_ec_der(&point),
            validation,
        })
    }

    /// The account `token` names, if it is genuine, for us, and current. The caller also
    /// checks that the account still exists with that uid.
    pub fn verify(&self, token: &str) -> Result<Account, Refusal> {
        use jsonwebtoken::errors::ErrorKind as K;
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Refusal::TooLong(token.len()));
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map_err(
            |e| match e.kind() {
                K::ExpiredSignature => Refusal::Expired,
                K::ImmatureSignature => Refusal::NotYet,
                K::InvalidSignature | K::InvalidAlgorithm | K::InvalidEcdsaKey => {
                    Refusal::Signature
                }
                K::InvalidAudience | K::InvalidIssuer => Refusal::Audience,
                _ => Refusal::Malformed(e.to_string()),
            },
        )?;
        let c = data.claims;
        let a = Account {
            namespace: c.kube.namespace,
            name: c.kube.serviceaccount.name,
            uid: c.kube.serviceaccount.uid,
        };
        if c.sub != format!("system:serviceaccount:{}:{}", a.namespace, a.name) {
            return Err(Refusal::Malformed(
                "its subject and account disagree".into(),
            ));
        }
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Ca;

    fn account() -> Account {
        Account {
            namespace: "team-a".into(),
            name: "bot".into(),
            uid: "u1".into(),
        }
    }

    #[test]
    fn a_token_verifies_until_it_expires_and_only_under_its_own_ca() {
        let ca = Ca::create("t").unwrap();
        let issuer = ca.token_issuer().unwrap();
        let verifier = Verifier::from_ca_pem(ca.cert_pem()).unwrap();
        let now = SystemTime::now();
        let (token, exp) = issuer
            .issue(&account(), now, Duration::from_secs(600))
            .unwrap();
        assert_eq!(unix(exp), unix(now) + 600);
        assert_eq!(verifier.verify(&token), Ok(account()));

        let (old, _) = issuer
            .issue(
                &account(),
                now - Duration::from_secs(3600),
                Duration::from_secs(600),
            )
            .unwrap();
        assert_eq!(verifier.verify(&old), Err(Refusal::Expired));
        let (later, _) = issuer
            .issue(
                &account(),
                now + Duration::from_secs(3600),
                Duration::from_secs(600),
            )
            .unwrap();
        assert_eq!(verifier.verify(&later), Err(Refusal::NotYet));

        let other = Ca::create("other").unwrap();
        let (forged, _) = other
            .token_issuer()
            .unwrap()
            .issue(&account(), now, Duration::from_secs(600))
            .unwrap();
        assert_eq!(verifier.verify(&forged), Err(Refusal::Signature));
    }

    #[test]
    fn malformed_tokens_are_refused_with_a_reason_and_no_panic() {
        let ca = Ca::create("t").unwrap();
        let verifier = Verifier::from_ca_pem(ca.cert_pem()).unwrap();
        let (token, _) = ca
            .token_issuer()
            .unwrap()
            .issue(&account(), SystemTime::now(), Duration::from_secs(600))
            .unwrap();
        let mut cases: Vec<String> = vec![
            String::new(),
            "x".into(),
            "a.b.c".into(),
            "....".into(),
            "\u{0}\u{ff}".into(),
            token[..token.len() / 2].into(),
            format!("{token}x"),
            token.replace('.', ""),
        ];
        // A payload edited after signing.
        let parts: Vec<&str> = token.split('.').collect();
        cases.push(format!("{}.{}.{}", parts[0], parts[0], parts[2]));
        // alg none.
        cases.push(format!("eyJhbGciOiJub25lIn0.{}.", parts[1]));
        for c in &cases {
            assert!(verifier.verify(c).is_err(), "{c:?} was accepted");
        }
        assert!(matches!(
            verifier.verify(&"a".repeat(MAX_TOKEN_BYTES + 1)),
            Err(Refusal::TooLong(_))
        ));
    }
}
