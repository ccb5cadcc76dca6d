//! A faulty network between in-process members: the [`Transport`] seam with links that
//! can be cut (partitions), and messages dropped, duplicated or delayed (reordered) at
//! random, from a seeded generator.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use raft::prelude::Message;

use crate::store::{StoreHandle, Transport};

/// What the network does to messages now.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Per mille of messages dropped.
    pub drop: u16,
    /// Per mille of messages sent twice.
    pub duplicate: u16,
    /// Per mille of messages held back up to `max_delay` (so others overtake them).
    pub delay: u16,
    pub max_delay: Duration,
    /// Links (from, to) that carry nothing.
    pub cut: BTreeSet<(u64, u64)>,
}

pub struct FaultyNet {
    handles: Mutex<HashMap<u64, StoreHandle>>,
    /// Members whose messages go nowhere (their power went).
    silent: Mutex<BTreeSet<u64>>,
    faults: Mutex<Faults>,
    rng: Mutex<fastrand::Rng>,
}

impl FaultyNet {
    pub fn new(seed: u64) -> Self {
        FaultyNet {
            handles: Mutex::default(),
            silent: Mutex::default(),
            faults: Mutex::default(),
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
        }
    }

    pub fn attach(&self, h: StoreHandle) {
        self.silent.lock().unwrap().remove(&h.id());
        self.handles.lock().unwrap().insert(h.id(), h);
    }

    /// Drops every message from member `id` until it is attached again.
    pub fn silence(&self, id: u64) {
        self.silent.lock().unwrap().insert(id);
    }

    pub fn detach(&self, id: u64) {
        self.handles.lock().unwrap().remove(&id);
    }

    pub fn set(&self, f: Faults) {
        *self.faults.lock().unwrap() = f;
    }

    /// Cuts every link between `side` and the other members, both ways.
    pub fn partition(&self, side: &[u64], all: &[u64]) {
        let mut f = self.faults.lock().unwrap();
        for &a in side {
            for &b in all.iter().filter(|b| !side.contains(b)) {
                f.cut.insert((a, b));
                f.cut.insert((b, a));
            }
        }
    }

    pub fn heal(&self) {
        *self.faults.lock().unwrap() = Faults::default();
    }
}

impl Transport for FaultyNet {
    fn send(&self, msgs: Vec<Message>) {
        let faults = self.faults.lock().unwrap().clone();
        let silent = self.silent.lock().unwrap().clone();
        let handles = self.handles.lock().unwrap();
        let mut rng = self.rng.lock().unwrap();
        for m in msgs {
            if silent.contains(&m.from)
                || faults.cut.contains(&(m.from, m.to))
                || rng.u16(0..1000) < faults.drop
            {
                continue;
            }
            let Some(h) = handles.get(&m.to).cloned() else {
                continue;
            };
            if rng.u16(0..1000) < faults.duplicate {
                h.try_step(m.clone());
            }
            if rng.u16(0..1000) < faults.delay && !faults.max_delay.is_zero() {
                let wait = faults.max_delay.mul_f64(rng.f64());
                tokio::spawn(async move {
                    tokio::time::sleep(wait).await;
                    h.try_step(m);
                });
            } else {
                h.try_step(m);
            }
        }
    }
}
