//! Makes the state machine durable on a background thread while raft goes on.
//!
//! A sync writes every change buffered since the last one (see `overlay`) and fsyncs:
//! milliseconds to tens of milliseconds under load. Done inline it would stall the raft
//! loop (no appends, no replication) that long. Here it runs on its own thread, as etcd's
//! backend commits in its own goroutine, and entries go on being applied to the overlay.
//! Configuration changes and snapshots write the database themselves: they wait for it.

use std::thread::JoinHandle;

use super::state::StateMachine;
use crate::Error;

pub struct Syncer {
    state: StateMachine,
    running: Option<JoinHandle<Result<u64, Error>>>,
}

impl Syncer {
    pub fn new(state: StateMachine) -> Self {
        Syncer {
            state,
            running: None,
        }
    }

    /// Starts a sync unless one is running.
    pub fn start(&mut self) -> Result<(), Error> {
        if self.busy()? {
            return Ok(());
        }
        let state = self.state.clone();
        let handle = std::thread::Builder::new()
            .name("skiff-sync".into())
            .spawn(move || state.sync())
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
}
