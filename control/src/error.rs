//! The one error type of the control plane.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The storage engine failed (I/O, a full disk, a lock held by another process).
    #[error("storage {path}: {source}")]
    Storage {
        path: PathBuf,
        #[source]
        source: Box<redb::Error>,
    },
    /// A file of the store could not be read or written.
    #[error("{what} {path}: {source}")]
    Io {
        path: PathBuf,
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// A record failed its checksum or did not decode: the file is damaged.
    #[error(
        "corrupt record in {path} ({what}): {reason}; restore this member from a snapshot or remove its data directory and re-join"
    )]
    Corrupt {
        path: PathBuf,
        what: String,
        reason: String,
    },
    /// A watch asked for history that compaction has removed.
    #[error(
        "revision {requested} is compacted (history starts after {compacted}): list again, then watch from the list's revision"
    )]
    Compacted { requested: u64, compacted: u64 },
    /// The data was written by a newer build, in a format this one cannot read.
    #[error(
        "{path} was written by a newer Skiff (store format {found}; this build reads formats up to {supported}): run that version or a newer one, or restore a snapshot into a new data directory"
    )]
    NewerFormat {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    /// The member cannot start as configured (flags, data directory, listen address).
    #[error("{0}")]
    Config(String),
    /// This member was removed from the cluster; its data directory is no longer used.
    #[error(
        "member {id} was removed from the cluster; delete its data directory, and join again with a new --id to bring it back"
    )]
    Removed { id: u64 },
    /// The caller broke an invariant of the raft log (a gap, or overwriting compacted entries).
    #[error("raft log: {0}")]
    Log(String),
    /// A peer's raft message contradicts this member's log; it was not stepped.
    #[error("refused a raft message: {0}")]
    Refused(String),
}

impl Error {
    pub(crate) fn storage(path: &std::path::Path, e: impl Into<redb::Error>) -> Self {
        Error::Storage {
            path: path.to_path_buf(),
            source: Box::new(e.into()),
        }
    }
}

impl From<Error> for raft::Error {
    fn from(e: Error) -> Self {
        raft::Error::Store(raft::StorageError::Other(Box::new(e)))
    }
}
