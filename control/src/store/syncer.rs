//! Makes the state machine durable on a background thread while raft goes on.
//!
//! A sync writes out every page the state machine changed since the last one and fsyncs:
//! tens of milliseconds under load. Done inline it stalls the raft loop (no appends, no
//! replication) that long. Here it runs on its own thread, as etcd's backend commits in
//! its own goroutine; the database has one writer at a time, so entries committed
//! meanwhile wait in a backlog and are applied, in order, once the sync is done.

use std::thread::JoinHandle;

use raft::prelude::Entry;

use super::state::StateMachine;
use crate::Error;

pub struct Syncer {
    state: StateMachine,
    running: Option<JoinHandle<Result<u64, Error>>>,
    /// Committed entries not applied yet because a sync holds the database.
    backlog: Vec<Entry>,
}

impl Syncer {
    pub fn new(state: StateMachine) -> Self {
        Syncer {
            state,
            running: None,
            backlog: Vec::new(),
        }
    }

    /// Starts a sync unless one is running; `done` is called on its thread when it ends
    /// (to wake whoever applies the backlog).
    pub fn start(&mut self, done: Box<dyn FnOnce() + Send>) -> Result<(), Error> {
        if self.busy()? {
            return Ok(());
        }
        let state = self.state.clone();
        let handle = std::thread::Builder::new()
            .name("skiff-sync".into())
            .spawn(move || {
                let r = state.sync();
                done();
                r
            })
            .map_err(|e| Error::Log(format!("starting the state machine's sync thread: {e}")))?;
        self.running = Some(handle);
        Ok(())
    }

    /// Whether a sync is still running (collecting its outcome if it has ended).
    pub fn busy(&mut self) -> Result<bool, Error> {
        match &self.running {
            Some(h) if !h.is_finished() => Ok(true),
            Some(_) => self.wait().map(|()| false),
            None => Ok(false),
        }
    }

    /// Waits for the running sync, if any, to end.
    pub fn wait(&mut self) -> Result<(), Error> {
        match self.running.take() {
            Some(h) => h
                .join()
                .map_err(|_| Error::Log("the state machine's sync thread panicked".into()))?
                .map(|_| ()),
            None => Ok(()),
        }
    }

    /// The entries to apply now, in order: the backlog, then `entries`. Empty while a sync
    /// runs (they join the backlog), unless `now` asks to wait for the sync instead.
    pub fn take(&mut self, entries: Vec<Entry>, now: bool) -> Result<Vec<Entry>, Error> {
        if now {
            self.wait()?;
        } else if self.busy()? {
            self.backlog.extend(entries);
            return Ok(Vec::new());
        }
        if self.backlog.is_empty() {
            return Ok(entries);
        }
        let mut all = std::mem::take(&mut self.backlog);
        all.extend(entries);
        Ok(all)
    }

    /// Whether nothing waits to be applied and no sync runs.
    pub fn idle(&mut self) -> Result<bool, Error> {
        Ok(self.backlog.is_empty() && !self.busy()?)
    }
}
