//! What a member accepts from a peer before raft-rs sees it.
//!
//! raft-rs trusts its peers: a message that contradicts this member's log stops the process
//! with a panic (its `fatal!`), as etcd's raft does ("tocommit is out of range: was the raft
//! log corrupted, truncated, or lost?"). A correct leader never sends one, but a member
//! whose log was lost, a damaged frame or a confused peer can. Such a message is refused
//! here with the reason, and the member goes on (the fuzz target `raft_frames` found the
//! first of these).

use raft::prelude::{Message, MessageType};

/// The parts of this member's log a check reads.
pub trait LogView {
    fn last_index(&self) -> u64;
    /// Whether this member is the leader now.
    fn leads(&self) -> bool;
    /// This member's term.
    fn term(&self) -> u64;
}

/// Why `msg` may not be stepped, if it may not.
pub fn check(msg: &Message, me: u64, log: &dyn LogView) -> Result<(), String> {
    if msg.to != me {
        return Err(format!(
            "a {:?} for member {} was delivered to member {me}",
            msg.get_msg_type(),
            msg.to
        ));
    }
    // raft-rs takes a message from itself (or from nobody) for one of its own.
    if msg.from == me || msg.from == 0 {
        return Err(format!(
            "a {:?} from member {} reached member {me} from the network",
            msg.get_msg_type(),
            msg.from
        ));
    }
    // raft-rs sends proposals and read requests it forwards without a term and every
    // other message with one; it takes a message without a term for one of its own, and
    // stops when it answers such a vote or forwards such a proposal.
    let forwarded = matches!(
        msg.get_msg_type(),
        MessageType::MsgPropose | MessageType::MsgReadIndex
    );
    if forwarded != (msg.term == 0) {
        return Err(format!(
            "a {:?} from member {} in term {}: raft sends it {}",
            msg.get_msg_type(),
            msg.from,
            msg.term,
            match forwarded {
                true => "without a term",
                false => "with its term",
            }
        ));
    }
    match msg.get_msg_type() {
        // A heartbeat commits up to its index at once (raft-rs `handle_heartbeat`): it may
        // not name entries this member does not have.
        MessageType::MsgHeartbeat if msg.commit > log.last_index() => Err(format!(
            "a heartbeat from member {} commits index {} but this member's log ends at {} \
             (was its log lost?)",
            msg.from,
            msg.commit,
            log.last_index()
        )),
        MessageType::MsgAppend => consecutive(msg),
        // A follower forwards a transfer request to its leader, term and all, and raft-rs
        // stops when it forwards one that came with a term: only the leader takes one
        // from a peer.
        MessageType::MsgTransferLeader if !log.leads() => Err(format!(
            "a leadership transfer request from member {} reached a member that does not lead",
            msg.from
        )),
        // raft-rs stops on an empty proposal, and reads a read request's one entry (its
        // context) unchecked.
        MessageType::MsgPropose if msg.entries.is_empty() => Err(format!(
            "a proposal from member {} carries no entry",
            msg.from
        )),
        MessageType::MsgReadIndex if msg.entries.len() != 1 => Err(format!(
            "a read request from member {} carries {} entries, not one",
            msg.from,
            msg.entries.len()
        )),
        MessageType::MsgSnapshot => snapshot(msg),
        // The leader counts what a follower matched toward the commit index: a follower
        // cannot have matched, nor be missing, more than the leader's log holds.
        MessageType::MsgAppendResponse
            if log.leads()
                && msg.term == log.term()
                && msg.index.max(msg.reject_hint) > log.last_index() =>
        {
            Err(format!(
                "an append response from member {} names index {} (hint {}) past the leader's \
                 last, {}",
                msg.from,
                msg.index,
                msg.reject_hint,
                log.last_index()
            ))
        }
        _ => Ok(()),
    }
}

/// A snapshot names a real entry of a term no newer than the message's, and a
/// configuration raft-rs can restore (it stops on one it cannot).
fn snapshot(msg: &Message) -> Result<(), String> {
    let meta = msg.get_snapshot().get_metadata();
    let bad = |why: String| {
        Err(format!(
            "a snapshot from member {} at index {} of term {}: {why}",
            msg.from, meta.index, meta.term
        ))
    };
    if meta.index == 0 || meta.term == 0 || meta.term > msg.term {
        return bad(format!(
            "not an entry of a term up to the message's ({})",
            msg.term
        ));
    }
    let cs = meta.get_conf_state();
    if cs.voters.is_empty() {
        return bad("its configuration has no voter".into());
    }
    let unique =
        |ids: &[u64]| ids.iter().collect::<std::collections::HashSet<_>>().len() == ids.len();
    if ![
        &cs.voters,
        &cs.learners,
        &cs.voters_outgoing,
        &cs.learners_next,
    ]
    .iter()
    .all(|ids| unique(ids))
    {
        return bad("its configuration names a member twice in one list".into());
    }
    if cs.learners.iter().any(|l| cs.voters.contains(l)) {
        return bad("a member is both a voter and a learner".into());
    }
    if cs
        .learners_next
        .iter()
        .any(|l| !cs.voters_outgoing.contains(l))
    {
        return bad("a next learner is not an outgoing voter".into());
    }
    if cs.auto_leave && cs.voters_outgoing.is_empty() {
        return bad("it leaves a joint configuration it is not in".into());
    }
    Ok(())
}

/// An append follows a real entry, its entries follow its index one by one, their terms
/// never fall and none is newer than the message (raft-rs finds the first conflict by
/// index and slices by it).
fn consecutive(msg: &Message) -> Result<(), String> {
    // raft-rs reads a missing entry's term as 0, so an append after a missing entry that
    // claims term 0 would match, and commit entries this member does not have. Only the
    // log's start (index 0) has term 0.
    if msg.index > 0 && msg.log_term == 0 {
        return Err(format!(
            "an append from member {} follows index {} of term 0",
            msg.from, msg.index
        ));
    }
    let mut term = msg.log_term;
    for (i, e) in msg.entries.iter().enumerate() {
        let want = msg.index.checked_add(1 + i as u64);
        if Some(e.index) != want {
            return Err(format!(
                "an append from member {} after index {} carries entry {} at position {i}",
                msg.from, msg.index, e.index
            ));
        }
        if e.term == 0 || e.term < term || e.term > msg.term {
            return Err(format!(
                "an append from member {} in term {} carries entry {} of term {} after term {term}",
                msg.from, msg.term, e.index, e.term
            ));
        }
        term = e.term;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use raft::prelude::Entry;

    use super::*;

    struct Ends(u64);

    impl LogView for Ends {
        fn last_index(&self) -> u64 {
            self.0
        }

        fn leads(&self) -> bool {
            false
        }

        fn term(&self) -> u64 {
            3
        }
    }

    struct Leads;

    impl LogView for Leads {
        fn last_index(&self) -> u64 {
            0
        }

        fn leads(&self) -> bool {
            true
        }

        fn term(&self) -> u64 {
            3
        }
    }

    #[test]
    fn forwarded_proposals_and_reads_carry_their_entries() {
        let mut m = msg(MessageType::MsgPropose, 1);
        m.term = 0;
        assert!(check(&m, 1, &Ends(0)).unwrap_err().contains("no entry"));
        m.entries = vec![entry(0, 0)].into();
        assert!(check(&m, 1, &Ends(0)).is_ok());
        m.set_msg_type(MessageType::MsgReadIndex);
        m.entries = vec![entry(0, 0), entry(0, 0)].into();
        assert!(check(&m, 1, &Ends(0)).unwrap_err().contains("2 entries"));
        m.from = 1;
        assert!(
            check(&m, 1, &Ends(0))
                .unwrap_err()
                .contains("from the network")
        );
    }

    #[test]
    fn a_snapshot_names_a_real_entry_and_a_configuration_raft_can_restore() {
        let mut m = msg(MessageType::MsgSnapshot, 1);
        {
            let meta = m.mut_snapshot().mut_metadata();
            meta.index = 7;
            meta.term = 2;
            meta.mut_conf_state().voters = vec![1, 2, 3];
        }
        assert!(check(&m, 1, &Ends(0)).is_ok());
        let broken = |f: &dyn Fn(&mut Message), says: &str| {
            let mut b = m.clone();
            f(&mut b);
            let why = check(&b, 1, &Ends(0)).unwrap_err();
            assert!(why.contains(says), "{why}");
        };
        broken(
            &|b| b.mut_snapshot().mut_metadata().term = 0,
            "not an entry",
        );
        broken(
            &|b| b.mut_snapshot().mut_metadata().term = 4,
            "not an entry",
        );
        broken(
            &|b| b.mut_snapshot().mut_metadata().mut_conf_state().voters = vec![1, 1],
            "twice",
        );
        broken(
            &|b| {
                b.mut_snapshot()
                    .mut_metadata()
                    .mut_conf_state()
                    .voters
                    .clear()
            },
            "no voter",
        );
        broken(
            &|b| b.mut_snapshot().mut_metadata().mut_conf_state().learners = vec![2],
            "both a voter and a learner",
        );
        broken(
            &|b| {
                b.mut_snapshot()
                    .mut_metadata()
                    .mut_conf_state()
                    .learners_next = vec![4]
            },
            "next learner",
        );
        broken(
            &|b| b.mut_snapshot().mut_metadata().mut_conf_state().auto_leave = true,
            "joint",
        );
    }

    #[test]
    fn the_leader_takes_no_response_past_its_log() {
        let mut m = msg(MessageType::MsgAppendResponse, 1);
        m.index = 0;
        assert!(check(&m, 1, &Leads).is_ok());
        m.reject_hint = u64::MAX;
        assert!(
            check(&m, 1, &Leads)
                .unwrap_err()
                .contains("past the leader's")
        );
        // A follower leaves it to raft (which ignores it).
        assert!(check(&m, 1, &Ends(0)).is_ok());
    }

    #[test]
    fn only_the_leader_takes_a_transfer_request_from_a_peer() {
        let m = msg(MessageType::MsgTransferLeader, 1);
        assert!(check(&m, 1, &Leads).is_ok());
        let why = check(&m, 1, &Ends(0)).unwrap_err();
        assert!(why.contains("does not lead"), "{why}");
    }

    fn msg(t: MessageType, to: u64) -> Message {
        let mut m = Message::default();
        m.set_msg_type(t);
        m.from = 2;
        m.to = to;
        m.term = 3;
        m
    }

    fn entry(index: u64, term: u64) -> Entry {
        Entry {
            index,
            term,
            ..Default::default()
        }
    }

    #[test]
    fn a_heartbeat_may_not_commit_past_the_log() {
        let mut m = msg(MessageType::MsgHeartbeat, 1);
        m.commit = 5;
        assert!(check(&m, 1, &Ends(5)).is_ok());
        let why = check(&m, 1, &Ends(2)).unwrap_err();
        assert!(why.contains("commits index 5"), "{why}");
    }

    #[test]
    fn an_append_carries_consecutive_entries_of_rising_terms() {
        let mut m = msg(MessageType::MsgAppend, 1);
        m.index = 4;
        m.log_term = 2;
        m.entries = vec![entry(5, 2), entry(6, 3)].into();
        assert!(check(&m, 1, &Ends(4)).is_ok());
        m.entries = vec![entry(5, 2), entry(9, 3)].into();
        assert!(check(&m, 1, &Ends(4)).unwrap_err().contains("entry 9"));
        m.entries = vec![entry(5, 3), entry(6, 2)].into();
        assert!(check(&m, 1, &Ends(4)).unwrap_err().contains("of term 2"));
        m.entries = vec![entry(5, 4)].into();
        assert!(check(&m, 1, &Ends(4)).unwrap_err().contains("of term 4"));
        m.index = 0;
        m.log_term = 0;
        m.entries = vec![entry(1, 0)].into();
        assert!(check(&m, 1, &Ends(0)).unwrap_err().contains("of term 0"));
        m.index = 4;
        m.log_term = 2;
        m.entries = Vec::new().into();
        m.log_term = 0;
        assert!(check(&m, 1, &Ends(2)).unwrap_err().contains("of term 0"));
        m.index = 0;
        assert!(check(&m, 1, &Ends(2)).is_ok());
        m.index = u64::MAX;
        m.entries = vec![entry(0, 3)].into();
        assert!(check(&m, 1, &Ends(4)).is_err());
    }

    #[test]
    fn only_forwarded_proposals_and_reads_come_without_a_term() {
        let mut vote = msg(MessageType::MsgRequestPreVote, 1);
        assert!(check(&vote, 1, &Ends(0)).is_ok());
        vote.term = 0;
        assert!(
            check(&vote, 1, &Ends(0))
                .unwrap_err()
                .contains("with its term")
        );
        let mut propose = msg(MessageType::MsgPropose, 1);
        assert!(
            check(&propose, 1, &Ends(0))
                .unwrap_err()
                .contains("without a term")
        );
        propose.term = 0;
        propose.entries = vec![entry(0, 0)].into();
        assert!(check(&propose, 1, &Ends(0)).is_ok());
    }

    #[test]
    fn a_message_for_another_member_is_refused() {
        let why = check(&msg(MessageType::MsgHeartbeat, 3), 1, &Ends(0)).unwrap_err();
        assert!(why.contains("for member 3"), "{why}");
    }
}
