//! Recently applied proposals by idempotency key, so a proposal that reaches the log twice
//! applies once: a member re-proposes what was in flight when the leader changed, and a
//! client retries a write whose outcome it did not hear, both under the same key. The
//! second copy is answered with the first one's verdict.
//!
//! The table is part of the replicated state: every member makes the same decision for an
//! entry, so it lives in the overlay with the applied changes, is written by the same sync
//! (table `proposals`, keyed by (index, key)) and travels in snapshots. A key is
//! remembered for [`WINDOW`] entries: a retry from further back applies again.

use std::collections::{HashMap, VecDeque};

use redb::{ReadableTable, TableDefinition, WriteTransaction};

use super::command::Rejection;

/// (applied index, key) → the rejection it met; empty when it applied.
pub(super) const PROPOSALS: TableDefinition<(u64, u128), &[u8]> = TableDefinition::new("proposals");

/// How many entries a key is remembered for (at 10,000 writes/s, 10 s of retries).
pub const WINDOW: u64 = 100_000;

/// A proposal's outcome: `None` when it applied (at its own index), else why not.
pub(super) type Verdict = Option<Box<Rejection>>;

/// An applied proposal: its key, its entry's index and its verdict.
pub(super) type Seen = (u128, u64, Verdict);

/// The keys applied within the last [`WINDOW`] entries.
#[derive(Default)]
pub(super) struct Recent {
    by_key: HashMap<u128, (u64, Verdict)>,
    /// Oldest first, to forget them in order.
    order: VecDeque<(u64, u128)>,
}

impl Recent {
    /// The outcome of `key` if it applied within the window before `index`: `Ok(rev)` is
    /// the revision it applied at.
    pub fn get(&self, key: u128, index: u64) -> Option<Result<u64, Rejection>> {
        let (at, verdict) = self.by_key.get(&key)?;
        if at + WINDOW <= index {
            return None;
        }
        Some(match verdict {
            None => Ok(*at),
            Some(r) => Err((**r).clone()),
        })
    }

    pub fn insert(&mut self, (key, index, verdict): Seen) {
        self.by_key.insert(key, (index, verdict));
        self.order.push_back((index, key));
    }

    /// Forgets the keys that fell out of the window at `applied`.
    pub fn forget_before(&mut self, applied: u64) {
        while let Some(&(at, key)) = self.order.front() {
            if at + WINDOW > applied {
                break;
            }
            self.order.pop_front();
            if self.by_key.get(&key).is_some_and(|(i, _)| *i == at) {
                self.by_key.remove(&key);
            }
        }
    }

    /// Every remembered key, oldest first (for snapshots).
    pub fn iter(&self) -> impl Iterator<Item = (u128, u64, &Verdict)> {
        self.order
            .iter()
            .filter_map(|&(at, key)| match self.by_key.get(&key) {
                Some((i, v)) if *i == at => Some((key, at, v)),
                _ => None,
            })
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }
}

/// A verdict as stored: empty when the proposal applied.
pub(super) fn encode(v: &Verdict) -> Vec<u8> {
    match v {
        None => Vec::new(),
        // Plain strings and numbers: serializing cannot fail.
        Some(r) => serde_json::to_vec(&**r).unwrap_or_default(),
    }
}

pub(super) fn decode(b: &[u8]) -> Result<Verdict, String> {
    if b.is_empty() {
        return Ok(None);
    }
    serde_json::from_slice::<Rejection>(b)
        .map(|r| Some(Box::new(r)))
        .map_err(|e| format!("a remembered proposal's verdict does not decode: {e}"))
}

/// Writes newly applied keys and removes those that left the window at `applied`.
pub(super) fn write(
    txn: &WriteTransaction,
    seen: &[Seen],
    applied: u64,
) -> Result<(), redb::Error> {
    let mut t = txn.open_table(PROPOSALS)?;
    for (key, index, verdict) in seen {
        t.insert((*index, *key), encode(verdict).as_slice())?;
    }
    if let Some(cut) = applied.checked_sub(WINDOW) {
        t.retain_in(..=(cut, u128::MAX), |_, _| false)?;
    }
    Ok(())
}

/// Reads the remembered keys of a database, oldest first.
pub(super) fn load(
    t: &impl ReadableTable<(u64, u128), &'static [u8]>,
    applied: u64,
) -> Result<Result<Recent, String>, redb::Error> {
    let mut recent = Recent::default();
    for item in t.iter()? {
        let (k, v) = item?;
        let (index, key) = k.value();
        match decode(v.value()) {
            Ok(verdict) => recent.insert((key, index, verdict)),
            Err(e) => return Ok(Err(e)),
        }
    }
    recent.forget_before(applied);
    Ok(Ok(recent))
}

/// The header (gRPC metadata) a client names its request's idempotency key in; a request
/// sent again under the same key after an unknown outcome is answered with the first
/// one's, if it applied.
pub const HEADER: &str = "idempotency-key";

/// A request's idempotency key, and how many writes it proposed so far.
pub struct RequestKey {
    key: String,
    writes: std::sync::atomic::AtomicU32,
}

tokio::task_local! {
    static REQUEST: RequestKey;
}

/// Runs `f` (a request's handling) under the client's idempotency key, if it sent one.
pub async fn with_request_key<F: std::future::Future>(key: Option<String>, f: F) -> F::Output {
    match key {
        Some(key) => {
            let k = RequestKey {
                key,
                writes: Default::default(),
            };
            REQUEST.scope(k, f).await
        }
        None => f.await,
    }
}

/// The key for the request's next write (its first write, its second...) in `scope`
/// (who writes what: two callers, or two objects, under one client key do not meet),
/// when the request carries one: the same on a retry that makes the same writes in the
/// same order.
pub fn request_key(scope: &str) -> Option<u128> {
    REQUEST
        .try_with(|r| {
            let n = r.writes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            client_key(&format!("{scope}\0{}", r.key), n)
        })
        .ok()
}

/// A key derived from a client's idempotency key and the proposal's place in its request
/// (a request may propose more than once).
pub fn client_key(key: &str, ordinal: u32) -> u128 {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(key.as_bytes());
    h.update(ordinal.to_le_bytes());
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    u128::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_remembered_for_the_window_and_then_forgotten() {
        let mut r = Recent::default();
        r.insert((7, 10, None));
        r.insert((
            8,
            11,
            Some(Box::new(Rejection::AlreadyExists("ConfigMap/a/b".into()))),
        ));
        assert_eq!(r.get(7, 12), Some(Ok(10)));
        assert_eq!(
            r.get(8, 12),
            Some(Err(Rejection::AlreadyExists("ConfigMap/a/b".into())))
        );
        assert_eq!(r.get(9, 12), None);
        assert_eq!(
            r.get(7, 10 + WINDOW),
            None,
            "out of the window: applies again"
        );
        r.forget_before(11 + WINDOW);
        assert_eq!(r.len(), 0);
        assert_eq!(r.iter().count(), 0);
    }

    #[test]
    fn verdicts_round_trip() {
        for v in [
            None,
            Some(Box::new(Rejection::Conflict {
                key: "k".into(),
                expected: 3,
                actual: 4,
            })),
        ] {
            assert_eq!(decode(&encode(&v)).unwrap(), v);
        }
        assert!(decode(b"{").is_err());
    }

    #[tokio::test]
    async fn a_request_s_writes_are_keyed_in_order() {
        assert_eq!(
            request_key("u"),
            None,
            "no key outside a request that sent one"
        );
        let keys = with_request_key(Some("k".into()), async {
            [request_key("u"), request_key("u"), request_key("v")]
        })
        .await;
        assert_eq!(
            keys,
            [
                Some(client_key("u\0k", 0)),
                Some(client_key("u\0k", 1)),
                Some(client_key("v\0k", 2))
            ]
        );
        assert_ne!(client_key("k", 0), client_key("k", 1));
        assert_eq!(
            with_request_key(None, async { request_key("u") }).await,
            None
        );
    }
}
