//! The members under test: real raft, real disks, the faulty network; killed and
//! restarted from their data as a crash would leave it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use raft::StateRole;
use tempfile::TempDir;
use tokio::task::JoinHandle;

use super::net::FaultyNet;
use crate::Error;
use crate::cluster::AddressBook;
use crate::store::{Member, StoreHandle, Tuning, spawn};

pub const TICK: Duration = Duration::from_millis(20);

pub struct Cluster {
    dir: TempDir,
    pub ids: Vec<u64>,
    pub net: Arc<FaultyNet>,
    /// The members up now (clients and watchers pick from these).
    pub up: Arc<Mutex<HashMap<u64, StoreHandle>>>,
    tasks: HashMap<u64, JoinHandle<Result<(), Error>>>,
}

impl Cluster {
    pub fn start(n: u64, seed: u64) -> Cluster {
        let mut c = Cluster {
            dir: TempDir::new().expect("a temporary directory"),
            ids: (1..=n).collect(),
            net: Arc::new(FaultyNet::new(seed)),
            up: Arc::default(),
            tasks: HashMap::new(),
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
        let member = Member::open(id, &self.path(id), &self.founders(), &Tuning::default())?;
        let (handle, task) = spawn(member, self.net.clone(), TICK);
        self.net.attach(handle.clone());
        self.up.lock().unwrap().insert(id, handle);
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

    /// Stops member `id` as a crash would: its task and every handle to its data go.
    pub async fn kill(&mut self, id: u64) {
        self.net.detach(id);
        self.up.lock().unwrap().remove(&id);
        if let Some(task) = self.tasks.remove(&id) {
            task.abort();
            let _ = task.await;
        }
    }

    pub fn is_up(&self, id: u64) -> bool {
        self.tasks.contains_key(&id)
    }

    pub fn handle(&self, id: u64) -> Option<StoreHandle> {
        self.up.lock().unwrap().get(&id).cloned()
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
