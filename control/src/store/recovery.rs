//! What a member does to its disk before raft starts: found a new cluster, and repair the
//! crash window between the state machine and the log.

use raft::Storage as _;
use raft::prelude::{ConfState, SnapshotMetadata};

use super::log::{BOOTSTRAP_INDEX, DiskLog, LogWrite};
use super::state::StateMachine;
use crate::Error;
use crate::cluster::AddressBook;

/// Founds a new cluster of `founders` on an empty log (none when joining or restarting),
/// then reconciles the log with the state machine.
pub(super) fn prepare(
    id: u64,
    state: &StateMachine,
    log: &DiskLog,
    founders: &AddressBook,
) -> Result<(), Error> {
    if !founders.is_empty() && log.last() == (0, 0) {
        let cs = ConfState {
            voters: founders.keys().copied().collect(),
            ..Default::default()
        };
        // The state machine first, durably: a crash before the log is written is
        // repaired below, on the next start.
        state.apply_conf_state(BOOTSTRAP_INDEX, BOOTSTRAP_INDEX, &cs, founders)?;
        state.sync()?;
        log.initialize(&cs)?;
    }
    reconcile(state, log)?;
    let applied = state.applied().0;
    let (last, _) = log.last();
    if last > applied {
        tracing::info!(
            id,
            applied,
            last,
            "state machine resumes from its last sync; committed entries in the log are applied again"
        );
    }
    Ok(())
}

/// Brings the log in line with the state machine after a crash between their writes. The
/// state machine is always made durable first (a snapshot restored, a configuration
/// applied), so it can only be ahead of the log.
fn reconcile(state: &StateMachine, log: &DiskLog) -> Result<(), Error> {
    let (applied, term) = state.applied();
    let cs = state.conf_state();
    let saved = log.initial_state().map_err(|e| Error::Log(e.to_string()))?;
    if applied > log.last().0 {
        // A snapshot was restored, or the founding configuration applied, but the log
        // did not record it.
        let meta = SnapshotMetadata {
            index: applied,
            term,
            conf_state: Some(cs).into(),
            ..Default::default()
        };
        return log.apply_snapshot(&meta);
    }
    let has_conf = !cs.voters.is_empty() || !cs.learners.is_empty();
    if has_conf && cs != saved.conf_state {
        // A configuration change was applied but not written to the log.
        log.write(LogWrite {
            conf_state: Some(&cs),
            ..Default::default()
        })?;
    }
    // Entries are applied before the commit index reaches the hard state, so the saved
    // commit may lag the applied index. Whatever was applied was committed: raise the
    // commit to match, or raft refuses to start ("applied is out of range").
    let mut hs = saved.hard_state;
    if hs.commit < applied {
        hs.commit = applied;
        log.write(LogWrite {
            hard_state: Some(&hs),
            ..Default::default()
        })?;
    }
    Ok(())
}
