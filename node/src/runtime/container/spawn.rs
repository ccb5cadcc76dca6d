//! Starting shims. Loading the `skiff` binary takes a few milliseconds (it is large), so
//! once the node runs containers one shim is kept started ahead of need, waiting for its
//! run's folder on stdin (`skiff __shim -`); a start hands it the folder and the next one
//! is started in the background, after the start it served is done, so it does not
//! compete with it. A node that never runs a container starts no shim.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

use super::shim::Started;
use super::{REFILL_AFTER, create_error};
use crate::runtime::NotStarted;

/// How long a shim may take to say whether runc started the container.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Starts shims, with one kept ready.
pub struct Shims {
    /// The command that runs a shim (`skiff __shim`), to which the folder (or `-`) is
    /// added.
    command: Vec<OsString>,
    ready: Mutex<Option<Child>>,
    filling: AtomicBool,
}

impl Shims {
    pub fn new(command: Vec<OsString>) -> Arc<Shims> {
        Arc::new(Shims {
            command,
            ready: Mutex::new(None),
            filling: AtomicBool::new(false),
        })
    }

    fn spawn(&self, dir: Option<&Path>) -> Result<Child, NotStarted> {
        let (program, args) = self
            .command
            .split_first()
            .ok_or_else(|| create_error("no shim command is configured"))?;
        let mut c = Command::new(program);
        c.args(args)
            .arg(dir.map_or_else(|| "-".into(), |d| d.as_os_str().to_owned()))
            // mimalloc would commit a whole arena up front: 4 MiB of a shim's memory.
            .env("MIMALLOC_ARENA_EAGER_COMMIT", "0")
            // Nor ask for huge pages, which the agent's inherited flag refuses anyway.
            .env("MIMALLOC_ALLOW_THP", "0")
            .stdin(if dir.is_some() {
                Stdio::null()
            } else {
                Stdio::piped()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        c.spawn()
            .map_err(|e| create_error(format!("starting the shim {program:?}: {e}")))
    }

    /// The shim kept ready, given `dir`; `None` if there is none (or it has gone).
    async fn take_ready(&self, dir: &Path) -> Option<Child> {
        let mut child = self
            .ready
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()?;
        if !matches!(child.try_wait(), Ok(None)) {
            return None;
        }
        let mut stdin = child.stdin.take()?;
        // Written whole, then the pipe is closed: the shim reads to its end.
        if stdin.write_all(dir.as_os_str().as_bytes()).await.is_err() {
            let _ = child.start_kill();
            return None;
        }
        drop(stdin);
        Some(child)
    }

    /// Starts a shim on the run in `dir` and waits for its word on runc's start.
    pub async fn start(self: &Arc<Self>, dir: &Path) -> Result<Child, NotStarted> {
        let child = match self.take_ready(dir).await {
            Some(c) => c,
            None => self.spawn(Some(dir))?,
        };
        let started = started(child, dir).await;
        self.refill();
        started
    }

    /// Starts the next ready shim in the background, a little later.
    fn refill(self: &Arc<Self>) {
        if self.filling.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(REFILL_AFTER).await;
            let mut ready = this.ready.lock().unwrap_or_else(|p| p.into_inner());
            if ready.is_none() {
                match this.spawn(None) {
                    Ok(c) => *ready = Some(c),
                    Err(e) => tracing::warn!(error = %e.message, "starting a shim ahead of need"),
                }
            }
            drop(ready);
            this.filling.store(false, Ordering::Release);
        });
    }
}

/// Reads the shim's first line: the container started (its shim is returned), or why not.
async fn started(mut child: Child, dir: &Path) -> Result<Child, NotStarted> {
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| create_error("the shim has no stdout"))?;
    let mut line = String::new();
    let mut reader = tokio::io::BufReader::new(stdout);
    let read = tokio::time::timeout(START_TIMEOUT, reader.read_line(&mut line)).await;
    let said: Option<Started> = serde_json::from_str(line.trim()).ok();
    match (read, said) {
        (Ok(Ok(_)), Some(Started { pid: Some(_), .. })) => Ok(child),
        (Ok(Ok(_)), Some(Started { error: Some(e), .. })) => {
            let _ = child.wait().await;
            Err(NotStarted::new("RunContainerError", e))
        }
        (Err(_), _) => {
            let _ = child.start_kill();
            Err(NotStarted::new(
                "RunContainerError",
                format!("runc did not start the container within {START_TIMEOUT:?}"),
            ))
        }
        _ => {
            let _ = child.wait().await;
            let why = std::fs::read_to_string(dir.join("shim.error"))
                .unwrap_or_else(|_| format!("the shim said {line:?}"));
            Err(NotStarted::new("RunContainerError", why.trim().to_owned()))
        }
    }
}
