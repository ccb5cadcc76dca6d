//! Linearizable reads, batched as etcd batches them: one raft ReadIndex at a time serves
//! every read that arrived before it was issued; reads arriving meanwhile wait for the
//! next one. Under load this turns thousands of ReadIndex rounds (each a heartbeat to every
//! follower) into one per round trip.
//!
//! A ReadIndex raft loses (a message dropped on the way to the leader, a leader that has
//! not committed in its term yet) is never answered by raft, so one that is not answered
//! within [`RETRY_AFTER`] is issued again; callers still waiting after the caller limit are
//! told there is no leader.

use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::runtime::WriteError;

type Reply = oneshot::Sender<Result<u64, WriteError>>;
/// A caller waiting for a read, since it arrived.
type Waiter = (Instant, Reply);

/// How long a ReadIndex may go unanswered before it is issued again.
pub const RETRY_AFTER: Duration = Duration::from_millis(500);

/// Reads waiting for a ReadIndex, and the one in flight.
#[derive(Default)]
pub struct Reads {
    /// Arrived after the ReadIndex in flight was issued: they need the next one.
    waiting: Vec<Waiter>,
    /// The context of the ReadIndex in flight, when it was issued, and who it serves.
    in_flight: Option<(u64, Instant, Vec<Waiter>)>,
}

impl Reads {
    pub fn push(&mut self, reply: Reply) {
        self.waiting.push((Instant::now(), reply));
    }

    /// The context for a new ReadIndex, if one should be issued now (none in flight and
    /// reads waiting, or the one in flight went unanswered too long); `ctx` names it.
    pub fn issue(&mut self, ctx: u64) -> Option<Vec<u8>> {
        let overdue = self
            .in_flight
            .as_ref()
            .is_some_and(|(_, at, _)| at.elapsed() >= RETRY_AFTER);
        if overdue {
            // Its callers wait for the new one, with those that arrived since.
            if let Some((_, _, served)) = self.in_flight.take() {
                self.waiting.extend(served);
            }
        }
        if self.in_flight.is_some() || self.waiting.is_empty() {
            return None;
        }
        let served = std::mem::take(&mut self.waiting);
        self.in_flight = Some((ctx, Instant::now(), served));
        Some(ctx.to_le_bytes().to_vec())
    }

    /// Raft answered the ReadIndex with context `ctx`: its reads may proceed at `index`.
    /// Returns whether it was the one in flight.
    pub fn answered(&mut self, ctx: &[u8], index: u64) -> bool {
        let key = ctx
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes);
        match &self.in_flight {
            Some((c, _, _)) if Some(*c) == key => {}
            _ => return false,
        }
        if let Some((_, _, served)) = self.in_flight.take() {
            for (_, reply) in served {
                let _ = reply.send(Ok(index));
            }
        }
        true
    }

    /// Puts the reads in flight back to wait for the next ReadIndex (a new term: the
    /// leader that would answer is gone).
    pub fn requeue(&mut self) {
        if let Some((_, _, served)) = self.in_flight.take() {
            self.waiting.extend(served);
        }
        self.waiting.retain(|(_, r)| !r.is_closed());
    }

    /// Fails the reads that have waited longer than `limit`.
    pub fn expire(&mut self, limit: Duration) {
        let old = |(at, _): &Waiter| at.elapsed() > limit;
        let mut keep = Vec::new();
        for r in self.waiting.drain(..) {
            if old(&r) {
                let _ = r.1.send(Err(WriteError::NoLeader));
            } else {
                keep.push(r);
            }
        }
        self.waiting = keep;
        if let Some((_, _, served)) = &mut self.in_flight {
            let mut keep = Vec::new();
            for r in served.drain(..) {
                if old(&r) {
                    let _ = r.1.send(Err(WriteError::NoLeader));
                } else {
                    keep.push(r);
                }
            }
            *served = keep;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty() && self.in_flight.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(r: &mut Reads) -> oneshot::Receiver<Result<u64, WriteError>> {
        let (tx, rx) = oneshot::channel();
        r.push(tx);
        rx
    }

    #[test]
    fn one_read_index_serves_every_read_that_arrived_before_it() {
        let mut r = Reads::default();
        let (mut a, mut b) = (read(&mut r), read(&mut r));
        let ctx = r.issue(1).expect("reads wait: issue");
        assert_eq!(r.issue(2), None, "one in flight at a time");
        let mut c = read(&mut r);
        assert!(!r.answered(&2u64.to_le_bytes(), 9), "not the one in flight");
        assert!(r.answered(&ctx, 7));
        assert_eq!(a.try_recv().unwrap().ok(), Some(7));
        assert_eq!(b.try_recv().unwrap().ok(), Some(7));
        assert!(
            c.try_recv().is_err(),
            "arrived after the issue: waits for the next"
        );
        let next = r.issue(3).expect("the next one goes out");
        assert!(r.answered(&next, 8));
        assert_eq!(c.try_recv().unwrap().ok(), Some(8));
        assert!(r.is_empty());
    }

    #[test]
    fn an_unanswered_read_index_is_issued_again() {
        let mut r = Reads::default();
        let mut a = read(&mut r);
        let lost = r.issue(1).unwrap();
        std::thread::sleep(RETRY_AFTER + Duration::from_millis(10));
        let again = r.issue(2).expect("overdue: issued again");
        assert!(!r.answered(&lost, 5), "the lost one no longer counts");
        assert!(r.answered(&again, 6));
        assert_eq!(a.try_recv().unwrap().ok(), Some(6));
    }
}
