//! `dashboard`: the web dashboard in headless Chromium against one member holding 100
//! nodes and 1,000 pods.
//!
//! - First meaningful paint of the overview: from navigation (a logged-in browser opening
//!   `/ui/`, nothing cached) to the page's `skiff:overview-ready` mark, set when every section of the overview
//!   has drawn its first list; beside it Chromium's first contentful paint, and the bytes
//!   the page fetched (page, scripts, logins and lists; the open watch streams are not
//!   finished responses and are not counted). Goal: under 1 s.
//! - What the dashboard costs the API: apply p50/p99 from `--clients` closed-loop writers
//!   of 1 KiB ConfigMaps (the `store` bench's writes), in rounds (in turn, each in another
//!   order) with no list open, the overview open, and the ConfigMaps list open (which
//!   follows every one of those writes over its watch); with the member's and the
//!   browser's CPU per write. The browser runs at `--browser-nice` (19) meanwhile: on
//!   this 2-core machine it shares the member's cores, where a user's browser would run
//!   on their own machine. A fourth side ("watch") follows the ConfigMaps page's list
//!   and watch with a bare client (the same requests over HTTP/2, the bytes counted and
//!   dropped) while the browser shows the "none" page: the API's own cost of that page.
//!   Goal: p99 within 5 % of the rounds with no list open.
//!
//! `cargo run --release -p skiff-benches --bin dashboard -- --skiff target/release/skiff`
//! (needs `chromium` and `chromedriver`, as `cargo xtask test` installs them).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;
use serde_json::{Value, json};
use skiff_benches::cluster::{Cluster, group_cpu_time};
use skiff_benches::load::{self, Round};
use skiff_benches::report::{ms, percentile};
use skiff_benches::setup::{loadavg, skiff_binary};
use skiff_benches::skiff::Skiff;
use skiff_benches::watches::Follower;
use skiff_benches::webdriver::Browser;

/// The collection the ConfigMaps page lists and watches.
const CONFIGMAPS: &str = "/api/v1/namespaces/default/configmaps";
use skiff_proto::grpc::api::CreateRequest;

#[derive(Debug, Parser)]
#[command(
    about = "The web dashboard: first meaningful paint with 100 nodes and 1,000 pods, and its cost to the API"
)]
struct Args {
    /// The skiff binary (default: target/release/skiff, built if missing).
    #[arg(long)]
    skiff: Option<PathBuf>,
    /// Where the member's data goes (a temporary folder under it).
    #[arg(long, default_value = "/tmp")]
    dir: PathBuf,
    /// Page loads measured.
    #[arg(long, default_value_t = 15)]
    loads: usize,
    /// Nodes and pods the member holds.
    #[arg(long, default_value_t = 100)]
    nodes: usize,
    #[arg(long, default_value_t = 1000)]
    pods: usize,
    /// Writers, rounds (per side) and seconds per round for the API's cost.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    #[arg(long, default_value_t = 4)]
    rounds: usize,
    #[arg(long, default_value_t = 5.0)]
    round_secs: f64,
    /// The browser's nice value while the API's cost is measured (19: it yields to the
    /// member, as a browser on the user's own machine would not compete with it at all).
    #[arg(long, default_value_t = 19)]
    browser_nice: i32,
    /// One load, one round of 1 s per side.
    #[arg(long)]
    quick: bool,
}

/// Nodes that never report (NotReady) and pods waiting for them, as the overview lists
/// them: what a browser must fetch and draw.
async fn populate(cluster: &Cluster, nodes: usize, pods: usize) -> Result<()> {
    let mut api = skiff_benches::namespace_on(cluster, "bench").await?;
    let nodes = (0..nodes).map(|i| {
        let m = format!("apiVersion: v1\nkind: Node\nmetadata: {{name: node-{i:03}}}\n");
        (format!("node-{i:03}"), m)
    });
    let image = format!("sha256:{}", "0".repeat(64));
    let pods = (0..pods).map(|i| {
        let m = format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: pod-{i:04}, namespace: bench, labels: {{app: bench}}}}\nspec:\n  runtimeClassName: wasm\n  containers: [{{name: main, image: '{image}'}}]\n"
        );
        (format!("pod-{i:04}"), m)
    });
    for (name, m) in nodes.chain(pods) {
        api.create(CreateRequest {
            manifest: m.into_bytes(),
            ..Default::default()
        })
        .await
        .with_context(|| format!("creating {name}"))?;
    }
    Ok(())
}

/// A one-time login URL for the admin, from `skiff dashboard`.
fn login(bin: &std::path::Path, addr: &str) -> Result<String> {
    let out = Command::new(bin)
        .args(["dashboard", "--server", addr, "--credentials"])
        .arg(skiff_benches::pki::admin()?)
        .env("HOME", "/nonexistent")
        .output()
        .context("running skiff dashboard")?;
    if !out.status.success() {
        bail!("skiff dashboard: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

/// Logs the browser in through a one-time link (and its "continue as" step).
fn log_in(b: &Browser, url: &str) {
    b.goto(url);
    b.wait_text("#continue", Duration::from_secs(30), |t| !t.is_empty());
    b.run("document.getElementById('continue').click();", json!([]));
    b.wait_text("main h1", Duration::from_secs(30), |t| t == "Overview");
}

/// One load of the overview by a logged-in browser: (ready ms, first contentful paint ms,
/// bytes fetched).
fn load_overview(b: &Browser, url: &str, nodes: usize) -> Result<(f64, f64, f64)> {
    b.goto("about:blank");
    b.goto(url);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let figures = loop {
        let v = b.run(
            "const r = performance.getEntriesByName('skiff:overview-ready')[0];
             if (!r) return null;
             const fcp = performance.getEntriesByName('first-contentful-paint')[0];
             const nav = performance.getEntriesByType('navigation')[0];
             const bytes = performance.getEntriesByType('resource').reduce((n, e) => n + e.encodedBodySize, nav.encodedBodySize);
             return [r.startTime, fcp ? fcp.startTime : 0, bytes];",
            json!([]),
        );
        if let Value::Array(a) = v {
            break a;
        }
        if std::time::Instant::now() > deadline {
            bail!(
                "the overview did not finish drawing within 60 s: {:?}",
                b.text("main")
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let f = |i: usize| figures.get(i).and_then(Value::as_f64).unwrap_or(0.0);
    let rows = b.run(
        "return document.querySelectorAll('#nodes tbody tr').length;",
        json!([]),
    );
    if rows.as_u64() != Some(nodes as u64) {
        bail!("the overview shows {rows} node rows");
    }
    Ok((f(0), f(1), f(2)))
}

fn main() -> Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut a = Args::parse();
    if a.quick {
        (a.loads, a.rounds, a.round_secs) = (1, 1, 1.0);
    }
    let bin = skiff_binary(a.skiff.clone())?;
    let rt = tokio::runtime::Runtime::new()?;
    println!(
        "dashboard: {} nodes, {} pods, {} page loads; API cost: {} writers, {} rounds of {} s per side; load {}",
        a.nodes,
        a.pods,
        a.loads,
        a.clients,
        a.rounds,
        a.round_secs,
        loadavg()
    );
    let cluster = Cluster::skiff_members(&bin, &a.dir, 1)?;
    let addr = cluster.api[0].clone();
    rt.block_on(populate(&cluster, a.nodes, a.pods))?;
    let b = Browser::start();

    let (mut ready, mut fcp, mut bytes) = (Vec::new(), Vec::new(), Vec::new());
    log_in(&b, &login(&bin, &addr)?);
    let page = format!("https://{addr}/ui/#/");
    // One unmeasured load warms the member's caches.
    load_overview(&b, &page, a.nodes)?;
    for _ in 0..a.loads {
        let (r, f, n) = load_overview(&b, &page, a.nodes)?;
        ready.push(Duration::from_secs_f64(r / 1000.0));
        fcp.push(Duration::from_secs_f64(f / 1000.0));
        bytes.push(n);
    }
    ready.sort();
    fcp.sort();
    bytes.sort_by(f64::total_cmp);
    println!("\noverview, {} loads (logged in, nothing cached):", a.loads);
    println!(
        "  ready (first meaningful paint)  median {:>7.1} ms   max {:>7.1} ms   (goal < 1000 ms)",
        ms(percentile(&ready, 0.5)),
        ms(*ready.last().unwrap_or(&Duration::ZERO))
    );
    println!(
        "  first contentful paint          median {:>7.1} ms   max {:>7.1} ms",
        ms(percentile(&fcp, 0.5)),
        ms(*fcp.last().unwrap_or(&Duration::ZERO))
    );
    println!(
        "  bytes fetched                   median {:>7.0} KiB",
        bytes.get(bytes.len() / 2).copied().unwrap_or(0.0) / 1024.0
    );

    // The API's apply latency with no page following the writes, the overview open, and
    // the ConfigMaps list open (it follows every write).
    b.renice(a.browser_nice);
    let writers = rt.block_on(load::connect::<Skiff>(&cluster.api, a.clients))?;
    // The page open, and whether a bare client follows the ConfigMaps list's watch
    // meanwhile (the list's cost to the API without the browser's own CPU on its cores).
    let none = "#/nodes/node-000";
    let pages = [
        ("none", none, false),
        ("overview", "#/", false),
        ("configmaps", "#/configmaps?namespace=default", false),
        ("watch", none, true),
    ];
    let mut sides: Vec<Side> = pages.iter().map(|_| Side::default()).collect();
    rt.block_on(load::run(&writers, Duration::from_secs(1), "warm"));
    for r in 0..a.rounds {
        // Each round in another order.
        for i in 0..pages.len() {
            let i = (i + r) % pages.len();
            b.run("location.hash = arguments[0];", json!([pages[i].1]));
            let follower = match pages[i].2 {
                true => Some(rt.block_on(Follower::start(&addr, CONFIGMAPS, 500))?),
                false => None,
            };
            std::thread::sleep(Duration::from_millis(500));
            let (member, browser) = (cluster.cpu_time(), group_cpu_time(b.process_group()));
            let res = rt.block_on(load::run(
                &writers,
                Duration::from_secs_f64(a.round_secs),
                &format!("r{r}-{}", pages[i].0),
            ));
            if res.errors > 0 {
                bail!("{} writes failed: {:?}", res.errors, res.first_error);
            }
            if follower.as_ref().is_some_and(|f| !f.running()) {
                bail!("the followed watch of {CONFIGMAPS} ended during the round");
            }
            drop(follower);
            let side = &mut sides[i];
            side.member += cluster.cpu_time().saturating_sub(member);
            side.browser += group_cpu_time(b.process_group()).saturating_sub(browser);
            side.rounds.push(res);
        }
    }
    b.run(
        "location.hash = arguments[0];",
        json!(["#/configmaps?namespace=default"]),
    );
    let shown = b.wait_text("#configmaps-count", Duration::from_secs(30), |t| {
        !t.is_empty()
    });
    println!(
        "\napply from {} writers with each page open (the browser at nice {}: it stands in \
         for a browser on another machine; its CPU is shown beside):",
        a.clients, a.browser_nice
    );
    println!(
        "  page          writes/s    p50 ms    p99 ms   p99/none   member µs/write   browser µs/write"
    );
    let none = sides[0].summary();
    for (side, (name, _, _)) in sides.iter().zip(pages) {
        let (rate, p50, p99, member, browser) = side.summary();
        println!(
            "  {name:<12}  {rate:>8.0}  {:>8.2}  {:>8.2}   {:>8.3}   {member:>15.0}   {browser:>16.0}",
            ms(p50),
            ms(p99),
            ms(p99) / ms(none.2).max(1e-9),
        );
    }
    println!(
        "  (\"watch\": the ConfigMaps list's list and watch followed by a bare client, the browser on the \"none\" page)"
    );
    println!("  goal: p99/none <= 1.05; the ConfigMaps list said at the end: {shown}");
    println!("  load average at the end: {}", loadavg());
    Ok(())
}

/// The rounds with one page open, and the CPU used meanwhile.
#[derive(Default)]
struct Side {
    rounds: Vec<Round>,
    member: Duration,
    browser: Duration,
}

impl Side {
    /// Writes/s (mean of rounds), p50, p99, and the member's and browser's CPU µs per
    /// write.
    fn summary(&self) -> (f64, Duration, Duration, f64, f64) {
        let mut lat: Vec<Duration> = self
            .rounds
            .iter()
            .flat_map(|r| r.latencies.iter().copied())
            .collect();
        lat.sort();
        let rate: Vec<f64> = self.rounds.iter().map(Round::writes_per_sec).collect();
        let writes = lat.len().max(1) as f64;
        (
            rate.iter().sum::<f64>() / rate.len().max(1) as f64,
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
            self.member.as_secs_f64() * 1e6 / writes,
            self.browser.as_secs_f64() * 1e6 / writes,
        )
    }
}
