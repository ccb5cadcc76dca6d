//! `store`: a 3-member Skiff control plane against a 3-member etcd, both on loopback with
//! fsync on: 1 KiB writes from 1, 64 and 256 concurrent clients (writes/s, p50, p99), then
//! the time to the next acknowledged write after `kill -9` of the leader.
//!
//! `cargo run --release -p skiff-benches --bin store -- [--quick]`

use std::path::Path;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::Parser;
use skiff_benches::System;
use skiff_benches::cluster::{self, Cluster};
use skiff_benches::etcd::Etcd;
use skiff_benches::failover;
use skiff_benches::load;
use skiff_benches::report::{self, Level};
use skiff_benches::setup::{Systems, first_line, loadavg, skiff_binary, wait_ready, workspace};
use skiff_benches::skiff::{self, Skiff};

#[derive(Debug, Parser)]
#[command(about = "Skiff's replicated store against etcd: write throughput, latency, failover")]
struct Args {
    /// Client concurrencies to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,64,256")]
    clients: Vec<usize>,
    /// Measured rounds per concurrency and system (Skiff and etcd rounds alternate).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Seconds per round.
    #[arg(long, default_value_t = 5.0)]
    round_secs: f64,
    /// Unmeasured seconds of load per concurrency and system before its rounds.
    #[arg(long, default_value_t = 1.0)]
    warmup_secs: f64,
    /// Leader kills per system.
    #[arg(long, default_value_t = 5)]
    failovers: usize,
    /// A short smoke run: 1 round of 1 s, 0.2 s warm-up, 1 failover.
    #[arg(long)]
    quick: bool,
    #[command(flatten)]
    systems: Systems,
    /// Skip etcd (no ratios).
    #[arg(long)]
    no_etcd: bool,
    /// Every client talks to the leader (no forwarding hop) instead of clients spread over
    /// the 3 members.
    #[arg(long)]
    leader_only: bool,
}

/// The members the clients talk to: all of them, or the leader alone.
async fn targets<S: System>(cluster: &Cluster, leader_only: bool) -> Result<Vec<String>> {
    if !leader_only {
        return Ok(cluster.api.clone());
    }
    let leader = failover::wait_leader::<S>(cluster, Duration::from_secs(30)).await?;
    Ok(vec![cluster.api[leader].clone()])
}

/// One round of `S` at this concurrency, with a progress line.
async fn round<S: System>(
    cluster: &mut Cluster,
    writers: &[S::W],
    secs: f64,
    tag: &str,
) -> Result<load::Round> {
    let cpu = cluster.cpu_time();
    let mut r = load::run(writers, Duration::from_secs_f64(secs), tag).await;
    r.member_cpu = cluster.cpu_time().saturating_sub(cpu);
    cluster.check_running()?;
    let mut lat = r.latencies.clone();
    lat.sort_unstable();
    eprintln!(
        "  {:<5} {:>3} clients {tag:<10} {:>8.0} writes/s  p50 {:>7.2} ms  p99 {:>7.2} ms  errors {}  members' CPU {:.0}%",
        S::NAME,
        writers.len(),
        r.writes_per_sec(),
        report::ms(report::percentile(&lat, 0.5)),
        report::ms(report::percentile(&lat, 0.99)),
        r.errors,
        100.0 * r.member_cpu.as_secs_f64() / r.elapsed.as_secs_f64()
    );
    Ok(r)
}

async fn failovers<S: System>(
    cluster: &mut Cluster,
    runs: usize,
) -> Result<Vec<report::FailoverRun>> {
    let mut out = Vec::new();
    for run in 1..=runs {
        let r = failover::once::<S>(cluster, run).await?;
        eprintln!(
            "  {:<5} run {run}: killed member {} (pid {}): next ack after {}; {} failed writes meanwhile{}; it rejoined in {:.1} s",
            S::NAME,
            r.killed + 1,
            r.pid,
            r.time
                .map_or(format!("none within {:?}", failover::GIVE_UP), |d| format!(
                    "{:.0} ms",
                    report::ms(d)
                )),
            r.errors,
            r.first_error
                .map_or(String::new(), |e| format!(" (first: {e})")),
            r.rejoin.as_secs_f64()
        );
        out.push((r.time, r.errors));
    }
    Ok(out)
}

#[tokio::main]
async fn main() -> Result<()> {
    let a = Args::parse();
    // On Ctrl-C, dropping the bench kills the members and removes their directories.
    tokio::select! {
        r = bench(a) => r,
        _ = tokio::signal::ctrl_c() => bail!("interrupted"),
    }
}

async fn bench(mut a: Args) -> Result<()> {
    if a.quick {
        (a.rounds, a.round_secs, a.warmup_secs, a.failovers) = (1, 1.0, 0.2, 1);
    }
    if a.clients.is_empty() || a.clients.contains(&0) || a.rounds == 0 {
        bail!("give --clients N[,N...] (each above 0) and --rounds above 0");
    }
    let with_etcd = !a.no_etcd;
    if with_etcd && first_line(&a.systems.etcd, &["--version"], None).starts_with('(') {
        bail!(
            "cannot run `{} --version`: install etcd 3.4 (Debian: apt-get install -y etcd-server), pass --etcd PATH, or --no-etcd",
            a.systems.etcd.display()
        );
    }
    let skiff_source = if a.systems.skiff.is_some() {
        "given with --skiff".to_string()
    } else {
        let git = first_line(
            Path::new("git"),
            &["describe", "--always", "--dirty"],
            Some(&workspace()),
        );
        format!("built by the bench from this workspace, git {git}")
    };
    let skiff_bin = skiff_binary(a.systems.skiff.take())?;
    a.systems.apply();

    let mut skiff_cluster = Cluster::skiff(&skiff_bin, &a.systems.dir)?;
    let fs = cluster::filesystem_type(skiff_cluster.dir()).unwrap_or_else(|| "unknown".into());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "store bench: 3 members per system on 127.0.0.1, fsync on, {} B objects",
        skiff::OBJECT_BYTES
    );
    println!(
        "  machine: {cpus} CPUs (bench clients and all 6 members share them), kernel {}, load average {}",
        first_line(Path::new("uname"), &["-r"], None),
        loadavg()
    );
    println!(
        "  skiff: {} ({}; {skiff_source}), default 50 ms raft tick",
        skiff_bin.display(),
        first_line(&skiff_bin, &["--version"], None)
    );
    if with_etcd {
        println!(
            "  etcd:  {} ({}), default flags",
            a.systems.etcd.display(),
            first_line(&a.systems.etcd, &["--version"], None)
        );
        println!("  links: {}", a.systems.etcd_security());
    }
    println!("  data:  {} ({fs})", a.systems.dir.display());
    if fs == "tmpfs" || fs == "ramfs" {
        println!(
            "  WARNING: the data directories are on {fs}: fsync costs nothing there; pass --dir on a real disk"
        );
    }
    println!(
        "  load:  closed loop, each client its own connection, {}; {} round(s) of {} s per concurrency after {} s warm-up, \
         Skiff and etcd rounds alternating",
        if a.leader_only {
            "every client to the leader (--leader-only)"
        } else {
            "clients spread round-robin over the 3 members (followers forward to the leader)"
        },
        a.rounds,
        a.round_secs,
        a.warmup_secs
    );
    println!(
        "  skiff writes: ObjectService/Create of a new ConfigMap; etcd writes: KV.Put of the same bytes to a new key"
    );

    wait_ready::<Skiff>(&mut skiff_cluster).await?;
    let mut etcd_cluster = None;
    if with_etcd {
        let mut c = Cluster::etcd(&a.systems.etcd, &a.systems.dir)?;
        wait_ready::<Etcd>(&mut c).await?;
        etcd_cluster = Some(c);
    }

    let (mut skiff_levels, mut etcd_levels) = (Vec::new(), Vec::new());
    for &n in &a.clients {
        let sw = load::connect::<Skiff>(&targets::<Skiff>(&skiff_cluster, a.leader_only).await?, n)
            .await?;
        let ew = match &etcd_cluster {
            Some(c) => {
                Some(load::connect::<Etcd>(&targets::<Etcd>(c, a.leader_only).await?, n).await?)
            }
            None => None,
        };
        load::run(
            &sw,
            Duration::from_secs_f64(a.warmup_secs),
            &format!("w{n}"),
        )
        .await;
        if let Some(ew) = &ew {
            load::run(ew, Duration::from_secs_f64(a.warmup_secs), &format!("w{n}")).await;
        }
        let (mut sr, mut er) = (Vec::new(), Vec::new());
        for r in 1..=a.rounds {
            let tag = format!("n{n}-r{r}");
            sr.push(round::<Skiff>(&mut skiff_cluster, &sw, a.round_secs, &tag).await?);
            if let (Some(ew), Some(c)) = (&ew, &mut etcd_cluster) {
                er.push(round::<Etcd>(c, ew, a.round_secs, &tag).await?);
            }
        }
        skiff_levels.push(Level::new(n, sr));
        if ew.is_some() {
            etcd_levels.push(Level::new(n, er));
        }
    }

    eprintln!("failover: {} kill(s) of the leader per system", a.failovers);
    let skiff_fail = failovers::<Skiff>(&mut skiff_cluster, a.failovers).await?;
    let etcd_fail = match &mut etcd_cluster {
        Some(c) => Some(failovers::<Etcd>(c, a.failovers).await?),
        None => None,
    };
    // etcd again with Skiff's election timeout (500 ms), so the times compare elections
    // of the same length.
    let etcd_fair = match with_etcd {
        true => {
            drop(etcd_cluster.take());
            let mut c = Cluster::etcd_timed(&a.systems.etcd, &a.systems.dir, Some(500))?;
            wait_ready::<Etcd>(&mut c).await?;
            Some(failovers::<Etcd>(&mut c, a.failovers).await?)
        }
        false => None,
    };

    report::print_levels("skiff (3 members)", &skiff_levels);
    if with_etcd {
        report::print_levels("etcd (3 members)", &etcd_levels);
    }
    println!(
        "  (writes/s: median over rounds; p50/p99 over every acknowledged write of all rounds; \
         CPU: the 3 members' user+system time over wall time, {cpus} CPUs = {}%, and per acknowledged write)",
        cpus * 100
    );
    if with_etcd {
        report::print_ratios(&skiff_levels, &etcd_levels);
    }
    let mut rows = vec![("skiff", skiff_fail)];
    if let Some(e) = etcd_fail {
        rows.push(("etcd", e));
    }
    if let Some(e) = etcd_fair {
        rows.push(("etcd-500ms", e));
    }
    report::print_failover(&rows);
    println!(
        "  (a write with a {:?} deadline is started every {:?} to a surviving member; the time runs from the SIGKILL to the first \
         acknowledgement of a write sent after it; errors: writes sent before that acknowledgement (those in flight at the kill too) that failed or got no answer. \
         skiff elects after 10-20 ticks of 50 ms (0.5-1 s); etcd after 1-2 s (its default 1 s election timeout), etcd-500ms after 0.5-1 s like skiff)",
        failover::PROBE_TIMEOUT,
        failover::PROBE_EVERY
    );
    println!("  load average at the end: {}", loadavg());
    Ok(())
}
