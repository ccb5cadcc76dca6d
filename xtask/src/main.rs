//! `cargo xtask`: the project's chores, in Rust so that a fresh machine needs nothing but
//! `cargo` to run them.
//!
//! Layout:
//! - `system`: what the tests need from the machine (runc, busybox, a registry, skopeo, a
//!   wasm guest toolchain), and installing whatever is missing with apt-get.
//! - `guests`: builds the guest components in `examples/` for `wasm32-wasip2`, with a rustup
//!   toolchain if one has the target, else with Debian's `rustc-web`; `ship` copies the
//!   hello component the `skiff` binary carries into `examples/hello/dist/`.
//! - `test`: the one test command CI and developers run: system setup, guests, then
//!   nextest over the workspace.
//! - `wasm_tests`: the guest SDK's unit tests, built for wasm and run by `skiff run`.
//! - `clients`: the real Kubernetes clients the tests drive (kubectl, pinned, from PyPI).
//! - `fuzz`: the fuzz targets in `fuzz/`, each for a bounded time (cargo-fuzz, libFuzzer).
//! - `cmd`: runs child processes, echoing each command line so a log shows what ran.

mod clients;
mod cmd;
mod fuzz;
mod guests;
mod system;
mod test;
mod wasm_tests;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Skiff's build and test chores")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sets up the machine (apt-get), builds the guests, runs every test of the workspace.
    Test {
        /// Passed to `cargo nextest run --workspace` (or to `cargo test`, if nextest is
        /// not to be had).
        #[arg(last = true)]
        nextest_args: Vec<String>,
    },
    /// Builds the guest components in examples/ for wasm32-wasip2.
    Guests,
    /// Runs the fuzz targets in fuzz/ (all, or those named) for a bounded time each.
    Fuzz {
        /// Targets to run (manifest, stored, raft_frames); all when none is named.
        targets: Vec<String>,
        /// Seconds per target.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Keep new inputs in fuzz/corpus/ (minimize with `cargo fuzz cmin` before a
        /// commit) instead of a scratch folder.
        #[arg(long)]
        keep: bool,
    },
    /// Builds the guests and copies the hello component to examples/hello/dist/, which
    /// the `skiff` binary ships for `skiff dev` (run it after changing the SDK or hello).
    Ship,
    /// Builds the guest SDK's unit tests for wasm32-wasip2 and runs them with `skiff run`
    /// (the `skiff` binary given, default target/debug/skiff).
    WasmTests {
        #[arg(long)]
        skiff: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let cli = Cli::parse();
    let root = workspace_root()?;
    match cli.command {
        Command::Test { nextest_args } => test::run(&root, &nextest_args),
        Command::Guests => guests::build(&root).map(|_| ()),
        Command::Fuzz {
            targets,
            seconds,
            keep,
        } => {
            let named: Vec<&str> = targets.iter().map(String::as_str).collect();
            let targets = match named.is_empty() {
                true => &fuzz::TARGETS[..],
                false => &named[..],
            };
            fuzz::run(&root, targets, seconds, keep)
        }
        Command::Ship => guests::ship(&root),
        Command::WasmTests { skiff } => {
            let skiff = skiff.unwrap_or_else(|| root.join("target/debug/skiff"));
            wasm_tests::run(&root, &skiff)
        }
    }
}

/// The workspace root: xtask's manifest dir is `<root>/xtask`. Taken from the environment
/// `cargo run` sets, so the command works from any folder of the repository.
fn workspace_root() -> Result<PathBuf> {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    let root = manifest_dir
        .parent()
        .context("xtask's manifest dir has no parent folder")?;
    root.canonicalize()
        .with_context(|| format!("cannot resolve the workspace root {}", root.display()))
}
