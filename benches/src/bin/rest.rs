//! `rest`: the same reads through the Kubernetes REST API and through the gRPC API, on
//! one member, from in-process clients (no CLI): get one object, and list 100, from
//! `--clients` concurrent closed-loop clients. Both sides use one HTTP/2 connection per
//! client over the same TLS 1.3 with the same admin certificate; REST answers JSON (what
//! client libraries ask for), gRPC its protobuf envelopes around the same JSON.
//!
//! Rounds alternate which side goes first; it prints operations/s, p50 and p99 per side,
//! and the ratios (goal: REST within 1.5× of gRPC).
//!
//! `cargo run --release -p skiff-benches --bin rest -- --skiff target/release/skiff [--quick]`

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use skiff_benches::cluster::Cluster;
use skiff_benches::report::{median, ms, percentile};
use skiff_benches::setup::{loadavg, skiff_binary};
use skiff_benches::{channel, pki};
use skiff_proto::grpc::api::object_service_client::ObjectServiceClient;
use skiff_proto::grpc::api::{CreateRequest, GetRequest, ListRequest, ObjectKey, ReadConsistency};

#[derive(Debug, Parser)]
#[command(about = "Reads through the Kubernetes REST API against the gRPC API")]
struct Args {
    #[arg(long)]
    skiff: Option<PathBuf>,
    #[arg(long, default_value_t = 16)]
    clients: usize,
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    #[arg(long, default_value_t = 5.0)]
    round_secs: f64,
    /// A smoke run: 1 round of 1 s.
    #[arg(long)]
    quick: bool,
    #[arg(long, default_value_os_t = std::env::temp_dir())]
    dir: PathBuf,
}

/// One round's operations/s and sorted latencies.
type Round = (f64, Vec<Duration>);

/// The objects read: 100 ConfigMaps in namespace `bench`.
const OBJECTS: usize = 100;

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Get,
    List,
}

/// One HTTP/2 connection to the member's REST API, as the admin.
async fn rest_conn(addr: &str) -> Result<SendRequest<Empty<Bytes>>> {
    let tls = pki::admin_dialer()?.tls().client_config();
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let name = rustls::pki_types::ServerName::try_from(skiff_pki::identity::member_server_name())
        .context("the member's server name")?;
    let stream = tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await?;
    let (send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(send)
}

async fn rest_once(
    send: &mut SendRequest<Empty<Bytes>>,
    addr: &str,
    op: Op,
    i: usize,
) -> Result<()> {
    let path = match op {
        Op::Get => format!("/api/v1/namespaces/bench/configmaps/c{}", i % OBJECTS),
        Op::List => "/api/v1/namespaces/bench/configmaps".to_owned(),
    };
    let req = hyper::Request::get(format!("https://{addr}{path}"))
        .header("accept", "application/json")
        .body(Empty::new())?;
    let r = send.send_request(req).await?;
    if !r.status().is_success() {
        bail!("GET {path}: {}", r.status());
    }
    r.into_body().collect().await?;
    Ok(())
}

async fn grpc_once(
    c: &mut ObjectServiceClient<tonic::transport::Channel>,
    op: Op,
    i: usize,
) -> Result<()> {
    match op {
        Op::Get => {
            c.get(GetRequest {
                key: Some(ObjectKey {
                    kind: "ConfigMap".into(),
                    namespace: "bench".into(),
                    name: format!("c{}", i % OBJECTS),
                }),
                consistency: ReadConsistency::Linearizable as i32,
            })
            .await?;
        }
        Op::List => {
            c.list(ListRequest {
                kind: "ConfigMap".into(),
                namespace: "bench".into(),
                consistency: ReadConsistency::Linearizable as i32,
                ..Default::default()
            })
            .await?;
        }
    }
    Ok(())
}

/// `clients` closed loops of `op` for `secs`: operations/s and sorted latencies.
async fn round(addr: &str, rest: bool, op: Op, clients: usize, secs: f64) -> Result<Round> {
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let addr = addr.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = c;
            if rest {
                let mut send = rest_conn(&addr).await?;
                while Instant::now() < until {
                    let t = Instant::now();
                    rest_once(&mut send, &addr, op, i).await?;
                    lat.push(t.elapsed());
                    i += clients;
                }
            } else {
                let mut g = ObjectServiceClient::new(channel(&addr).await?);
                while Instant::now() < until {
                    let t = Instant::now();
                    grpc_once(&mut g, op, i).await?;
                    lat.push(t.elapsed());
                    i += clients;
                }
            }
            anyhow::Ok(lat)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    all.sort();
    Ok((all.len() as f64 / secs, all))
}

#[tokio::main]
async fn main() -> Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut a = Args::parse();
    if a.quick {
        (a.rounds, a.round_secs) = (1, 1.0);
    }
    let bin = skiff_binary(a.skiff.clone())?;
    println!(
        "rest: {} clients, {} rounds of {} s, load {}",
        a.clients,
        a.rounds,
        a.round_secs,
        loadavg()
    );
    let cluster = Cluster::skiff_members(&bin, &a.dir, 1)?;
    let addr = cluster.api[0].clone();
    let mut api = skiff_benches::namespace_on(&cluster, "bench").await?;
    for i in 0..OBJECTS {
        let m = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{i}, namespace: bench}}\ndata: {{k: \"{}\"}}\n",
            "v".repeat(200)
        );
        api.create(CreateRequest {
            manifest: m.into_bytes(),
            ..Default::default()
        })
        .await?;
    }
    let _keep = Arc::new(cluster);
    for (name, op) in [("get one object", Op::Get), ("list 100 objects", Op::List)] {
        let (mut rest, mut grpc): (Vec<Round>, Vec<Round>) = (Vec::new(), Vec::new());
        // A warm-up round each.
        round(&addr, true, op, a.clients, 0.5).await?;
        round(&addr, false, op, a.clients, 0.5).await?;
        for r in 0..a.rounds {
            for first_rest in [r % 2 == 0, r % 2 != 0] {
                let res = round(&addr, first_rest, op, a.clients, a.round_secs).await?;
                if first_rest {
                    rest.push(res)
                } else {
                    grpc.push(res)
                }
            }
        }
        let summary = |v: &[Round]| {
            let ops = median(&v.iter().map(|x| x.0).collect::<Vec<_>>());
            let mut all: Vec<Duration> = v.iter().flat_map(|x| x.1.clone()).collect();
            all.sort();
            (ops, ms(percentile(&all, 0.5)), ms(percentile(&all, 0.99)))
        };
        let (ro, rp50, rp99) = summary(&rest);
        let (go, gp50, gp99) = summary(&grpc);
        println!(
            "  {name:<18} REST {ro:>8.0}/s p50 {rp50:.3} ms p99 {rp99:.3} ms | gRPC {go:>8.0}/s p50 {gp50:.3} ms p99 {gp99:.3} ms | gRPC/REST throughput {:.2}x, REST/gRPC p99 {:.2}x",
            go / ro,
            rp99 / gp99
        );
    }
    Ok(())
}
