//! Where a member's durable files live: the seam under the raft log and the state
//! machine's database. [`Local`] is the machine's filesystem; the chaos tests put a layer
//! here that forgets, on a simulated power loss, everything written since the last sync
//! (as LazyFS does under etcd's robustness tests), which a process kill cannot show.

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::Path;

/// A member's durable files.
pub trait Disk: Send + Sync + 'static {
    /// `path` opened for appending, created if missing.
    fn append(&self, path: &Path) -> io::Result<Box<dyn LogFile>>;

    /// The database at `path`, created if missing.
    fn database(&self, path: &Path) -> Result<redb::Database, redb::DatabaseError>;
}

/// A file written at its end and made durable by [`LogFile::sync`].
pub trait LogFile: Send + Sync {
    fn append(&mut self, data: &[u8]) -> io::Result<()>;

    /// Returns once everything appended is on disk (`fdatasync`).
    fn sync(&mut self) -> io::Result<()>;

    /// Cuts the file to `len` bytes, durably.
    fn truncate(&mut self, len: u64) -> io::Result<()>;
}

/// The machine's filesystem.
#[derive(Debug, Default, Clone, Copy)]
pub struct Local;

impl Disk for Local {
    fn append(&self, path: &Path) -> io::Result<Box<dyn LogFile>> {
        let f = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Box::new(f))
    }

    fn database(&self, path: &Path) -> Result<redb::Database, redb::DatabaseError> {
        redb::Database::create(path)
    }
}

impl LogFile for File {
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        self.write_all(data)
    }

    fn sync(&mut self) -> io::Result<()> {
        self.sync_data()
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.set_len(len)?;
        self.sync_all()
    }
}
