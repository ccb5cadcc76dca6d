//! The guest components: `examples/` is a cargo workspace of its own (own target dir, so
//! std for wasm is built once for all guests), built for `wasm32-wasip2`, which yields
//! finished components.
//!
//! Two toolchains can build them, tried in this order:
//! 1. the `rustc` on PATH, if it has std for `wasm32-wasip2` (a developer's rustup with
//!    `rustup target add wasm32-wasip2`): a plain `cargo build`;
//! 2. Debian's `rustc-web`, which has no prebuilt wasm std but its source: std is built with
//!    `-Zbuild-std` (this is the only way on machines where rustup cannot download targets;
//!    see ../shared/TOOLCHAIN.md). Its packages are installed if missing.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use crate::{cmd, system};

/// The target every guest is built for.
const TARGET: &str = "wasm32-wasip2";
/// The flags for that target's compilations (not for build scripts and proc macros).
const RUSTFLAGS: &str = "CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS";

/// Which compiler builds the guests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Toolchain {
    /// The `cargo`/`rustc` on PATH, which has std for [`TARGET`].
    Path,
    /// Debian's `/usr/bin/cargo` and `/usr/bin/rustc` (rustc-web), building std itself.
    Debian,
}

/// What identifies the compiler that built the guests, written beside them: two builds of
/// the same sources by the same compiler give the same bytes (paths are remapped).
pub const TOOLCHAIN_FILE: &str = "toolchain.txt";

/// Builds every guest in `<root>/examples` and returns the absolute folder holding the
/// `.wasm` components.
pub fn build(root: &Path) -> Result<PathBuf> {
    let examples = root.join("examples");
    let target_dir = examples.join("target");
    let toolchain = detect(&examples);
    // Where the checkout and cargo's registry are does not end up in the components.
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_default();
    let remap = format!(
        "--remap-path-prefix={}=/skiff --remap-path-prefix={}=/cargo",
        root.display(),
        cargo_home.display()
    );
    match toolchain {
        Toolchain::Path => {
            eprintln!("xtask: guests: building with the rustc on PATH (it has std for {TARGET})");
        }
        Toolchain::Debian => eprintln!(
            "xtask: guests: the rustc on PATH has no std for {TARGET} \
             (`rustup target add {TARGET}` would give it one); using Debian's rustc-web"
        ),
    }
    let mut cargo = wasm_cargo(root, &["build", "--release"], &remap)?;
    let rustc = match toolchain {
        Toolchain::Path => "rustc",
        Toolchain::Debian => "/usr/bin/rustc",
    };
    // The manifests in examples/ name components by their path under examples/target, so
    // the output goes there whatever CARGO_TARGET_DIR the caller has set.
    cargo
        .current_dir(&examples)
        .env("CARGO_TARGET_DIR", &target_dir);
    cmd::run(&mut cargo).context("building the guest components failed")?;

    let out_dir = target_dir.join(TARGET).join("release");
    let out_dir = out_dir
        .canonicalize()
        .with_context(|| format!("the build left no {}", out_dir.display()))?;
    let version = cmd::probe(Command::new(rustc).current_dir(&examples).arg("-vV"))
        .context("asking the guest compiler its version")?;
    fs::write(out_dir.join(TOOLCHAIN_FILE), version)
        .with_context(|| format!("writing {TOOLCHAIN_FILE} in {}", out_dir.display()))?;
    let components = list_components(&out_dir)?;
    if components.is_empty() {
        bail!("the build left no .wasm file in {}", out_dir.display());
    }
    eprintln!("xtask: guest components in {}:", out_dir.display());
    for (name, size) in &components {
        eprintln!("xtask:     {name} ({} KiB)", size.div_ceil(1024));
    }
    Ok(out_dir)
}

/// Prefers the toolchain on PATH when it can build for [`TARGET`] without help.
fn detect(examples: &Path) -> Toolchain {
    // Asked from examples/ so that a rust-toolchain file there would be honoured, as the
    // `cargo build` below honours it.
    let libdir = cmd::probe(Command::new("rustc").current_dir(examples).args([
        "--print",
        "target-libdir",
        "--target",
        TARGET,
    ]));
    let has_std = libdir.is_some_and(|dir| {
        fs::read_dir(dir.trim()).is_ok_and(|entries| {
            entries.flatten().any(|entry| {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                name.starts_with("libstd-") && name.ends_with(".rlib")
            })
        })
    });
    if has_std {
        Toolchain::Path
    } else {
        Toolchain::Debian
    }
}

/// Whether the guests are built with Debian's rustc-web (the rustc on PATH has no std for
/// the target).
pub fn uses_debian(root: &Path) -> bool {
    detect(&root.join("examples")) == Toolchain::Debian
}

/// A cargo running `args` (`build --release`, `test --no-run`, ...) for [`TARGET`] with
/// the toolchain this machine has (Debian's installed first if it is the one), with
/// `rustflags` for the target's compilations.
pub fn wasm_cargo(root: &Path, args: &[&str], rustflags: &str) -> Result<Command> {
    let mut cargo = match detect(&root.join("examples")) {
        Toolchain::Path => {
            let mut cargo = Command::new("cargo");
            cargo.args(args).args(["--target", TARGET]);
            cargo
        }
        Toolchain::Debian => {
            system::ensure(
                "guest toolchain (Debian rustc-web)",
                system::debian_toolchain_missing,
            )?;
            debian_cargo(args)
        }
    };
    let flags = match detect(&root.join("examples")) {
        Toolchain::Path => rustflags.to_owned(),
        // wasm32-wasip2's std links against wasi-libc, which Debian puts here.
        Toolchain::Debian => format!("-L native=/usr/lib/wasm32-wasi {rustflags}"),
    };
    cargo.env(RUSTFLAGS, flags.trim());
    Ok(cargo)
}

/// Debian's cargo running `args`, exactly as ../shared/TOOLCHAIN.md runs it. Called by
/// full path because rustup's proxies come first on PATH.
fn debian_cargo(args: &[&str]) -> Command {
    let mut cargo = Command::new("/usr/bin/cargo");
    cargo
        .env("RUSTC", "/usr/bin/rustc")
        .env("RUSTDOC", "/usr/bin/rustdoc")
        // -Zbuild-std is unstable; rustc-web is a stable compiler.
        .env("RUSTC_BOOTSTRAP", "1")
        .args(args)
        .args(["-Zbuild-std=std,panic_abort", "--target", TARGET]);
    cargo
}

/// The `.wasm` files directly in `dir`, sorted, with their sizes in bytes.
fn list_components(dir: &Path) -> Result<Vec<(String, u64)>> {
    let mut components = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        let path = entry.path();
        if path.extension().is_some_and(|ext| ext == "wasm") && path.is_file() {
            let size = entry.metadata().map(|meta| meta.len()).unwrap_or(0);
            components.push((entry.file_name().to_string_lossy().into_owned(), size));
        }
    }
    components.sort();
    Ok(components)
}

/// The shipped example component (built into the `skiff` binary for `skiff dev`), and
/// beside it the compiler that built it and what it was built from.
pub const SHIPPED: &str = "examples/hello/dist/hello.wasm";
pub const SHIPPED_TOOLCHAIN: &str = "examples/hello/dist/toolchain.txt";
pub const SHIPPED_SOURCES: &str = "examples/hello/dist/sources.txt";

/// What the shipped component is built from: every file under these (but `dist/`,
/// `target/`, and `.md` and `.yaml` files).
const SHIPPED_FROM: [&str; 4] = [
    "examples/Cargo.toml",
    "examples/Cargo.lock",
    "examples/hello",
    "sdk",
];

/// Builds the guests and copies the hello component to [`SHIPPED`], with the compiler's
/// version and its sources' digests beside it.
pub fn ship(root: &Path) -> Result<()> {
    // Formatted first: a later `cargo fmt` would change the sources it records.
    cmd::run(Command::new("cargo").current_dir(root).args([
        "fmt",
        "-p",
        "skiff-sdk",
        "-p",
        "skiff-sdk-macros",
    ]))
    .context("formatting the SDK")?;
    cmd::run(
        Command::new("cargo")
            .current_dir(root.join("examples"))
            .args(["fmt", "-p", "hello"]),
    )
    .context("formatting examples/hello")?;
    let out = build(root)?;
    let to = root.join(SHIPPED);
    if let Some(dir) = to.parent() {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    fs::copy(out.join("hello.wasm"), &to)
        .with_context(|| format!("copying hello.wasm to {}", to.display()))?;
    fs::copy(out.join(TOOLCHAIN_FILE), root.join(SHIPPED_TOOLCHAIN))
        .with_context(|| format!("copying {TOOLCHAIN_FILE} beside {}", to.display()))?;
    let mut sources = format!("# built in {}\n", root.display());
    for rel in source_files(root)? {
        let bytes = fs::read(root.join(&rel)).with_context(|| format!("reading {rel}"))?;
        let digest: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        sources.push_str(&format!("{digest}  {rel}\n"));
    }
    fs::write(root.join(SHIPPED_SOURCES), sources)
        .with_context(|| format!("writing {SHIPPED_SOURCES}"))?;
    eprintln!(
        "xtask: shipped {} (commit examples/hello/dist/ whole)",
        to.display()
    );
    Ok(())
}

/// The files under [`SHIPPED_FROM`], relative to `root`, sorted (build output and the
/// shipped copy itself left out).
fn source_files(root: &Path) -> Result<Vec<String>> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
        for entry in fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
            let path = entry?.path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            // Build output, the shipped copy, and documents and manifests, which the
            // compiler never reads.
            let skip = name.as_deref().is_some_and(|n| {
                matches!(n, "target" | "dist") || n.ends_with(".md") || n.ends_with(".yaml")
            });
            if skip {
                continue;
            }
            if path.is_dir() {
                walk(root, &path, out)?;
            } else if let Ok(rel) = path.strip_prefix(root) {
                out.push(rel.to_string_lossy().into_owned());
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for rel in SHIPPED_FROM {
        let path = root.join(rel);
        if path.is_dir() {
            walk(root, &path, &mut out)?;
        } else {
            out.push(rel.to_owned());
        }
    }
    out.sort();
    Ok(out)
}
