//! `skiff run FILE.wasm [-- ARGS]`: runs a component once on this machine, without a
//! cluster, in the node's own Wasm runtime (the same engine, limits and WASI setup as a
//! pod): a command (or WASI preview 1 module) prints and exits with its exit code; an HTTP
//! handler serves on `--listen` until Ctrl-C, each request in a fresh instance.
//!
//! The guest gets every host capability: `wasi:config` from `--config`, `wasi:keyvalue`
//! buckets in memory (gone when it exits), `wasi:logging` on stderr.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::Args;
use skiff_node::runtime::{Grants, KeyValueAccess, Limits, Mount, Usage};
use skiff_node::wasm::capability::MemoryStore;
use skiff_node::wasm::{
    self, Handler, Host, HostConfig, HttpPre, HttpSpec, Output, RunSpec, Workload,
};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The component (`.wasm`: a `wasi:http` handler or a `wasi:cli` command) or a WASI
    /// preview 1 module.
    pub file: PathBuf,
    /// Where an HTTP handler serves (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub listen: SocketAddr,
    /// An environment variable for the guest, NAME=VALUE (repeatable).
    #[arg(long = "env", short = 'e', value_name = "NAME=VALUE")]
    pub env: Vec<String>,
    /// A host folder the guest sees, HOST:GUEST, with `:ro` for read-only (repeatable).
    #[arg(long = "dir", value_name = "HOST:GUEST[:ro]")]
    pub dirs: Vec<String>,
    /// A `wasi:config` value for the guest, KEY=VALUE (repeatable).
    #[arg(long = "config", value_name = "KEY=VALUE")]
    pub config: Vec<String>,
    /// The guest's memory limit, e.g. 64Mi (as a pod's `limits.memory`).
    #[arg(long)]
    pub memory: Option<String>,
    /// Arguments for a command, after `--`.
    #[arg(last = true)]
    pub args: Vec<String>,
}

/// `KEY=VALUE` pairs given with `flag`.
fn pairs(flag: &str, given: &[String]) -> Result<Vec<(String, String)>> {
    given
        .iter()
        .map(|e| match e.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => bail!("{flag} {e:?}: write NAME=VALUE"),
        })
        .collect()
}

fn mounts(dirs: &[String]) -> Result<Vec<Mount>> {
    dirs.iter()
        .map(|d| {
            let (rest, read_only) = match d.strip_suffix(":ro") {
                Some(r) => (r, true),
                None => (d.as_str(), false),
            };
            let Some((host, path)) = rest.split_once(':') else {
                bail!("--dir {d:?}: write HOST:GUEST (or HOST:GUEST:ro), e.g. ./data:/data");
            };
            if !path.starts_with('/') {
                bail!("--dir {d:?}: the guest's path must be absolute");
            }
            let host = std::fs::canonicalize(host)
                .with_context(|| format!("--dir {d:?}: the host folder {host:?}"))?;
            Ok(Mount {
                host,
                path: path.to_owned(),
                read_only,
            })
        })
        .collect()
}

pub fn run(a: RunArgs) -> Result<ExitCode> {
    let bytes = std::fs::read(&a.file).with_context(|| format!("reading {}", a.file.display()))?;
    let env = pairs("--env", &a.env)?;
    let grants = Arc::new(Grants {
        config: Some(Arc::new(pairs("--config", &a.config)?)),
        keyvalue: Some(KeyValueAccess {
            store: Arc::new(MemoryStore::default()),
            grant: Default::default(),
        }),
    });
    let dirs = mounts(&a.dirs)?;
    let limits = Limits {
        memory_bytes: match &a.memory {
            Some(m) => Some(super::node::bytes("--memory", m)?),
            None => None,
        },
        ..Default::default()
    };
    let host = Host::new(&HostConfig {
        instances: 64,
        ..Default::default()
    })
    .context("starting the Wasm engine")?;
    let workload = wasm::inspect(host.engine(), &bytes).with_context(|| {
        format!(
            "{} is not something Skiff runs (a wasi:http handler, a wasi:cli command or a WASI preview 1 module)",
            a.file.display()
        )
    })?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let stdout = || Output::new(std::io::stdout());
    let stderr = || Output::new(std::io::stderr());
    let usage = Arc::new(Usage::default());
    match &workload {
        Workload::HttpHandler(component) => {
            let pre = HttpPre::new(&host, component).context("preparing the handler")?;
            let handler = Arc::new(Handler::new(
                &host,
                &pre,
                HttpSpec {
                    env,
                    dirs,
                    stdout: stdout(),
                    stderr: stderr(),
                    limits,
                    max_instances: 64,
                    usage,
                    outbound: None,
                    grants,
                },
            ));
            rt.block_on(async {
                let listener = wasm::bind(a.listen)
                    .await
                    .with_context(|| format!("listening on {} (--listen)", a.listen))?;
                let at = listener.local_addr().context("the listener's address")?;
                println!(
                    "Serving {} at http://{at}/ (Ctrl-C stops it)",
                    a.file.display()
                );
                tokio::select! {
                    () = wasm::serve(handler, listener) => bail!("the listener stopped"),
                    _ = tokio::signal::ctrl_c() => Ok(ExitCode::SUCCESS),
                }
            })
        }
        _ => {
            let name = a
                .file
                .file_name()
                .map_or_else(|| "main.wasm".into(), |n| n.to_string_lossy().into_owned());
            let mut args = vec![name];
            args.extend(a.args);
            let spec = RunSpec {
                args,
                env,
                dirs,
                stdout: stdout(),
                stderr: stderr(),
                limits,
                usage,
                grants,
            };
            let outcome = rt
                .block_on(wasm::run(&host, &workload, spec))
                .context("running the component")?;
            if let Some(m) = &outcome.message {
                eprintln!("skiff run: {m}");
            }
            Ok(ExitCode::from(u8::try_from(outcome.exit_code).unwrap_or(1)))
        }
    }
}
