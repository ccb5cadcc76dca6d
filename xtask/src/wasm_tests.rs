//! The guest SDK's unit tests, run inside wasm: `cargo test --no-run -p skiff-sdk
//! --target wasm32-wasip2` with the guests' toolchain (see `guests`), then each test
//! binary run by `skiff run` (the node's own runtime) with one test thread.
//!
//! With Debian's 2022 wasi-libc, std's test harness links `pthread_join`,
//! `pthread_detach` and `pthread_create`, which that libc lacks: a stub archive (each
//! returns "not supported", and the harness runs tests on the main thread) is assembled
//! with `llvm-mc-22` and linked in, as ../shared/TOOLCHAIN.md describes.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{cmd, guests};

/// The stub's three functions, in WebAssembly assembly; each answers ENOSYS (52).
const PTHREAD_STUB: &str = "\t.text
\t.globl pthread_create
\t.type pthread_create,@function
pthread_create:
\t.functype pthread_create (i32, i32, i32, i32) -> (i32)
\ti32.const 52
\tend_function
\t.globl pthread_join
\t.type pthread_join,@function
pthread_join:
\t.functype pthread_join (i32, i32) -> (i32)
\ti32.const 52
\tend_function
\t.globl pthread_detach
\t.type pthread_detach,@function
pthread_detach:
\t.functype pthread_detach (i32) -> (i32)
\ti32.const 52
\tend_function
";

/// Assembles the stub archive into `dir`; the folder to link from.
fn stub(dir: &Path) -> Result<PathBuf> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let asm = dir.join("pthread_stub.s");
    fs::write(&asm, PTHREAD_STUB).with_context(|| format!("writing {}", asm.display()))?;
    let obj = dir.join("pthread_stub.o");
    cmd::run(Command::new("llvm-mc-22").args([
        "-triple=wasm32-wasi",
        "-filetype=obj",
        &asm.display().to_string(),
        "-o",
        &obj.display().to_string(),
    ]))
    .context("assembling the pthread stub (llvm-mc-22)")?;
    let lib = dir.join("libskiff_pthread_stub.a");
    let _ = fs::remove_file(&lib);
    cmd::run(Command::new("llvm-ar-22").args([
        "rcs",
        &lib.display().to_string(),
        &obj.display().to_string(),
    ]))
    .context("archiving the pthread stub (llvm-ar-22)")?;
    Ok(dir.to_owned())
}

/// Builds the SDK's tests for wasm and runs each with `skiff` (a built `skiff` binary).
pub fn run(root: &Path, skiff: &Path) -> Result<()> {
    let target_dir = root.join("examples/target/sdk-tests");
    let extra = match guests::uses_debian(root) {
        true => {
            let dir = stub(&target_dir.join("stub"))?;
            format!("-L native={} -l static=skiff_pthread_stub", dir.display())
        }
        false => String::new(),
    };
    let mut cargo = guests::wasm_cargo(
        root,
        &[
            "test",
            "--release",
            "--no-run",
            "-p",
            "skiff-sdk",
            "--message-format=json-render-diagnostics",
        ],
        &extra,
    )?;
    cargo.current_dir(root).env("CARGO_TARGET_DIR", &target_dir);
    eprintln!("xtask: $ {}", cmd::display(&cargo));
    let out = cargo
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("building the SDK's tests for wasm")?;
    if !out.status.success() {
        bail!("building the SDK's tests for wasm failed");
    }
    let mut binaries = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg["profile"]["test"] == true
            && let Some(exe) = msg["executable"].as_str()
        {
            binaries.push(PathBuf::from(exe));
        }
    }
    if binaries.is_empty() {
        bail!("the SDK's wasm test build named no test binary");
    }
    for wasm in binaries {
        cmd::run(
            Command::new(skiff)
                .arg("run")
                .arg(&wasm)
                .args(["--", "--test-threads=1"]),
        )
        .with_context(|| format!("the SDK's tests in wasm ({}) failed", wasm.display()))?;
    }
    Ok(())
}
