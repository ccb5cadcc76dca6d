//! What the tests need from the machine, and apt-get for whatever is missing.
//!
//! Each check names the command or file it looked for and the Debian package that provides
//! it, so the log says exactly what was missing and what was installed. Nothing is skipped:
//! when a need cannot be met here (not root, no apt-get), the command the user must run is
//! printed and xtask fails.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};

use crate::cmd;

/// Something the machine lacks, and the Debian package that brings it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// What was looked for and not found, as a user would check it.
    pub what: String,
    /// The Debian package that provides it.
    pub package: &'static str,
}

impl Missing {
    fn new(what: impl Into<String>, package: &'static str) -> Self {
        Self {
            what: what.into(),
            package,
        }
    }
}

/// The oldest Debian `rustc`/`cargo` that builds the guests: `wasip2` (the guests' WASI
/// bindings) needs 1.87, and bookworm's plain `rustc`/`cargo` packages (1.63) also live at
/// `/usr/bin/rustc` and `/usr/bin/cargo`, so existence alone proves nothing.
const MIN_DEBIAN_RUST: (u32, u32) = (1, 87);

/// What the end-to-end tests run beside Skiff: `runc` for containers, the CNI reference
/// plugins for their pod networks, `ip` to bring up the tests' own network namespaces, a
/// static `busybox` to fill test images, a local OCI registry and `skopeo`,
/// `htpasswd` for a registry that wants a password, Prometheus to scrape a cluster, pip
/// to fetch kubectl, and Chromium with chromedriver and Firefox for the dashboard
/// (geckodriver, which Debian lacks, comes from crates.io: see `clients`).
pub fn test_host_missing() -> Vec<Missing> {
    let mut missing = Vec::new();
    for (command, package) in [
        ("runc", "runc"),
        ("ip", "iproute2"),
        ("docker-registry", "docker-registry"),
        ("skopeo", "skopeo"),
        ("htpasswd", "apache2-utils"),
        // Scrapes a test cluster (the observability tests).
        ("prometheus", "prometheus"),
        // kubectl comes from PyPI (see `clients`).
        ("pip3", "python3-pip"),
        // The dashboard's tests drive a headless browser through WebDriver.
        ("chromium", "chromium"),
        ("chromedriver", "chromium-driver"),
        ("firefox-esr", "firefox-esr"),
    ] {
        if which(command).is_none() {
            missing.push(Missing::new(format!("command `{command}`"), package));
        }
    }
    for plugin in ["bridge", "host-local", "loopback"] {
        let path = Path::new("/usr/lib/cni").join(plugin);
        if !path.is_file() {
            missing.push(Missing::new(
                format!("the CNI plugin {}", path.display()),
                "containernetworking-plugins",
            ));
        }
    }
    // A dynamically linked busybox (package `busybox`) does not run inside a bare rootfs.
    match which("busybox") {
        None => missing.push(Missing::new("command `busybox`", "busybox-static")),
        Some(path) => {
            if !is_static_elf(&path).unwrap_or(false) {
                missing.push(Missing::new(
                    format!(
                        "a statically linked busybox ({} is dynamic)",
                        path.display()
                    ),
                    "busybox-static",
                ));
            }
        }
    }
    missing
}

/// Debian's wasm guest toolchain (see ../shared/TOOLCHAIN.md): rustc-web and cargo-web with
/// std's source (built for wasm with `-Zbuild-std`), rust-lld and wasm-component-ld, and
/// wasi-libc for the wasm32-wasip2 std to link against.
pub fn debian_toolchain_missing() -> Vec<Missing> {
    let mut missing = Vec::new();
    for (tool, package) in [("rustc", "rustc-web"), ("cargo", "cargo-web")] {
        let path = PathBuf::from("/usr/bin").join(tool);
        match version_of(&path) {
            None => missing.push(Missing::new(format!("{}", path.display()), package)),
            Some(version) if version < MIN_DEBIAN_RUST => missing.push(Missing::new(
                format!(
                    "{} {}.{} or newer (found {}.{})",
                    path.display(),
                    MIN_DEBIAN_RUST.0,
                    MIN_DEBIAN_RUST.1,
                    version.0,
                    version.1
                ),
                package,
            )),
            Some(_) => {}
        }
    }
    let files = [
        (
            "/usr/lib/rustlib/src/rust/library/std/Cargo.toml",
            "rust-web-src",
        ),
        (
            "/usr/lib/rustlib/x86_64-unknown-linux-gnu/bin/wasm-component-ld",
            "rust-web-llvm",
        ),
        ("/usr/lib/wasm32-wasi/libc.a", "wasi-libc"),
    ];
    for (file, package) in files {
        if !Path::new(file).is_file() {
            missing.push(Missing::new(file, package));
        }
    }
    // rust-web-llvm ships /usr/bin/rust-lld as a link to lld-22, which it does not depend on.
    let rust_lld = Path::new("/usr/bin/rust-lld");
    let has_link = fs::symlink_metadata(rust_lld).is_ok();
    if !has_link {
        missing.push(Missing::new("/usr/bin/rust-lld", "rust-web-llvm"));
    }
    if !Path::new("/usr/bin/lld-22").is_file() {
        missing.push(Missing::new(
            "/usr/bin/lld-22 (the linker /usr/bin/rust-lld points to)",
            "lld-22",
        ));
    } else if has_link && !rust_lld.is_file() {
        missing.push(Missing::new(
            "/usr/bin/rust-lld resolving to a file (it is a dangling link)",
            "lld-22",
        ));
    }
    missing
}

/// Makes sure `check` finds nothing missing, installing the packages it names if needed.
/// `label` says what the needs are for, in the log.
pub fn ensure(label: &str, check: fn() -> Vec<Missing>) -> Result<()> {
    let missing = check();
    if missing.is_empty() {
        eprintln!("xtask: {label}: all present");
        return Ok(());
    }
    for need in &missing {
        eprintln!(
            "xtask: {label}: missing {} (package {})",
            need.what, need.package
        );
    }
    let packages = packages_of(&missing);
    install(&packages)?;
    let still = check();
    if !still.is_empty() {
        let list: Vec<String> = still
            .iter()
            .map(|need| format!("{} (package {})", need.what, need.package))
            .collect();
        bail!(
            "{label}: still missing after installing {}: {}",
            packages.join(" "),
            list.join("; ")
        );
    }
    eprintln!("xtask: {label}: installed {}", packages.join(" "));
    Ok(())
}

/// The packages to install for `missing`, each once, in the order first needed.
fn packages_of(missing: &[Missing]) -> Vec<&'static str> {
    let mut packages = Vec::new();
    for need in missing {
        if !packages.contains(&need.package) {
            packages.push(need.package);
        }
    }
    packages
}

/// Installs Debian packages, or fails with the command the user must run.
fn install(packages: &[&str]) -> Result<()> {
    let install_line = format!(
        "apt-get install -y --no-install-recommends {}",
        packages.join(" ")
    );
    let has_apt = which("apt-get").is_some();
    if !has_apt || !is_root() {
        let why = if has_apt {
            "installing needs root"
        } else {
            "apt-get is not here (this is written for Debian; install the equivalents)"
        };
        bail!("{why}; run:\n    sudo apt-get update && sudo {install_line}\nthen run xtask again");
    }
    eprintln!("xtask: installing {}", packages.join(" "));
    // `apt-get update` always, once, before installing: a fresh machine (CI's, a new
    // container) may have no package lists or stale ones whose versions are gone from the
    // mirror, and telling those failures apart from a real one is not worth it. It costs a few
    // seconds and only runs when something is missing, so a set-up machine never pays it;
    // a second install in the same run (the guest toolchain after the test tools) skips it.
    static UPDATED: AtomicBool = AtomicBool::new(false);
    if !UPDATED.swap(true, Ordering::SeqCst) {
        cmd::run(Command::new("apt-get").args(["update", "-q"]))?;
    }
    cmd::run(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(packages),
    )
    .context("apt-get could not install what the tests need")
}

fn is_root() -> bool {
    cmd::probe(Command::new("id").arg("-u")).is_some_and(|uid| uid.trim() == "0")
}

/// Finds `name` on PATH, like `command -v`.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// `(major, minor)` of a `rustc`/`cargo` binary, from `--version` (`rustc 1.96.0 (...)`).
fn version_of(tool: &Path) -> Option<(u32, u32)> {
    let output = cmd::probe(Command::new(tool).arg("--version"))?;
    parse_version(&output)
}

fn parse_version(output: &str) -> Option<(u32, u32)> {
    let version = output.split_whitespace().nth(1)?;
    let mut parts = version.split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// Whether `path` is an ELF executable without a program interpreter (statically linked).
fn is_static_elf(path: &Path) -> Result<bool> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(elf_has_no_interpreter(&bytes).unwrap_or(false))
}

/// Reads a little-endian ELF64 header's program headers; `None` if it is not one.
fn elf_has_no_interpreter(bytes: &[u8]) -> Option<bool> {
    const PT_INTERP: u32 = 3;
    let field = |at: usize, len: usize| bytes.get(at..at + len);
    // Magic, 64-bit class, little-endian.
    if field(0, 6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let u16_at = |at| field(at, 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize);
    let phoff = usize::try_from(u64::from_le_bytes(field(0x20, 8)?.try_into().ok()?)).ok()?;
    let phentsize = u16_at(0x36)?;
    let phnum = u16_at(0x38)?;
    for index in 0..phnum {
        let header = phoff.checked_add(index.checked_mul(phentsize)?)?;
        let kind = u32::from_le_bytes(field(header, 4)?.try_into().ok()?);
        if kind == PT_INTERP {
            return Some(false);
        }
    }
    Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_from_rustc_and_cargo() {
        assert_eq!(
            parse_version("rustc 1.96.0 (abc 2026-01-01) (built from a source tarball)"),
            Some((1, 96))
        );
        assert_eq!(parse_version("cargo 0.66.0"), Some((0, 66)));
        assert_eq!(parse_version("rustc 1.97.0-nightly"), Some((1, 97)));
        assert_eq!(parse_version("garbage"), None);
    }

    #[test]
    fn packages_are_listed_once_in_order() {
        let missing = [
            Missing::new("/usr/bin/rust-lld", "rust-web-llvm"),
            Missing::new("/usr/bin/rustc", "rustc-web"),
            Missing::new("wasm-component-ld", "rust-web-llvm"),
        ];
        assert_eq!(packages_of(&missing), ["rust-web-llvm", "rustc-web"]);
    }

    #[test]
    fn elf_probe_rejects_what_is_not_elf() {
        assert_eq!(elf_has_no_interpreter(b""), None);
        assert_eq!(elf_has_no_interpreter(b"#!/bin/sh\n"), None);
    }

    #[test]
    fn a_dynamic_executable_is_not_static() {
        // The test binary itself is dynamically linked against glibc.
        let me = std::env::current_exe().expect("the test binary has a path");
        assert!(!is_static_elf(&me).expect("the test binary is readable"));
    }
}
