//! `routing`: Skiff's router against `wasmtime serve`.
//! (a) runwasi's `hello_wasi_http` component served by a node's ingress (1 replica,
//!     called in-process by the router) and by `wasmtime serve` of the same wasmtime
//!     version, one after the other, the same closed-loop clients (one keep-alive
//!     connection each): requests/s, p50 and p99 per round, medians and the ratios;
//! (b) scale from zero: the first request to a Deployment at zero replicas whose
//!     artifact is on the node, against a warm request on the same connection: the added
//!     latency (signed), p50 and p99 over many wake-ups; then cold, where nothing was
//!     prepared (a component the node has never seen, fetched and compiled on the way);
//! (c) with `--baseline PATH`: this build's router against another build's (e.g. the
//!     commit before a change), both serving (a)'s component the same way, rounds
//!     alternated: the change's cost in requests/s and latency.
//!
//! `cargo run --release -p skiff-benches --bin routing -- [--quick] [--skiff target/release/skiff]
//!  [--part a|b|c|all] [--baseline OTHER_SKIFF]`

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::Parser;
use skiff_benches::pods::NodeCluster;
use skiff_benches::report::ms;
use skiff_benches::routing::{
    Get, alternate, app, node_ingress, ready, ready_endpoints, skiff_cli, until, wasmtime_cli,
    wasmtime_serve,
};
use skiff_benches::setup::{Systems, loadavg, skiff_binary, workspace};

#[derive(Debug, Parser)]
#[command(about = "Skiff's router against wasmtime serve; scale from zero")]
struct Args {
    /// Which parts: a (throughput), b (scale from zero), c (against --baseline), or all
    /// (c only with --baseline).
    #[arg(long, default_value = "all")]
    part: String,
    /// (a) rounds per system, alternating which goes first.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// (a) seconds per round.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// (a) concurrent clients, each with its own connection.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// (b) wake-ups measured with the artifact on the node.
    #[arg(long, default_value_t = 30)]
    wakeups: usize,
    /// (b) cold wake-ups: each a new component, fetched and compiled on the first request.
    #[arg(long, default_value_t = 10)]
    cold: usize,
    /// The `wasmtime` CLI (default: installed into target/bench-tools).
    #[arg(long)]
    wasmtime: Option<PathBuf>,
    /// Options for `wasmtime serve`, e.g. `-O pooling-allocator=y` (default: none, as a
    /// user runs it).
    #[arg(long, allow_hyphen_values = true, num_args = 1..)]
    wasmtime_options: Vec<String>,
    /// (c) Another build's `skiff` to compare this one's router with.
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// A smoke run.
    #[arg(long)]
    quick: bool,
    #[command(flatten)]
    systems: Systems,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let mut a = Args::parse();
    if a.quick {
        (a.rounds, a.seconds, a.wakeups, a.cold) = (2, 2, 5, 2);
    }
    let skiff = skiff_binary(a.systems.skiff.clone())?;
    let ws = workspace();
    let component = ws.join("../shared/conformance/components/runwasi-hello_wasi_http.wasm");
    if !component.is_file() {
        bail!(
            "{} is missing (../shared beside the repository)",
            component.display()
        );
    }
    let dir = tempfile::tempdir_in(&a.systems.dir)?;
    println!(
        "routing: {} clients, {} s rounds, wasmtime serve options {:?}, load {}",
        a.connections,
        a.seconds,
        a.wasmtime_options,
        loadavg()
    );
    let Serving {
        mut c,
        api,
        ingress,
    } = serving(&skiff, &component, dir.path(), true).await?;

    if a.part == "all" || a.part == "a" {
        let wasmtime = wasmtime_cli(a.wasmtime.clone(), &ws)?;
        let (mut wt, wt_addr) =
            wasmtime_serve(&wasmtime, &component, dir.path(), &a.wasmtime_options).await?;
        let make = |addr: &str, host: &str| -> Result<Vec<Get>> {
            (0..a.connections)
                .map(|_| Get::new(addr, host, "/"))
                .collect()
        };
        let (sk, an) = (make(&ingress, "hello.bench")?, make(&wt_addr, "localhost")?);
        println!("(a) hello_wasi_http, a fresh instance per request");
        let (s, w, _) = alternate(
            ("skiff ingress", &sk),
            ("wasmtime serve", &an),
            a.rounds,
            a.seconds,
            || {
                c.agent.check_running()?;
                wt.check_running()
            },
        )
        .await?;
        let (s_rps, s_p50, s_p99) = (s.rps, s.p50, s.p99);
        let (w_rps, w_p50, w_p99) = (w.rps, w.p50, w.p99);
        println!(
            "  ratio skiff/wasmtime: throughput {:.2}x, p50 {:.2}x, p99 {:.2}x (goal: >= 1.0x throughput, p99 <= 1.0x)",
            s_rps / w_rps.max(1e-9),
            s_p50 / w_p50.max(1e-9),
            s_p99 / w_p99.max(1e-9)
        );
        wt.kill()?;
    }

    if a.part == "all" || a.part == "b" {
        println!("(b) scale from zero: first request to a Deployment at zero vs a warm request");
        let warm = Get::new(&ingress, "hello.bench", "/")?;
        // Warm: `lazy` serves hello's component, which the node has fetched and compiled.
        let lazy = warm.with_host("lazy.bench")?;
        let mut added = Vec::new();
        for i in 0..a.wakeups {
            until("lazy has no endpoint", 60, || {
                ready_endpoints(&skiff, &api, "lazy") == 0
            })
            .await?;
            added.push(wake(&warm, &lazy, &format!("wake {i}"), i < 3 || a.quick).await?);
            until("lazy is running", 60, || {
                ready_endpoints(&skiff, &api, "lazy") == 1
            })
            .await?;
            skiff_cli(
                &skiff,
                &api,
                &["scale", "deployment/lazy", "--replicas", "0"],
            )?;
        }
        report_added("artifact on the node", &added, "goal < 1 ms");
        // Cold: nothing prepared. Each wake-up is a new Deployment at zero whose component
        // the node has never seen (hello's, with a custom section of its own, so a new
        // digest): its first request waits for the fetch and the compile as well.
        let bytes = std::fs::read(&component)?;
        let mut cold = Vec::new();
        for i in 0..a.cold {
            let name = format!("cold-{i}");
            let path = dir.path().join(format!("{name}.wasm"));
            std::fs::write(&path, with_custom_section(&bytes, &name))?;
            let manifest = dir.path().join(format!("{name}.yaml"));
            let host = format!("{name}.bench");
            std::fs::write(
                &manifest,
                app(&name, &path.display().to_string(), 0, &host, true),
            )?;
            skiff_cli(
                &skiff,
                &api,
                &["apply", "-f", &manifest.display().to_string()],
            )?;
            let target = warm.with_host(&host)?;
            cold.push(wake(&warm, &target, &format!("cold {i}"), i < 3 || a.quick).await?);
        }
        report_added("nothing prepared (fetch and compile)", &cold, "no goal");
    }
    if let Some(baseline) = a
        .baseline
        .as_ref()
        .filter(|_| a.part == "all" || a.part == "c")
    {
        let other = tempfile::tempdir_in(&a.systems.dir)?;
        let mut b = serving(baseline, &component, other.path(), false).await?;
        let make = |addr: &str| -> Result<Vec<Get>> {
            (0..a.connections)
                .map(|_| Get::new(addr, "hello.bench", "/"))
                .collect()
        };
        let (this, that) = (make(&ingress)?, make(&b.ingress)?);
        println!("(c) this build against {}", baseline.display());
        let (s, o, _) = alternate(
            ("this build", &this),
            ("baseline", &that),
            a.rounds,
            a.seconds,
            || {
                c.agent.check_running()?;
                b.c.agent.check_running()
            },
        )
        .await?;
        println!(
            "  ratio this/baseline: throughput {:.3}x, p50 {:.2}x, p99 {:.2}x",
            s.rps / o.rps.max(1e-9),
            s.p50 / o.p50.max(1e-9),
            s.p99 / o.p99.max(1e-9)
        );
    }
    c.agent.check_running()?;
    Ok(())
}

/// Waits for the router to take the latest change, then times five warm requests and
/// the first request to `target`: how much longer that request took than the warm
/// median, in ms (signed), printed as `label` says when `show`.
async fn wake(warm: &Get, target: &Get, label: &str, show: bool) -> Result<f64> {
    // The router sees a change within a few ms; leave it a margin.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut w = Vec::new();
    for _ in 0..5 {
        w.push(warm.once().await.map_err(anyhow::Error::msg)?);
    }
    w.sort();
    let first = target.once().await.map_err(anyhow::Error::msg)?;
    if show {
        println!(
            "  {label}: first {:.3} ms, warm {:.3} ms",
            ms(first),
            ms(w[2])
        );
    }
    // Negative when the first request was the quicker.
    Ok(ms(first) - ms(w[2]))
}

/// The added latency's median and p99 (signed: a first request quicker than the warm
/// median counts below zero, not as zero).
fn report_added(case: &str, added: &[f64], goal: &str) {
    let mut sorted = added.to_vec();
    sorted.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
        sorted.get(i).copied().unwrap_or(f64::NAN)
    };
    println!(
        "  {case}: added latency of the first request over {} wake-ups: p50 {:+.3} ms, p99 {:+.3} ms, min {:+.3} ms ({goal})",
        sorted.len(),
        at(0.5),
        at(0.99),
        at(0.0)
    );
}

/// `component` with a custom section named `skiff-bench` holding `tag` appended: the
/// same program under a new digest.
fn with_custom_section(component: &[u8], tag: &str) -> Vec<u8> {
    let name = b"skiff-bench";
    let mut body = leb128(name.len() as u64);
    body.extend_from_slice(name);
    body.extend_from_slice(tag.as_bytes());
    let mut out = component.to_vec();
    out.push(0); // the custom section's id
    out.extend(leb128(body.len() as u64));
    out.extend(body);
    out
}

fn leb128(mut n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

/// A one-node cluster of `skiff` serving `component` as `hello.bench` (and, with `lazy`,
/// a Deployment at zero as `lazy.bench`), ready.
struct Serving {
    c: NodeCluster,
    api: String,
    ingress: String,
}

async fn serving(
    skiff: &std::path::Path,
    component: &std::path::Path,
    dir: &std::path::Path,
    lazy: bool,
) -> Result<Serving> {
    let mut c = NodeCluster::start(skiff, dir, 110, 256).await?;
    let api = c.api().to_owned();
    let ingress = node_ingress(skiff, &api)?;
    let manifests = dir.join("apps.yaml");
    let image = component.display().to_string();
    std::fs::write(
        &manifests,
        format!(
            "{}---\n{}",
            app("hello", &image, 1, "hello.bench", false),
            if lazy {
                app("lazy", &image, 0, "lazy.bench", true)
            } else {
                String::new()
            }
        ),
    )?;
    skiff_cli(
        skiff,
        &api,
        &["apply", "-f", &manifests.display().to_string()],
    )?;
    until("hello is ready", 60, || {
        ready_endpoints(skiff, &api, "hello") == 1
    })
    .await?;
    ready(&ingress, "hello.bench", &mut c.agent).await?;

    Ok(Serving { c, api, ingress })
}
