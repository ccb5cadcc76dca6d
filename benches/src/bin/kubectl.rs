//! `kubectl`: the Kubernetes REST API through real kubectl against the same operations
//! through the `skiff` CLI (gRPC), on one member, both as whole commands a user runs
//! (process start, TLS, discovery from kubectl's warm cache, the request, printing):
//!
//! - `get pods` of `--pods` pods (a server-side Table for kubectl, a table for skiff);
//! - the same list as JSON (`kubectl get --raw` vs `skiff get -o json`);
//! - `apply` of `--objects` ConfigMaps, each changed every round: kubectl's client-side
//!   apply (a GET and a strategic PATCH per object, validated by the server), then
//!   kubectl's server-side apply (one PATCH per object), each against skiff's apply
//!   (server-side, one call per object). Both sides own their fields (managedFields).
//!
//! Rounds alternate which goes first. It prints medians, p90 and the ratios.
//!
//! `cargo run --release -p skiff-benches --bin kubectl -- --skiff target/release/skiff [--quick]`

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use skiff_benches::cluster::Cluster;
use skiff_benches::pki;
use skiff_benches::report::{ms, percentile};
use skiff_benches::setup::{loadavg, skiff_binary, workspace};
use skiff_proto::grpc::api::CreateRequest;

#[derive(Debug, Parser)]
#[command(about = "kubectl over Skiff's REST API against the skiff CLI over gRPC")]
struct Args {
    #[arg(long)]
    skiff: Option<PathBuf>,
    /// kubectl (default: the one `cargo xtask test` fetches into target/tools).
    #[arg(long)]
    kubectl: Option<PathBuf>,
    #[arg(long, default_value_t = 1000)]
    pods: usize,
    #[arg(long, default_value_t = 100)]
    objects: usize,
    /// Measured runs of each command per side.
    #[arg(long, default_value_t = 15)]
    runs: usize,
    /// A smoke run: 100 pods, 10 objects, 3 runs.
    #[arg(long)]
    quick: bool,
    #[arg(long, default_value_os_t = std::env::temp_dir())]
    dir: PathBuf,
}

/// Runs `c` once and returns how long it took; fails with its output if it fails.
fn timed(c: &mut Command) -> Result<Duration> {
    let start = Instant::now();
    let out = c.output().context("running a client")?;
    let took = start.elapsed();
    if !out.status.success() {
        bail!(
            "{:?} failed: {}{}",
            c.get_program(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(took)
}

struct Clients {
    kubectl: PathBuf,
    kubeconfig: PathBuf,
    cache: PathBuf,
    skiff: PathBuf,
    server: String,
    credentials: PathBuf,
}

impl Clients {
    fn kubectl(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.kubectl);
        c.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache)
            .args(args);
        c
    }

    fn skiff(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.skiff);
        c.args(args)
            .env("SKIFF_SERVER", &self.server)
            .env("SKIFF_CREDENTIALS", &self.credentials)
            .env("HOME", "/nonexistent");
        c
    }
}

/// One comparison: `runs` of each side, alternating which goes first.
fn compare(
    name: &str,
    runs: usize,
    mut kubectl: impl FnMut(usize) -> Result<Duration>,
    mut skiff: impl FnMut(usize) -> Result<Duration>,
) -> Result<()> {
    // One unmeasured run each warms caches on both sides.
    kubectl(usize::MAX)?;
    skiff(usize::MAX)?;
    let (mut k, mut s) = (Vec::new(), Vec::new());
    for r in 0..runs {
        if r % 2 == 0 {
            k.push(kubectl(r)?);
            s.push(skiff(r)?);
        } else {
            s.push(skiff(r)?);
            k.push(kubectl(r)?);
        }
    }
    k.sort();
    s.sort();
    let (km, sm) = (ms(percentile(&k, 0.5)), ms(percentile(&s, 0.5)));
    println!(
        "  {name:<34} kubectl p50 {km:>8.1} ms  p90 {:>8.1} ms | skiff p50 {sm:>8.1} ms  p90 {:>8.1} ms | ratio {:.2}x",
        ms(percentile(&k, 0.9)),
        ms(percentile(&s, 0.9)),
        km / sm
    );
    Ok(())
}

fn pod(i: usize) -> Vec<u8> {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: p{i:05}, namespace: bench, labels: {{app: bench}}}}\nspec:\n  runtimeClassName: wasm\n  containers: [{{name: c, image: \"sha256:{}\"}}]\n",
        "0".repeat(64)
    )
    .into_bytes()
}

/// `n` ConfigMaps named `PREFIX-i` with `value`, one file for the whole set.
fn config_maps(dir: &Path, prefix: &str, n: usize, value: usize) -> Result<PathBuf> {
    let path = dir.join(format!("{prefix}.yaml"));
    let text: String = (0..n)
        .map(|i| format!("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {prefix}-{i}, namespace: bench}}\ndata: {{round: \"{value}\"}}\n"))
        .collect();
    std::fs::write(&path, text)?;
    Ok(path)
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut a = Args::parse();
    if a.quick {
        (a.pods, a.objects, a.runs) = (100, 10, 3);
    }
    let bin = skiff_binary(a.skiff.clone())?;
    let kubectl = a
        .kubectl
        .clone()
        .unwrap_or_else(|| workspace().join("target/tools/kubectl-1.36.4/kubectl"));
    if !kubectl.is_file() {
        bail!(
            "{}: no kubectl (run `cargo xtask test` once, or pass --kubectl)",
            kubectl.display()
        );
    }
    println!(
        "kubectl: {} pods, {} objects, {} runs, load {}",
        a.pods,
        a.objects,
        a.runs,
        loadavg()
    );
    let cluster = Cluster::skiff_members(&bin, &a.dir, 1)?;
    let server = cluster.api[0].clone();
    let work = tempfile::tempdir_in(&a.dir)?;
    let c = Clients {
        kubectl,
        kubeconfig: work.path().join("kubeconfig"),
        cache: work.path().join("cache"),
        skiff: bin.clone(),
        server: server.clone(),
        credentials: pki::admin()?,
    };
    // The member elects itself; then the namespace and the pods.
    let mut api = skiff_benches::namespace_on(&cluster, "bench").await?;
    for i in 0..a.pods {
        api.create(CreateRequest {
            manifest: pod(i),
            ..Default::default()
        })
        .await?;
    }
    let kc = c.kubeconfig.to_str().context("a UTF-8 path")?.to_owned();
    timed(c.skiff(&["config", "--output", &kc]).env_remove("HOME"))?;

    // What each client costs before it talks to a server at all.
    compare(
        "start only (version --client)",
        a.runs,
        |_| timed(&mut c.kubectl(&["version", "--client"])),
        |_| timed(&mut c.skiff(&["--version"])),
    )?;
    compare(
        &format!("get pods ({} pods, table)", a.pods),
        a.runs,
        |_| timed(&mut c.kubectl(&["get", "pods", "-n", "bench"])),
        |_| timed(&mut c.skiff(&["get", "pods", "-n", "bench"])),
    )?;
    compare(
        &format!("list {} pods as JSON", a.pods),
        a.runs,
        |_| timed(&mut c.kubectl(&["get", "--raw", "/api/v1/namespaces/bench/pods"])),
        |_| timed(&mut c.skiff(&["get", "pods", "-n", "bench", "-o", "json"])),
    )?;
    let files = work.path().to_path_buf();
    compare(
        &format!("apply {} changed objects", a.objects),
        a.runs,
        |r| {
            let f = config_maps(&files, "k", a.objects, r)?;
            timed(&mut c.kubectl(&["apply", "-f", f.to_str().unwrap_or_default()]))
        },
        |r| {
            let f = config_maps(&files, "s", a.objects, r)?;
            timed(&mut c.skiff(&["apply", "-f", f.to_str().unwrap_or_default()]))
        },
    )?;
    compare(
        &format!("apply --server-side {} changed objects", a.objects),
        a.runs,
        |r| {
            let f = config_maps(&files, "ks", a.objects, r)?;
            let path = f.to_str().unwrap_or_default();
            timed(&mut c.kubectl(&["apply", "--server-side", "-f", path]))
        },
        |r| {
            let f = config_maps(&files, "ss", a.objects, r)?;
            timed(&mut c.skiff(&["apply", "-f", f.to_str().unwrap_or_default()]))
        },
    )?;
    drop(cluster);
    Ok(())
}
