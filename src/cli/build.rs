//! `skiff build [PATH]`: builds a Rust project into a Wasm component (`wasm32-wasip2`)
//! with whatever can on this machine: the `rustc` on PATH if it has std for the target
//! (rustup's `wasm32-wasip2`), else Debian's `rustc-web`, which builds std from source
//! (see ../shared/TOOLCHAIN.md). With neither, it names the one command that installs
//! one. (`cargo xtask guests` picks the same way for the examples.)

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::Args;

const TARGET: &str = "wasm32-wasip2";

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The project's folder (with its Cargo.toml).
    #[arg(default_value = ".")]
    pub path: PathBuf,
}

/// A built component.
pub struct Built {
    /// The package's name.
    pub name: String,
    /// The `.wasm` file.
    pub wasm: PathBuf,
}

/// Whether the `rustc` on PATH (asked from `dir`, honouring a rust-toolchain file) has
/// std for the target.
fn path_rustc_has_std(dir: &Path) -> bool {
    let out = Command::new("rustc")
        .current_dir(dir)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output();
    let Some(out) = out.ok().filter(|o| o.status.success()) else {
        return false;
    };
    let libdir = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    std::fs::read_dir(libdir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            n.starts_with("libstd-") && n.ends_with(".rlib")
        })
    })
}

/// Whether Debian's rustc-web route is installed (the files TOOLCHAIN.md names).
fn debian_ready() -> bool {
    [
        "/usr/bin/rustc",
        "/usr/bin/cargo",
        "/usr/lib/rustlib/src/rust/library/std/Cargo.toml",
        "/usr/lib/rustlib/x86_64-unknown-linux-gnu/bin/wasm-component-ld",
        "/usr/lib/wasm32-wasi/libc.a",
        "/usr/bin/rust-lld",
    ]
    .iter()
    .all(|f| Path::new(f).exists())
}

/// The cargo command that builds for the target here, or why there is none.
fn cargo(dir: &Path) -> Result<Command> {
    if path_rustc_has_std(dir) {
        let mut c = Command::new("cargo");
        c.args(["build", "--release", "--target", TARGET]);
        return Ok(c);
    }
    if debian_ready() {
        let mut c = Command::new("/usr/bin/cargo");
        c.env("RUSTC", "/usr/bin/rustc")
            .env("RUSTDOC", "/usr/bin/rustdoc")
            // -Zbuild-std is unstable; rustc-web is a stable compiler.
            .env("RUSTC_BOOTSTRAP", "1")
            .env(
                "CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS",
                "-L native=/usr/lib/wasm32-wasi",
            )
            .args([
                "build",
                "--release",
                "-Zbuild-std=std,panic_abort",
                "--target",
                TARGET,
            ]);
        return Ok(c);
    }
    bail!(
        "no Rust toolchain here builds {TARGET} components: install one with \
         `rustup target add {TARGET}` (or, on Debian without rustup, \
         `apt-get install rustc-web cargo-web rust-web-src rust-web-llvm lld-22 wasi-libc`)"
    )
}

/// The package's name, its kind of target and where cargo puts its output.
fn metadata(dir: &Path) -> Result<(String, bool, PathBuf)> {
    let out = Command::new("cargo")
        .current_dir(dir)
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .output()
        .context("running `cargo metadata`")?;
    if !out.status.success() {
        bail!(
            "{} is not a cargo project: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let m: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("reading `cargo metadata`")?;
    let manifest = dir.join("Cargo.toml");
    let manifest = manifest.canonicalize().unwrap_or(manifest);
    let package = m["packages"]
        .as_array()
        .and_then(|ps| {
            ps.iter()
                .find(|p| p["manifest_path"].as_str().map(Path::new) == Some(manifest.as_path()))
        })
        .with_context(|| format!("no package in {}", manifest.display()))?;
    let name = package["name"].as_str().unwrap_or_default().to_owned();
    let cdylib = package["targets"].as_array().is_some_and(|ts| {
        ts.iter().any(|t| {
            t["crate_types"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c == "cdylib"))
        })
    });
    let target_dir = PathBuf::from(m["target_directory"].as_str().unwrap_or("target"));
    Ok((name, cdylib, target_dir))
}

/// Builds the project in `dir`: the component it made.
pub fn build(dir: &Path) -> Result<Built> {
    if !dir.join("Cargo.toml").is_file() {
        bail!(
            "{} has no Cargo.toml: give the project's folder, or make one with `skiff new http NAME`",
            dir.display()
        );
    }
    let (name, cdylib, target_dir) = metadata(dir)?;
    let mut cargo = cargo(dir)?;
    let status = cargo.current_dir(dir).status().context("running cargo")?;
    if !status.success() {
        bail!("the build failed (cargo's messages are above)");
    }
    // A library's file has underscores; a binary's keeps the package's name.
    let file = match cdylib {
        true => name.replace('-', "_"),
        false => name.clone(),
    };
    let wasm = target_dir
        .join(TARGET)
        .join("release")
        .join(format!("{file}.wasm"));
    if !wasm.is_file() {
        bail!("the build left no {}", wasm.display());
    }
    Ok(Built { name, wasm })
}

pub fn run(a: &BuildArgs) -> Result<std::process::ExitCode> {
    let built = build(&a.path)?;
    println!("{}", built.wasm.display());
    Ok(std::process::ExitCode::SUCCESS)
}
