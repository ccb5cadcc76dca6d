//! The store's event loop: one task owns a [`Member`], ticks it on a timer, feeds it
//! messages and proposals from an inbox (draining many per round, so one fsync covers a
//! batch of proposals), sends what it produces through a [`Transport`], and answers callers
//! when their proposals apply or their reads may proceed.
//!
//! Writes ride through elections: a proposal made while no leader is known waits for one
//! (bounded by the caller, who may give up, and by [`ANSWER_WITHIN_TICKS`]), and proposals
//! in flight when the term changes are proposed again under the same idempotency key (see
//! `dedup`), so each applies once and its caller hears the outcome rather than "unknown".
//! Linearizable reads wait for a leader the same way.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use raft::StateRole;
use raft::prelude::{ConfChangeV2, ConfState, Message};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::command::{Command, Op, Rejection};
use super::member::{Applied, Early, Member, ProposalId};
use super::metrics::StoreMetrics;
use super::reads::Reads;
use super::state::StateMachine;
use super::transform::{TransformError, Transformer};
use crate::Error;
use crate::cluster::AddressBook;

/// Carries raft messages to other members. Best effort: raft retries what is lost.
pub trait Transport: Send + Sync + 'static {
    fn send(&self, msgs: Vec<Message>);

    /// The members and their addresses changed (at start, on a conf change or snapshot).
    fn set_peers(&self, _peers: &AddressBook) {}
}

/// Why a write did not happen (or may not have).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WriteError {
    /// The command was applied and refused (exists, not found, conflict, malformed).
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// No leader is known right now; retry shortly.
    #[error("no leader right now; retry")]
    NoLeader,
    /// The write may or may not have applied (raft took it, and then did not answer in
    /// time, or a conf change was in flight when the leader changed).
    #[error(
        "the write's outcome is unknown (the leader changed, or it was not applied in time); read and retry"
    )]
    Unknown,
    /// The store stopped (shutdown or a storage failure).
    #[error("the store is not running")]
    Stopped,
}

/// A snapshot of the member's raft view, for `skiff members` and metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub id: u64,
    pub role: StateRole,
    pub leader: Option<u64>,
    pub term: u64,
    pub commit: u64,
    pub applied: u64,
    /// The configuration raft works with now.
    pub conf: ConfState,
    /// On the leader: each member's matched log index (empty elsewhere).
    pub matched: BTreeMap<u64, u64>,
}

enum Input {
    Raft(Message),
    /// A command, with the caller's idempotency key if it gave one.
    Propose(
        Command,
        Option<u128>,
        oneshot::Sender<Result<u64, WriteError>>,
    ),
    ConfChange(ConfChangeV2, oneshot::Sender<Result<u64, WriteError>>),
    ReadIndex(oneshot::Sender<Result<u64, WriteError>>),
    Status(oneshot::Sender<Status>),
    TransferLeader(u64),
    ReportSnapshot(u64, bool),
    ReportUnreachable(u64),
    /// A peer said this member was removed from the cluster.
    Removed,
    /// A fault the chaos tests inject into the member's clock.
    #[cfg(test)]
    Clock(ClockFault),
}

/// What can happen to a member's sense of time: its timer jumps ahead (ticks at once, as
/// after a suspended VM resumes), or its loop stalls (a paused process: no ticks, no
/// messages) and then runs on with what queued up meanwhile.
#[cfg(test)]
#[derive(Debug, Clone, Copy)]
pub(crate) enum ClockFault {
    Jump(u32),
    Stall(Duration),
}

/// A handle on a running store member; cheap to clone.
#[derive(Clone)]
pub struct StoreHandle {
    id: u64,
    metrics: StoreMetrics,
    inbox: mpsc::Sender<Input>,
    state: StateMachine,
    applied: watch::Receiver<u64>,
}

/// How many inputs one round takes before running `ready` (bounds latency under load).
const BATCH: usize = 1024;
/// The log is compacted every this many applied entries...
const COMPACT_EVERY: u64 = 10_000;
/// ...keeping this many for followers that are a little behind (further behind: snapshot).
const KEEP_ENTRIES: u64 = 1_000;
/// The state machine is made durable this often (etcd's backend batch interval); the raft
/// log keeps what it applied since, for replay after a crash.
const SYNC_EVERY: Duration = Duration::from_millis(100);
/// Watch history kept, in revisions; a watch from further back must list again.
const KEEP_EVENTS: u64 = 100_000;
/// A proposal or read raft has not answered within this many ticks (10 s at the default
/// 50 ms) was dropped (a forwarded proposal lost with a leader, a conf change refused):
/// its caller hears so instead of waiting on.
const ANSWER_WITHIN_TICKS: u32 = 200;
/// A proposal not applied within this many ticks (2 s at the default 50 ms) is proposed
/// again under its key: a proposal forwarded to the leader may be lost on the way.
const REPROPOSE_AFTER_TICKS: u32 = 40;

/// Starts the event loop for `member`. The task ends when every handle is dropped, or with
/// the storage error that stopped it.
pub fn spawn(
    member: Member,
    transport: Arc<dyn Transport>,
    tick: Duration,
) -> (StoreHandle, JoinHandle<Result<(), Error>>) {
    let (tx, rx) = mpsc::channel(BATCH * 4);
    let (applied_tx, applied_rx) = watch::channel(member.state().applied().0);
    let handle = StoreHandle {
        id: member.id(),
        metrics: member.metrics().clone(),
        inbox: tx,
        state: member.state().clone(),
        applied: applied_rx,
    };
    let task = tokio::spawn(run(member, rx, transport, applied_tx, tick));
    (handle, task)
}

type Reply = oneshot::Sender<Result<u64, WriteError>>;

/// A caller waiting for its proposal to apply.
struct Pending {
    /// When the caller asked.
    since: Instant,
    /// When it was last handed to raft.
    proposed: Instant,
    reply: Reply,
    /// The key and encoded command, to propose again; `None` for a conf change.
    again: Option<(u128, Vec<u8>)>,
    /// Raft took it at least once: it may have applied.
    taken: bool,
}

/// Proposals waiting for a leader (by proposal sequence) and those raft took.
#[derive(Default)]
struct Proposals {
    waiting: Vec<(u64, Pending)>,
    pending: HashMap<u64, Pending>,
}

async fn run(
    mut m: Member,
    mut inbox: mpsc::Receiver<Input>,
    transport: Arc<dyn Transport>,
    applied: watch::Sender<u64>,
    tick: Duration,
) -> Result<(), Error> {
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seq = 0u64;
    // With `seq`, keys this run's proposals: a restarted member never reuses one.
    let nonce = u128::from(fastrand::u64(..)) << 64;
    let mut props = Proposals::default();
    let metrics = m.metrics().clone();
    let mut leader = m.leader();
    let mut reads = Reads::default();
    let mut read_ctx = 0u64;
    // Set when a batch of reads was answered and more wait: go round without waiting.
    let mut again = false;
    let mut ticks = 0u64;
    let mut term = m.term();
    let mut compacted_at = m.state().applied().0;
    let mut last_sync = Instant::now();
    // A member that is joining knows nobody yet; whoever started it told the transport.
    let known = m.state().members()?;
    if !known.is_empty() {
        transport.set_peers(&known);
    }
    loop {
        tokio::select! {
            biased;
            _ = std::future::ready(()), if again => {}
            _ = ticker.tick() => {
                m.tick();
                ticks += 1;
                if ticks.is_multiple_of(20) {
                    expire(&mut props, &mut reads, tick * ANSWER_WITHIN_TICKS);
                    props.stale(tick * REPROPOSE_AFTER_TICKS, m.role() == StateRole::Leader);
                }
            }
            input = inbox.recv() => {
                let Some(first) = input else { return Ok(()) };
                let mut next = Some(first);
                let mut taken = 0;
                while let Some(input) = next.take() {
                    taken += 1;
                    seq += 1;
                    if matches!(input, Input::Removed) {
                        return Err(Error::Removed { id: m.id() });
                    }
                    #[cfg(test)]
                    if let Input::Clock(f) = input {
                        match f {
                            ClockFault::Jump(n) => (0..n).for_each(|_| m.tick()),
                            ClockFault::Stall(d) => tokio::time::sleep(d).await,
                        }
                        continue;
                    }
                    handle(&mut m, input, seq, nonce, &mut props, &mut reads);
                    if taken < BATCH {
                        next = inbox.try_recv().ok();
                    }
                }
            }
        }
        again = false;
        if m.leader().is_some() {
            props.propose_waiting(&mut m);
            read_ctx += 1;
            if let Some(ctx) = reads.issue(read_ctx) {
                m.read_index(ctx);
            }
        }
        let out = m.ready_with(&mut |e| match e {
            Early::Messages(msgs) => transport.send(msgs),
            Early::Applied(done) => answer(&mut props.pending, &metrics, done),
        })?;
        if out.membership_changed {
            transport.set_peers(&m.state().members()?);
        }
        if !out.messages.is_empty() {
            transport.send(out.messages);
        }
        answer(&mut props.pending, &metrics, out.applied);
        for (ctx, index) in out.read_states {
            // The reads that arrived meanwhile go out in the next round, straight away.
            again |= reads.answered(&ctx, index) && !reads.is_empty();
        }
        if m.term() != term {
            // Entries proposed under the old leader may be overwritten: propose them again
            // (their keys keep any that did commit from applying twice), and ask the new
            // leader for the reads.
            term = m.term();
            props.term_changed();
            reads.requeue();
            again = m.leader().is_some();
        }
        let now = m.state().applied().0;
        applied.send_replace(now);
        if m.leader() != leader {
            leader = m.leader();
            metrics.leader_changes.inc();
            tracing::info!(id = m.id(), leader = ?leader, term = m.term(), "leader changed");
        }
        metrics.term.set(m.term() as i64);
        metrics.commit_index.set(m.commit_index() as i64);
        metrics.applied_index.set(now as i64);
        metrics
            .apply_lag
            .set(m.commit_index().saturating_sub(now) as i64);
        metrics.is_leader.set(i64::from(leader == Some(m.id())));
        if out.removed {
            tracing::warn!(id = m.id(), "this member was removed from the cluster");
            return Err(Error::Removed { id: m.id() });
        }
        if last_sync.elapsed() >= SYNC_EVERY {
            // Small, frequent syncs: one after thousands of applications takes hundreds of
            // milliseconds (measured with the store bench).
            m.sync_state()?;
            last_sync = Instant::now();
        }
        if now >= compacted_at + COMPACT_EVERY && m.compact(KEEP_ENTRIES, KEEP_EVENTS)? {
            compacted_at = now;
        }
    }
}

/// Answers the callers whose proposals were applied.
fn answer(pending: &mut HashMap<u64, Pending>, metrics: &StoreMetrics, done: Vec<Applied>) {
    for a in done {
        // An entry of an earlier run of this member (sequence numbers start again) is
        // not this caller's: its key differs.
        let theirs = |p: &Pending| p.again.as_ref().is_none_or(|(k, _)| a.key == Some(*k));
        if pending.get(&a.id.seq).is_some_and(theirs)
            && let Some(p) = pending.remove(&a.id.seq)
        {
            metrics
                .proposal_seconds
                .observe(p.since.elapsed().as_secs_f64());
            let _ = p.reply.send(a.result.map_err(WriteError::from));
        }
    }
}

/// Answers the callers raft will not answer any more (see [`ANSWER_WITHIN_TICKS`]).
fn expire(props: &mut Proposals, reads: &mut Reads, limit: Duration) {
    let stale: Vec<u64> = props
        .pending
        .iter()
        .filter(|(_, p)| p.since.elapsed() > limit)
        .map(|(k, _)| *k)
        .collect();
    for k in stale {
        if let Some(p) = props.pending.remove(&k) {
            let _ = p.reply.send(Err(WriteError::Unknown));
        }
    }
    // Waiting callers that gave up are forgotten; those that waited too long hear why.
    props.waiting.retain(|(_, p)| !p.reply.is_closed());
    let (old, young) = std::mem::take(&mut props.waiting)
        .into_iter()
        .partition(|(_, p)| p.since.elapsed() > limit);
    props.waiting = young;
    for (_, p) in old {
        // One raft took may have applied: say so.
        let e = match p.taken {
            true => WriteError::Unknown,
            false => WriteError::NoLeader,
        };
        let _ = p.reply.send(Err(e));
    }
    reads.expire(limit);
}

impl Proposals {
    /// Hands raft the proposals that wait for a leader (one is known); those raft drops
    /// (a leadership transfer under way) wait on.
    fn propose_waiting(&mut self, m: &mut Member) {
        for (seq, mut p) in std::mem::take(&mut self.waiting) {
            if p.reply.is_closed() {
                // Its caller gave up before it could be proposed (again).
                continue;
            }
            let id = ProposalId {
                member: m.id(),
                seq,
            };
            let Some((key, data)) = &p.again else {
                let _ = p.reply.send(Err(WriteError::Unknown));
                continue;
            };
            if m.propose_encoded(id, Some(*key), data.clone()).is_ok() {
                p.proposed = Instant::now();
                p.taken = true;
                self.pending.insert(seq, p);
            } else {
                self.waiting.push((seq, p));
            }
        }
    }

    /// The term changed: what raft took may be lost, so commands are proposed again (a
    /// conf change cannot be: its caller hears the outcome is unknown).
    fn term_changed(&mut self) {
        for (seq, p) in self.pending.drain() {
            if p.again.is_some() {
                self.waiting.push((seq, p));
            } else {
                let _ = p.reply.send(Err(WriteError::Unknown));
            }
        }
    }

    /// Proposals raft took more than `after` ago and has not applied are proposed again
    /// (a follower's, forwarded to the leader, may have been lost on the way; the leader's
    /// own are in its log: it waits). Callers that gave up are forgotten.
    fn stale(&mut self, after: Duration, leading: bool) {
        self.pending.retain(|_, p| !p.reply.is_closed());
        if leading {
            return;
        }
        let old: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.again.is_some() && p.proposed.elapsed() > after)
            .map(|(k, _)| *k)
            .collect();
        for seq in old {
            if let Some(p) = self.pending.remove(&seq) {
                self.waiting.push((seq, p));
            }
        }
    }
}

fn handle(
    m: &mut Member,
    input: Input,
    seq: u64,
    nonce: u128,
    props: &mut Proposals,
    reads: &mut Reads,
) {
    let id = ProposalId {
        member: m.id(),
        seq,
    };
    let now = Instant::now();
    match input {
        Input::Raft(msg) => {
            // Messages from stale or removed peers are refused; raft retries what matters.
            // One that contradicts this member's log is worth a line (the 1st, 2nd, 4th,
            // 8th... so a peer that keeps sending them cannot flood the log).
            if let Err(crate::Error::Refused(why)) = m.step(msg) {
                static REFUSED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
                let n = REFUSED.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                if n.is_power_of_two() {
                    tracing::warn!(%why, refused = n, "refused a raft message");
                }
            }
        }
        Input::Propose(cmd, key, reply) => {
            let key = key.unwrap_or(nonce | u128::from(seq));
            let data = cmd.encode();
            let proposed =
                m.leader().is_some() && m.propose_encoded(id, Some(key), data.clone()).is_ok();
            let p = Pending {
                since: now,
                proposed: now,
                reply,
                again: Some((key, data)),
                taken: proposed,
            };
            if proposed {
                props.pending.insert(seq, p);
            } else {
                props.waiting.push((seq, p));
            }
        }
        Input::ConfChange(cc, reply) => match m.propose_conf_change(id, cc) {
            Ok(()) => {
                props.pending.insert(
                    seq,
                    Pending {
                        since: now,
                        proposed: now,
                        reply,
                        again: None,
                        taken: true,
                    },
                );
            }
            Err(_) => {
                let _ = reply.send(Err(WriteError::NoLeader));
            }
        },
        // Issued once a leader is known (see `run`).
        Input::ReadIndex(reply) => reads.push(reply),
        Input::Status(reply) => {
            let _ = reply.send(Status {
                id: m.id(),
                role: m.role(),
                leader: m.leader(),
                term: m.term(),
                commit: m.commit_index(),
                applied: m.state().applied().0,
                conf: m.conf_state(),
                matched: m.matched(),
            });
        }
        Input::TransferLeader(to) => m.transfer_leader(to),
        Input::ReportSnapshot(to, delivered) => m.report_snapshot(to, delivered),
        Input::ReportUnreachable(to) => m.report_unreachable(to),
        Input::Removed => {}
        #[cfg(test)]
        Input::Clock(_) => {}
    }
}

impl StoreHandle {
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The member's counters (term, leader changes, indexes, latencies).
    pub fn metrics(&self) -> &StoreMetrics {
        &self.metrics
    }

    /// The local state machine, for serializable reads and watches.
    pub fn state(&self) -> &StateMachine {
        &self.state
    }

    /// Delivers a raft message without waiting; drops it when the inbox is full (raft
    /// retries), which keeps a slow member from stalling its senders.
    pub fn try_step(&self, msg: Message) -> bool {
        self.inbox.try_send(Input::Raft(msg)).is_ok()
    }

    /// Delivers a raft message from another member.
    pub async fn step(&self, msg: Message) -> Result<(), WriteError> {
        self.inbox
            .send(Input::Raft(msg))
            .await
            .map_err(|_| WriteError::Stopped)
    }

    async fn ask(&self, make: impl FnOnce(Reply) -> Input) -> Result<u64, WriteError> {
        let (tx, rx) = oneshot::channel();
        self.inbox
            .send(make(tx))
            .await
            .map_err(|_| WriteError::Stopped)?;
        rx.await.map_err(|_| WriteError::Stopped)?
    }

    /// Proposes a command through raft (any member: followers forward to the leader) and
    /// returns the revision it applied at, once applied here. Its objects go in their
    /// stored form (see `transform`).
    pub async fn propose(&self, cmd: Command) -> Result<u64, WriteError> {
        self.propose_keyed(cmd, None).await
    }

    /// As [`StoreHandle::propose`], under the caller's idempotency key (see `dedup`): a
    /// command proposed again under a key that applied within the window is answered with
    /// that outcome and changes nothing.
    pub async fn propose_keyed(
        &self,
        mut cmd: Command,
        key: Option<u128>,
    ) -> Result<u64, WriteError> {
        let t = self.state.transform();
        for attempt in 0.. {
            match seal_all(&*t, &mut cmd) {
                Ok(()) => break,
                Err(TransformError::NeedsKeys) if attempt < 3 => {
                    let first = t
                        .first_keys()
                        .map_err(|e| WriteError::Rejected(Rejection::Malformed(e.to_string())))?;
                    let keys = Command {
                        ops: vec![Op::Create(first)],
                    };
                    match self.ask(|tx| Input::Propose(keys, None, tx)).await {
                        Ok(_) | Err(WriteError::Rejected(Rejection::AlreadyExists(_))) => {}
                        Err(e) => return Err(e),
                    }
                }
                Err(e) => return Err(WriteError::Rejected(Rejection::Malformed(e.to_string()))),
            }
        }
        self.ask(|tx| Input::Propose(cmd, key, tx)).await
    }

    /// Proposes a membership change.
    pub async fn change_membership(&self, cc: ConfChangeV2) -> Result<u64, WriteError> {
        self.ask(|tx| Input::ConfChange(cc, tx)).await
    }

    /// Waits until this member has applied everything committed before the call: reads
    /// after it are linearizable (ReadIndex, raft §6.4). Returns the applied revision.
    pub async fn linearizable(&self) -> Result<u64, WriteError> {
        let index = self.ask(Input::ReadIndex).await?;
        self.wait_applied(index).await
    }

    /// Follows the applied index (for watches: new events exist when it moves).
    pub fn applied_index(&self) -> watch::Receiver<u64> {
        self.applied.clone()
    }

    /// Waits until the local state machine has applied `index`.
    pub async fn wait_applied(&self, index: u64) -> Result<u64, WriteError> {
        let mut rx = self.applied.clone();
        let seen = rx
            .wait_for(|&a| a >= index)
            .await
            .map_err(|_| WriteError::Stopped)?;
        Ok(*seen)
    }

    /// Asks for leadership to move to member `to` (see [`Member::transfer_leader`]).
    pub async fn transfer_leader(&self, to: u64) -> Result<(), WriteError> {
        self.send(Input::TransferLeader(to)).await
    }

    /// Injects a clock fault (the chaos tests).
    #[cfg(test)]
    pub(crate) async fn clock(&self, f: ClockFault) -> Result<(), WriteError> {
        self.send(Input::Clock(f)).await
    }

    /// Reports whether a snapshot sent to `to` arrived (from the transport).
    pub async fn report_snapshot(&self, to: u64, delivered: bool) -> Result<(), WriteError> {
        self.send(Input::ReportSnapshot(to, delivered)).await
    }

    /// Reports that member `to` could not be reached (from the transport).
    pub async fn report_unreachable(&self, to: u64) -> Result<(), WriteError> {
        self.send(Input::ReportUnreachable(to)).await
    }

    /// A peer refused this member because it was removed: the loop stops with
    /// [`Error::Removed`].
    pub async fn report_removed(&self) -> Result<(), WriteError> {
        self.send(Input::Removed).await
    }

    async fn send(&self, input: Input) -> Result<(), WriteError> {
        self.inbox
            .send(input)
            .await
            .map_err(|_| WriteError::Stopped)
    }

    pub async fn status(&self) -> Result<Status, WriteError> {
        let (tx, rx) = oneshot::channel();
        self.inbox
            .send(Input::Status(tx))
            .await
            .map_err(|_| WriteError::Stopped)?;
        rx.await.map_err(|_| WriteError::Stopped)
    }
}

/// Every object of `cmd` in its stored form.
fn seal_all(t: &dyn Transformer, cmd: &mut Command) -> Result<(), TransformError> {
    for op in &mut cmd.ops {
        if let Op::Create(o) | Op::Update { object: o, .. } = op {
            t.seal(o)?;
        }
    }
    Ok(())
}
