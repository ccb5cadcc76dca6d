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
        _ => Ok(()),
    }
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
        if e.term < term || e.term > msg.term {
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
    }

    struct Leads;

    impl LogView for Leads {
        fn last_index(&self) -> u64 {
            0
        }

        fn leads(&self) -> bool {
            true
        }
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
        assert!(check(&propose, 1, &Ends(0)).is_ok());
    }

    #[test]
    fn a_message_for_another_member_is_refused() {
        let why = check(&msg(MessageType::MsgHeartbeat, 3), 1, &Ends(0)).unwrap_err();
        assert!(why.contains("for member 3"), "{why}");
    }
}
