//! `autoscale`: how fast replicas follow a load step, and how fast an idle Deployment
//! goes to zero, for the same echo Deployment (a concurrency target of 2 per pod, 8
//! closed-loop clients each holding one `/sleep?ms=100` request in flight) under three
//! configurations, rounds alternated:
//! - **skiff**: the HPA as a function author would set it for fast scaling (a 6 s stable
//!   window, 0.6 s panic window; decisions every 1 s, the member's default);
//! - **knative-defaults**: the same autoscaler with Knative's defaults (60 s stable window,
//!   6 s panic window), which is what a Knative Service gets unless it says otherwise;
//! - **hpa-15s**: Kubernetes' HPA emulated by configuration, not run: a member with
//!   `--hpa-sync-period 15s` (Kubernetes' default sync period) and a 15 s window (about
//!   metrics-server's resolution), at least 1 replica (Kubernetes' HPA does not go to
//!   zero by default). Its scale-down stabilisation (300 s in Kubernetes) is set to 0 so
//!   rounds can repeat; its idle-to-zero figure does not exist.
//!
//! The two Knative-like configurations let the pods multiply at once, as Knative's
//! autoscaler does (a 1000× scale-up rate); hpa-15s keeps Kubernetes' default
//! `behavior.scaleUp` (4 pods or 100 % per 15 s), which a Kubernetes user gets.
//!
//! Per round: from rest (0 replicas, or 1 for hpa-15s), the load starts; the figures are
//! the time to the first answer, to 4 replicas asked for, and to 4 ready endpoints; then
//! the load stops and the time back to rest is measured.
//!
//! `cargo run --release -p skiff-benches --bin autoscale -- [--quick] [--rounds N]
//!  [--skiff target/release/skiff]` (needs the guests: `cargo xtask guests`).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use skiff_benches::cluster::Cluster;
use skiff_benches::pods::NodeCluster;
use skiff_benches::report::percentile;
use skiff_benches::routing::{Get, node_ingress, ready_endpoints, skiff_cli};
use skiff_benches::setup::{Systems, loadavg, skiff_binary, workspace};

#[derive(Debug, Parser)]
#[command(about = "Autoscaling reaction to a load step and to idleness")]
struct Args {
    /// Rounds per configuration, alternated.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// One round each.
    #[arg(long)]
    quick: bool,
    #[command(flatten)]
    systems: Systems,
}

/// One configuration under test.
struct Config {
    name: &'static str,
    window: &'static str,
    min: u32,
    /// Its cluster and the ingress address.
    cluster: NodeCluster,
    ingress: String,
}

/// One round's figures (`None`: not reached in time).
#[derive(Default, Clone, Copy)]
struct Round {
    first: Option<Duration>,
    asked: Option<Duration>,
    ready: Option<Duration>,
    rest: Option<Duration>,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let mut a = Args::parse();
    if a.quick {
        a.rounds = 1;
    }
    let skiff = skiff_binary(a.systems.skiff.clone())?;
    let echo = workspace().join("examples/target/wasm32-wasip2/release/echo.wasm");
    if !echo.is_file() {
        bail!("{} is missing: run `cargo xtask guests`", echo.display());
    }
    println!(
        "autoscale: 8 clients of /sleep?ms=100, target 2 in flight per pod, {} rounds, load {}",
        a.rounds,
        loadavg()
    );
    let dir = tempfile::tempdir_in(&a.systems.dir)?;
    let mut configs = Vec::new();
    for (name, window, min, sync) in [
        ("skiff", "6s", 0, "1s"),
        ("knative-defaults", "60s", 0, "1s"),
        ("hpa-15s", "15s", 1, "15s"),
    ] {
        let parent = dir.path().join(name);
        std::fs::create_dir_all(&parent)?;
        let control = Cluster::skiff_with(&skiff, &parent, 1, &["--hpa-sync-period", sync])?;
        let cluster = NodeCluster::with_control(control, 110, 256, &[]).await?;
        let ingress = node_ingress(&skiff, cluster.api())?;
        let manifest = parent.join("web.yaml");
        std::fs::write(&manifest, web(&echo, window, min))?;
        skiff_cli(
            &skiff,
            cluster.api(),
            &["apply", "-f", &manifest.display().to_string()],
        )?;
        configs.push(Config {
            name,
            window,
            min,
            cluster,
            ingress,
        });
    }
    let mut figures: Vec<Vec<Round>> = vec![Vec::new(); configs.len()];
    for r in 0..a.rounds {
        let order: Vec<usize> = if r % 2 == 0 {
            (0..configs.len()).collect()
        } else {
            (0..configs.len()).rev().collect()
        };
        for i in order {
            let c = &mut configs[i];
            let f = round(&skiff, c).await?;
            println!(
                "  r{r} {:<17} first answer {}, 4 asked {}, 4 ready {}, back to {} {}",
                c.name,
                secs(f.first),
                secs(f.asked),
                secs(f.ready),
                c.min,
                secs(f.rest)
            );
            c.cluster.agent.check_running()?;
            figures[i].push(f);
        }
    }
    println!("medians (max) over {} rounds:", a.rounds);
    let med = |rows: &[Round], f: fn(&Round) -> Option<Duration>| -> (String, String) {
        let mut v: Vec<Duration> = rows.iter().filter_map(f).collect();
        v.sort();
        if v.len() < rows.len() {
            return ("not reached".into(), "-".into());
        }
        (
            format!("{:.2} s", percentile(&v, 0.5).as_secs_f64()),
            format!("{:.2} s", percentile(&v, 1.0).as_secs_f64()),
        )
    };
    for (c, rows) in configs.iter().zip(&figures) {
        let (ready, ready_max) = med(rows, |r| r.ready);
        let (asked, _) = med(rows, |r| r.asked);
        let (rest, rest_max) = med(rows, |r| r.rest);
        println!(
            "  {:<17} window {:<4} 4 asked {asked}, 4 ready {ready} ({ready_max}), idle to {} {rest} ({rest_max})",
            c.name, c.window, c.min
        );
    }
    let ready = |i: usize| med(&figures[i], |r| r.ready).0;
    println!(
        "  burst reaction (4 ready): skiff {} vs knative-defaults {} vs hpa-15s {} (goal < 2 s for skiff)",
        ready(0),
        ready(1),
        ready(2)
    );
    Ok(())
}

/// One load step and the idle after it.
async fn round(skiff: &Path, c: &mut Config) -> Result<Round> {
    let api = c.cluster.api().to_owned();
    wait(Duration::from_secs(240), || {
        asked(skiff, &api) == i64::from(c.min)
            && ready_endpoints(skiff, &api, "web") == c.min as usize
    })
    .await
    .with_context(|| format!("{}: never at rest", c.name))?;
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let first = Arc::new(std::sync::Mutex::new(None));
    let mut clients = Vec::new();
    for _ in 0..8 {
        let get = Get::new(&c.ingress, "web.bench", "/sleep?ms=100")?;
        let (stop, first) = (stop.clone(), first.clone());
        clients.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if get.once().await.is_ok() {
                    let mut f = first.lock().unwrap_or_else(|p| p.into_inner());
                    f.get_or_insert(start.elapsed());
                } else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }));
    }
    let mut f = Round::default();
    let within = Duration::from_secs(60);
    while start.elapsed() < within && (f.asked.is_none() || f.ready.is_none()) {
        // The CLI blocks: off the runtime's workers, which the clients need.
        let (bin, at) = (skiff.to_path_buf(), api.clone());
        let (n_asked, n_ready) = tokio::task::spawn_blocking(move || {
            (asked(&bin, &at), ready_endpoints(&bin, &at, "web"))
        })
        .await?;
        if f.asked.is_none() && n_asked >= 4 {
            f.asked = Some(start.elapsed());
        }
        if f.ready.is_none() && n_ready >= 4 {
            f.ready = Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    f.first = *first.lock().unwrap_or_else(|p| p.into_inner());
    stop.store(true, Ordering::Relaxed);
    for cl in clients {
        cl.await?;
    }
    let idle = Instant::now();
    let min = i64::from(c.min);
    if wait(Duration::from_secs(240), || asked(skiff, &api) == min)
        .await
        .is_ok()
    {
        f.rest = Some(idle.elapsed());
    }
    Ok(f)
}

/// Polls `f` every 100 ms until it holds or `within` passes.
async fn wait(within: Duration, mut f: impl FnMut() -> bool) -> Result<()> {
    let start = Instant::now();
    while !f() {
        if start.elapsed() > within {
            bail!("not within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// The replicas the Deployment asks for.
fn asked(skiff: &Path, api: &str) -> i64 {
    skiff_cli(skiff, api, &["get", "deployment", "web", "-o", "json"])
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|d| d["spec"]["replicas"].as_i64())
        .unwrap_or(-1)
}

fn secs(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| format!("{:.2} s", d.as_secs_f64()))
}

/// The echo Deployment behind `web.bench`, and its HPA.
fn web(echo: &Path, window: &str, min: u32) -> String {
    // Knative's autoscaler may multiply the pods 1000× at once; Kubernetes' HPA adds at
    // most 4 pods or 100 % per 15 s unless told (its default `behavior.scaleUp`).
    let scale_up = if min == 0 {
        "    scaleUp: {stabilizationWindowSeconds: 0, policies: [{type: Percent, value: 100000, periodSeconds: 1}]}\n"
    } else {
        ""
    };
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: {min}
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      runtimeClassName: wasm
      containers:
      - name: echo
        image: {}
        ports: [{{containerPort: 8080}}]
---
apiVersion: v1
kind: Service
metadata: {{name: web}}
spec:
  selector: {{app: web}}
  ports: [{{port: 80, targetPort: 8080}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: web}}
spec:
  rules:
  - host: web.bench
    http: {{paths: [{{path: /, pathType: Prefix, backend: {{service: {{name: web, port: {{number: 80}}}}}}}}]}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: web
  annotations: {{autoscaling.knative.dev/window: {window}}}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: web}}
  minReplicas: {min}
  maxReplicas: 8
  metrics:
  - type: Pods
    pods:
      metric: {{name: http_requests_in_flight}}
      target: {{type: AverageValue, averageValue: \"2\"}}
  behavior:
{scale_up}    scaleDown: {{stabilizationWindowSeconds: 0, policies: [{{type: Percent, value: 100, periodSeconds: 1}}]}}
",
        echo.display()
    )
}
