//! `cargo xtask fuzz`: the fuzz targets in `fuzz/` (cargo-fuzz with libFuzzer, on the
//! stable toolchain without a sanitizer), each for a bounded time; `cargo xtask test` runs
//! them last, 30 s each.
//!
//! Each run starts from the inputs kept in the repository, `fuzz/corpus/<target>`
//! (libFuzzer's corpus, minimized), `fuzz/seeds/<target>` (real inputs: example manifests,
//! stored records, a simulated cluster's raft traffic) and `fuzz/regressions/<target>`
//! (inputs that once crashed a target, each also replayed by an ordinary test). New inputs
//! go to a scratch folder under `target/`, or with `--keep` into `fuzz/corpus/`. A crash
//! fails the run and names the file libFuzzer wrote under `fuzz/artifacts/`.

use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::cmd::{self, cargo};

/// Every target, as named in `fuzz/Cargo.toml`.
pub const TARGETS: [&str; 4] = ["manifest", "stored", "raft_frames", "router"];

/// The cargo-fuzz release the runs are made with, installed when missing.
const CARGO_FUZZ: &str = "0.13.2";

/// Fuzzes `targets` for `seconds` each; with `keep`, new inputs go into `fuzz/corpus`.
pub fn run(root: &Path, targets: &[&str], seconds: u64, keep: bool) -> Result<()> {
    if let Some(bad) = targets.iter().find(|t| !TARGETS.contains(t)) {
        bail!(
            "no fuzz target {bad:?}: the targets are {}",
            TARGETS.join(", ")
        );
    }
    ensure_cargo_fuzz(root)?;
    cmd::run(cargo(root).args(["fuzz", "build", "-s", "none", "-O"]))
        .context("building the fuzz targets failed")?;
    let fuzz = root.join("fuzz");
    for target in targets {
        let scratch = match keep {
            true => fuzz.join("corpus").join(target),
            false => root.join("target/fuzz-scratch").join(target),
        };
        if !keep && scratch.exists() {
            std::fs::remove_dir_all(&scratch)
                .with_context(|| format!("cannot clear {}", scratch.display()))?;
        }
        std::fs::create_dir_all(&scratch)
            .with_context(|| format!("cannot create {}", scratch.display()))?;
        let mut run = cargo(root);
        run.args(["fuzz", "run", "-s", "none", "-O", target])
            .arg(&scratch);
        for kept in ["corpus", "seeds", "regressions"] {
            let dir = fuzz.join(kept).join(target);
            if dir != scratch && dir.is_dir() {
                run.arg(dir);
            }
        }
        run.args([
            "--",
            &format!("-max_total_time={seconds}"),
            "-timeout=10",
            "-rss_limit_mb=4096",
            "-print_final_stats=1",
        ]);
        cmd::run(&mut run).with_context(|| {
            format!(
                "fuzz target {target} failed: libFuzzer named the input above (under \
                 fuzz/artifacts/{target}/); replay it with `cargo fuzz run -s none -O \
                 {target} FILE`, fix the cause, and keep the input in \
                 fuzz/regressions/{target}/ so the tests replay it"
            )
        })?;
    }
    Ok(())
}

fn ensure_cargo_fuzz(root: &Path) -> Result<()> {
    if cmd::probe(cargo(root).args(["fuzz", "--version"])).is_some() {
        return Ok(());
    }
    eprintln!("xtask: cargo-fuzz is missing; installing it");
    cmd::run(cargo(root).args(["install", "cargo-fuzz", "--locked", "--version", CARGO_FUZZ]))
        .context("cannot install cargo-fuzz (from crates.io)")
}
