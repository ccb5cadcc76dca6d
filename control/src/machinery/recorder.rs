//! Events from the controllers, as client-go's event recorder sends them: in the
//! background, so a reconcile never waits for one, batched into one raft write for many,
//! repeats within a batch merged into one count, and dropped (with a log line) when the
//! store cannot take them: an event is a record, not state anything depends on. Before
//! that, `correlator` combines similar events and drops a source's spam about one object.
//!
//! Writes are paced, as a Kubernetes component's are by its client's rate limit
//! (kube-scheduler's: 50 requests a second): here at most [`RATE`] events a second after a
//! burst of [`BURST`] (Skiff's choice), with at most [`BACKLOG`] waiting (client-go's
//! `maxQueuedEvents`), so a burst of ten thousand pods being scheduled does not double the
//! store's writes while it lasts; the events beyond the backlog are dropped.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use skiff_proto::model::event::EventType;
use tokio::sync::mpsc;

use super::correlator::Correlator;
use crate::api::{About, What, record_as};
use crate::store::{Command, StoreHandle, WriteError};

/// Events waiting at most; more are dropped until the writer catches up.
const BACKLOG: usize = 1_000;
/// Events written per second at most, after a burst.
const RATE: f64 = 200.0;
const BURST: f64 = 200.0;
/// Events in one write at most.
const BATCH: usize = 256;

/// One event to record.
struct Pending {
    about: About,
    component: &'static str,
    type_: EventType,
    reason: String,
    message: String,
}

/// Records events in the background (cheap to clone).
#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::Sender<Pending>,
}

impl Recorder {
    /// A recorder writing through `store`; its writer runs until every clone is dropped.
    pub fn spawn(store: StoreHandle) -> Recorder {
        let (tx, rx) = mpsc::channel(BACKLOG);
        tokio::spawn(write(store, rx));
        Recorder { tx }
    }

    /// Records that `reason` (`message`) happened to `about`, as `component` saw it.
    pub fn event(
        &self,
        component: &'static str,
        about: About,
        type_: EventType,
        reason: &str,
        message: String,
    ) {
        let p = Pending {
            about,
            component,
            type_,
            reason: reason.to_owned(),
            message,
        };
        if self.tx.try_send(p).is_err() {
            tracing::debug!(reason, "event dropped: the recorder is behind");
        }
    }
}

async fn write(store: StoreHandle, mut rx: mpsc::Receiver<Pending>) {
    let mut correlator = Correlator::default();
    let mut admit = |mut p: Pending| {
        let message = std::mem::take(&mut p.message);
        let now = Instant::now();
        p.message = correlator.admit(p.component, &p.about, p.type_, &p.reason, message, now)?;
        Some(p)
    };
    let mut tokens = BURST;
    let mut at = Instant::now();
    while let Some(first) = rx.recv().await {
        let Some(first) = admit(first) else {
            continue;
        };
        tokens = (tokens + at.elapsed().as_secs_f64() * RATE).min(BURST);
        at = Instant::now();
        if tokens < 1.0 {
            // At least 50 ms: while paced, a write carries ten events, not one.
            let wait = ((1.0 - tokens) / RATE).max(0.05);
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
            tokens = (tokens + wait * RATE).min(BURST);
            at = Instant::now();
        }
        let room = (tokens as usize).clamp(1, BATCH);
        let mut batch = vec![first];
        while batch.len() < room {
            match rx.try_recv() {
                Ok(p) => batch.extend(admit(p)),
                Err(_) => break,
            }
        }
        tokens -= batch.len() as f64;
        commit(&store, merge(batch)).await;
    }
}

/// The batch with repeats folded into one event and a count.
fn merge(batch: Vec<Pending>) -> Vec<(Pending, i32)> {
    let mut out: Vec<(Pending, i32)> = Vec::with_capacity(batch.len());
    let mut at: HashMap<(String, String), usize> = HashMap::new();
    for p in batch {
        let k = crate::api::event_key(&p.about, &p.reason, &p.message);
        match at.get(&k) {
            Some(&i) => out[i].1 += 1,
            None => {
                at.insert(k, out.len());
                out.push((p, 1));
            }
        }
    }
    out
}

/// Proposes the batch; a race with another write of one of its events (its count) is
/// tried again from the new state, a few times.
async fn commit(store: &StoreHandle, events: Vec<(Pending, i32)>) {
    for _ in 0..3 {
        let ops: Vec<_> = events
            .iter()
            .filter_map(|(p, n)| {
                let what = What {
                    component: p.component,
                    type_: p.type_,
                    reason: &p.reason,
                    message: &p.message,
                };
                record_as(store.state(), &p.about, &what, *n).ok()
            })
            .collect();
        if ops.is_empty() {
            return;
        }
        match store.propose(Command { ops }).await {
            Ok(_) => return,
            Err(WriteError::Rejected(_)) => continue,
            Err(e) => {
                tracing::debug!(error = %e, events = events.len(), "events not recorded");
                return;
            }
        }
    }
    tracing::debug!(
        events = events.len(),
        "events not recorded: they kept racing other writes"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(name: &str, message: &str) -> Pending {
        Pending {
            about: About {
                kind: skiff_proto::Kind::Pod,
                namespace: "ns".into(),
                name: name.into(),
                uid: Some(format!("uid-{name}")),
                resource_version: None,
            },
            component: "test",
            type_: EventType::Normal,
            reason: "Created".into(),
            message: message.into(),
        }
    }

    #[test]
    fn repeats_in_a_batch_become_one_event_with_a_count() {
        let merged = merge(vec![
            pending("a", "x"),
            pending("b", "x"),
            pending("a", "x"),
            pending("a", "y"),
            pending("a", "x"),
        ]);
        let counts: Vec<(String, String, i32)> = merged
            .iter()
            .map(|(p, n)| (p.about.name.clone(), p.message.clone(), *n))
            .collect();
        assert_eq!(
            counts,
            [
                ("a".into(), "x".into(), 3),
                ("b".into(), "x".into(), 1),
                ("a".into(), "y".into(), 1)
            ]
        );
    }
}
