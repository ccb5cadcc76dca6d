//! The shim: one small supervisor process per container run, conmon-style. The agent
//! starts the `skiff` binary in its hidden shim mode with the run's folder; the shim
//!
//! 1. leaves the agent's session (so the agent's signals and death do not reach it) and
//!    becomes a child subreaper (so the container's processes are its children once runc
//!    has gone);
//! 2. runs `runc run --detach` on the bundle, the container's stdout and stderr on pipes
//!    it holds, and tells the agent on its own stdout what came of it (one JSON line);
//! 3. copies the container's output into the run's log in Skiff's log format, so
//!    `skiff logs` reads containers as it reads Wasm guests;
//! 4. reaps the container, records how it ended (`exit.json`: code, signal, whether the
//!    OOM killer struck its cgroup), deletes it from runc, and exits.
//!
//! The agent keeps one shim started ahead of need (`skiff __shim -`), waiting for its
//! run's folder on stdin, so a container's start does not wait for the binary to load.
//! A shim works in its run's folder (its cwd), which names it in `/proc`.
//!
//! The shim keeps no connection to the agent: an agent that restarts finds the run's
//! folder, watches the shim's pid through a pidfd, and reads `exit.json` when it is gone.
//! It is plain blocking code (no async runtime), so it stays small.

use std::fs::{self, File};
use std::io::{self, BufRead, Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;

use serde::{Deserialize, Serialize};

use super::cgroup::Cgroups;
use crate::logs::{LogFile, LogPolicy, Stream};

/// The run's folder's files.
pub const CONFIG: &str = "shim.json";
pub const SHIM_PID: &str = "shim.pid";
pub const CONTAINER_PID: &str = "container.pid";
pub const EXIT: &str = "exit.json";
pub const RUNC_LOG: &str = "runc.log";

/// What the agent gives a shim.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShimConfig {
    /// runc's name for the container.
    pub id: String,
    pub bundle: PathBuf,
    pub runc: PathBuf,
    pub runc_root: PathBuf,
    /// The run's log, and how big it grows.
    pub log: PathBuf,
    pub log_max_bytes: u64,
    pub log_max_files: u32,
    /// The container's cgroup (for the OOM killer's count).
    pub cgroup: String,
    /// The image the container runs (for the agent: an adopted run keeps it from being
    /// collected).
    #[serde(default)]
    pub image: String,
}

/// What the shim tells the agent once runc has answered.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Started {
    pub pid: Option<u32>,
    pub error: Option<String>,
}

/// How the container ended.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Exit {
    pub exit_code: i32,
    pub signal: Option<i32>,
    pub oom_killed: bool,
    /// RFC 3339.
    pub finished_at: String,
}

/// The shim's `main`: supervises the run in `dir`. Returns the process's exit code.
pub fn main(dir: &Path) -> i32 {
    match supervise(dir) {
        Ok(()) => 0,
        Err(e) => {
            // The agent reads stdout only until the first line; later failures go to the
            // run's folder, where `describe` and the agent find them.
            let _ = fs::write(dir.join("shim.error"), format!("{e}\n"));
            1
        }
    }
}

/// A shim started ahead of need: reads its run's folder from stdin (to the end: the agent
/// writes it and closes the pipe), then supervises that run. Nothing on stdin means the
/// agent went away first: the shim ends quietly.
pub fn main_waiting() -> i32 {
    use std::os::unix::ffi::OsStringExt;
    let mut bytes = Vec::new();
    if io::stdin().lock().read_to_end(&mut bytes).is_err() || bytes.is_empty() {
        return 0;
    }
    main(&PathBuf::from(std::ffi::OsString::from_vec(bytes)))
}

fn report(line: &Started) {
    let mut out = io::stdout().lock();
    let _ = serde_json::to_writer(&mut out, line);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}

/// Points stdin, stdout and stderr at /dev/null: the agent's pipe is closed, so it stops
/// reading, and nothing the shim does later writes into a pipe nobody reads.
fn detach_stdio() -> io::Result<()> {
    let null = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    rustix::stdio::dup2_stdin(&null)?;
    rustix::stdio::dup2_stdout(&null)?;
    rustix::stdio::dup2_stderr(&null)?;
    Ok(())
}

fn supervise(dir: &Path) -> Result<(), String> {
    std::env::set_current_dir(dir).map_err(|e| format!("entering {}: {e}", dir.display()))?;
    let text = fs::read(dir.join(CONFIG)).map_err(|e| format!("reading {CONFIG}: {e}"))?;
    let config: ShimConfig =
        serde_json::from_slice(&text).map_err(|e| format!("parsing {CONFIG}: {e}"))?;
    // Its own session: the agent's terminal, process group and death do not touch it.
    rustix::process::setsid().map_err(|e| format!("setsid: {e}"))?;
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
        .map_err(|e| format!("becoming a subreaper: {e}"))?;
    fs::write(
        dir.join(SHIM_PID),
        rustix::process::getpid().as_raw_nonzero().to_string(),
    )
    .map_err(|e| format!("writing {SHIM_PID}: {e}"))?;

    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let pid = match start(dir, &config, out_w, err_w) {
        Ok(pid) => pid,
        Err(e) => {
            report(&Started {
                pid: None,
                error: Some(e.clone()),
            });
            return Err(e);
        }
    };
    report(&Started {
        pid: Some(pid),
        error: None,
    });
    detach_stdio().map_err(|e| format!("detaching from the agent: {e}"))?;

    let log = LogFile::open(
        &config.log,
        LogPolicy {
            max_bytes: config.log_max_bytes,
            max_files: config.log_max_files,
        },
    )
    .map_err(|e| e.to_string())?;
    let copiers = [(out_r, Stream::Stdout), (err_r, Stream::Stderr)].map(|(fd, stream)| {
        let log = log.clone();
        thread::Builder::new()
            .stack_size(64 << 10)
            .spawn(move || copy(File::from(fd), &log, stream))
    });

    let (code, signal) = reap(pid);
    for c in copiers.into_iter().flatten() {
        let _ = c.join();
    }
    let oom_killed = Cgroups::detect().oom_kills(&config.cgroup) > 0;
    let exit = Exit {
        exit_code: code,
        signal,
        oom_killed,
        finished_at: humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string(),
    };
    let json = serde_json::to_vec(&exit).map_err(|e| e.to_string())?;
    let tmp = dir.join(format!("{EXIT}.tmp"));
    fs::write(&tmp, json).map_err(|e| format!("writing {EXIT}: {e}"))?;
    fs::rename(&tmp, dir.join(EXIT)).map_err(|e| format!("writing {EXIT}: {e}"))?;
    // runc's record of the container and its cgroup go; the agent removes the rest.
    let _ = Command::new(&config.runc)
        .arg("--root")
        .arg(&config.runc_root)
        .args(["delete", "--force", &config.id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    Ok(())
}

fn pipe() -> Result<(OwnedFd, OwnedFd), String> {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(|e| format!("pipe: {e}"))
}

/// `runc run --detach`; the container's pid.
fn start(dir: &Path, c: &ShimConfig, out: OwnedFd, err: OwnedFd) -> Result<u32, String> {
    let mut runc = Command::new(&c.runc);
    runc.arg("--root")
        .arg(&c.runc_root)
        .arg("--log")
        .arg(dir.join(RUNC_LOG))
        .arg("--log-format")
        .arg("json")
        .args(["run", "--detach", "--pid-file"])
        .arg(dir.join(CONTAINER_PID))
        .arg("--bundle")
        .arg(&c.bundle)
        .arg(&c.id)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err));
    // Skiff's processes run without transparent huge pages (see `main`), a flag children
    // inherit: the container gets the machine's setting instead. The shim is one thread
    // here, and keeps the flag for itself once runc has been started.
    let _ = rustix::thread::disable_transparent_huge_pages(false);
    let spawned = runc.spawn();
    let _ = rustix::thread::disable_transparent_huge_pages(true);
    let status = spawned
        .and_then(|mut child| child.wait())
        .map_err(|e| format!("running {}: {e}", c.runc.display()))?;
    if !status.success() {
        return Err(runc_error(&dir.join(RUNC_LOG))
            .unwrap_or_else(|| format!("runc run failed ({status})")));
    }
    let pid = fs::read_to_string(dir.join(CONTAINER_PID))
        .map_err(|e| format!("reading {CONTAINER_PID}: {e}"))?;
    pid.trim()
        .parse()
        .map_err(|_| format!("{CONTAINER_PID} holds {pid:?}, not a pid"))
}

/// The last error runc logged (its JSON log lines' `msg`).
pub fn runc_error(log: &Path) -> Option<String> {
    let file = File::open(log).ok()?;
    io::BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
        .filter(|v| v["level"] == "error" || v["level"] == "fatal")
        .filter_map(|v| v["msg"].as_str().map(str::to_owned))
        .last()
}

/// Copies a container stream into the log until every writer has closed it.
fn copy(mut from: File, log: &LogFile, stream: Stream) {
    let mut buf = vec![0u8; 32 << 10];
    loop {
        match from.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                let _ = log.write(stream, buf.get(..n).unwrap_or_default());
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// Reaps children until the container's process has ended: its exit code (128 + the
/// signal for a killed process) and signal. The container's other processes, which the
/// kernel kills with it, are reaped too.
fn reap(container: u32) -> (i32, Option<i32>) {
    use rustix::process::{WaitOptions, wait};
    let mut result = None;
    loop {
        let opts = if result.is_some() {
            WaitOptions::NOHANG
        } else {
            WaitOptions::empty()
        };
        match wait(opts) {
            Ok(Some((pid, status))) => {
                if result.is_none() && pid.as_raw_nonzero().get() as u32 == container {
                    result = Some(match (status.exit_status(), status.terminating_signal()) {
                        (Some(code), _) => (code, None),
                        (None, Some(sig)) => (128 + sig, Some(sig)),
                        _ => (128, None),
                    });
                }
            }
            Err(rustix::io::Errno::INTR) => {}
            // No children left, or (after the container) none ready now.
            Ok(None) | Err(_) => {
                if let Some(r) = result {
                    return r;
                }
                // The container was never our child (it ended before runc let go of it
                // and runc reaped it): nothing more to learn.
                return (128, None);
            }
        }
    }
}
