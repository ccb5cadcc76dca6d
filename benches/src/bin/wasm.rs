//! `wasm`: the Wasm runtime and the node agent.
//! (a) one HTTP request in a fresh instance through Skiff's runtime against wasmtime's own
//!     `ProxyPre` + pooling path, in-process, same run: p50/p99 and the ratio;
//! (c) pod start: a pod created already bound to the node until the agent reports it
//!     Running, one at a time: p50/p99 (the first, which compiles, reported apart);
//! (b) density: one node runs N HTTP pods built from M distinct components (each answers
//!     one request once started) plus K long-running `wasi:cli` pods sleeping in a host
//!     call: pods started, time to start them all, the agent's resident memory per pod.
//!
//! `cargo run --release -p skiff-benches --bin wasm -- [--quick] [--skiff target/release/skiff]`

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use clap::Parser;
use skiff_benches::instantiate::{self, Baseline, Skiff};
use skiff_benches::pods::{self, NodeCluster, Running};
use skiff_benches::report::{ms, percentile};
use skiff_benches::setup::{Systems, loadavg, skiff_binary};

#[derive(Debug, Parser)]
#[command(about = "Skiff's Wasm runtime: per-request instantiation, pod start, density")]
struct Args {
    /// Which parts: a (instantiate), b (density), c (pod start), or all.
    #[arg(long, default_value = "all")]
    part: String,
    /// (a) requests per round and system.
    #[arg(long, default_value_t = 2000)]
    requests: usize,
    /// (a) rounds, alternating which system goes first.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// (c) pods started one at a time.
    #[arg(long, default_value_t = 200)]
    start_pods: usize,
    /// (b) HTTP pods.
    #[arg(long, default_value_t = 10_000)]
    http_pods: usize,
    /// (b) distinct components the HTTP pods are built from.
    #[arg(long, default_value_t = 100)]
    components: usize,
    /// (b) long-running sleeping pods.
    #[arg(long, default_value_t = 1000)]
    sleep_pods: usize,
    /// A smoke run: few requests and pods.
    #[arg(long)]
    quick: bool,
    #[command(flatten)]
    systems: Systems,
}

fn summary(label: &str, mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let (p50, p99) = (ms(percentile(&v, 0.5)), ms(percentile(&v, 0.99)));
    let total: Duration = v.iter().sum();
    println!(
        "  {label:<26} n={:<6} p50 {p50:>8.3} ms   p99 {p99:>8.3} ms   {:>8.0} req/s (one at a time)",
        v.len(),
        v.len() as f64 / total.as_secs_f64().max(1e-9)
    );
    (p50, p99)
}

async fn part_a(a: &Args, component: &[u8]) -> Result<()> {
    println!("(a) one request in a fresh instance, in-process (runwasi hello_wasi_http)");
    let skiff = Skiff::new(component)?;
    let base = Baseline::new(component)?;
    instantiate::measure(200, || skiff.call()).await?;
    instantiate::measure(200, || base.call()).await?;
    let (mut s, mut b) = (Vec::new(), Vec::new());
    for round in 0..a.rounds {
        if round % 2 == 0 {
            s.extend(instantiate::measure(a.requests, || skiff.call()).await?);
            b.extend(instantiate::measure(a.requests, || base.call()).await?);
        } else {
            b.extend(instantiate::measure(a.requests, || base.call()).await?);
            s.extend(instantiate::measure(a.requests, || skiff.call()).await?);
        }
    }
    let (s50, s99) = summary("skiff Handler", s);
    let (b50, b99) = summary("wasmtime ProxyPre+pooling", b);
    println!(
        "  ratio skiff/wasmtime: p50 {:.3}x   p99 {:.3}x   (goal <= 1.1x)",
        s50 / b50,
        s99 / b99
    );
    Ok(())
}

async fn part_c(a: &Args, bin: &std::path::Path, component: &[u8]) -> Result<()> {
    println!("(c) pod start: created bound to the node -> seen Running, one at a time");
    let c = NodeCluster::start(bin, &a.systems.dir, a.start_pods as u32 + 10, 256).await?;
    let image = pods::upload(c.api(), component).await?;
    let running = Running::watch(c.api()).await?;
    let mut lat = Vec::new();
    let mut first = None;
    for i in 0..=a.start_pods {
        let name = format!("start-{i}");
        let began = Instant::now();
        pods::create_all(c.api(), vec![pods::pod(&name, &image, &[])], 1).await?;
        if running
            .wait_all(std::slice::from_ref(&name), Duration::from_secs(60))
            .await
            != 1
        {
            bail!("{name} never ran:\n{}", c.agent.log_tail(3000));
        }
        let (at, _) = running.get(&name).unwrap_or((Instant::now(), None));
        let d = at.saturating_duration_since(began);
        if i == 0 {
            first = Some(d);
        } else {
            lat.push(d);
        }
    }
    if let Some(f) = first {
        println!(
            "  first pod (fetches and compiles the component): {:.1} ms",
            ms(f)
        );
    }
    summary("later pods (cached component)", lat);
    Ok(())
}

async fn part_b(a: &Args, bin: &std::path::Path, component: &[u8], sleep: &[u8]) -> Result<()> {
    println!(
        "(b) density: {} HTTP pods from {} components + {} sleeping wasi:cli pods on one node",
        a.http_pods, a.components, a.sleep_pods
    );
    let total = (a.http_pods + a.sleep_pods) as u32;
    let c =
        NodeCluster::start(bin, &a.systems.dir, total + 100, a.sleep_pods as u32 + 1024).await?;
    let mut images = Vec::new();
    for i in 0..a.components.max(1) {
        images.push(pods::upload(c.api(), &pods::variant(component, i)).await?);
    }
    let sleeper = pods::upload(c.api(), sleep).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss0 = c.agent_rss().unwrap_or(0);
    let running = Running::watch(c.api()).await?;

    let http: Vec<String> = (0..a.http_pods).map(|i| format!("http-{i}")).collect();
    let manifests = http
        .iter()
        .enumerate()
        .map(|(i, n)| pods::pod(n, &images[i % images.len()], &[]))
        .collect();
    let began = Instant::now();
    pods::create_all(c.api(), manifests, 32).await?;
    let created = began.elapsed();
    let up = running.wait_all(&http, Duration::from_secs(900)).await;
    let http_time = began.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss1 = c.agent_rss().unwrap_or(0);
    let addrs: Vec<String> = http
        .iter()
        .filter_map(|n| running.get(n).and_then(|(_, ip)| ip))
        .map(|ip| format!("{ip}:8080"))
        .collect();
    let answered = answer_all(addrs, 32).await;
    let rss1b = c.agent_rss().unwrap_or(0);

    let sleepers: Vec<String> = (0..a.sleep_pods).map(|i| format!("sleep-{i}")).collect();
    let manifests = sleepers
        .iter()
        .map(|n| pods::pod(n, &sleeper, &["3600"]))
        .collect();
    let began_sleep = Instant::now();
    pods::create_all(c.api(), manifests, 32).await?;
    let asleep = running.wait_all(&sleepers, Duration::from_secs(600)).await;
    let sleep_time = began_sleep.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss2 = c.agent_rss().unwrap_or(0);

    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    let per = |d: u64, n: usize| d as f64 / 1024.0 / n.max(1) as f64;
    println!(
        "  HTTP pods running: {up}/{} in {:.1} s (created in {:.1} s); answered 200: {answered}/{}",
        a.http_pods,
        http_time.as_secs_f64(),
        created.as_secs_f64(),
        a.http_pods
    );
    println!(
        "  sleeping pods running: {asleep}/{} in {:.1} s",
        a.sleep_pods,
        sleep_time.as_secs_f64()
    );
    println!(
        "  agent RSS: idle {:.1} MiB, +HTTP pods {:.1} MiB, after one request each {:.1} MiB, +sleepers {:.1} MiB",
        mib(rss0),
        mib(rss1),
        mib(rss1b),
        mib(rss2)
    );
    println!(
        "  per HTTP pod: {:.1} KiB (after requests {:.1} KiB; goal < 100 KB); per sleeping pod: {:.1} KiB",
        per(rss1.saturating_sub(rss0), a.http_pods),
        per(rss1b.saturating_sub(rss0), a.http_pods),
        per(rss2.saturating_sub(rss1b), a.sleep_pods)
    );
    println!(
        "  all {} pods running: {}",
        a.http_pods + a.sleep_pods,
        up + asleep == a.http_pods + a.sleep_pods
    );
    Ok(())
}

/// One GET to each address (`ip:port`), `clients` at a time; how many answered 200.
async fn answer_all(addrs: Vec<String>, clients: usize) -> usize {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let queue = std::sync::Arc::new(std::sync::Mutex::new(addrs));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let queue = queue.clone();
        tasks.push(tokio::spawn(async move {
            let mut ok = 0;
            loop {
                let next = queue.lock().unwrap_or_else(|p| p.into_inner()).pop();
                let Some(addr) = next else { return ok };
                let Ok(mut s) = tokio::net::TcpStream::connect(&addr).await else {
                    continue;
                };
                let req = "GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n";
                let mut buf = Vec::new();
                if s.write_all(req.as_bytes()).await.is_ok()
                    && s.read_to_end(&mut buf).await.is_ok()
                    && buf.starts_with(b"HTTP/1.1 200")
                {
                    ok += 1;
                }
            }
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap_or(0);
    }
    total
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut a = Args::parse();
    if a.quick {
        (a.requests, a.rounds, a.start_pods) = (200, 2, 20);
        (a.http_pods, a.components, a.sleep_pods) = (500, 10, 50);
    }
    let (component, sleep) = pods::guests()?;
    println!(
        "machine: {} CPUs, load {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg()
    );
    let parts = if a.part == "all" {
        "acb"
    } else {
        a.part.as_str()
    };
    if parts.contains('a') {
        part_a(&a, &component).await?;
    }
    if parts.contains('c') || parts.contains('b') {
        let bin = skiff_binary(a.systems.skiff.clone())?;
        if parts.contains('c') {
            part_c(&a, &bin, &component).await?;
        }
        if parts.contains('b') {
            part_b(&a, &bin, &component, &sleep).await?;
        }
    }
    Ok(())
}
