//! `api`: the object API of a 3-member Skiff control plane against etcd's v3 API on a
//! 3-member etcd (both on loopback, fsync on): apply (etcd: put), get (linearizable),
//! list of 100 objects (etcd: range over a prefix) from concurrent closed-loop clients,
//! then watch fan-out: 1,000 watchers receive every one of a series of writes.
//!
//! `cargo run --release -p skiff-benches --bin api -- [--quick]`

use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;
use skiff_benches::api::{self, EtcdOp, Fanout, Op, SkiffOp};
use skiff_benches::cluster::Cluster;
use skiff_benches::etcd::Etcd;
use skiff_benches::etcd::pb::kv_client::KvClient;
use skiff_benches::load::{self, Round};
use skiff_benches::report::{median, ms, percentile};
use skiff_benches::setup::{Systems, loadavg, skiff_binary, wait_ready};
use skiff_benches::skiff::Skiff;
use skiff_benches::{Writer, channel};
use skiff_proto::grpc::api::ApplyRequest;
use skiff_proto::grpc::api::object_service_client::ObjectServiceClient;

#[derive(Debug, Parser)]
#[command(about = "Skiff's object API against etcd's v3 API: apply, get, list, watch fan-out")]
struct Args {
    /// Concurrent closed-loop clients for apply, get and list.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Measured rounds per operation and system (alternating).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Seconds per round.
    #[arg(long, default_value_t = 5.0)]
    round_secs: f64,
    /// Watch streams in the fan-out.
    #[arg(long, default_value_t = 1000)]
    watchers: usize,
    /// Connections the watch streams share (spread over the members).
    #[arg(long, default_value_t = 10)]
    watch_connections: usize,
    /// Writes every watcher must receive.
    #[arg(long, default_value_t = 100)]
    events: usize,
    /// Fan-out rounds per system (alternating).
    #[arg(long, default_value_t = 3)]
    fanout_rounds: usize,
    /// A short smoke run: 1 round of 1 s, 100 watchers, 20 events, 1 fan-out round.
    #[arg(long)]
    quick: bool,
    /// Measure as user `bench`, bound to the `edit` ClusterRole in the bench's namespaces
    /// (RBAC decides every call), instead of as the admin (`system:masters`, which RBAC
    /// does not look at).
    #[arg(long)]
    as_user: bool,
    #[command(flatten)]
    systems: Systems,
}

/// Objects gets and lists read, written once before the measurements.
async fn preload(skiff: &Cluster, etcd: &Cluster) -> Result<()> {
    let mut s = ObjectServiceClient::new(channel(&skiff.api[0]).await?);
    let mut e = KvClient::new(skiff_benches::etcd::channel(&etcd.api[0]).await?);
    let sets = [
        ("get", "default", "/get/", api::GET_OBJECTS),
        ("list", "list", "/list/", api::LIST_OBJECTS),
    ];
    // Objects go in existing namespaces only.
    for ns in ["list", "fan"] {
        s.apply(ApplyRequest {
            manifest: format!("{{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{{\"name\":\"{ns}\"}}}}")
                .into_bytes(),
            ..Default::default()
        })
        .await
        .with_context(|| format!("creating namespace {ns} in Skiff"))?;
    }
    for (prefix, ns, etcd_prefix, n) in sets {
        for i in 0..n {
            let name = format!("{prefix}-{i}");
            s.apply(ApplyRequest {
                manifest: api::manifest_in(&name, ns),
                ..Default::default()
            })
            .await
            .with_context(|| format!("preloading {name} into Skiff"))?;
            e.put(skiff_benches::etcd::pb::PutRequest {
                key: format!("{etcd_prefix}{name}").into_bytes(),
                value: skiff_benches::skiff::manifest(&name),
            })
            .await
            .with_context(|| format!("preloading {name} into etcd"))?;
        }
    }
    Ok(())
}

/// Binds user `bench` to `edit` in every namespace the bench uses, then makes the
/// measured clients call as it.
async fn bind_bench_user(skiff: &Cluster) -> Result<()> {
    let mut s = ObjectServiceClient::new(channel(&skiff.api[0]).await?);
    for ns in ["default", "list", "fan"] {
        let binding = format!(
            r#"{{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":{{"name":"bench-edit","namespace":"{ns}"}},"subjects":[{{"kind":"User","name":"bench"}}],"roleRef":{{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"edit"}}}}"#
        );
        s.apply(ApplyRequest {
            manifest: binding.into_bytes(),
            ..Default::default()
        })
        .await
        .with_context(|| format!("binding user bench in {ns}"))?;
    }
    skiff_benches::pki::call_as("bench")
}

struct Summary {
    per_sec: f64,
    p50: Duration,
    p99: Duration,
    errors: u64,
    first_error: Option<String>,
}

fn summarize(rounds: &[Round]) -> Summary {
    let mut lat: Vec<Duration> = rounds
        .iter()
        .flat_map(|r| r.latencies.iter().copied())
        .collect();
    lat.sort_unstable();
    Summary {
        per_sec: median(&rounds.iter().map(Round::writes_per_sec).collect::<Vec<_>>()),
        p50: percentile(&lat, 0.5),
        p99: percentile(&lat, 0.99),
        errors: rounds.iter().map(|r| r.errors).sum(),
        first_error: rounds.iter().find_map(|r| r.first_error.clone()),
    }
}

/// Warms both systems, then runs `a.rounds` rounds of each, alternating which goes
/// first, so a change in the machine's load falls on both alike.
async fn measure<S: Writer, E: Writer>(
    skiff: &[S],
    etcd: &[E],
    a: &Args,
    op: Op,
) -> (Vec<Round>, Vec<Round>) {
    let secs = Duration::from_secs_f64(a.round_secs);
    let _ = one(skiff, secs / 5, op, "skiff", None).await;
    let _ = one(etcd, secs / 5, op, "etcd", None).await;
    let (mut s, mut e) = (Vec::new(), Vec::new());
    for r in 0..a.rounds {
        if r % 2 == 0 {
            s.push(one(skiff, secs, op, "skiff", Some(r)).await);
            e.push(one(etcd, secs, op, "etcd", Some(r)).await);
        } else {
            e.push(one(etcd, secs, op, "etcd", Some(r)).await);
            s.push(one(skiff, secs, op, "skiff", Some(r)).await);
        }
    }
    (s, e)
}

/// One round (`None`: the warm-up) of `op` on one system.
async fn one<W: Writer>(
    clients: &[W],
    secs: Duration,
    op: Op,
    system: &str,
    r: Option<usize>,
) -> Round {
    let label = match r {
        Some(r) => format!("{op:?}-{system}-r{r}"),
        None => format!("{op:?}-{system}-warm"),
    };
    let round = load::run(clients, secs, &label.to_lowercase()).await;
    if let Some(r) = r {
        eprintln!(
            "  {system:<5} {op:?} round {r}: {:.0}/s, errors {}",
            round.writes_per_sec(),
            round.errors
        );
    }
    round
}

/// Every fan-out round of one system as one: deliveries summed, latencies pooled, the
/// rate the median round's.
fn pooled(rounds: &[Fanout]) -> (Fanout, f64) {
    let mut all = Fanout::default();
    for f in rounds {
        all.delivered += f.delivered;
        all.latencies.extend_from_slice(&f.latencies);
        all.elapsed += f.elapsed;
    }
    let rates: Vec<f64> = rounds.iter().map(rate).collect();
    (all, median(&rates))
}

fn rate(f: &Fanout) -> f64 {
    f.delivered as f64 / f.elapsed.as_secs_f64().max(1e-9)
}

fn fanout_line(system: &str, f: &Fanout, per_sec: f64, expected: usize) {
    let mut lat = f.latencies.clone();
    lat.sort_unstable();
    println!(
        "  {system:<6} {:>9}/{expected:<9} {:>12.0} {:>9.2} {:>9.2}",
        f.delivered,
        per_sec,
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99)),
    );
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut a = Args::parse();
    if a.quick {
        (
            a.rounds,
            a.round_secs,
            a.watchers,
            a.events,
            a.fanout_rounds,
        ) = (1, 1.0, 100, 20, 1);
    }
    let bin = skiff_binary(a.systems.skiff.clone())?;
    a.systems.apply();
    if std::process::Command::new(&a.systems.etcd)
        .arg("--version")
        .output()
        .is_err()
    {
        bail!(
            "{}: not found; install etcd 3.4 (`apt-get install etcd-server`) or pass --etcd",
            a.systems.etcd.display()
        );
    }
    let mut skiff = Cluster::skiff(&bin, &a.systems.dir)?;
    let mut etcd = Cluster::etcd(&a.systems.etcd, &a.systems.dir)?;
    wait_ready::<Skiff>(&mut skiff).await?;
    wait_ready::<Etcd>(&mut etcd).await?;
    preload(&skiff, &etcd).await?;
    if a.as_user {
        bind_bench_user(&skiff).await?;
    }
    println!(
        "api bench: {} clients, {} rounds of {} s, as {}; load average {}",
        a.clients,
        a.rounds,
        a.round_secs,
        if a.as_user {
            "user bench (RBAC: edit)"
        } else {
            "admin (system:masters)"
        },
        loadavg()
    );
    println!("  links: {}", a.systems.etcd_security());
    println!("  op      system   ops/s     p50 ms    p99 ms   errors   | skiff/etcd ops/s  p99");
    for op in [Op::Apply, Op::Get, Op::List] {
        let mut s_clients = Vec::new();
        let mut e_clients = Vec::new();
        for i in 0..a.clients {
            s_clients.push(SkiffOp {
                op,
                api: ObjectServiceClient::new(channel(&skiff.api[i % 3]).await?),
            });
            e_clients.push(EtcdOp {
                op,
                kv: KvClient::new(skiff_benches::etcd::channel(&etcd.api[i % 3]).await?),
            });
        }
        let (s, e) = measure(&s_clients, &e_clients, &a, op).await;
        let (s, e) = (summarize(&s), summarize(&e));
        for (name, x) in [("skiff", &s), ("etcd", &e)] {
            println!(
                "  {:<7} {name:<6} {:>8.0} {:>9.2} {:>9.2} {:>8}",
                format!("{op:?}").to_lowercase(),
                x.per_sec,
                ms(x.p50),
                ms(x.p99),
                x.errors
            );
            if let Some(err) = &x.first_error {
                println!("          first error: {err}");
            }
        }
        println!(
            "  {:<7} ratio  {:>45.2} {:>6.2}",
            format!("{op:?}").to_lowercase(),
            s.per_sec / e.per_sec,
            s.p99.as_secs_f64() / e.p99.as_secs_f64().max(1e-9)
        );
        skiff.check_running()?;
        etcd.check_running()?;
    }
    let expected = a.watchers * a.events;
    println!(
        "watch fan-out: {} watchers over {} connections, {} writes each must see, {} rounds each (alternating)",
        a.watchers, a.watch_connections, a.events, a.fanout_rounds
    );
    println!(
        "  system delivered/expected  deliveries/s    p50 ms    p99 ms   (write start -> watcher receipt)"
    );
    let (mut s, mut e) = (Vec::new(), Vec::new());
    let (conns, events) = (a.watch_connections, a.events);
    for r in 0..a.fanout_rounds {
        let skiff_first = r % 2 == 0;
        for system in [skiff_first, !skiff_first] {
            let f = match system {
                true => api::skiff_fanout(&skiff.api, a.watchers, conns, events, r).await?,
                false => api::etcd_fanout(&etcd.api, a.watchers, conns, events, r).await?,
            };
            let name = if system { "skiff" } else { "etcd" };
            eprintln!(
                "  {name:<5} fan-out round {r}: {:.0} deliveries/s",
                rate(&f)
            );
            match system {
                true => s.push(f),
                false => e.push(f),
            }
        }
    }
    let ((s, s_rate), (e, e_rate)) = (pooled(&s), pooled(&e));
    fanout_line("skiff", &s, s_rate, expected * a.fanout_rounds);
    fanout_line("etcd", &e, e_rate, expected * a.fanout_rounds);
    let p99 = |f: &Fanout| {
        let mut l = f.latencies.clone();
        l.sort_unstable();
        percentile(&l, 0.99).as_secs_f64()
    };
    println!(
        "  skiff/etcd: deliveries/s {:.2} (medians of rounds), p99 {:.2}",
        s_rate / e_rate.max(1e-9),
        p99(&s) / p99(&e).max(1e-9)
    );
    Ok(())
}
