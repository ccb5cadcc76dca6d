//! A three-member store on tokio with real disks and an in-process transport: elections,
//! forwarded writes, linearizable reads, and losing the leader under concurrent writes.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use raft::StateRole;
use raft::prelude::Message;
use skiff_proto::Kind;
use skiff_proto::manifest::{Source, decode_one};
use tempfile::TempDir;
use tokio::task::JoinHandle;

use super::{Command, Member, Op, StoreHandle, Transport, Tuning, WriteError, key, spawn};
use crate::Error;

const TICK: Duration = Duration::from_millis(20);

/// Delivers messages between members in this process, in order, unless a member is down.
#[derive(Default)]
struct LocalNet {
    handles: Mutex<HashMap<u64, StoreHandle>>,
}

impl Transport for LocalNet {
    fn send(&self, msgs: Vec<Message>) {
        let handles = self.handles.lock().unwrap();
        for m in msgs {
            if let Some(h) = handles.get(&m.to) {
                h.try_step(m);
            }
        }
    }
}

pub(crate) struct Cluster {
    dir: TempDir,
    net: Arc<LocalNet>,
    tasks: HashMap<u64, JoinHandle<Result<(), Error>>>,
}

impl Cluster {
    fn path(&self, id: u64) -> PathBuf {
        self.dir.path().join(format!("member-{id}.redb"))
    }

    pub(crate) fn start(n: u64) -> Self {
        let mut c = Cluster {
            dir: TempDir::new().unwrap(),
            net: Arc::default(),
            tasks: HashMap::new(),
        };
        for id in 1..=n {
            c.run(id, &(1..=n).collect::<Vec<_>>());
        }
        c
    }

    pub(crate) fn run(&mut self, id: u64, founders: &[u64]) {
        let member = Member::open(id, &self.path(id), &book(founders), &Tuning::default()).unwrap();
        let (handle, task) = spawn(member, self.net.clone(), TICK);
        self.net.handles.lock().unwrap().insert(id, handle);
        self.tasks.insert(id, task);
    }

    pub(crate) fn handle(&self, id: u64) -> Option<StoreHandle> {
        self.net.handles.lock().unwrap().get(&id).cloned()
    }

    pub(crate) fn ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self.net.handles.lock().unwrap().keys().copied().collect();
        ids.sort();
        ids
    }

    pub(crate) async fn leader(&self) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            for id in self.ids() {
                if let Some(h) = self.handle(id)
                    && let Ok(s) = h.status().await
                    && s.role == StateRole::Leader
                {
                    return id;
                }
            }
            tokio::time::sleep(TICK).await;
        }
        panic!("no leader within 10 s");
    }

    /// Stops a member as a crash would: its task and every handle to its database go.
    pub(crate) async fn kill(&mut self, id: u64) {
        self.net.handles.lock().unwrap().remove(&id);
        if let Some(task) = self.tasks.remove(&id) {
            task.abort();
            let _ = task.await;
        }
    }
}

pub(crate) fn create(name: &str) -> Command {
    let text = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: default\n"
    );
    Command {
        ops: vec![Op::Create(
            decode_one(&text, &Source::named("test")).unwrap(),
        )],
    }
}

pub(crate) fn names(h: &StoreHandle) -> BTreeSet<String> {
    let (objs, _) = h.state().list(Kind::ConfigMap, None, None).unwrap();
    objs.into_iter()
        .map(|s| s.object.metadata().name.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_through_any_member_and_linearizable_reads() {
    let c = Cluster::start(3);
    let leader = c.leader().await;
    for id in c.ids() {
        let h = c.handle(id).unwrap();
        let rev = h.propose(create(&format!("from-{id}"))).await.unwrap();
        assert!(rev > 1);
        let again = h.propose(create(&format!("from-{id}"))).await;
        assert!(matches!(again, Err(WriteError::Rejected(_))), "{again:?}");
    }
    // A linearizable read on any member sees every acknowledged write.
    for id in c.ids() {
        let h = c.handle(id).unwrap();
        h.linearizable().await.unwrap();
        assert_eq!(names(&h).len(), 3, "member {id} (leader {leader})");
        let k = key::make(Kind::ConfigMap, "default", "from-1");
        assert!(h.state().get(&k).unwrap().is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_the_leader_under_load_loses_no_acknowledged_write() {
    let c = Cluster::start(3);
    let old = c.leader().await;
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let c = Arc::new(tokio::sync::RwLock::new(c));
    let mut writers = Vec::new();
    for w in 0..4u64 {
        let (c, acked) = (c.clone(), acked.clone());
        writers.push(tokio::spawn(async move {
            for i in 0..60u64 {
                let name = format!("w{w}-{i:03}");
                // Spread writes over whichever members are up.
                let h = {
                    let c = c.read().await;
                    let ids = c.ids();
                    ids.get(i as usize % ids.len()).and_then(|id| c.handle(*id))
                };
                let Some(h) = h else { continue };
                if h.propose(create(&name)).await.is_ok() {
                    acked.lock().unwrap().insert(name);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    let killed_at = Instant::now();
    c.write().await.kill(old).await;
    let new = c.read().await.leader().await;
    let failover = killed_at.elapsed();
    assert_ne!(new, old);
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 100,
        "too few writes succeeded: {}",
        acked.len()
    );
    let cluster = c.read().await;
    for id in cluster.ids() {
        let h = cluster.handle(id).unwrap();
        h.linearizable().await.unwrap();
        let present = names(&h);
        let missing: Vec<_> = acked.difference(&present).collect();
        assert!(
            missing.is_empty(),
            "member {id} lost acknowledged writes: {missing:?}"
        );
        // The event history holds each object's creation once, in commit order.
        let events = h.state().events_since(1).unwrap();
        let revs: Vec<u64> = events.iter().map(|e| e.revision).collect();
        assert!(revs.windows(2).all(|w| w[0] <= w[1]));
        let mut seen = HashSet::new();
        assert!(
            events.iter().all(|e| seen.insert(e.key.clone())),
            "an event was recorded twice"
        );
    }
    drop(cluster);
    eprintln!(
        "failover (kill → new leader seen): {failover:?}; {} acknowledged writes",
        acked.len()
    );

    // The killed member restarts from its disk and catches up.
    let mut cluster = c.write().await;
    cluster.run(old, &[1, 2, 3]);
    let h = cluster.handle(old).unwrap();
    let leader_rev = cluster.handle(new).unwrap().linearizable().await.unwrap();
    h.wait_applied(leader_rev).await.unwrap();
    assert!(acked.is_subset(&names(&h)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_without_a_quorum_fails_in_time_instead_of_hanging() {
    let mut c = Cluster::start(3);
    let leader = c.leader().await;
    let others: Vec<u64> = c.ids().into_iter().filter(|&id| id != leader).collect();
    let survivor = c.handle(others[0]).unwrap();
    survivor.propose(create("before")).await.unwrap();
    c.kill(leader).await;
    c.kill(others[1]).await;
    // The survivor still believes in the old leader for a while and forwards to it; the
    // proposal is lost, and the caller hears that its outcome is unknown.
    let r = tokio::time::timeout(Duration::from_secs(30), survivor.propose(create("lost")))
        .await
        .expect("an answer, not a hang");
    assert!(
        matches!(r, Err(WriteError::Unknown | WriteError::NoLeader)),
        "{r:?}"
    );
    assert!(names(&survivor).contains("before") && !names(&survivor).contains("lost"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_counters_follow_the_store() {
    let c = Cluster::start(3);
    let leader = c.leader().await;
    let h = c.handle(leader).unwrap();
    for i in 0..5 {
        h.propose(create(&format!("m{i}"))).await.unwrap();
    }
    let mut registry = prometheus_client::registry::Registry::default();
    h.metrics().register(&mut registry);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    let value = |name: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
    };
    assert_eq!(value("skiff_store_proposal_seconds_count"), 5.0);
    assert!(value("skiff_store_fsync_seconds_count") >= 5.0);
    assert!(value("skiff_store_raft_term") >= 1.0);
    assert!(value("skiff_store_applied_index") >= 6.0);
    assert!(value("skiff_store_leader_changes_total") >= 1.0);
}

/// An address book for `ids` (the addresses are never dialled here).
fn book(ids: &[u64]) -> crate::cluster::AddressBook {
    ids.iter()
        .map(|&id| (id, format!("127.0.0.1:{}", 7000 + id)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_to_followers_ride_through_a_leader_failover() {
    let mut c = Cluster::start(3);
    let old = c.leader().await;
    let followers: Vec<StoreHandle> = c
        .ids()
        .into_iter()
        .filter(|&id| id != old)
        .filter_map(|id| c.handle(id))
        .collect();
    let mut writers = Vec::new();
    for w in 0..4usize {
        let h = followers[w % followers.len()].clone();
        writers.push(tokio::spawn(async move {
            let mut names = Vec::new();
            for i in 0..80u64 {
                let name = format!("w{w}-{i:03}");
                // A client with a 5 s deadline, as etcd's clients are given in its tests.
                let r = tokio::time::timeout(Duration::from_secs(5), h.propose(create(&name)))
                    .await
                    .unwrap_or_else(|_| panic!("{name}: no answer within 5 s"));
                assert!(r.is_ok(), "{name}: {r:?}");
                names.push(name);
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
            names
        }));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    c.kill(old).await;
    let mut acked = BTreeSet::new();
    for w in writers {
        acked.extend(w.await.unwrap());
    }
    assert_ne!(c.leader().await, old);
    for h in &followers {
        h.linearizable().await.unwrap();
        assert_eq!(names(h), acked, "member {}: every write, once", h.id());
    }
}
