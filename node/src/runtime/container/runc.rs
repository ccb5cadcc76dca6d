//! The agent's side of runc (the CLI, with Skiff's own `--root`): signalling a container,
//! running a command in it (`exec` probes), and deleting what is left of it. Starting a container is the
//! shim's job (`shim`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

/// runc with its state under `root`.
#[derive(Debug, Clone)]
pub struct Runc {
    pub bin: PathBuf,
    pub root: PathBuf,
}

impl Runc {
    fn command(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root")
            .arg(&self.root)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        c
    }

    async fn run(&self, args: &[&str]) -> Result<String, String> {
        let out = self
            .command()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .await
            .map_err(|e| format!("running {}: {e}", self.bin.display()))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "runc {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// Sends `signal` (`TERM`, `KILL`, ...) to the container's process.
    pub async fn kill(&self, id: &str, signal: &str) -> Result<(), String> {
        self.run(&["kill", id, signal]).await.map(drop)
    }

    /// Removes runc's record of the container (killing it first if it runs).
    pub async fn delete(&self, id: &str) -> Result<(), String> {
        self.run(&["delete", "--force", id]).await.map(drop)
    }

    /// Runs `argv` in the container within `timeout`: its exit code and the end of its
    /// stderr (runc's own complaint, when runc fails).
    pub async fn exec(
        &self,
        id: &str,
        argv: &[String],
        timeout: Duration,
    ) -> Result<(i32, String), String> {
        if argv.is_empty() {
            return Err("exec: the command is empty".into());
        }
        let mut c = self.command();
        // runc stops reading its own flags at the container id (`SkipArgReorder`); a
        // `--` there would be taken for the command.
        c.args(["exec", id])
            .args(argv)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // The agent runs without transparent huge pages (see `main`), a flag children
        // inherit: the command gets the machine's setting, as the container's process has.
        // SAFETY: the hook only makes one prctl system call, which is async-signal-safe.
        unsafe {
            c.pre_exec(|| {
                let _ = rustix::thread::disable_transparent_huge_pages(false);
                Ok(())
            });
        }
        let child = c
            .spawn()
            .map_err(|e| format!("running {}: {e}", self.bin.display()))?;
        match tokio::time::timeout(timeout, child.wait_with_output()).await {
            Ok(Ok(out)) => {
                let err = String::from_utf8_lossy(&out.stderr);
                let err = err.trim();
                // The last kibibyte is enough to say why.
                let from = err.len().saturating_sub(1024);
                let from = (from..err.len())
                    .find(|i| err.is_char_boundary(*i))
                    .unwrap_or(err.len());
                Ok((out.status.code().unwrap_or(128), err[from..].to_owned()))
            }
            Ok(Err(e)) => Err(format!("exec {argv:?}: {e}")),
            // Dropping the child kills runc exec, and with it the command.
            Err(_) => Err(format!("command {argv:?} timed out after {timeout:?}")),
        }
    }

    /// Whether runc was built with seccomp support (`runc --version` names libseccomp).
    pub async fn has_seccomp(bin: &Path) -> bool {
        Command::new(bin)
            .arg("--version")
            .output()
            .await
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("libseccomp"))
    }
}
