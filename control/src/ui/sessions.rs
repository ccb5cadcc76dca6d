//! The dashboard's logins: a one-time code, minted for someone already authenticated
//! (`skiff dashboard`, `skiff dev`), is traded once for a session token the browser sends
//! as a bearer token. Both live in this member's memory only: a link works on the member
//! that minted it, and a restarted member forgets its sessions (log in again). Only the
//! SHA-256 of a secret is kept, so the table does not hold usable credentials.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom, SystemRandom};
use skiff_pki::Identity;

/// Every session token starts with this, so authentication knows where to look.
pub const TOKEN_PREFIX: &str = "skiff-ui.";
/// How long a login code may wait to be used.
pub const CODE_TTL: Duration = Duration::from_secs(300);
/// How long a session lasts from its login (a working day, as a kubeconfig's OIDC token
/// would be refreshed).
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Outstanding codes and live sessions, each, per member: a bound on what callers can make
/// the member remember.
const MAX_ENTRIES: usize = 10_000;
/// Outstanding codes and live sessions per user: past it, the user's oldest goes, so no
/// one user can fill the tables for everyone.
const MAX_PER_USER: usize = 20;

/// Why a code or session was not made or not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    #[error(
        "the login code is unknown, used already or expired (codes work once, within {} minutes, on the member that made them): run `skiff dashboard` for a new link",
        CODE_TTL.as_secs() / 60
    )]
    BadCode,
    #[error(
        "this member holds {MAX_ENTRIES} unexpired dashboard logins already; wait for some to expire or log out of unused ones"
    )]
    Full,
    #[error("the system's random number generator failed")]
    Random,
}

struct Entry {
    who: Identity,
    until: Instant,
    /// When the credential it came from stops being valid: what it opens ends then too.
    cap: Option<Instant>,
}

type Table = HashMap<[u8; 32], Entry>;

/// Login codes and sessions, keyed by the SHA-256 of their secret.
#[derive(Default)]
pub struct Sessions {
    codes: Mutex<Table>,
    sessions: Mutex<Table>,
}

fn hash(secret: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, secret.as_bytes()).as_ref());
    out
}

/// 32 random bytes as lowercase hex.
fn secret() -> Result<String, LoginError> {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| LoginError::Random)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Adds `who` under a new secret, after dropping what expired (and `who`'s oldest entry
/// when they hold [`MAX_PER_USER`]): the secret, and how long it lasts.
fn remember(
    t: &mut Table,
    who: Identity,
    ttl: Duration,
    cap: Option<Instant>,
    prefix: &str,
) -> Result<(String, Duration), LoginError> {
    let now = Instant::now();
    t.retain(|_, e| e.until > now);
    let theirs = t.iter().filter(|(_, e)| e.who.user == who.user);
    if theirs.clone().count() >= MAX_PER_USER
        && let Some(oldest) = theirs.min_by_key(|(_, e)| e.until).map(|(k, _)| *k)
    {
        t.remove(&oldest);
    }
    if t.len() >= MAX_ENTRIES {
        return Err(LoginError::Full);
    }
    let s = format!("{prefix}{}", secret()?);
    let until = cap.map_or(now + ttl, |c| c.min(now + ttl));
    t.insert(hash(&s), Entry { who, until, cap });
    Ok((s, until.saturating_duration_since(now)))
}

fn lock(t: &Mutex<Table>) -> std::sync::MutexGuard<'_, Table> {
    t.lock().unwrap_or_else(|p| p.into_inner())
}

impl Sessions {
    /// A one-time code that logs the browser in as `who`, whose credential is valid until
    /// `not_after` (when known): neither the code nor its session outlives that.
    pub fn mint_code(
        &self,
        who: Identity,
        not_after: Option<SystemTime>,
    ) -> Result<(String, Duration), LoginError> {
        let cap = not_after.map(|t| {
            let left = t.duration_since(SystemTime::now()).unwrap_or_default();
            Instant::now() + left
        });
        remember(&mut lock(&self.codes), who, CODE_TTL, cap, "")
    }

    /// Trades `code` (once) for a session token, and says whose it is and how long it
    /// lasts. A code that could not be traded (the table is full) stays usable.
    pub fn redeem(&self, code: &str) -> Result<(String, Identity, Duration), LoginError> {
        let key = hash(code.trim());
        let mut codes = lock(&self.codes);
        let (who, cap) = codes
            .get(&key)
            .filter(|e| e.until > Instant::now())
            .map(|e| (e.who.clone(), e.cap))
            .ok_or(LoginError::BadCode)?;
        let (token, lasts) = remember(
            &mut lock(&self.sessions),
            who.clone(),
            SESSION_TTL,
            cap,
            TOKEN_PREFIX,
        )?;
        codes.remove(&key);
        Ok((token, who, lasts))
    }

    /// Who the session `token` belongs to, while it lasts.
    pub fn identify(&self, token: &str) -> Option<Identity> {
        lock(&self.sessions)
            .get(&hash(token))
            .filter(|e| e.until > Instant::now())
            .map(|e| e.who.clone())
    }

    /// Ends the session `token` (logging out); false if there was none.
    pub fn end(&self, token: &str) -> bool {
        lock(&self.sessions).remove(&hash(token)).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Identity {
        Identity {
            user: "alice".into(),
            groups: vec!["dev".into()],
        }
    }

    #[test]
    fn a_code_works_once_and_its_session_names_the_caller() {
        let s = Sessions::default();
        let (code, _) = s.mint_code(alice(), None).unwrap();
        let (token, who, lasts) = s.redeem(&code).unwrap();
        assert_eq!(who, alice());
        assert!(lasts > SESSION_TTL - Duration::from_secs(5), "{lasts:?}");
        assert!(token.starts_with(TOKEN_PREFIX));
        assert_eq!(s.identify(&token), Some(alice()));
        assert_eq!(s.redeem(&code), Err(LoginError::BadCode), "used twice");
        assert_eq!(s.identify(&code), None, "a code is not a session");
        assert!(s.end(&token));
        assert_eq!(s.identify(&token), None, "logged out");
        assert!(!s.end(&token));
    }

    #[test]
    fn unknown_and_expired_secrets_are_refused() {
        let s = Sessions::default();
        assert_eq!(s.redeem("nonsense"), Err(LoginError::BadCode));
        assert_eq!(s.identify("skiff-ui.nonsense"), None);
        let (code, _) = s.mint_code(alice(), None).unwrap();
        s.codes.lock().unwrap().values_mut().for_each(|e| {
            e.until = Instant::now() - Duration::from_secs(1);
        });
        assert_eq!(s.redeem(&code), Err(LoginError::BadCode), "expired");
    }

    #[test]
    fn neither_a_code_nor_its_session_outlives_the_certificate() {
        let s = Sessions::default();
        let not_after = SystemTime::now() + Duration::from_secs(60);
        let (code, lasts) = s.mint_code(alice(), Some(not_after)).unwrap();
        assert!(lasts <= Duration::from_secs(60), "{lasts:?}");
        let (token, _, lasts) = s.redeem(&code).unwrap();
        assert!(lasts <= Duration::from_secs(60), "{lasts:?}");
        assert_eq!(s.identify(&token), Some(alice()));
        // The certificate expired: so did the session.
        s.sessions.lock().unwrap().values_mut().for_each(|e| {
            e.until = e.cap.unwrap_or(e.until) - Duration::from_secs(61);
        });
        assert_eq!(s.identify(&token), None);
        // A certificate already expired makes nothing usable.
        let (code, lasts) = s
            .mint_code(alice(), Some(SystemTime::now() - Duration::from_secs(1)))
            .unwrap();
        assert_eq!(lasts, Duration::ZERO);
        assert_eq!(s.redeem(&code), Err(LoginError::BadCode));
    }

    #[test]
    fn one_user_holds_at_most_their_share_and_loses_their_oldest() {
        let s = Sessions::default();
        let (first, _) = s.mint_code(alice(), None).unwrap();
        for _ in 1..MAX_PER_USER {
            s.mint_code(alice(), None).unwrap();
        }
        let (newest, _) = s.mint_code(alice(), None).unwrap();
        assert_eq!(s.codes.lock().unwrap().len(), MAX_PER_USER);
        assert_eq!(
            s.redeem(&first),
            Err(LoginError::BadCode),
            "the oldest went"
        );
        assert!(s.redeem(&newest).is_ok());
    }

    #[test]
    fn the_tables_are_bounded() {
        let s = Sessions::default();
        for i in 0..MAX_ENTRIES {
            let who = Identity {
                user: format!("user-{i}"),
                groups: vec![],
            };
            s.mint_code(who, None).unwrap();
        }
        assert_eq!(s.mint_code(alice(), None), Err(LoginError::Full));
        // Expired entries make room again.
        s.codes.lock().unwrap().values_mut().for_each(|e| {
            e.until = Instant::now() - Duration::from_secs(1);
        });
        assert!(s.mint_code(alice(), None).is_ok());
    }
}
