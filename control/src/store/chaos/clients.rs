//! Clients doing reads, creates, puts, compare-and-swaps and deletes on a few keys through
//! whichever member is up, each call recorded for the checker; and watchers following
//! each member's change history, recorded for the order, gap and duplicate checks.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use skiff_proto::manifest::{Source, decode_one};
use skiff_proto::{Kind, Object};

use super::cluster::Up;
use super::model::{Call, History, Op, Ret};
use crate::Error;
use crate::store::{Command, Op as StoreOp, Rejection, StoreHandle, WriteError, key};

/// Every call waits at most this long, as a client with a deadline would.
pub const DEADLINE: Duration = Duration::from_secs(5);

/// What clients share: the members up, the history, fresh ids and values.
pub struct Shared {
    pub up: Arc<Mutex<HashMap<u64, Up>>>,
    pub history: Mutex<History>,
    pub next_client: AtomicU64,
    pub next_value: AtomicU64,
}

impl Shared {
    fn pick(&self, rng: &mut fastrand::Rng) -> Option<Up> {
        let up = self.up.lock().unwrap();
        let mut ids: Vec<&u64> = up.keys().collect();
        ids.sort();
        let id = ids.get(rng.usize(..ids.len().max(1)))?;
        up.get(id).cloned()
    }
}

fn config_map(name: &str, value: u64) -> Object {
    let text = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: default\ndata:\n  v: \"{value}\"\n"
    );
    // The text is ours and valid.
    decode_one(&text, &Source::named("chaos")).expect("a valid ConfigMap")
}

/// The value a stored ConfigMap holds.
pub fn value_of(o: &Object) -> Option<u64> {
    match o {
        Object::ConfigMap(cm) => cm.data.get("v")?.parse().ok(),
        _ => None,
    }
}

/// A linearizable read of `name`: its value and revision.
async fn read(h: &StoreHandle, name: &str) -> Result<Option<(u64, u64)>, ()> {
    h.linearizable().await.map_err(|_| ())?;
    let k = key::make(Kind::ConfigMap, "default", name);
    match h.state().get(&k) {
        Ok(Some(s)) => Ok(value_of(&s.object).map(|v| (v, s.revision))),
        Ok(None) => Ok(None),
        Err(_) => Err(()),
    }
}

/// A write's answer as the model has it; `None`: unknown outcome.
fn answer(r: Result<u64, WriteError>) -> Option<Ret> {
    match r {
        Ok(_) => Some(Ret::Ok),
        Err(WriteError::Rejected(Rejection::AlreadyExists(_))) => Some(Ret::Exists),
        Err(WriteError::Rejected(Rejection::NotFound(_))) => Some(Ret::Missing),
        Err(WriteError::Rejected(Rejection::Conflict { .. })) => Some(Ret::Mismatch),
        Err(_) => None,
    }
}

/// Runs `op` on `name` through `h`; the answer, or `None` when it is unknown.
async fn call(h: &StoreHandle, name: &str, op: &Op, rev: Option<u64>) -> Option<Ret> {
    let k = key::make(Kind::ConfigMap, "default", name);
    let propose = |o: StoreOp| h.propose(Command { ops: vec![o] });
    let work = async {
        match op {
            Op::Get => read(h, name)
                .await
                .ok()
                .map(|v| Ret::Value(v.map(|(v, _)| v))),
            Op::Create(v) => answer(propose(StoreOp::Create(config_map(name, *v))).await),
            Op::Put(v) => answer(
                propose(StoreOp::Update {
                    object: config_map(name, *v),
                    expected: None,
                })
                .await,
            ),
            Op::Cas { new, .. } => answer(
                propose(StoreOp::Update {
                    object: config_map(name, *new),
                    expected: rev,
                })
                .await,
            ),
            Op::Delete => answer(
                propose(StoreOp::Delete {
                    key: k,
                    expected: None,
                })
                .await,
            ),
        }
    };
    tokio::time::timeout(DEADLINE, work).await.ok().flatten()
}

/// Records `op` on `name` by `client` through `h`; returns whether it was answered.
async fn recorded(
    s: &Shared,
    h: &Up,
    client: u64,
    name: &str,
    op: Op,
    rev: Option<u64>,
) -> Option<Ret> {
    let invoked = Instant::now();
    let ret = call(&h.handle, name, &op, rev)
        .await
        .filter(|_| h.powered.load(Ordering::SeqCst));
    let returned = ret.clone().map(|r| (Instant::now(), r));
    s.history.lock().unwrap().record(
        name,
        Call {
            client,
            op,
            invoked,
            returned,
        },
    );
    ret
}

/// One client until `until`: random operations on `keys` keys. A call with an unknown
/// outcome stays in flight in the history, so the client goes on under a new id.
pub async fn client(s: Arc<Shared>, seed: u64, keys: usize, until: Instant) -> u64 {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut me = s.next_client.fetch_add(1, Ordering::Relaxed);
    let mut acked = 0;
    while Instant::now() < until {
        let Some(h) = s.pick(&mut rng) else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let name = format!("k{}", rng.usize(..keys));
        let value = s.next_value.fetch_add(1, Ordering::Relaxed);
        let (op, rev) = match rng.u8(0..100) {
            0..30 => (Op::Get, None),
            30..45 => (Op::Create(value), None),
            45..65 => (Op::Put(value), None),
            65..85 => {
                // Read, then swap on what was read.
                let invoked = Instant::now();
                let got = tokio::time::timeout(DEADLINE, read(&h.handle, &name))
                    .await
                    .ok();
                let got = got
                    .and_then(Result::ok)
                    .filter(|_| h.powered.load(Ordering::SeqCst));
                let returned = got.map(|v| (Instant::now(), Ret::Value(v.map(|(v, _)| v))));
                let answered = returned.is_some();
                s.history.lock().unwrap().record(
                    &name,
                    Call {
                        client: me,
                        op: Op::Get,
                        invoked,
                        returned,
                    },
                );
                if !answered {
                    me = s.next_client.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                match got.flatten() {
                    Some((v, rev)) => (
                        Op::Cas {
                            expect: v,
                            new: value,
                        },
                        Some(rev),
                    ),
                    None => continue,
                }
            }
            _ => (Op::Delete, None),
        };
        match recorded(&s, &h, me, &name, op, rev).await {
            Some(_) => acked += 1,
            None => me = s.next_client.fetch_add(1, Ordering::Relaxed),
        }
    }
    acked
}

/// What a watcher saw: (revision, key) in order, and the revisions it could not follow
/// (its member installed a snapshot: a client would list again from there).
#[derive(Debug, Default, Clone)]
pub struct Seen {
    pub events: Vec<(u64, String)>,
    pub relisted: Vec<(u64, u64)>,
}

/// Follows member `id`'s history of ConfigMaps (across its restarts) until `stop`, then
/// reads once more.
pub async fn watcher(s: Arc<Shared>, id: u64, stop: Arc<AtomicBool>) -> Seen {
    let mut seen = Seen::default();
    let mut last = 0u64;
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        let h = s.up.lock().unwrap().get(&id).map(|u| u.handle.clone());
        if let Some(h) = h {
            match h.state().events_since(last) {
                Ok(events) => {
                    for e in events {
                        last = last.max(e.revision);
                        if e.key.starts_with("ConfigMap/") {
                            seen.events.push((e.revision, e.key));
                        }
                    }
                }
                Err(Error::Compacted { compacted, .. }) => {
                    seen.relisted.push((last, compacted));
                    last = compacted;
                }
                Err(_) => {}
            }
        }
        if stopping {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}
