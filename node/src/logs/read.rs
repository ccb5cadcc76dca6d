//! Reading a container's log back as `kubectl logs` shows it: the current run or the
//! previous one, lines since a time, the last N lines, with or without timestamps, and
//! following new lines (across rotation and into the next run) until the reader leaves.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;

use super::{LogPolicy, rotated, run_path, runs};
use crate::Error;

/// What to read, as `kubectl logs` asks for it.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    /// The run before the current one.
    pub previous: bool,
    /// Only lines written at or after this time.
    pub since: Option<SystemTime>,
    /// Only the last N lines (of what `since` leaves).
    pub tail: Option<u64>,
    /// Start each line with its RFC 3339 time.
    pub timestamps: bool,
    /// Keep sending new lines until the receiver is dropped or the pod's folder goes.
    pub follow: bool,
}

/// How often a follower looks for new lines.
const POLL: Duration = Duration::from_millis(100);
/// Bytes gathered before a chunk is sent.
const CHUNK: usize = 32 * 1024;

/// Reads the log in `dir` (a container's log folder) as `q` says; the chunks arrive on the
/// receiver. Fails at once when there is no such run.
pub fn read(
    dir: PathBuf,
    q: LogQuery,
    policy: LogPolicy,
) -> Result<mpsc::Receiver<Vec<u8>>, Error> {
    let all = runs(&dir);
    let run = match (q.previous, all.as_slice()) {
        (false, [.., last]) => *last,
        (true, [.., prev, _]) => *prev,
        (false, []) => {
            return Err(Error::LogNotFound {
                what: "the container has not started yet, so it has no log".into(),
            });
        }
        (true, _) => {
            return Err(Error::LogNotFound {
                what: "previous terminated container not found: the container has not restarted on this node".into(),
            });
        }
    };
    let (tx, rx) = mpsc::channel(8);
    let path = dir.clone();
    std::thread::Builder::new()
        .name("skiff-logs".into())
        .spawn(move || Reader::new(q, tx).run(&dir, run, policy))
        .map_err(|source| Error::Io {
            path,
            what: "starting a log reader for".into(),
            source,
        })?;
    Ok(rx)
}

struct Reader {
    q: LogQuery,
    tx: mpsc::Sender<Vec<u8>>,
    out: Vec<u8>,
    /// The formatted logical line being built (from `P` pieces).
    line: Vec<u8>,
    /// The last lines, when `tail` is asked for and the first pass is not over.
    tail: Option<VecDeque<Vec<u8>>>,
    /// Bytes read past the last complete line (a follower reading mid-write).
    rest: Vec<u8>,
    /// Whether the next piece begins a line (and so gets the timestamp).
    at_start: bool,
}

impl Reader {
    fn new(q: LogQuery, tx: mpsc::Sender<Vec<u8>>) -> Reader {
        let tail = q.tail.map(|_| VecDeque::new());
        Reader {
            q,
            tx,
            out: Vec::new(),
            line: Vec::new(),
            tail,
            rest: Vec::new(),
            at_start: true,
        }
    }

    fn run(&mut self, dir: &Path, mut run: u32, policy: LogPolicy) {
        let mut path = run_path(dir, run);
        for i in (1..policy.max_files.max(1)).rev() {
            if let Ok(f) = File::open(rotated(&path, i)) {
                self.drain(f);
            }
        }
        let Ok(mut current) = File::open(&path) else {
            return self.finish_first_pass();
        };
        self.drain(&mut current);
        self.finish_first_pass();
        if !self.send() || !self.q.follow || self.q.previous {
            return;
        }
        loop {
            std::thread::sleep(POLL);
            self.drain(&mut current);
            if !self.send() || !dir.exists() {
                return;
            }
            let newer = runs(dir).into_iter().find(|r| *r > run);
            let moved = inode(&path).is_some_and(|i| Some(i) != file_inode(&current));
            if newer.is_none() && !moved {
                continue;
            }
            // The file was rotated or the container restarted: finish the old file, read
            // whole any files rotated after it, then go on with the new one from its start.
            self.drain(&mut current);
            if moved {
                let old = file_inode(&current);
                let after = (1..policy.max_files.max(1))
                    .find(|i| inode(&rotated(&path, *i)) == old)
                    .unwrap_or(1);
                for i in (1..after).rev() {
                    if let Ok(f) = File::open(rotated(&path, i)) {
                        self.drain(f);
                    }
                }
            }
            if let Some(n) = newer {
                run = n;
                path = run_path(dir, run);
            }
            match File::open(&path) {
                Ok(f) => current = f,
                Err(_) => return,
            }
        }
    }

    /// Reads `f` from where it is to its end, line by line.
    fn drain(&mut self, f: impl Read) {
        let mut r = BufReader::new(f);
        loop {
            let mut buf = std::mem::take(&mut self.rest);
            match r.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => {
                    self.rest = buf;
                    return;
                }
                Ok(_) if buf.ends_with(b"\n") => self.line(&buf[..buf.len() - 1]),
                Ok(_) => {
                    self.rest = buf;
                    return;
                }
            }
            if self.out.len() >= CHUNK && !self.send() {
                return;
            }
        }
    }

    /// One CRI line: `<time> <stream> <F|P> <text>`.
    fn line(&mut self, raw: &[u8]) {
        let mut parts = raw.splitn(4, |b| *b == b' ');
        let (Some(ts), Some(_stream), Some(tag), text) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return;
        };
        if let Some(since) = self.q.since {
            let at = std::str::from_utf8(ts)
                .ok()
                .and_then(|t| humantime::parse_rfc3339(t).ok());
            if at.is_some_and(|at| at < since) {
                return;
            }
        }
        if self.at_start && self.q.timestamps {
            self.line.extend_from_slice(ts);
            self.line.push(b' ');
        }
        self.line.extend_from_slice(text.unwrap_or_default());
        self.at_start = tag == b"F";
        if tag == b"F" {
            self.line.push(b'\n');
            let done = std::mem::take(&mut self.line);
            match (&mut self.tail, self.q.tail) {
                (Some(t), Some(n)) => {
                    t.push_back(done);
                    while t.len() as u64 > n {
                        t.pop_front();
                    }
                }
                _ => self.out.extend_from_slice(&done),
            }
        } else if self.tail.is_none() {
            // An unfinished line is shown as far as it goes.
            let piece = std::mem::take(&mut self.line);
            self.out.extend_from_slice(&piece);
        }
    }

    fn finish_first_pass(&mut self) {
        if let Some(t) = self.tail.take() {
            for l in t {
                self.out.extend_from_slice(&l);
            }
            let piece = std::mem::take(&mut self.line);
            self.out.extend_from_slice(&piece);
        }
    }

    /// Sends what is gathered; false once the receiver is gone.
    fn send(&mut self) -> bool {
        if self.out.is_empty() {
            return !self.tx.is_closed();
        }
        let chunk = std::mem::take(&mut self.out);
        self.tx.blocking_send(chunk).is_ok()
    }
}

fn inode(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.ino())
}

fn file_inode(f: &File) -> Option<u64> {
    f.metadata().ok().map(|m| m.ino())
}
