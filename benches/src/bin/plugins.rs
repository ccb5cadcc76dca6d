//! `plugins`: what Skiff's Wasm plugins and its developer loop cost.
//!
//! (a) HTTP filter: the SDK hello behind two HTTPRoutes on one node, one with the
//!     `auth-filter` example (a fresh filter instance per request, token checked, a
//!     header added) and one without; the same single closed-loop client on each (so
//!     latency is not queueing), rounds alternating: p50 and p99 added per request.
//! (b) Admission policy: ConfigMap creations in a namespace the `require-labels` policy
//!     reviews (it allows them: they carry the label) and in one it does not; one client
//!     each, rounds alternating: p50 and p99 added per write. Both writes are the same
//!     raft commit (same durability); only the review differs.
//! (c) `skiff deploy` of a built project (`skiff new http`, built once before) to the first
//!     200 through the router: a new name each round, so every round deploys afresh.
//!
//! `cargo run --release -p skiff-benches --bin plugins -- [--quick] [--skiff target/release/skiff]`
//! (build the guests first: `cargo xtask guests`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use skiff_benches::Writer;
use skiff_benches::pods::NodeCluster;
use skiff_benches::report::{ms, percentile};
use skiff_benches::routing::{Get, alternate, ready, skiff_cli};
use skiff_benches::setup::{Systems, loadavg, skiff_binary, workspace};
use skiff_proto::grpc::api::CreateRequest;
use skiff_proto::grpc::api::object_service_client::ObjectServiceClient;
use tonic::transport::Channel;

#[derive(Debug, Parser)]
#[command(about = "HTTP filter and admission policy cost, and skiff deploy to first 200")]
struct Args {
    /// Rounds per side, alternating which goes first.
    #[arg(long, default_value_t = 6)]
    rounds: usize,
    /// Seconds per round.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Deploys timed in (c).
    #[arg(long, default_value_t = 8)]
    deploys: usize,
    /// The folder of the built guests (default: examples/target/wasm32-wasip2/release).
    #[arg(long)]
    guests: Option<PathBuf>,
    /// A smoke run.
    #[arg(long)]
    quick: bool,
    #[command(flatten)]
    systems: Systems,
}

/// Creates a labelled ConfigMap per write in one namespace.
#[derive(Clone)]
struct CreateIn {
    api: ObjectServiceClient<Channel>,
    namespace: &'static str,
}

impl Writer for CreateIn {
    async fn write(&self, name: String) -> Result<(), tonic::Status> {
        let manifest = format!(
            r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}","namespace":"{}","labels":{{"team":"bench"}}}},"data":{{"k":"v"}}}}"#,
            self.namespace
        );
        let mut c = self.api.clone();
        c.create(CreateRequest {
            manifest: manifest.into_bytes(),
            ..Default::default()
        })
        .await
        .map(drop)
    }
}

fn manifests(hello: &Path, filter: &Path, policy: &Path) -> String {
    format!(
        "apiVersion: v1
kind: Namespace
metadata: {{name: reviewed}}
---
apiVersion: v1
kind: Namespace
metadata: {{name: unreviewed}}
---
apiVersion: skiff.dev/v1
kind: WasmAdmissionPolicy
metadata: {{name: require-team}}
spec:
  image: {policy}
  config: {{labels: team}}
  matchResources: {{kinds: [ConfigMap], namespaces: [reviewed]}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: hello}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: hello}}}}
  template:
    metadata: {{labels: {{app: hello}}}}
    spec:
      runtimeClassName: wasm
      containers: [{{name: hello, image: {hello}}}]
---
apiVersion: v1
kind: Service
metadata: {{name: hello}}
spec:
  selector: {{app: hello}}
  ports: [{{port: 80}}]
---
apiVersion: skiff.dev/v1
kind: HttpFilter
metadata: {{name: auth}}
spec:
  image: {filter}
  config: {{token: bench}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: filtered}}
spec:
  hostnames: [filtered.bench]
  rules:
  - backendRefs: [{{name: hello, port: 80}}]
    filters: [{{type: ExtensionRef, extensionRef: {{group: skiff.dev, kind: HttpFilter, name: auth}}}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: plain}}
spec:
  hostnames: [plain.bench]
  rules:
  - backendRefs: [{{name: hello, port: 80}}]
",
        hello = hello.display(),
        filter = filter.display(),
        policy = policy.display()
    )
}

/// (c): deploys of the project in `project` under fresh names, each timed from the
/// command's start to the first 200 through `ingress`.
async fn deploys(
    skiff: &Path,
    api: &str,
    project: &Path,
    ingress: &str,
    n: usize,
) -> Result<Vec<Duration>> {
    let mut times = Vec::new();
    for i in 0..n {
        let name = format!("fn{i}");
        let start = Instant::now();
        let out = Command::new(skiff)
            .args(["deploy", "--name", &name])
            .current_dir(project)
            .env("SKIFF_SERVER", api)
            .env("SKIFF_CREDENTIALS", skiff_benches::pki::admin()?)
            .output()
            .context("running skiff deploy")?;
        if !out.status.success() {
            bail!("skiff deploy: {}", String::from_utf8_lossy(&out.stderr));
        }
        let get = Get::new(ingress, &format!("{name}.local"), "/")?;
        while get.once().await.is_err() {
            if start.elapsed() > Duration::from_secs(60) {
                bail!("{name} did not answer within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let t = start.elapsed();
        println!("  deploy {name}: first 200 after {:.0} ms", ms(t));
        times.push(t);
    }
    Ok(times)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let mut a = Args::parse();
    if a.quick {
        (a.rounds, a.seconds, a.deploys) = (2, 2, 2);
    }
    let skiff = skiff_binary(a.systems.skiff.clone())?;
    let guests = a
        .guests
        .clone()
        .unwrap_or_else(|| workspace().join("examples/target/wasm32-wasip2/release"));
    let (hello, filter, policy) = (
        guests.join("hello.wasm"),
        guests.join("auth_filter.wasm"),
        guests.join("require_labels.wasm"),
    );
    for c in [&hello, &filter, &policy] {
        if !c.is_file() {
            bail!(
                "{} is missing: build the guests (`cargo xtask guests`)",
                c.display()
            );
        }
    }
    let dir = tempfile::tempdir_in(&a.systems.dir)?;
    println!("plugins: {} s rounds, load {}", a.seconds, loadavg());
    let mut c = NodeCluster::start(&skiff, dir.path(), 110, 256).await?;
    let api = c.api().to_owned();
    let ingress = skiff_benches::routing::node_ingress(&skiff, &api)?;
    let file = dir.path().join("plugins.yaml");
    std::fs::write(&file, manifests(&hello, &filter, &policy))?;
    skiff_cli(&skiff, &api, &["apply", "-f", &file.display().to_string()])?;
    ready(&ingress, "plain.bench", &mut c.agent).await?;
    for host in ["plain.bench", "filtered.bench"] {
        let g = Get::new(&ingress, host, "/")?.with_header("authorization", "Bearer bench")?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while g.once().await.is_err() {
            if Instant::now() > deadline {
                bail!("{host} does not answer 200");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    println!("(a) HTTP filter: one client, the same backend with and without the filter");
    let filtered =
        [Get::new(&ingress, "filtered.bench", "/")?
            .with_header("authorization", "Bearer bench")?];
    let plain = [Get::new(&ingress, "plain.bench", "/")?];
    let (f, p, errors) = alternate(
        ("filtered", &filtered),
        ("plain", &plain),
        a.rounds,
        a.seconds,
        || c.agent.check_running(),
    )
    .await?;
    if errors > 0 {
        bail!("{errors} requests failed");
    }
    println!(
        "  filter adds p50 {:.1} us, p99 {:.1} us per request (goal: < 20 us at p50)",
        (f.p50 - p.p50) * 1000.0,
        (f.p99 - p.p99) * 1000.0
    );

    println!("(b) admission policy: one client creating ConfigMaps, reviewed or not");
    let ch = skiff_benches::channel(&api).await?;
    let reviewed = [CreateIn {
        api: ObjectServiceClient::new(ch.clone()),
        namespace: "reviewed",
    }];
    let unreviewed = [CreateIn {
        api: ObjectServiceClient::new(ch),
        namespace: "unreviewed",
    }];
    let (r, u, errors) = alternate(
        ("reviewed", &reviewed),
        ("unreviewed", &unreviewed),
        a.rounds,
        a.seconds,
        || c.agent.check_running(),
    )
    .await?;
    if errors > 0 {
        bail!("{errors} writes failed");
    }
    println!(
        "  policy adds p50 {:.1} us, p99 {:.1} us per write (medians; goal: < 100 us at p50)",
        (r.p50 - u.p50) * 1000.0,
        (r.p99 - u.p99) * 1000.0
    );

    println!("(c) skiff deploy of a built project to the first 200");
    let out = Command::new(&skiff)
        .args(["new", "http", "bench-fn"])
        .current_dir(dir.path())
        .output()?;
    if !out.status.success() {
        bail!("skiff new: {}", String::from_utf8_lossy(&out.stderr));
    }
    let project = dir.path().join("bench-fn");
    let out = Command::new(&skiff)
        .args(["build"])
        .current_dir(&project)
        .output()?;
    if !out.status.success() {
        bail!("skiff build: {}", String::from_utf8_lossy(&out.stderr));
    }
    let mut times = deploys(&skiff, &api, &project, &ingress, a.deploys).await?;
    times.sort();
    println!(
        "  deploy to first 200: p50 {:.0} ms, max {:.0} ms over {} deploys (goal: < 2000 ms)",
        ms(percentile(&times, 0.5)),
        ms(*times.last().unwrap_or(&Duration::ZERO)),
        times.len()
    );
    Ok(())
}
