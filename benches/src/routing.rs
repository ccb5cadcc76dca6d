//! The `routing` bench's parts: an HTTP client that is a [`Writer`] (one keep-alive
//! connection per client, one GET at a time), `wasmtime serve` of the same component as
//! the anchor (the `wasmtime-cli` of the workspace's wasmtime version, installed into
//! `target/bench-tools` on first use), and the manifests Skiff serves it with.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper::header::HeaderValue;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::Writer;
use crate::cluster::{Proc, free_ports};
use crate::load::Round;
use crate::report::{ms, percentile};

/// The wasmtime version the workspace embeds (the anchor must be the same).
pub const WASMTIME_VERSION: &str = "48.0.8";

/// One client: its own connection, one request at a time.
#[derive(Clone)]
pub struct Get {
    client: Client<HttpConnector, Empty<Bytes>>,
    uri: hyper::Uri,
    host: HeaderValue,
    /// A header sent with every request (e.g. a filter's token).
    extra: Option<(hyper::header::HeaderName, HeaderValue)>,
}

impl Get {
    /// A client for `http://ADDR/PATH` with Host `host`.
    pub fn new(addr: &str, host: &str, path: &str) -> Result<Get> {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Ok(Get {
            client: Client::builder(TokioExecutor::new())
                .pool_max_idle_per_host(1)
                .build(connector),
            uri: format!("http://{addr}{path}").parse().context("a URI")?,
            host: HeaderValue::from_str(host).context("a Host")?,
            extra: None,
        })
    }

    /// The same client, sending header `name: value` too.
    pub fn with_header(mut self, name: &'static str, value: &str) -> Result<Get> {
        self.extra = Some((
            hyper::header::HeaderName::from_static(name),
            HeaderValue::from_str(value).context("a header value")?,
        ));
        Ok(self)
    }

    /// The same connection pool, another Host.
    pub fn with_host(&self, host: &str) -> Result<Get> {
        Ok(Get {
            client: self.client.clone(),
            uri: self.uri.clone(),
            host: HeaderValue::from_str(host).context("a Host")?,
            extra: self.extra.clone(),
        })
    }

    /// One GET: its latency, or why it failed.
    pub async fn once(&self) -> Result<Duration, String> {
        let start = Instant::now();
        let mut req = Request::get(self.uri.clone())
            .header(hyper::header::HOST, self.host.clone())
            .body(Empty::new())
            .map_err(|e| e.to_string())?;
        if let Some((n, v)) = &self.extra {
            req.headers_mut().insert(n.clone(), v.clone());
        }
        let resp = self.client.request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        if status != 200 {
            return Err(format!("{status}: {}", String::from_utf8_lossy(&body)));
        }
        Ok(start.elapsed())
    }
}

impl Writer for Get {
    async fn write(&self, _name: String) -> Result<(), tonic::Status> {
        self.once().await.map(drop).map_err(tonic::Status::unknown)
    }
}

/// `wasmtime` (CLI) of [`WASMTIME_VERSION`]: `--wasmtime`, or installed once with
/// `cargo install` into `target/bench-tools`.
pub fn wasmtime_cli(arg: Option<PathBuf>, workspace: &Path) -> Result<PathBuf> {
    if let Some(p) = arg {
        return Ok(p);
    }
    let root = workspace.join("target/bench-tools");
    let bin = root.join("bin/wasmtime");
    let version = Command::new(&bin).arg("--version").output();
    if let Ok(v) = version
        && String::from_utf8_lossy(&v.stdout).contains(WASMTIME_VERSION)
    {
        return Ok(bin);
    }
    eprintln!(
        "installing wasmtime-cli {WASMTIME_VERSION} into {} (once; ~10 min on 2 cores)",
        root.display()
    );
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "install",
            "--locked",
            "wasmtime-cli",
            "--version",
            WASMTIME_VERSION,
        ])
        .arg("--root")
        .arg(&root)
        .status()
        .context("running cargo install wasmtime-cli")?;
    if !status.success() || !bin.is_file() {
        bail!(
            "`cargo install wasmtime-cli --version {WASMTIME_VERSION}` failed ({status}); pass --wasmtime PATH"
        );
    }
    Ok(bin)
}

/// `wasmtime serve` of `component` on a free loopback port (with `options`, e.g.
/// `-O pooling-allocator=y`), ready to answer.
pub async fn wasmtime_serve(
    bin: &Path,
    component: &Path,
    dir: &Path,
    options: &[String],
) -> Result<(Proc, String)> {
    let port = free_ports(1)?[0];
    let addr = format!("127.0.0.1:{port}");
    let mut args = vec!["serve".to_string(), "--addr".into(), addr.clone()];
    args.extend(options.iter().cloned());
    args.push(component.display().to_string());
    let mut p = Proc::new("wasmtime serve".into(), bin, args, dir.join("wasmtime.log"));
    p.start()?;
    ready(&addr, "localhost", &mut p).await?;
    Ok((p, addr))
}

/// Waits until `addr` answers a GET with 200 (within 30 s).
pub async fn ready(addr: &str, host: &str, p: &mut Proc) -> Result<()> {
    let get = Get::new(addr, host, "/")?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        p.check_running()?;
        match get.once().await {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() > deadline => {
                bail!(
                    "{addr} never answered 200 (last: {e}):\n{}",
                    p.log_tail(2000)
                )
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// A Deployment of `image` with `replicas`, a Service and an Ingress for `host`, all
/// named `name`; `lazy` adds an autoscaler with `minReplicas: 0` that never scales up
/// itself, so only a request wakes it (the bench scales it back to zero).
pub fn app(name: &str, image: &str, replicas: u32, host: &str, lazy: bool) -> String {
    let autoscaler = if lazy {
        format!(
            "---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {{name: {name}}}
spec:
  scaleTargetRef: {{kind: Deployment, name: {name}}}
  minReplicas: 0
  maxReplicas: 1
  metrics:
  - type: Pods
    pods: {{metric: {{name: http_requests_in_flight}}, target: {{type: AverageValue, averageValue: \"100\"}}}}
  behavior: {{scaleUp: {{selectPolicy: Disabled}}}}
"
        )
    } else {
        String::new()
    };
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      runtimeClassName: wasm
      containers:
      - name: main
        image: {image}
        ports: [{{containerPort: 8080}}]
---
apiVersion: v1
kind: Service
metadata: {{name: {name}}}
spec:
  selector: {{app: {name}}}
  ports: [{{port: 80, targetPort: 8080}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: {name}}}
spec:
  rules:
  - host: {host}
    http: {{paths: [{{path: /, pathType: Prefix, backend: {{service: {{name: {name}, port: {{number: 80}}}}}}}}]}}
{autoscaler}"
    )
}

/// The ingress address of the bench's node (its router's port, from the Node's status).
pub fn node_ingress(bin: &Path, api: &str) -> Result<String> {
    let node = skiff_cli(bin, api, &["get", "node", crate::pods::NODE, "-o", "json"])?;
    let node: serde_json::Value = serde_json::from_str(&node)?;
    let port = &node["status"]["daemonEndpoints"]["routerEndpoint"]["port"];
    Ok(format!("127.0.0.1:{port}"))
}

/// Runs the `skiff` client verb `args` against `api` as the bench's admin: its stdout.
pub fn skiff_cli(bin: &Path, api: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(bin)
        .args(args)
        .env("SKIFF_SERVER", api)
        .env("SKIFF_CREDENTIALS", crate::pki::admin()?)
        .env("HOME", "/nonexistent")
        .output()
        .context("running skiff")?;
    if !out.status.success() {
        bail!("skiff {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Ready addresses of Endpoints `name`.
pub fn ready_endpoints(bin: &Path, api: &str, name: &str) -> usize {
    let Ok(text) = skiff_cli(bin, api, &["get", "endpoints", name, "-o", "json"]) else {
        return 0;
    };
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    v["subsets"]
        .as_array()
        .map(|ss| {
            ss.iter()
                .map(|s| s["addresses"].as_array().map_or(0, Vec::len))
                .sum()
        })
        .unwrap_or(0)
}

/// Waits up to `secs` for `f`.
pub async fn until(what: &str, secs: u64, mut f: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        if Instant::now() > deadline {
            bail!("{what}: not within {secs} s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Prints a round's requests/s, p50 and p99 (ms), and returns them.
pub fn print_round(label: &str, r: &Round) -> (f64, f64, f64) {
    let mut l = r.latencies.clone();
    l.sort();
    let (rps, p50, p99) = (
        r.writes_per_sec(),
        ms(percentile(&l, 0.5)),
        ms(percentile(&l, 0.99)),
    );
    println!(
        "  {label:<16} {rps:>9.0} req/s   p50 {p50:>7.3} ms   p99 {p99:>7.3} ms   errors {}{}",
        r.errors,
        r.first_error
            .as_deref()
            .map(|e| format!(" (first: {e})"))
            .unwrap_or_default()
    );
    (rps, p50, p99)
}

/// A system's medians over its rounds: requests/s, p50 and p99 (ms).
#[derive(Debug, Clone, Copy)]
pub struct Medians {
    pub rps: f64,
    pub p50: f64,
    pub p99: f64,
}

/// `rounds` rounds of `seconds` for each of two systems (a label and its clients), after
/// one second of each to warm them (connections, code paths), the order alternating every
/// round; `check` runs after every round (are the processes still up?). Prints each round
/// and both medians; returns the medians and the errors seen.
pub async fn alternate<W: crate::Writer>(
    a: (&str, &[W]),
    b: (&str, &[W]),
    rounds: usize,
    seconds: u64,
    mut check: impl FnMut() -> Result<()>,
) -> Result<(Medians, Medians, u64)> {
    crate::load::run(a.1, Duration::from_secs(1), "warm").await;
    crate::load::run(b.1, Duration::from_secs(1), "warm").await;
    let (mut a_rows, mut b_rows, mut errors) = (Vec::new(), Vec::new(), 0);
    for i in 0..rounds {
        let order = if i % 2 == 0 {
            [(a, true), (b, false)]
        } else {
            [(b, false), (a, true)]
        };
        for ((label, clients), is_a) in order {
            let r = crate::load::run(clients, Duration::from_secs(seconds), &format!("r{i}")).await;
            errors += r.errors;
            let row = print_round(&format!("r{i} {label}"), &r);
            if is_a {
                a_rows.push(row)
            } else {
                b_rows.push(row)
            }
        }
        check()?;
    }
    let medians = |label: &str, rows: &[(f64, f64, f64)]| {
        let med = |f: fn(&(f64, f64, f64)) -> f64| {
            crate::report::median(&rows.iter().map(f).collect::<Vec<_>>())
        };
        let m = Medians {
            rps: med(|r| r.0),
            p50: med(|r| r.1),
            p99: med(|r| r.2),
        };
        println!(
            "  median {label:<16} {:>9.0} req/s   p50 {:>7.3} ms   p99 {:>7.3} ms",
            m.rps, m.p50, m.p99
        );
        m
    };
    Ok((medians(a.0, &a_rows), medians(b.0, &b_rows), errors))
}
