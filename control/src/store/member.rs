//! One member of the replicated store: raft-rs' `RawNode` over the durable log, driven the
//! way raft-rs' `examples/five_mem_node` drives it (tick, step, `ready()`, send, apply the
//! snapshot, apply committed entries and configuration changes, persist, `advance`).
//!
//! This core is synchronous and owns no threads or sockets: the caller feeds it ticks,
//! messages and proposals, and sends the messages it returns. The same code runs under the
//! deterministic test network and the gRPC transport.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use raft::prelude::{
    ConfChangeType, ConfChangeV2, ConfState, Entry, EntryType, HardState, Message, Snapshot,
};
use raft::{Config, RawNode, StateRole, Storage};

use super::command::{Command, Rejection};
use super::conf::{self, in_conf};
use super::log::{DiskLog, LogWrite};
use super::metrics::StoreMetrics;
pub use super::proposal::{Applied, ProposalId};
use super::snapshot;
use super::state::{StateMachine, ToApply};
use super::syncer::Syncer;
use crate::Error;
use crate::cluster::{self, AddressBook};

/// What one round of `ready` produced.
#[derive(Debug, Default)]
pub struct Output {
    /// Messages to send to other members.
    pub messages: Vec<Message>,
    /// Outcomes of proposals this member made.
    pub applied: Vec<Applied>,
    /// Answers to read-index requests: (request context, index a read must wait for).
    pub read_states: Vec<(Vec<u8>, u64)>,
    /// The configuration or the address book changed (a conf change or a snapshot).
    pub membership_changed: bool,
    /// This member is no longer in the configuration: it was removed.
    pub removed: bool,
}

/// What [`Member::ready_with`] hands out before this round's disk write.
#[derive(Debug)]
pub enum Early {
    /// Messages to send now.
    Messages(Vec<Message>),
    /// Outcomes of this member's proposals, applied already.
    Applied(Vec<Applied>),
}

/// Timing and flow-control knobs (in ticks and bytes).
#[derive(Debug, Clone)]
pub struct Tuning {
    pub election_tick: usize,
    pub heartbeat_tick: usize,
    pub max_size_per_msg: u64,
    pub max_inflight_msgs: usize,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            election_tick: 10,
            heartbeat_tick: 2,
            max_size_per_msg: 1 << 20,
            max_inflight_msgs: 256,
        }
    }
}

pub struct Member {
    id: u64,
    metrics: StoreMetrics,
    raw: RawNode<DiskLog>,
    log: DiskLog,
    state: StateMachine,
    syncer: Syncer,
}

impl Member {
    /// Opens member `id` on the database at `path`. `founders` are the initial voters (and
    /// their addresses) when bootstrapping a new cluster; empty for a member that joins (it
    /// learns the configuration from the leader's snapshot).
    pub fn open(
        id: u64,
        path: &Path,
        founders: &AddressBook,
        tuning: &Tuning,
    ) -> Result<Self, Error> {
        Self::open_on(Arc::new(super::disk::Local), id, path, founders, tuning)
    }

    /// As [`Member::open`], with its files on `disk`.
    pub fn open_on(
        disk: Arc<dyn super::Disk>,
        id: u64,
        path: &Path,
        founders: &AddressBook,
        tuning: &Tuning,
    ) -> Result<Self, Error> {
        let db = super::open_database_on(&*disk, path)?;
        let state = StateMachine::open(db, path)?;
        let metrics = StoreMetrics::default();
        let mut log = DiskLog::open_on(disk, &path.with_extension("wal"), Arc::new(state.clone()))?;
        log.observe_fsync(metrics.fsync_seconds.clone());
        super::recovery::prepare(id, &state, &log, founders)?;
        let applied = state.applied().0;
        let config = Config {
            id,
            election_tick: tuning.election_tick,
            heartbeat_tick: tuning.heartbeat_tick,
            applied,
            max_size_per_msg: tuning.max_size_per_msg,
            max_inflight_msgs: tuning.max_inflight_msgs,
            check_quorum: true,
            pre_vote: true,
            ..Default::default()
        };
        config
            .validate()
            .map_err(|e| Error::Log(format!("raft configuration: {e}")))?;
        let logger = super::raft_log::logger(id);
        let raw =
            RawNode::new(&config, log.clone(), &logger).map_err(|e| Error::Log(e.to_string()))?;
        Ok(Member {
            id,
            metrics,
            raw,
            log,
            syncer: Syncer::new(state.clone()),
            state,
        })
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn metrics(&self) -> &StoreMetrics {
        &self.metrics
    }

    pub fn state(&self) -> &StateMachine {
        &self.state
    }

    pub fn role(&self) -> StateRole {
        self.raw.raft.state
    }

    pub fn leader(&self) -> Option<u64> {
        let l = self.raw.raft.leader_id;
        (l != raft::INVALID_ID).then_some(l)
    }

    pub fn term(&self) -> u64 {
        self.raw.raft.term
    }

    /// The first entry still in the log (after compaction or an installed snapshot).
    pub fn first_index(&self) -> u64 {
        raft::Storage::first_index(&self.log).unwrap_or(0)
    }

    pub fn commit_index(&self) -> u64 {
        self.raw.raft.raft_log.committed
    }

    /// The configuration raft works with now (it may be ahead of the applied one while a
    /// joint configuration is being left).
    pub fn conf_state(&self) -> ConfState {
        self.raw.raft.prs().conf().to_conf_state()
    }

    /// On the leader: how far each member's log is known to match (member → index).
    pub fn matched(&self) -> BTreeMap<u64, u64> {
        if self.role() != StateRole::Leader {
            return BTreeMap::new();
        }
        self.raw
            .raft
            .prs()
            .iter()
            .map(|(&id, pr)| (id, pr.matched))
            .collect()
    }

    /// Asks the leader to hand leadership to `to` (raft §3.10); followers forward it.
    pub fn transfer_leader(&mut self, to: u64) {
        self.raw.transfer_leader(to);
    }

    /// Tells raft whether a snapshot reached member `to`, so it resumes replication.
    pub fn report_snapshot(&mut self, to: u64, delivered: bool) {
        let status = if delivered {
            raft::SnapshotStatus::Finish
        } else {
            raft::SnapshotStatus::Failure
        };
        self.raw.report_snapshot(to, status);
    }

    /// Tells raft that member `to` could not be reached, so it probes instead of streaming.
    pub fn report_unreachable(&mut self, to: u64) {
        self.raw.report_unreachable(to);
    }

    /// Advances the logical clock by one tick (elections and heartbeats are counted in ticks).
    pub fn tick(&mut self) {
        self.raw.tick();
    }

    /// Delivers a message from another member. One that contradicts this member's log
    /// (see [`super::inbound`]) is refused, not stepped.
    pub fn step(&mut self, msg: Message) -> Result<(), Error> {
        super::inbound::check(&msg, self.id, self).map_err(Error::Refused)?;
        self.raw.step(msg).map_err(|e| Error::Log(e.to_string()))
    }

    /// Proposes a command; its outcome comes back in a later [`Output::applied`]. Fails
    /// when this member is not the leader.
    pub fn propose(&mut self, id: ProposalId, cmd: &Command) -> Result<(), Error> {
        self.propose_encoded(id, None, cmd.encode())
    }

    /// Proposes an encoded command under an idempotency key (see `dedup`): proposing it
    /// again under the same key applies it once.
    pub fn propose_encoded(
        &mut self,
        id: ProposalId,
        key: Option<u128>,
        data: Vec<u8>,
    ) -> Result<(), Error> {
        self.raw
            .propose(id.encode_with(key), data)
            .map_err(|e| Error::Log(e.to_string()))
    }

    /// Proposes a membership change (joint consensus when it changes several members).
    pub fn propose_conf_change(&mut self, id: ProposalId, cc: ConfChangeV2) -> Result<(), Error> {
        self.raw
            .propose_conf_change(id.encode(), cc)
            .map_err(|e| Error::Log(e.to_string()))
    }

    /// Asks the leader for the commit index a linearizable read must wait for (raft §6.4
    /// ReadIndex); the answer comes back in [`Output::read_states`] under `ctx`.
    pub fn read_index(&mut self, ctx: Vec<u8>) {
        self.raw.read_index(ctx);
    }

    /// Starts making what the state machine applied durable, on another thread (see
    /// `syncer`).
    pub fn sync_state(&mut self) -> Result<(), Error> {
        self.syncer.start()
    }

    /// Whether a sync runs.
    #[cfg(test)]
    pub(super) fn syncing(&mut self) -> bool {
        self.syncer.busy().unwrap_or(true)
    }

    /// Compacts the log up to the applied index, keeping `keep` entries for slow followers,
    /// and the watch history to `keep_events` revisions. Does nothing and returns false
    /// while a sync runs: try again later.
    pub fn compact(&mut self, keep: u64, keep_events: u64) -> Result<bool, Error> {
        if self.syncer.busy()? {
            return Ok(false);
        }
        // Only what the state machine holds durably may leave the log.
        let applied = self.state.sync()?;
        self.log.compact(applied.saturating_sub(keep).max(1))?;
        self.state
            .compact_events(applied.saturating_sub(keep_events))?;
        Ok(true)
    }

    /// Handles everything raft has ready, as five_mem_node does, and returns what to send
    /// and which proposals finished.
    pub fn ready(&mut self) -> Result<Output, Error> {
        let mut early = Output::default();
        let mut out = self.ready_with(&mut |e| match e {
            Early::Messages(m) => early.messages.extend(m),
            Early::Applied(a) => early.applied.extend(a),
        })?;
        early.messages.append(&mut out.messages);
        early.applied.append(&mut out.applied);
        out.messages = early.messages;
        out.applied = early.applied;
        Ok(out)
    }

    /// As [`Member::ready`], but hands to `early` what need not wait for this member's
    /// disk: the leader's appends and heartbeats, so followers persist in parallel with
    /// the leader (raft thesis §10.2.1), and the outcomes of entries already committed,
    /// so their callers are answered before this round's fsync rather than after it.
    pub fn ready_with(&mut self, early: &mut dyn FnMut(Early)) -> Result<Output, Error> {
        let mut out = Output::default();
        if !self.raw.has_ready() {
            return Ok(out);
        }
        let mut ready = self.raw.ready();
        let now = ready.take_messages();
        if !now.is_empty() {
            early(Early::Messages(now));
        }
        out.read_states.extend(
            ready
                .take_read_states()
                .into_iter()
                .map(|rs| (rs.request_ctx, rs.index)),
        );
        if *ready.snapshot() != Snapshot::default() {
            self.syncer.wait()?;
            let snap = ready.snapshot().clone();
            snapshot::restore(&self.state, &snap)?;
            self.log.apply_snapshot(snap.get_metadata())?;
            out.membership_changed = true;
        }
        // As etcd's `MustSync`: only new entries, a new term or a vote need the fsync; a
        // hard state that moved only its commit index is saved lazily.
        let saved = self
            .log
            .initial_state()
            .map_err(|e| Error::Log(e.to_string()))?;
        let must_sync = !ready.entries().is_empty()
            || ready.hs().is_some_and(|hs| {
                hs.term != saved.hard_state.term || hs.vote != saved.hard_state.vote
            });
        // Committed entries are on this member's disk already (raft-rs hands out only
        // persisted ones): apply them, and answer their callers, before the new entries'
        // fsync.
        self.apply_early(ready.take_committed_entries(), &mut out, early)?;
        self.log.write(LogWrite {
            entries: ready.entries(),
            hard_state: ready.hs(),
            lazy: !must_sync,
            ..Default::default()
        })?;
        out.messages.extend(ready.take_persisted_messages());
        let mut light = self.raw.advance(ready);
        // Not fsync'd: after a crash raft learns the commit index again (and `open` raises
        // it to the applied index).
        let hs = match light.commit_index() {
            Some(commit) => {
                let now = self.log.initial_state();
                let mut hs = now.map_err(|e| Error::Log(e.to_string()))?.hard_state;
                hs.commit = commit;
                Some(hs)
            }
            None => None,
        };
        out.messages.extend(light.take_messages());
        let committed = light.take_committed_entries();
        self.persist_and_apply(committed, &[], hs.as_ref(), true, &mut out)?;
        self.raw.advance_apply();
        Ok(out)
    }

    /// Applies `committed`, then writes `entries` and `hs` to the log.
    fn persist_and_apply(
        &mut self,
        committed: Vec<Entry>,
        entries: &[Entry],
        hs: Option<&HardState>,
        lazy: bool,
        out: &mut Output,
    ) -> Result<(), Error> {
        self.apply_committed(committed, out)?;
        self.log.write(LogWrite {
            entries,
            hard_state: hs,
            lazy,
            ..Default::default()
        })
    }

    /// Applies `entries` (see [`Member::apply_committed`]) and hands their outcomes to
    /// `early` at once.
    fn apply_early(
        &mut self,
        entries: Vec<Entry>,
        out: &mut Output,
        early: &mut dyn FnMut(Early),
    ) -> Result<(), Error> {
        let mut applied = Output::default();
        self.apply_committed(entries, &mut applied)?;
        out.membership_changed |= applied.membership_changed;
        out.removed |= applied.removed;
        if !applied.applied.is_empty() {
            early(Early::Applied(applied.applied));
        }
        Ok(())
    }

    /// Applies committed entries. A configuration change writes the database itself, so it
    /// waits for a running sync.
    fn apply_committed(&mut self, entries: Vec<Entry>, out: &mut Output) -> Result<(), Error> {
        if entries
            .iter()
            .any(|e| e.get_entry_type() != EntryType::EntryNormal)
        {
            self.syncer.wait()?;
        }
        // Runs of normal entries apply in one transaction; conf changes one at a time.
        let mut rest = &entries[..];
        while !rest.is_empty() {
            let normal = rest
                .iter()
                .take_while(|e| e.get_entry_type() == EntryType::EntryNormal)
                .count();
            let results = if normal > 0 {
                let batch: Vec<ToApply<'_>> = rest[..normal]
                    .iter()
                    .map(|e| ToApply {
                        index: e.index,
                        term: e.term,
                        data: &e.data[..],
                        key: ProposalId::key(&e.context),
                    })
                    .collect();
                self.state.apply_batch(&batch)?
            } else {
                let e = &rest[0];
                let (cs, added) = self.apply_conf_change(e)?;
                self.state.apply_conf_state(e.index, e.term, &cs, &added)?;
                // Durable before the log records it (see `reconcile`).
                self.state.sync()?;
                self.log.write(LogWrite {
                    conf_state: Some(&cs),
                    ..Default::default()
                })?;
                out.membership_changed = true;
                out.removed = !cs.voters.is_empty() && !in_conf(&cs, self.id);
                vec![Ok(e.index)]
            };
            let (done, later) = rest.split_at(results.len());
            self.record(done, results, out);
            rest = later;
        }
        Ok(())
    }

    /// Reports the outcomes of this member's own proposals among `entries`.
    fn record(&self, entries: &[Entry], results: Vec<Result<u64, Rejection>>, out: &mut Output) {
        for (e, result) in entries.iter().zip(results) {
            if let Some(id) = ProposalId::decode(&e.context).filter(|id| id.member == self.id) {
                out.applied.push(Applied {
                    id,
                    key: ProposalId::key(&e.context),
                    index: e.index,
                    result,
                });
            }
        }
    }

    /// Applies a committed configuration change and returns the configuration after it
    /// with the addresses it adds. A change raft refuses (it was checked only when
    /// proposed) leaves the configuration as it was, the same on every member.
    fn apply_conf_change(&mut self, e: &Entry) -> Result<(ConfState, AddressBook), Error> {
        let (changes, cc) = conf::parse(e)?;
        // Removed ids never come back, even from a join that was under way when they went
        // (as etcd checks at apply time): the same verdict on every member.
        for c in changes {
            if c.get_change_type() != ConfChangeType::RemoveNode
                && self.state.is_removed(c.node_id)?
            {
                tracing::warn!(
                    index = e.index,
                    id = c.node_id,
                    "conf change re-adds a removed member; ignored"
                );
                return Ok((self.conf_state(), AddressBook::new()));
            }
        }
        let (result, context) = match cc {
            conf::Parsed::V1(cc) => (self.raw.apply_conf_change(&cc), cc.context),
            conf::Parsed::V2(cc) => (self.raw.apply_conf_change(&cc), cc.context),
        };
        let added = cluster::decode(&context).unwrap_or_else(|err| {
            tracing::warn!(index = e.index, %err, "conf change carries unreadable addresses");
            AddressBook::new()
        });
        match result {
            Ok(cs) => Ok((cs, added)),
            Err(err) => {
                tracing::warn!(index = e.index, %err, "conf change refused; configuration unchanged");
                Ok((self.conf_state(), AddressBook::new()))
            }
        }
    }
}

/// A member that stops cleanly leaves nothing for the log to replay.
impl Drop for Member {
    fn drop(&mut self) {
        if let Err(e) = self
            .syncer
            .wait()
            .and_then(|()| self.state.sync().map(|_| ()))
        {
            tracing::warn!(
                id = self.id,
                "syncing the state machine on the way out: {e}"
            );
        }
    }
}

impl super::inbound::LogView for Member {
    fn last_index(&self) -> u64 {
        self.raw.raft.raft_log.last_index()
    }

    fn leads(&self) -> bool {
        self.role() == StateRole::Leader
    }

    fn term(&self) -> u64 {
        Member::term(self)
    }
}
