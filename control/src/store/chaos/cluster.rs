//! The members under test: real raft, real disks under a layer that can lose power (see
//! `lazy`), the faulty network; killed and restarted from their data as a crash or a
//! power loss would leave it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use raft::StateRole;
use tempfile::TempDir;
use tokio::task::JoinHandle;

use super::lazy::LazyDisk;
use super::net::FaultyNet;
use crate::Error;
use crate::cluster::AddressBook;
use crate::store::{Member, StoreHandle, Tuning, spawn};

pub const TICK: Duration = Duration::from_millis(20);

/// A member that is up, and whether it still has power: what it answers after its power
/// went (while it is being stopped) never reaches anyone, as with a real power loss.
#[derive(Clone)]
pub struct Up {
    pub handle: StoreHandle,
    pub powered: Arc<AtomicBool>,
}

pub struct Cluster {
    dir: TempDir,
    pub ids: Vec<u64>,
    pub net: Arc<FaultyNet>,
    /// The members up now (clients and watchers pick from these).
    pub up: Arc<Mutex<HashMap<u64, Up>>>,
    tasks: HashMap<u64, JoinHandle<Result<(), Error>>>,
    disks: HashMap<u64, LazyDisk>,
    /// Members that stopped by themselves (a panic, a storage error), with why.
    pub crashed: Vec<String>,
}

impl Cluster {
    pub fn start(n: u64, seed: u64) -> Cluster {
        let mut c = Cluster {
            dir: TempDir::new().expect("a temporary directory"),
            ids: (1..=n).collect(),
            net: Arc::new(FaultyNet::new(seed)),
            up: Arc::default(),
            tasks: HashMap::new(),
            disks: (1..=n).map(|id| (id, LazyDisk::default())).collect(),
            crashed: Vec::new(),
        };
        for id in 1..=n {
            c.run(id).expect("a member starts");
        }
        c
    }

    fn path(&self, id: u64) -> PathBuf {
        self.dir.path().join(format!("member-{id}.redb"))
    }

    fn founders(&self) -> AddressBook {
        self.ids
            .iter()
            .map(|&id| (id, format!("127.0.0.1:{}", 7000 + id)))
            .collect()
    }

    /// Starts member `id` from its disk (founding the cluster the first time).
    pub fn run(&mut self, id: u64) -> Result<(), Error> {
        let disk = Arc::new(self.disks.get(&id).cloned().unwrap_or_default());
        let member = Member::open_on(
            disk,
            id,
            &self.path(id),
            &self.founders(),
            &Tuning::default(),
        )?;
        let (handle, task) = spawn(member, self.net.clone(), TICK);
        self.net.attach(handle.clone());
        self.up.lock().unwrap().insert(
            id,
            Up {
                handle,
                powered: Arc::new(AtomicBool::new(true)),
            },
        );
        self.tasks.insert(id, task);
        Ok(())
    }

    /// Restarts member `id`, waiting for the killed one's files to be let go.
    pub async fn restart(&mut self, id: u64) {
        for attempt in 0.. {
            match self.run(id) {
                Ok(()) => return,
                Err(e) if attempt < 50 => {
                    tracing::debug!(id, error = %e, "member not restartable yet");
                    tokio::time::sleep(TICK).await;
                }
                Err(e) => panic!("member {id} does not restart: {e}"),
            }
        }
    }

    /// Stops member `id` as a crash would: its task and every handle to its data go, and
    /// nothing it does on its way out reaches the disk (redb makes its last commits durable
    /// when it is dropped; a killed process does not), while what it wrote stays, as in
    /// the page cache.
    pub async fn kill(&mut self, id: u64) {
        // Nothing it sends or answers from now on counts, and it writes nothing more.
        self.net.silence(id);
        if let Some(up) = self.up.lock().unwrap().get(&id) {
            up.powered.store(false, Ordering::SeqCst);
        }
        if let Some(d) = self.disks.get(&id) {
            d.power_off();
        }
        self.net.detach(id);
        self.up.lock().unwrap().remove(&id);
        if let Some(task) = self.tasks.remove(&id) {
            let ended = task.is_finished();
            task.abort();
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => self.crashed.push(format!("member {id} stopped: {e}")),
                Err(e) if e.is_panic() || ended => {
                    self.crashed.push(format!("member {id} panicked: {e}"))
                }
                Err(_) => {}
            }
        }
    }

    /// Stops member `id` as a power loss would: what it wrote since its last sync of
    /// each file is gone too.
    pub async fn power_loss(&mut self, id: u64) {
        self.kill(id).await;
        if let Some(d) = self.disks.get(&id) {
            d.power_loss().expect("the lazy disk rolls back");
        }
    }

    /// Makes member `id`'s disk slow (every sync takes `by` longer), or fast again.
    pub fn slow_disk(&self, id: u64, by: Duration) {
        if let Some(d) = self.disks.get(&id) {
            d.slow_down(by);
        }
    }

    /// Collects the members that stopped by themselves since the last call.
    pub async fn reap(&mut self) {
        let ended: Vec<u64> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.is_finished())
            .map(|(id, _)| *id)
            .collect();
        for id in ended {
            self.kill(id).await;
        }
    }

    pub fn is_up(&self, id: u64) -> bool {
        self.tasks.contains_key(&id)
    }

    pub fn handle(&self, id: u64) -> Option<StoreHandle> {
        self.up.lock().unwrap().get(&id).map(|u| u.handle.clone())
    }

    /// The member that says it leads, if one does.
    pub async fn leader(&self) -> Option<u64> {
        for id in &self.ids {
            if let Some(h) = self.handle(*id)
                && let Ok(s) = h.status().await
                && s.role == StateRole::Leader
            {
                return Some(*id);
            }
        }
        None
    }
}
