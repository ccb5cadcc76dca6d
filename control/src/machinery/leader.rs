//! Leader-only work: the scheduler and the controllers run on the raft leader, and only
//! there, so two members never reconcile the same object against each other. Raft's own
//! leadership is the lease: no separate election.
//!
//! Writes are proposals, so a deposed leader's in-flight write is refused by the new
//! leader or lands before it; compare-and-swap on revisions keeps either case safe.

use std::future::Future;
use std::time::Duration;

use raft::StateRole;
use tokio::task::JoinHandle;

use crate::store::StoreHandle;

/// Tasks that stop when dropped.
pub struct Tasks(Vec<JoinHandle<()>>);

impl Tasks {
    pub fn new() -> Tasks {
        Tasks(Vec::new())
    }

    pub fn spawn(&mut self, f: impl Future<Output = ()> + Send + 'static) {
        self.0.push(tokio::spawn(f));
    }
}

impl Default for Tasks {
    fn default() -> Self {
        Tasks::new()
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

/// Checks every `every` whether this member leads. When it starts to, waits until it has
/// applied everything committed (so its cache is not behind the previous leader's
/// writes), then runs what `start` returns until it stops leading.
pub async fn while_leading(store: StoreHandle, every: Duration, start: impl Fn() -> Tasks) {
    let mut running: Option<Tasks> = None;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let leads = match store.status().await {
            Ok(s) => s.role == StateRole::Leader,
            Err(_) => return,
        };
        match (leads, running.is_some()) {
            (true, false) => {
                if store.linearizable().await.is_err() {
                    continue;
                }
                tracing::info!(
                    id = store.id(),
                    "leading: starting the scheduler and controllers"
                );
                running = Some(start());
            }
            (false, true) => {
                tracing::info!(
                    id = store.id(),
                    "no longer leading: stopping the scheduler and controllers"
                );
                running = None;
            }
            _ => {}
        }
    }
}
