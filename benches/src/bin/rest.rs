//! `rest`: the same reads through the Kubernetes REST API and through the gRPC API, on
//! one member, from in-process clients (no CLI): get one object, and list 100, from
//! `--clients` concurrent closed-loop clients; and watch: `--clients` watchers of one
//! namespace while a writer changes an object `--writes` times, each event's latency
//! from the write's start to its arrival at every watcher. Both sides use one HTTP/2 connection per
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
use skiff_proto::grpc::api::{
    CreateRequest, GetRequest, ListRequest, ObjectKey, ReadConsistency, UpdateRequest, WatchRequest,
};

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
    /// Writes per watch round.
    #[arg(long, default_value_t = 200)]
    writes: usize,
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

/// When each write of a watch round started, by its sequence number.
type Sent = Arc<std::sync::Mutex<Vec<Option<Instant>>>>;

/// The sequence number an event's object carries (`data.seq`), if it is the writer's.
fn seq_of(object: &serde_json::Value) -> Option<usize> {
    object["data"]["seq"].as_str()?.parse().ok()
}

/// One watcher: every event's latency from its write's start, until the last write's
/// event arrives.
async fn watcher(
    addr: String,
    rest: bool,
    since: u64,
    writes: usize,
    sent: Sent,
) -> Result<Vec<Duration>> {
    let mut lat = Vec::with_capacity(writes);
    // Notes an event's latency; true at the last write's event.
    let record = |object: &serde_json::Value, lat: &mut Vec<Duration>| -> bool {
        let Some(s) = seq_of(object) else {
            return false;
        };
        let at = sent.lock().ok().and_then(|v| v.get(s).copied().flatten());
        if let Some(at) = at {
            lat.push(at.elapsed());
        }
        s + 1 == writes
    };
    if rest {
        let mut send = rest_conn(&addr).await?;
        let path = format!("/api/v1/namespaces/bench/configmaps?watch=1&resourceVersion={since}");
        let req = hyper::Request::get(format!("https://{addr}{path}")).body(Empty::new())?;
        let mut body = send.send_request(req).await?.into_body();
        let mut buf = Vec::new();
        while let Some(frame) = body.frame().await {
            let Ok(data) = frame?.into_data() else {
                continue;
            };
            buf.extend_from_slice(&data);
            while let Some(end) = buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buf.drain(..=end).collect();
                let e: serde_json::Value = serde_json::from_slice(&line)?;
                if record(&e["object"], &mut lat) {
                    return Ok(lat);
                }
            }
        }
    } else {
        let mut g = ObjectServiceClient::new(channel(&addr).await?);
        let mut stream = g
            .watch(WatchRequest {
                kind: "ConfigMap".into(),
                namespace: "bench".into(),
                since_revision: since,
                ..Default::default()
            })
            .await?
            .into_inner();
        while let Some(e) = stream.message().await? {
            let Some(o) = e.object else { continue };
            if record(&serde_json::from_slice(&o.json)?, &mut lat) {
                return Ok(lat);
            }
        }
    }
    bail!("the watch ended before the last write's event")
}

/// A watch round: `watchers` watches (REST or gRPC) while one writer changes ConfigMap
/// `w` `writes` times; every event's latency at every watcher, sorted.
async fn watch_round(
    addr: &str,
    rest: bool,
    watchers: usize,
    writes: usize,
) -> Result<Vec<Duration>> {
    let mut g = ObjectServiceClient::new(channel(addr).await?);
    let since = g
        .list(ListRequest {
            kind: "ConfigMap".into(),
            namespace: "bench".into(),
            consistency: ReadConsistency::Linearizable as i32,
            ..Default::default()
        })
        .await?
        .into_inner()
        .resource_version;
    let sent: Sent = Arc::new(std::sync::Mutex::new(vec![None; writes]));
    let tasks: Vec<_> = (0..watchers)
        .map(|_| tokio::spawn(watcher(addr.to_owned(), rest, since, writes, sent.clone())))
        .collect();
    // Let every watch open before the first write.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for s in 0..writes {
        if let Ok(mut v) = sent.lock() {
            v[s] = Some(Instant::now());
        }
        let m = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: w, namespace: bench}}\ndata: {{seq: \"{s}\"}}\n"
        );
        g.update(UpdateRequest {
            manifest: m.into_bytes(),
            ..Default::default()
        })
        .await?;
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(tokio::time::timeout(Duration::from_secs(60), t).await???);
    }
    all.sort();
    Ok(all)
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
    api.create(CreateRequest {
        manifest: b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: w, namespace: bench}\n"
            .to_vec(),
        ..Default::default()
    })
    .await?;
    let writes = if a.quick { 20 } else { a.writes };
    let (mut rest, mut grpc) = (Vec::new(), Vec::new());
    for r in 0..a.rounds {
        for first_rest in [r % 2 == 0, r % 2 != 0] {
            let lat = watch_round(&addr, first_rest, a.clients, writes).await?;
            if first_rest {
                rest.extend(lat)
            } else {
                grpc.extend(lat)
            }
        }
    }
    rest.sort();
    grpc.sort();
    let (rp50, rp99) = (ms(percentile(&rest, 0.5)), ms(percentile(&rest, 0.99)));
    let (gp50, gp99) = (ms(percentile(&grpc, 0.5)), ms(percentile(&grpc, 0.99)));
    println!(
        "  watch ({} watchers)   REST p50 {rp50:.3} ms p99 {rp99:.3} ms ({} events) | gRPC p50 {gp50:.3} ms p99 {gp99:.3} ms ({} events) | REST/gRPC p50 {:.2}x, p99 {:.2}x",
        a.clients,
        rest.len(),
        grpc.len(),
        rp50 / gp50,
        rp99 / gp99
    );
    Ok(())
}
