//! One container run as the agent follows it: through its shim, the agent's child when
//! this agent started it, or a pidfd when an earlier agent did (adoption). When the shim
//! is gone the run has ended and `exit.json` says how; the run's root filesystem is then
//! unmounted. Dropping the handle leaves the container running.

use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::unix::AsyncFd;

use super::rootfs::Rootfs;
use super::runc::Runc;
use super::shim::{EXIT, Exit, SHIM_PID};
use crate::oci::Held;
use crate::runtime::{Exec, OOM_EXIT_CODE, Outcome, Reason, Running};

/// The exit record once the agent has acted on it (so a restarted agent does not again).
pub const EXIT_SEEN: &str = "exit.seen.json";

/// How the agent learns that the shim is gone.
pub enum Shim {
    /// This agent started it.
    Child(tokio::process::Child),
    /// An earlier agent did.
    Pidfd(AsyncFd<OwnedFd>),
    /// It had already ended when the agent looked.
    Ended,
}

impl Shim {
    /// The shim of the run in `dir` that an earlier agent started, if it still runs.
    pub fn find(dir: &Path) -> Option<Shim> {
        let pid: i32 = std::fs::read_to_string(dir.join(SHIM_PID))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let pid = rustix::process::Pid::from_raw(pid)?;
        let fd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::NONBLOCK).ok()?;
        // The pid may have been reused since: it must still be this run's shim, which
        // works in the run's folder (or, started by an older agent, names it).
        if !works_in(pid, dir) && !names(pid, dir) {
            return None;
        }
        // SAFETY: the AsyncFd owns the pidfd; nothing else closes or replaces it.
        unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
            .ok()
            .map(Shim::Pidfd)
    }

    async fn wait(&mut self) {
        match self {
            Shim::Child(c) => {
                let _ = c.wait().await;
            }
            Shim::Pidfd(fd) => {
                // A pidfd turns readable when its process has exited.
                let _ = fd.readable().await;
            }
            Shim::Ended => {}
        }
    }
}

/// Whether process `pid` works in folder `dir`.
fn works_in(pid: rustix::process::Pid, dir: &Path) -> bool {
    std::fs::read_link(format!("/proc/{}/cwd", pid.as_raw_nonzero()))
        .is_ok_and(|cwd| cwd == dir || dir.canonicalize().is_ok_and(|d| d == cwd))
}

/// Whether process `pid`'s command line has `dir` as an argument.
fn names(pid: rustix::process::Pid, dir: &Path) -> bool {
    let dir = dir.as_os_str().as_encoded_bytes();
    std::fs::read(format!("/proc/{}/cmdline", pid.as_raw_nonzero()))
        .is_ok_and(|c| c.split(|b| *b == 0).any(|arg| arg == dir))
}

/// A container run.
pub struct ContainerRun {
    pub id: String,
    pub dir: PathBuf,
    pub runc: Runc,
    pub shim: Shim,
    pub address: Option<SocketAddr>,
    /// What `stop` sends first (the image's `StopSignal`, else `TERM`).
    pub stop_signal: String,
    /// Keeps the image from being collected while the run lasts.
    pub held: Option<Held>,
    pub ended: Option<Outcome>,
}

/// The outcome an `exit.json` records.
pub fn outcome(exit: &Exit) -> Outcome {
    if exit.oom_killed {
        // Killed by the OOM killer: 137, as Kubernetes reports it, with no message.
        let code = if exit.exit_code == 0 {
            OOM_EXIT_CODE
        } else {
            exit.exit_code
        };
        let mut o = Outcome::exited(code);
        o.reason = Reason::OomKilled;
        return o;
    }
    let mut o = Outcome::exited(exit.exit_code);
    if let Some(sig) = exit.signal {
        o.message = Some(format!("killed by signal {sig}"));
    }
    o
}

impl ContainerRun {
    /// Reads how the run ended and cleans up after it.
    fn finish(&mut self) -> Outcome {
        let exit = std::fs::read(self.dir.join(EXIT))
            .ok()
            .and_then(|b| serde_json::from_slice::<Exit>(&b).ok());
        let o = match exit {
            Some(e) => {
                let _ = std::fs::rename(self.dir.join(EXIT), self.dir.join(EXIT_SEEN));
                outcome(&e)
            }
            None => {
                let why = std::fs::read_to_string(self.dir.join("shim.error"))
                    .map(|s| s.trim().to_owned())
                    .unwrap_or_else(|_| "the shim ended without recording an exit".into());
                Outcome::ended(Reason::Error, 128, format!("container {}: {why}", self.id))
            }
        };
        if let Err(e) = Rootfs::in_dir(&self.dir).remove() {
            tracing::warn!(container = %self.id, error = %e, "removing a root filesystem");
        }
        self.held = None;
        self.ended = Some(o.clone());
        o
    }
}

#[tonic::async_trait]
impl Running for ContainerRun {
    fn address(&self) -> Option<SocketAddr> {
        self.address
    }

    async fn wait(&mut self) -> Outcome {
        if let Some(o) = &self.ended {
            return o.clone();
        }
        self.shim.wait().await;
        self.finish()
    }

    async fn stop(&mut self, grace: Duration) -> Outcome {
        if let Some(o) = &self.ended {
            return o.clone();
        }
        // A container that already ended has nothing to signal; its shim exits soon.
        if let Err(e) = self.runc.kill(&self.id, &self.stop_signal).await {
            tracing::debug!(container = %self.id, error = %e, "stop signal");
        }
        if tokio::time::timeout(grace, self.shim.wait()).await.is_err() {
            tracing::info!(container = %self.id, ?grace, "still running after its grace period; killing it");
            if let Err(e) = self.runc.kill(&self.id, "KILL").await {
                tracing::debug!(container = %self.id, error = %e, "kill");
            }
            self.shim.wait().await;
        }
        self.finish()
    }

    fn exec(&self) -> Option<std::sync::Arc<dyn Exec>> {
        Some(std::sync::Arc::new(RuncExec {
            runc: self.runc.clone(),
            id: self.id.clone(),
        }))
    }
}

/// `runc exec` in one container.
struct RuncExec {
    runc: Runc,
    id: String,
}

#[tonic::async_trait]
impl Exec for RuncExec {
    async fn exec(&self, command: &[String], timeout: Duration) -> Result<(i32, String), String> {
        self.runc.exec(&self.id, command, timeout).await
    }
}
