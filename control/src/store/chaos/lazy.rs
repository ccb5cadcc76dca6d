//! A disk that loses power: every write reaches the file at once (so a process kill loses
//! nothing, as with the page cache), and [`LazyDisk::power_loss`] takes back everything
//! written since each file's last sync, as LazyFS does: appended bytes are cut off, and
//! the database's overwritten pages get their old bytes back. Renames and directory
//! entries pass straight through (LazyFS keeps them too, by default).
//!
//! The power goes first ([`LazyDisk::power_off`]): from then on the files it handed out
//! take no writes and no syncs, so nothing the dying member does on its way out (redb
//! makes its last commits durable when it is dropped) reaches the disk.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::FileExt as _;
use std::path::Path;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use redb::StorageBackend;

use crate::store::disk::{Disk, LogFile};

/// What a file must return to on a power loss.
trait Forget: Send + Sync {
    /// Takes no more writes or syncs.
    fn power_off(&self);
    fn forget(&self) -> io::Result<()>;
}

/// A file's identity: (device, inode).
type Inode = (u64, u64);

/// The files a member opened, by inode (a file keeps its identity when it is renamed, as
/// the log's new generations are). A file opened again (by a member restarted after a
/// kill, or after a rename) replaces the older handle: the new one's first sync covers
/// what the old one left in the page cache.
#[derive(Default, Clone)]
pub struct LazyDisk {
    held: Arc<Mutex<HashMap<Inode, Arc<dyn Forget>>>>,
    /// Databases open now: one file is opened by one database at a time (redb locks its
    /// file for that, but not a file behind a backend of ours).
    open: Arc<Mutex<HashSet<PathBuf>>>,
    /// Added to every sync, in microseconds: a slow disk.
    slow: Arc<AtomicU64>,
}

impl LazyDisk {
    /// Makes every sync take `by` longer (zero: as fast as the disk is).
    pub fn slow_down(&self, by: std::time::Duration) {
        self.slow.store(
            by.as_micros().try_into().unwrap_or(u64::MAX),
            Ordering::SeqCst,
        );
    }
    /// Cuts the power: the member's files take nothing more. Stop the member next, then
    /// [`LazyDisk::power_loss`].
    pub fn power_off(&self) {
        for f in self.held.lock().unwrap().values() {
            f.power_off();
        }
    }

    /// Drops every unsynced write of every file opened since the last power loss.
    pub fn power_loss(&self) -> io::Result<usize> {
        let files: Vec<Arc<dyn Forget>> =
            self.held.lock().unwrap().drain().map(|(_, f)| f).collect();
        for f in &files {
            f.forget()?;
        }
        Ok(files.len())
    }

    fn hold(&self, file: &File, f: Arc<dyn Forget>) -> io::Result<()> {
        use std::os::unix::fs::MetadataExt as _;
        let m = file.metadata()?;
        self.held.lock().unwrap().insert((m.dev(), m.ino()), f);
        Ok(())
    }
}

/// An append-only file and how much of it is durable.
struct Appended {
    file: File,
    durable: Mutex<u64>,
    off: AtomicBool,
    slow: Arc<AtomicU64>,
}

/// Waits as a slow disk would before a sync.
fn lag(slow: &AtomicU64) {
    let us = slow.load(Ordering::SeqCst);
    if us > 0 {
        std::thread::sleep(std::time::Duration::from_micros(us));
    }
}

impl Forget for Appended {
    fn power_off(&self) {
        self.off.store(true, Ordering::SeqCst);
    }

    fn forget(&self) -> io::Result<()> {
        self.file.set_len(*self.durable.lock().unwrap())
    }
}

struct LazyLog(Arc<Appended>);

impl LogFile for LazyLog {
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        if self.0.off.load(Ordering::SeqCst) {
            return Ok(());
        }
        (&self.0.file).write_all(data)
    }

    fn sync(&mut self) -> io::Result<()> {
        if self.0.off.load(Ordering::SeqCst) {
            return Ok(());
        }
        lag(&self.0.slow);
        self.0.file.sync_data()?;
        *self.0.durable.lock().unwrap() = self.0.file.metadata()?.len();
        Ok(())
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        if self.0.off.load(Ordering::SeqCst) {
            return Ok(());
        }
        self.0.file.set_len(len)?;
        self.0.file.sync_all()?;
        *self.0.durable.lock().unwrap() = len;
        Ok(())
    }
}

/// A database file with the old bytes of every range written since the last sync.
#[derive(Debug)]
struct Paged {
    file: File,
    undo: Mutex<Undo>,
    off: AtomicBool,
    slow: Arc<AtomicU64>,
}

#[derive(Debug, Default)]
struct Undo {
    durable_len: u64,
    /// (offset, the bytes there before a write), oldest first.
    old: Vec<(u64, Vec<u8>)>,
}

impl Forget for Paged {
    fn power_off(&self) {
        self.off.store(true, Ordering::SeqCst);
    }

    fn forget(&self) -> io::Result<()> {
        let mut u = self.undo.lock().unwrap();
        for (offset, bytes) in u.old.drain(..).rev() {
            self.file.write_all_at(&bytes, offset)?;
        }
        self.file.set_len(u.durable_len)
    }
}

/// The database's backend: [`Paged`] shared with the disk that tracks it, and the set of
/// open databases it leaves when redb closes it.
#[derive(Debug)]
struct Backend(Arc<Paged>, #[allow(dead_code)] Opened);

struct Opened {
    path: PathBuf,
    open: Arc<Mutex<HashSet<PathBuf>>>,
}

impl Drop for Opened {
    fn drop(&mut self) {
        self.open.lock().unwrap().remove(&self.path);
    }
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.path.display())
    }
}

fn err(e: io::Error) -> io::Error {
    e
}

impl StorageBackend for Backend {
    fn len(&self) -> Result<u64, io::Error> {
        Ok(self.0.file.metadata().map_err(err)?.len())
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        self.0.file.read_exact_at(out, offset).map_err(err)
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        let mut u = self.0.undo.lock().unwrap();
        // Checked under the lock `forget` takes: a write either lands before the rollback
        // (and is rolled back) or not at all.
        if self.0.off.load(Ordering::SeqCst) {
            return Ok(());
        }
        let now = self.0.file.metadata().map_err(err)?.len();
        // Durable bytes cut off come back on a power loss.
        let keep_to = now.min(u.durable_len);
        if len < keep_to {
            let mut old = vec![0; (keep_to - len) as usize];
            self.0.file.read_exact_at(&mut old, len).map_err(err)?;
            u.old.push((len, old));
        }
        self.0.file.set_len(len).map_err(err)
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        let mut u = self.0.undo.lock().unwrap();
        // Checked under the lock `forget` takes: a write either lands before the rollback
        // (and is rolled back) or not at all.
        if self.0.off.load(Ordering::SeqCst) {
            return Ok(());
        }
        lag(&self.0.slow);
        self.0.file.sync_data().map_err(err)?;
        u.durable_len = self.0.file.metadata().map_err(err)?.len();
        u.old.clear();
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        let mut u = self.0.undo.lock().unwrap();
        // Checked under the lock `forget` takes: a write either lands before the rollback
        // (and is rolled back) or not at all.
        if self.0.off.load(Ordering::SeqCst) {
            return Ok(());
        }
        // Only bytes that were durable need keeping: the rest is cut off anyway (and
        // durable bytes beyond the file's end now were kept when it was shortened).
        let now = self.0.file.metadata()?.len();
        let end = (offset + data.len() as u64).min(u.durable_len).min(now);
        if offset < end {
            let mut old = vec![0; (end - offset) as usize];
            self.0.file.read_exact_at(&mut old, offset).map_err(err)?;
            u.old.push((offset, old));
        }
        self.0.file.write_all_at(data, offset).map_err(err)
    }
}

impl Disk for LazyDisk {
    fn append(&self, path: &Path) -> io::Result<Box<dyn LogFile>> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let durable = Mutex::new(file.metadata()?.len());
        let a = Arc::new(Appended {
            file,
            durable,
            off: AtomicBool::new(false),
            slow: self.slow.clone(),
        });
        self.hold(&a.file, a.clone())?;
        Ok(Box::new(LazyLog(a)))
    }

    fn database(&self, path: &Path) -> Result<redb::Database, redb::DatabaseError> {
        if !self.open.lock().unwrap().insert(path.to_path_buf()) {
            return Err(redb::DatabaseError::DatabaseAlreadyOpen);
        }
        let opened = Opened {
            path: path.to_path_buf(),
            open: self.open.clone(),
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| redb::DatabaseError::Storage(redb::StorageError::Io(e)))?;
        let durable_len = file
            .metadata()
            .map_err(|e| redb::DatabaseError::Storage(redb::StorageError::Io(e)))?
            .len();
        let paged = Arc::new(Paged {
            file,
            undo: Mutex::new(Undo {
                durable_len,
                old: Vec::new(),
            }),
            off: AtomicBool::new(false),
            slow: self.slow.clone(),
        });
        self.hold(&paged.file, paged.clone())
            .map_err(|e| redb::DatabaseError::Storage(redb::StorageError::Io(e)))?;
        redb::Builder::new().create_with_backend(Backend(paged, opened))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_power_loss_takes_back_what_was_not_synced() {
        let dir = tempfile::TempDir::new().unwrap();
        let disk = LazyDisk::default();
        let p = dir.path().join("log");
        let mut f = disk.append(&p).unwrap();
        f.append(b"kept").unwrap();
        f.sync().unwrap();
        f.append(b" lost").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"kept lost", "written at once");
        disk.power_off();
        drop(f);
        disk.power_loss().unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"kept");

        // A database: a durable commit stays, one without durability goes.
        let db_path = dir.path().join("db.redb");
        const T: redb::TableDefinition<u64, u64> = redb::TableDefinition::new("t");
        {
            let db = disk.database(&db_path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(T).unwrap().insert(1, 1).unwrap();
            txn.commit().unwrap();
            let mut txn = db.begin_write().unwrap();
            txn.set_durability(redb::Durability::None).unwrap();
            txn.open_table(T).unwrap().insert(2, 2).unwrap();
            txn.commit().unwrap();
            // Dropping the database would make the commit durable: the power goes first.
            disk.power_off();
        }
        disk.power_loss().unwrap();
        let db = redb::Database::create(&db_path).unwrap();
        use redb::ReadableDatabase as _;
        let txn = db.begin_read().unwrap();
        let t = txn.open_table(T).unwrap();
        assert_eq!(t.get(1).unwrap().map(|v| v.value()), Some(1));
        assert_eq!(
            t.get(2).unwrap().map(|v| v.value()),
            None,
            "not synced: lost"
        );
    }
}

#[cfg(test)]
mod stress {
    use super::*;
    use redb::ReadableDatabase as _;

    const T: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("t");

    /// Many power losses of a database under durable and non-durable commits: it reopens
    /// every time with every durable commit.
    #[test]
    fn redb_survives_power_losses_with_every_durable_commit() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("db.redb");
        let disk = LazyDisk::default();
        let mut rng = fastrand::Rng::with_seed(7);
        let mut durable = 0u64;
        let mut next = 1u64;
        for round in 0..60 {
            let db = disk
                .database(&path)
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
            {
                let txn = db.begin_read().unwrap();
                if let Ok(t) = txn.open_table(T) {
                    for k in 1..=durable {
                        assert!(t.get(k).unwrap().is_some(), "round {round}: {k} lost");
                    }
                }
            }
            for _ in 0..rng.usize(1..20) {
                let mut txn = db.begin_write().unwrap();
                let sync = rng.bool();
                if !sync {
                    txn.set_durability(redb::Durability::None).unwrap();
                }
                {
                    let mut t = txn.open_table(T).unwrap();
                    for _ in 0..rng.usize(1..50) {
                        t.insert(next, vec![7u8; rng.usize(10..3000)].as_slice())
                            .unwrap();
                        next += 1;
                    }
                }
                txn.commit().unwrap();
                if sync {
                    durable = next - 1;
                }
            }
            disk.power_off();
            drop(db);
            disk.power_loss().unwrap();
            next = durable + 1;
        }
    }
}
