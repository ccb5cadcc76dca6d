//! The cluster's roster in the state machine: each current member's address, and the ids
//! removed for good, both changed only by applied configuration changes (and snapshots).

use std::collections::BTreeSet;

use raft::prelude::ConfState;
use redb::{ReadableDatabase, ReadableTable, TableDefinition};

use super::state::StateMachine;
use crate::Error;
use crate::cluster::AddressBook;

/// Current members (voters and learners) → address, replicated with the configuration.
pub(super) const MEMBERS: TableDefinition<u64, &str> = TableDefinition::new("members");
/// Members removed for good → the index that removed them; their ids are never reused.
pub(super) const REMOVED: TableDefinition<u64, u64> = TableDefinition::new("removed_members");

impl StateMachine {
    /// Records a configuration change as applied at `index`: `cs` is the configuration
    /// after it and `added` the addresses of members it adds. Members no longer in `cs`
    /// are removed for good.
    pub fn apply_conf_state(
        &self,
        index: u64,
        term: u64,
        cs: &ConfState,
        added: &AddressBook,
    ) -> Result<(), Error> {
        // The buffered changes first: the position written below covers them.
        self.sync()?;
        let txn = self.begin()?;
        {
            let mut members = txn.open_table(MEMBERS).map_err(|e| self.err(e))?;
            for (&id, addr) in added {
                members.insert(id, addr.as_str()).map_err(|e| self.err(e))?;
            }
            let current: BTreeSet<u64> = [
                &cs.voters,
                &cs.learners,
                &cs.voters_outgoing,
                &cs.learners_next,
            ]
            .into_iter()
            .flatten()
            .copied()
            .collect();
            let mut gone = Vec::new();
            for item in members.iter().map_err(|e| self.err(e))? {
                let id = item.map_err(|e| self.err(e))?.0.value();
                if !current.contains(&id) {
                    gone.push(id);
                }
            }
            let mut removed = txn.open_table(REMOVED).map_err(|e| self.err(e))?;
            for id in gone {
                members.remove(id).map_err(|e| self.err(e))?;
                removed.insert(id, index).map_err(|e| self.err(e))?;
            }
        }
        self.finish(txn, index, term, Some(cs))
    }

    /// Every current member's address.
    pub fn members(&self) -> Result<AddressBook, Error> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = txn.open_table(MEMBERS).map_err(|e| self.err(e))?;
        let mut book = AddressBook::new();
        for item in t.iter().map_err(|e| self.err(e))? {
            let (id, addr) = item.map_err(|e| self.err(e))?;
            book.insert(id.value(), addr.value().to_owned());
        }
        Ok(book)
    }

    /// Whether member `id` was removed from the cluster (ids are never reused).
    pub fn is_removed(&self, id: u64) -> Result<bool, Error> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = txn.open_table(REMOVED).map_err(|e| self.err(e))?;
        Ok(t.get(id).map_err(|e| self.err(e))?.is_some())
    }
}
