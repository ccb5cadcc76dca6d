//! `sdk`: what the guest SDK costs. The SDK's hello (`examples/hello`, one attributed
//! function) against the same greeting written with raw `wasip2` bindings
//! (`examples/hello-http`), both served by one node's ingress (1 replica each, called
//! in-process by the router), the same closed-loop clients (one keep-alive connection
//! each), rounds alternating which goes first: requests/s, p50 and p99 per round, the
//! medians and the ratios; and the two components' sizes.
//!
//! `cargo run --release -p skiff-benches --bin sdk -- [--quick] [--skiff target/release/skiff]`
//! (build the guests first: `cargo xtask guests`).

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Parser;
use skiff_benches::pods::NodeCluster;
use skiff_benches::routing::{Get, alternate, app, ready, ready_endpoints, skiff_cli, until};
use skiff_benches::setup::{Systems, loadavg, skiff_binary, workspace};

#[derive(Debug, Parser)]
#[command(about = "The SDK's hello against raw-bindings hello through the router")]
struct Args {
    /// Rounds per component, alternating which goes first.
    #[arg(long, default_value_t = 6)]
    rounds: usize,
    /// Seconds per round.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent clients, each with its own connection.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// The folder of the built guests (default: examples/target/wasm32-wasip2/release).
    #[arg(long)]
    guests: Option<PathBuf>,
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
        (a.rounds, a.seconds) = (2, 2);
    }
    let skiff = skiff_binary(a.systems.skiff.clone())?;
    let guests = a
        .guests
        .clone()
        .unwrap_or_else(|| workspace().join("examples/target/wasm32-wasip2/release"));
    let (sdk, raw) = (guests.join("hello.wasm"), guests.join("hello_http.wasm"));
    for c in [&sdk, &raw] {
        if !c.is_file() {
            bail!(
                "{} is missing: build the guests (`cargo xtask guests`)",
                c.display()
            );
        }
    }
    let size = |p: &PathBuf| std::fs::metadata(p).map_or(0, |m| m.len());
    let (sdk_size, raw_size) = (size(&sdk), size(&raw));
    let dir = tempfile::tempdir_in(&a.systems.dir)?;
    println!(
        "sdk: {} clients, {} s rounds, load {}",
        a.connections,
        a.seconds,
        loadavg()
    );
    let mut c = NodeCluster::start(&skiff, dir.path(), 110, 256).await?;
    let api = c.api().to_owned();
    let ingress = skiff_benches::routing::node_ingress(&skiff, &api)?;
    let manifests = dir.path().join("apps.yaml");
    std::fs::write(
        &manifests,
        format!(
            "{}---\n{}",
            app("sdk", &sdk.display().to_string(), 1, "sdk.bench", false),
            app("raw", &raw.display().to_string(), 1, "raw.bench", false)
        ),
    )?;
    skiff_cli(
        &skiff,
        &api,
        &["apply", "-f", &manifests.display().to_string()],
    )?;
    for name in ["sdk", "raw"] {
        until(&format!("{name} is ready"), 60, || {
            ready_endpoints(&skiff, &api, name) == 1
        })
        .await?;
        ready(&ingress, &format!("{name}.bench"), &mut c.agent).await?;
    }
    let make = |host: &str| -> Result<Vec<Get>> {
        (0..a.connections)
            .map(|_| Get::new(&ingress, host, "/"))
            .collect()
    };
    let (sk, rw) = (make("sdk.bench")?, make("raw.bench")?);
    println!("(a) hello through the router, a fresh instance per request");
    let (s, r, errors) = alternate(
        ("sdk hello", &sk),
        ("raw hello", &rw),
        a.rounds,
        a.seconds,
        || c.agent.check_running(),
    )
    .await?;
    if errors > 0 {
        bail!("{errors} requests failed (see the rounds above)");
    }
    let (s_rps, s_p50, s_p99) = (s.rps, s.p50, s.p99);
    let (r_rps, r_p50, r_p99) = (r.rps, r.p50, r.p99);
    println!(
        "  ratio sdk/raw: throughput {:.2}x, p50 {:.2}x, p99 {:.2}x (goal: the same within noise)",
        s_rps / r_rps.max(1e-9),
        s_p50 / r_p50.max(1e-9),
        s_p99 / r_p99.max(1e-9)
    );
    println!(
        "(b) component size: sdk {} KiB, raw {} KiB: {:.2}x (goal: <= 1.5x)",
        sdk_size.div_ceil(1024),
        raw_size.div_ceil(1024),
        sdk_size as f64 / raw_size.max(1) as f64
    );
    Ok(())
}
