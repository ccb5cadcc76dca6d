//! A work queue of keys to reconcile, shaped like client-go's rate-limited work queue:
//! - a key is queued at most once however often it is added (dirty set);
//! - a key is never handed to two workers at once: added while processed, it is queued
//!   again when the worker is done;
//! - a failed key comes back after a per-key exponential back-off (5 ms doubling to
//!   `max_backoff`, or as configured), and `forget` resets it once a reconcile succeeds;
//! - `add_after` schedules a key for later (e.g. a deadline to check).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

struct State<K> {
    queue: VecDeque<K>,
    dirty: HashSet<K>,
    processing: HashSet<K>,
    failures: HashMap<K, u32>,
    delayed: BTreeMap<(Instant, u64), K>,
    seq: u64,
}

/// The queue (cheap to clone; clones share it).
pub struct Queue<K> {
    state: Arc<Mutex<State<K>>>,
    notify: Arc<Notify>,
    first_backoff: Duration,
    max_backoff: Duration,
}

impl<K> Clone for Queue<K> {
    fn clone(&self) -> Self {
        Queue {
            state: self.state.clone(),
            notify: self.notify.clone(),
            first_backoff: self.first_backoff,
            max_backoff: self.max_backoff,
        }
    }
}

const FIRST_BACKOFF: Duration = Duration::from_millis(5);

impl<K: Clone + Eq + Hash + Ord> Queue<K> {
    pub fn new(max_backoff: Duration) -> Self {
        Self::with_backoff(FIRST_BACKOFF, max_backoff)
    }

    /// A queue whose retries start at `first` and double up to `max`.
    pub fn with_backoff(first: Duration, max: Duration) -> Self {
        Queue {
            state: Arc::new(Mutex::new(State {
                queue: VecDeque::new(),
                dirty: HashSet::new(),
                processing: HashSet::new(),
                failures: HashMap::new(),
                delayed: BTreeMap::new(),
                seq: 0,
            })),
            notify: Arc::new(Notify::new()),
            first_backoff: first,
            max_backoff: max,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<K>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `k` now.
    pub fn add(&self, k: K) {
        let mut s = self.lock();
        if !s.dirty.insert(k.clone()) {
            return;
        }
        if !s.processing.contains(&k) {
            s.queue.push_back(k);
            drop(s);
            self.notify.notify_one();
        }
    }

    /// Queues `k` once `after` has passed.
    pub fn add_after(&self, k: K, after: Duration) {
        if after.is_zero() {
            return self.add(k);
        }
        let mut s = self.lock();
        s.seq += 1;
        let seq = s.seq;
        s.delayed.insert((Instant::now() + after, seq), k);
        drop(s);
        self.notify.notify_one();
    }

    /// Queues `k` again after its back-off, which doubles with each failure in a row.
    pub fn retry(&self, k: K) {
        let n = {
            let mut s = self.lock();
            let n = s.failures.entry(k.clone()).or_insert(0);
            *n = n.saturating_add(1);
            *n
        };
        let backoff = self
            .first_backoff
            .saturating_mul(1u32 << (n - 1).min(20))
            .min(self.max_backoff);
        self.add_after(k, backoff);
    }

    /// `k` reconciled: its back-off starts over.
    pub fn forget(&self, k: &K) {
        self.lock().failures.remove(k);
    }

    /// Failures of `k` in a row.
    pub fn failures(&self, k: &K) -> u32 {
        self.lock().failures.get(k).copied().unwrap_or(0)
    }

    /// The next key to reconcile; call [`Queue::done`] with it when finished.
    pub async fn next(&self) -> K {
        loop {
            let wake = {
                let mut s = self.lock();
                let now = Instant::now();
                while let Some(entry) = s.delayed.first_entry() {
                    if entry.key().0 > now {
                        break;
                    }
                    let k = entry.remove();
                    if s.dirty.insert(k.clone()) && !s.processing.contains(&k) {
                        s.queue.push_back(k);
                    }
                }
                if let Some(k) = s.queue.pop_front() {
                    s.dirty.remove(&k);
                    s.processing.insert(k.clone());
                    if !s.queue.is_empty() {
                        // Let another worker take the next one.
                        self.notify.notify_one();
                    }
                    return k;
                }
                s.delayed.first_key_value().map(|((at, _), _)| *at)
            };
            match wake {
                Some(at) => {
                    tokio::select! {
                        _ = self.notify.notified() => {}
                        _ = tokio::time::sleep_until(at) => {}
                    }
                }
                None => self.notify.notified().await,
            }
        }
    }

    /// Up to `max` keys at once (at least one: waits for it), for workers that batch.
    pub async fn next_batch(&self, max: usize) -> Vec<K> {
        let mut out = vec![self.next().await];
        let mut s = self.lock();
        while out.len() < max {
            let Some(k) = s.queue.pop_front() else { break };
            s.dirty.remove(&k);
            s.processing.insert(k.clone());
            out.push(k);
        }
        out
    }

    /// The worker finished `k`; if it was added meanwhile, it is queued again.
    pub fn done(&self, k: &K) {
        let mut s = self.lock();
        s.processing.remove(k);
        if s.dirty.contains(k) {
            s.queue.push_back(k.clone());
            drop(s);
            self.notify.notify_one();
        }
    }

    /// Keys queued now (not delayed, not in process).
    pub fn len(&self) -> usize {
        self.lock().queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_key_is_queued_once_and_never_handed_out_twice() {
        let q: Queue<&str> = Queue::new(Duration::from_secs(1));
        q.add("a");
        q.add("a");
        q.add("b");
        assert_eq!(q.len(), 2);
        let k = q.next().await;
        assert_eq!(k, "a");
        // Added while processed: not handed out until done.
        q.add("a");
        assert_eq!(q.next().await, "b");
        assert!(q.is_empty());
        q.done(&"a");
        assert_eq!(q.next().await, "a");
    }

    #[tokio::test(start_paused = true)]
    async fn failures_back_off_exponentially_and_forget_resets() {
        let q: Queue<u32> = Queue::new(Duration::from_millis(40));
        let start = Instant::now();
        for expected in [5, 10, 20, 40, 40] {
            let at = Instant::now();
            q.retry(7);
            assert_eq!(q.next().await, 7);
            assert_eq!(at.elapsed(), Duration::from_millis(expected));
            q.done(&7);
        }
        assert_eq!(q.failures(&7), 5);
        q.forget(&7);
        q.retry(7);
        let at = Instant::now();
        q.next().await;
        assert_eq!(at.elapsed(), Duration::from_millis(5));
        assert!(start.elapsed() >= Duration::from_millis(115));
    }

    #[tokio::test(start_paused = true)]
    async fn delayed_keys_come_in_deadline_order() {
        let q: Queue<u32> = Queue::new(Duration::from_secs(1));
        q.add_after(2, Duration::from_millis(20));
        q.add_after(1, Duration::from_millis(10));
        assert_eq!(q.next().await, 1);
        assert_eq!(q.next().await, 2);
        q.add(3);
        q.add(4);
        assert_eq!(q.next_batch(10).await, vec![3, 4]);
    }
}
