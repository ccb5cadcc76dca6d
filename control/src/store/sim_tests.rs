//! Raft behaviour on a deterministic in-memory network (after raft-rs'
//! `harness/src/network.rs`): members are real [`Member`]s on real disks; the network
//! delivers, drops or cuts their messages as each test says. Sections of the Raft paper
//! (Ongaro & Ousterhout, 2014) are cited where a test checks one.

use std::collections::{BTreeMap, HashSet, VecDeque};

use raft::StateRole;
use raft::prelude::{ConfChangeSingle, ConfChangeType, ConfChangeV2, Message};
use skiff_proto::manifest::{Source, decode_one};
use skiff_proto::{Kind, Object};
use tempfile::TempDir;

use super::{Applied, Command, Member, Op, ProposalId, Tuning};

fn config_map(name: &str) -> Object {
    let text = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: default\ndata:\n  k: v\n"
    );
    decode_one(&text, &Source::named("test")).unwrap()
}

fn create(name: &str) -> Command {
    Command {
        ops: vec![Op::Create(config_map(name))],
    }
}

struct Net {
    dir: TempDir,
    members: BTreeMap<u64, Member>,
    queue: VecDeque<Message>,
    /// Members cut off from everyone.
    isolated: HashSet<u64>,
    applied: Vec<Applied>,
    seq: u64,
}

impl Net {
    fn new(n: u64) -> Self {
        let dir = TempDir::new().unwrap();
        let founders: Vec<u64> = (1..=n).collect();
        let mut net = Net {
            dir,
            members: BTreeMap::new(),
            queue: VecDeque::new(),
            isolated: HashSet::new(),
            applied: Vec::new(),
            seq: 0,
        };
        for id in 1..=n {
            net.start(id, &founders);
        }
        net
    }

    fn start(&mut self, id: u64, founders: &[u64]) {
        let path = self.dir.path().join(format!("member-{id}.redb"));
        self.members.insert(
            id,
            Member::open(id, &path, &book(founders), &Tuning::default()).unwrap(),
        );
    }

    fn connected(&self, from: u64, to: u64) -> bool {
        !self.isolated.contains(&from) && !self.isolated.contains(&to)
    }

    /// Runs `ready` everywhere and delivers messages until the network is quiet.
    fn settle(&mut self) {
        for _ in 0..1000 {
            for m in self.members.values_mut() {
                let out = m.ready().unwrap();
                self.queue.extend(out.messages);
                self.applied.extend(out.applied);
            }
            if self.queue.is_empty() {
                return;
            }
            while let Some(msg) = self.queue.pop_front() {
                if self.connected(msg.from, msg.to)
                    && let Some(m) = self.members.get_mut(&msg.to)
                {
                    // A member removed from the configuration refuses; raft retries.
                    let _ = m.step(msg);
                }
            }
        }
        panic!("the network never settled");
    }

    fn tick(&mut self, n: usize) {
        for _ in 0..n {
            for m in self.members.values_mut() {
                m.tick();
            }
            self.settle();
        }
    }

    /// The one leader among connected members, ticking until there is one.
    fn leader(&mut self) -> u64 {
        for _ in 0..200 {
            let leaders: Vec<u64> = self
                .members
                .values()
                .filter(|m| m.role() == StateRole::Leader && !self.isolated.contains(&m.id()))
                .map(|m| m.id())
                .collect();
            assert!(
                leaders.len() <= 1,
                "two leaders at once: {leaders:?} (§5.2 Election Safety)"
            );
            if let [l] = leaders[..] {
                return l;
            }
            self.tick(1);
        }
        panic!("no leader elected");
    }

    fn propose(&mut self, on: u64, cmd: &Command) -> ProposalId {
        self.seq += 1;
        let id = ProposalId {
            member: on,
            seq: self.seq,
        };
        self.members.get_mut(&on).unwrap().propose(id, cmd).unwrap();
        self.settle();
        id
    }

    fn outcome(&self, id: ProposalId) -> Option<&Applied> {
        self.applied.iter().find(|a| a.id == id)
    }

    fn names(&self, id: u64) -> Vec<String> {
        let (objs, _) = self.members[&id]
            .state()
            .list(Kind::ConfigMap, None, None)
            .unwrap();
        objs.into_iter()
            .map(|s| s.object.metadata().name.clone())
            .collect()
    }
}

#[test]
fn entries_committed_during_a_sync_are_applied_and_answered_at_once() {
    let mut net = Net::new(3);
    let leader = net.leader();
    net.propose(leader, &create("a"));
    // A sync that cannot finish until the test lets it: it waits for the lock syncs take.
    let state = net.members[&leader].state().clone();
    let held = state.flushes.lock().unwrap();
    net.members.get_mut(&leader).unwrap().sync_state().unwrap();
    let b = net.propose(leader, &create("b"));
    let c = net.propose(leader, &create("c"));
    net.tick(2);
    assert_eq!(net.names(leader), ["a", "b", "c"], "applied while syncing");
    let (b, c) = (net.outcome(b).unwrap(), net.outcome(c).unwrap());
    assert!(b.result.is_ok() && c.result.is_ok() && b.index < c.index);
    assert!(
        !net.members.get_mut(&leader).unwrap().compact(0, 0).unwrap(),
        "no compaction while a sync runs"
    );
    drop(held);
    while net.members.get_mut(&leader).unwrap().syncing() {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert!(net.members.get_mut(&leader).unwrap().compact(0, 0).unwrap());
    assert_eq!(net.names(leader), ["a", "b", "c"]);
}

#[test]
fn one_leader_is_elected_and_known_to_all() {
    // §5.2: a candidate that wins a majority becomes leader; the others learn it.
    let mut net = Net::new(3);
    let leader = net.leader();
    net.tick(3);
    for m in net.members.values() {
        assert_eq!(m.leader(), Some(leader), "member {}", m.id());
    }
}

#[test]
fn a_committed_entry_is_applied_on_every_member() {
    // §5.3: the leader replicates; once a majority stores an entry it commits and applies.
    let mut net = Net::new(3);
    let leader = net.leader();
    let id = net.propose(leader, &create("a"));
    let applied = net
        .outcome(id)
        .expect("the leader hears the outcome")
        .clone();
    assert_eq!(applied.result, Ok(applied.index));
    net.tick(2);
    for m in 1..=3 {
        assert_eq!(net.names(m), ["a"], "member {m}");
    }
}

#[test]
fn a_follower_forwards_proposals_and_hears_the_outcome() {
    let mut net = Net::new(3);
    let leader = net.leader();
    let follower = (1..=3).find(|&m| m != leader).unwrap();
    let id = net.propose(follower, &create("via-follower"));
    net.tick(2);
    assert!(matches!(
        net.outcome(id),
        Some(Applied { result: Ok(_), .. })
    ));
    assert_eq!(net.names(leader), ["via-follower"]);
}

#[test]
fn a_partitioned_leader_cannot_commit_and_steps_down_then_converges() {
    // §5.4.1/§6 (check quorum): a leader cut from the majority commits nothing, loses
    // leadership, and its uncommitted entries are replaced when the partition heals.
    let mut net = Net::new(3);
    let old = net.leader();
    net.isolated.insert(old);
    let lost = net.propose(old, &create("lost"));
    let commit_before = net.members[&old].commit_index();
    let new = net.leader();
    assert_ne!(new, old);
    let kept = net.propose(new, &create("kept"));
    net.tick(30);
    assert_eq!(
        net.members[&old].commit_index(),
        commit_before,
        "the isolated leader committed"
    );
    assert_ne!(
        net.members[&old].role(),
        StateRole::Leader,
        "the isolated leader did not step down"
    );
    assert!(net.outcome(lost).is_none());
    net.isolated.clear();
    net.tick(30);
    assert!(net.outcome(kept).is_some());
    for m in 1..=3 {
        assert_eq!(net.names(m), ["kept"], "member {m} diverged");
    }
}

#[test]
fn a_member_behind_a_compacted_log_catches_up_by_snapshot() {
    let mut net = Net::new(3);
    let leader = net.leader();
    let lagging = (1..=3).find(|&m| m != leader).unwrap();
    net.isolated.insert(lagging);
    for i in 0..20 {
        net.propose(leader, &create(&format!("obj-{i:02}")));
    }
    net.members
        .get_mut(&leader)
        .unwrap()
        .compact(0, u64::MAX)
        .unwrap();
    net.isolated.clear();
    net.tick(30);
    assert_eq!(net.names(lagging).len(), 20);
    assert!(
        net.members[&lagging].first_index() > 3,
        "caught up by snapshot, not by the log"
    );
    assert_eq!(
        net.members[&lagging].state().applied().0,
        net.members[&leader].state().applied().0
    );
}

#[test]
fn a_new_member_joins_as_learner_then_becomes_a_voter() {
    let mut net = Net::new(3);
    let leader = net.leader();
    net.propose(leader, &create("before-join"));
    net.start(4, &[]);
    let change = |t: ConfChangeType| ConfChangeV2 {
        changes: vec![ConfChangeSingle {
            change_type: t,
            node_id: 4,
            ..Default::default()
        }]
        .into(),
        ..Default::default()
    };
    net.seq += 1;
    let learner = ProposalId {
        member: leader,
        seq: net.seq,
    };
    net.members
        .get_mut(&leader)
        .unwrap()
        .propose_conf_change(
            learner,
            ConfChangeV2 {
                context: crate::cluster::encode(&book(&[4])).into(),
                ..change(ConfChangeType::AddLearnerNode)
            },
        )
        .unwrap();
    net.tick(20);
    assert!(net.outcome(learner).is_some());
    assert_eq!(net.names(4), ["before-join"], "the learner caught up");
    for m in net.members.values() {
        assert_eq!(
            m.state().members().unwrap(),
            book(&[1, 2, 3, 4]),
            "member {} knows every address, the learner's from the conf change",
            m.id()
        );
        assert_eq!(m.state().conf_state().learners, [4]);
    }
    net.seq += 1;
    let voter = ProposalId {
        member: leader,
        seq: net.seq,
    };
    net.members
        .get_mut(&leader)
        .unwrap()
        .propose_conf_change(
            voter,
            ConfChangeV2 {
                // Joint consensus, left automatically by the leader (§4.3).
                transition: raft::prelude::ConfChangeTransition::Implicit,
                ..change(ConfChangeType::AddNode)
            },
        )
        .unwrap();
    net.tick(20);
    assert!(net.outcome(voter).is_some());
    for m in net.members.values() {
        let cs = m.state().conf_state();
        assert_eq!(
            (cs.voters.len(), cs.voters_outgoing.len()),
            (4, 0),
            "{cs:?}"
        );
    }
    let leader = net.leader();
    net.propose(leader, &create("after-join"));
    net.tick(5);
    assert_eq!(net.names(4), ["after-join", "before-join"]);
}

#[test]
fn a_restarted_member_keeps_its_state_and_rejoins() {
    let mut net = Net::new(3);
    let leader = net.leader();
    net.propose(leader, &create("a"));
    net.tick(3);
    let restarted = (1..=3).find(|&m| m != leader).unwrap();
    net.members.remove(&restarted);
    net.propose(leader, &create("b"));
    net.start(restarted, &[1, 2, 3]);
    assert_eq!(
        net.names(restarted),
        ["a"],
        "state from disk before catching up"
    );
    net.tick(10);
    assert_eq!(net.names(restarted), ["a", "b"]);
}

#[test]
fn a_member_whose_saved_commit_lags_its_applied_index_restarts() {
    // The crash window between applying entries and saving the commit index (found by
    // SIGKILL of a leader mid-load): raft must still start from such a disk.
    let mut net = Net::new(3);
    let leader = net.leader();
    net.propose(leader, &create("a"));
    net.tick(3);
    let id = (1..=3).find(|&m| m != leader).unwrap();
    net.members[&id].state().sync().unwrap();
    net.members.remove(&id);
    let path = net.dir.path().join(format!("member-{id}.redb"));
    {
        let db = super::open_database(&path).unwrap();
        let state = super::StateMachine::open(db, &path).unwrap();
        assert!(state.applied().0 > 1);
        let wal = path.with_extension("wal");
        let log = super::DiskLog::open(&wal, std::sync::Arc::new(state)).unwrap();
        let mut hs = raft::Storage::initial_state(&log).unwrap().hard_state;
        hs.commit = 1;
        log.write(super::LogWrite {
            hard_state: Some(&hs),
            ..Default::default()
        })
        .unwrap();
    }
    net.start(id, &[1, 2, 3]);
    net.tick(5);
    assert_eq!(net.names(id), ["a"]);
}

/// An address book for `ids` (the addresses are never dialled here).
fn book(ids: &[u64]) -> crate::cluster::AddressBook {
    ids.iter()
        .map(|&id| (id, format!("127.0.0.1:{}", 7000 + id)))
        .collect()
}
