//! Writing a container's log: every write from the guest becomes timestamped lines in the
//! CRI format (`<RFC 3339 nanos> <stdout|stderr> <F|P> <text>`, `P` for a line the guest
//! has not ended yet), in the instance's file, which is rotated by size.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::SystemTime;

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

use super::{LogPolicy, rotated};
use crate::Error;

/// Which of the guest's streams a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// One container instance's log file, shared by its stdout and stderr (and, for an HTTP
/// handler, by every instance serving a request). The file is opened at the first write,
/// so the many pods that never print hold no file descriptor.
pub struct LogFile {
    path: PathBuf,
    policy: LogPolicy,
    inner: Mutex<Option<Open>>,
}

struct Open {
    file: File,
    size: u64,
}

fn open(path: &Path) -> Result<Open, Error> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        what: "opening the log".into(),
        source,
    };
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    Ok(Open { file, size })
}

impl LogFile {
    /// The log at `path`, created now (empty) and appended to from the first write.
    pub fn open(path: &Path, policy: LogPolicy) -> Result<Arc<LogFile>, Error> {
        drop(open(path)?);
        Ok(Arc::new(LogFile {
            path: path.to_path_buf(),
            policy,
            inner: Mutex::new(None),
        }))
    }

    /// Where the log is (a container's shim writes it from its own process).
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn policy(&self) -> LogPolicy {
        self.policy
    }

    /// The writer for one of the guest's streams.
    pub fn sink(self: &Arc<Self>, stream: Stream) -> LogSink {
        LogSink {
            file: self.clone(),
            stream,
        }
    }

    /// Appends `bytes` from `stream` as lines, rotating first when the file is full.
    pub fn write(&self, stream: Stream, bytes: &[u8]) -> std::io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        let stamp = humantime::format_rfc3339_nanos(SystemTime::now()).to_string();
        let mut out = Vec::with_capacity(bytes.len() + 48);
        for piece in bytes.split_inclusive(|b| *b == b'\n') {
            let (text, tag) = match piece.strip_suffix(b"\n") {
                Some(t) => (t, "F"),
                None => (piece, "P"),
            };
            out.extend_from_slice(stamp.as_bytes());
            out.push(b' ');
            out.extend_from_slice(stream.as_str().as_bytes());
            out.push(b' ');
            out.extend_from_slice(tag.as_bytes());
            out.push(b' ');
            out.extend_from_slice(text);
            out.push(b'\n');
        }
        let mut guard = self
            .inner
            .lock()
            .map_err(|_| std::io::Error::other("log writer poisoned"))?;
        let o = match &mut *guard {
            Some(o) => o,
            none => none.insert(open(&self.path).map_err(std::io::Error::other)?),
        };
        if o.size > 0 && o.size + out.len() as u64 > self.policy.max_bytes {
            self.rotate(o)?;
        }
        o.file.write_all(&out)?;
        o.size += out.len() as u64;
        Ok(())
    }

    /// `N.log` becomes `N.log.1`, `.1` becomes `.2`, ...; the oldest beyond the policy's
    /// count is removed.
    fn rotate(&self, o: &mut Open) -> std::io::Result<()> {
        let keep = self.policy.max_files.max(1) - 1;
        if keep == 0 {
            o.file.set_len(0)?;
            o.size = 0;
            return Ok(());
        }
        let _ = std::fs::remove_file(rotated(&self.path, keep));
        for i in (1..keep).rev() {
            let from = rotated(&self.path, i);
            if from.exists() {
                std::fs::rename(&from, rotated(&self.path, i + 1))?;
            }
        }
        std::fs::rename(&self.path, rotated(&self.path, 1))?;
        *o = open(&self.path).map_err(std::io::Error::other)?;
        Ok(())
    }
}

/// A guest's stdout or stderr, written to its container's [`LogFile`].
#[derive(Clone)]
pub struct LogSink {
    file: Arc<LogFile>,
    stream: Stream,
}

impl IsTerminal for LogSink {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogSink {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Pollable for LogSink {
    async fn ready(&mut self) {}
}

impl OutputStream for LogSink {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.file
            .write(self.stream, &bytes)
            .map_err(|e| StreamError::LastOperationFailed(wasmtime::format_err!(e)))
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

impl tokio::io::AsyncWrite for LogSink {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(self.file.write(self.stream, buf).map(|()| buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
