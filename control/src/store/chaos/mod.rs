//! The chaos harness: 3 or 5 members on real disks under a seeded schedule of faults
//! (kill -9 and restart of any member or the leader, power loss of one member or of all
//! at once, which takes back every unsynced write, a slow disk, partitions, dropped,
//! duplicated and delayed messages, a member's clock jumping ahead or its loop stalling
//! as a paused process does), while clients read, create, put, compare-and-swap and
//! delete, and watchers follow every member's history. Afterwards every fault heals and:
//! - each key's history must be linearizable (see `model` and `wgl`), final
//!   reads included, so an acknowledged write that was lost fails it;
//! - every watcher saw each change once, in revision order, without gaps;
//! - every member holds the same objects.
//!
//! A failure prints the seed and a minimal failing history. The schedule, the clients'
//! choices and the network's are drawn from the seed; thread timing is not, so a replay
//! reproduces the faults and operations, not every interleaving.
//!
//! CI runs it for a bounded time with a fixed and a random seed; by hand, longer:
//! `SKIFF_CHAOS_SECONDS=600 SKIFF_CHAOS_SEED=42 cargo nextest run -p skiff-control chaos`.

mod clients;
mod cluster;
mod lazy;
mod model;
mod net;
mod wgl;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::{Duration, Instant};

use skiff_proto::Kind;

use clients::{Seen, Shared};
use cluster::Cluster;
use model::{Call, Op, Ret, Shown, Verdict};
use net::Faults;

use super::runtime::ClockFault;

/// One run's shape.
#[derive(Debug, Clone)]
pub struct Config {
    pub members: u64,
    pub clients: usize,
    pub keys: usize,
    pub duration: Duration,
    pub seed: u64,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Report {
    pub calls: usize,
    pub answered: u64,
    pub faults: Vec<String>,
    pub watched: usize,
}

/// Runs the harness; `Err` says what broke, with the seed.
pub async fn run(cfg: Config) -> Result<Report, String> {
    let seed = cfg.seed;
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut cluster = Cluster::start(cfg.members, rng.u64(..));
    let shared = Arc::new(Shared {
        up: cluster.up.clone(),
        history: Default::default(),
        next_client: AtomicU64::new(1),
        next_value: AtomicU64::new(1),
    });
    let started = Instant::now();
    let until = started + cfg.duration;
    let stop = Arc::new(AtomicBool::new(false));
    let watchers: Vec<_> = cluster
        .ids
        .iter()
        .map(|&id| tokio::spawn(clients::watcher(shared.clone(), id, stop.clone())))
        .collect();
    let workers: Vec<_> = (0..cfg.clients)
        .map(|_| {
            tokio::spawn(clients::client(
                shared.clone(),
                rng.u64(..),
                cfg.keys,
                until,
            ))
        })
        .collect();
    let mut report = Report::default();
    while Instant::now() < until {
        cluster.reap().await;
        if !cluster.crashed.is_empty() {
            break;
        }
        let note = fault(&mut cluster, &mut rng).await;
        report
            .faults
            .push(format!("{:>7.2}s {note}", started.elapsed().as_secs_f64()));
    }
    for w in workers {
        report.answered += w.await.map_err(|e| format!("a client panicked: {e}"))?;
    }
    cluster.reap().await;
    if !cluster.crashed.is_empty() {
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        return Err(format!(
            "seed {seed}: {}\nfaults (from the start):\n{}",
            cluster.crashed.join("\n"),
            report.faults.join("\n")
        ));
    }
    // Everything heals; every member comes back and catches up.
    cluster.net.heal();
    for id in cluster.ids.clone() {
        if !cluster.is_up(id) {
            cluster.restart(id).await;
        }
    }
    // Settled twice at the same index: no write of a caller that gave up is still being
    // proposed again.
    let mut caught_up = settle(&cluster)
        .await
        .map_err(|e| format!("seed {seed}: {e}"))?;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let again = settle(&cluster)
            .await
            .map_err(|e| format!("seed {seed}: {e}"))?;
        if again == caught_up {
            break;
        }
        caught_up = again;
    }
    // Final reads through every member: an acknowledged write that is gone fails the
    // check, as does any member that answers differently.
    {
        let mut h = shared.history.lock().unwrap();
        let keys: Vec<String> = (0..cfg.keys).map(|k| format!("k{k}")).collect();
        let mut client = 1_000_000;
        for id in &cluster.ids {
            let Some(m) = cluster.handle(*id) else {
                continue;
            };
            for name in &keys {
                let k = crate::store::key::make(Kind::ConfigMap, "default", name);
                let at = Instant::now();
                let v = m
                    .state()
                    .get(&k)
                    .map_err(|e| format!("seed {seed}: reading {k} on member {id}: {e}"))?
                    .and_then(|s| clients::value_of(&s.object));
                client += 1;
                h.record(
                    name,
                    Call {
                        client,
                        op: Op::Get,
                        invoked: at,
                        returned: Some((Instant::now(), Ret::Value(v))),
                    },
                );
            }
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut seen = Vec::new();
    for w in watchers {
        seen.push(w.await.map_err(|e| format!("a watcher panicked: {e}"))?);
    }
    let history = std::mem::take(&mut *shared.history.lock().unwrap());
    report.calls = history.calls();
    if let Some((key, verdict)) = history.violation() {
        // The whole history of the key, for a closer look.
        let whole = std::env::temp_dir().join(format!("skiff-chaos-{seed}-{key}.txt"));
        let all = history.by_key.get(&key).map(|c| Shown(c).to_string());
        let _ = std::fs::write(&whole, all.unwrap_or_default());
        let what = match verdict {
            Verdict::Fails(calls) => format!(
                "is not linearizable; a minimal failing history:\n{}",
                Shown(&calls)
            ),
            Verdict::GaveUp => "could not be checked: the checker gave up on it\n".into(),
        };
        return Err(format!(
            "seed {seed}: the history of {key} {what}(all of it: {})\nfaults (from the start):\n{}",
            whole.display(),
            report.faults.join("\n")
        ));
    }
    report.watched = check_watches(&cluster, &seen, caught_up)
        .map_err(|e| format!("seed {seed}: {e}\nfaults:\n{}", report.faults.join("\n")))?;
    Ok(report)
}

/// Injects one fault, waits while it lasts, and heals it; says what it did.
async fn fault(c: &mut Cluster, rng: &mut fastrand::Rng) -> String {
    let ids = c.ids.clone();
    let pick = |rng: &mut fastrand::Rng| ids[rng.usize(..ids.len())];
    let lasting = Duration::from_millis(rng.u64(300..1500));
    let note = match rng.u8(0..100) {
        0..25 => {
            let id = leader_or_any(c, rng, &ids).await;
            c.kill(id).await;
            tokio::time::sleep(lasting).await;
            c.restart(id).await;
            format!("kill -9 member {id}, restart after {lasting:?}")
        }
        25..35 => {
            let id = leader_or_any(c, rng, &ids).await;
            c.power_loss(id).await;
            tokio::time::sleep(lasting).await;
            c.restart(id).await;
            format!("power loss of member {id}, back after {lasting:?}")
        }
        35..40 => {
            for &id in &ids {
                c.power_loss(id).await;
            }
            tokio::time::sleep(lasting).await;
            for &id in &ids {
                c.restart(id).await;
            }
            format!("power loss of every member, back after {lasting:?}")
        }
        40..60 => {
            let leader = c.leader().await;
            let side = match leader {
                Some(l) if rng.bool() => vec![l],
                _ => vec![pick(rng)],
            };
            partition(c, &side, lasting).await;
            format!("partition {side:?} from the rest for {lasting:?} (leader {leader:?})")
        }
        60..70 if ids.len() >= 5 => {
            // A minority of two on one side, the majority on the other.
            let mut side = vec![pick(rng)];
            while side.len() < 2 {
                let id = pick(rng);
                if !side.contains(&id) {
                    side.push(id);
                }
            }
            partition(c, &side, lasting).await;
            format!("partition {side:?} from the rest for {lasting:?}")
        }
        60..85 => {
            let f = Faults {
                drop: rng.u16(50..300),
                duplicate: rng.u16(0..100),
                delay: rng.u16(0..300),
                max_delay: Duration::from_millis(rng.u64(5..80)),
                ..Faults::default()
            };
            let said = format!(
                "network: drop {}‰, duplicate {}‰, delay {}‰ up to {:?}, for {lasting:?}",
                f.drop, f.duplicate, f.delay, f.max_delay
            );
            c.net.set(f);
            tokio::time::sleep(lasting).await;
            c.net.heal();
            said
        }
        85..92 => {
            let id = leader_or_any(c, rng, &ids).await;
            let by = Duration::from_millis(rng.u64(20..200));
            c.slow_disk(id, by);
            tokio::time::sleep(lasting).await;
            c.slow_disk(id, Duration::ZERO);
            format!("member {id}'s disk syncs {by:?} slower for {lasting:?}")
        }
        92..97 => {
            let id = leader_or_any(c, rng, &ids).await;
            let Some(h) = c.handle(id) else {
                return format!("member {id} is down: no clock fault");
            };
            if rng.bool() {
                let ticks = rng.u32(10..60);
                let _ = h.clock(ClockFault::Jump(ticks)).await;
                format!("member {id}'s clock jumps {ticks} ticks ahead")
            } else {
                let _ = h.clock(ClockFault::Stall(lasting)).await;
                tokio::time::sleep(lasting).await;
                format!("member {id} stalls for {lasting:?}, then runs on")
            }
        }
        _ => {
            tokio::time::sleep(lasting).await;
            format!("quiet for {lasting:?}")
        }
    };
    tokio::time::sleep(Duration::from_millis(rng.u64(50..400))).await;
    note
}

/// The leader half the time (when there is one), else any member.
async fn leader_or_any(c: &Cluster, rng: &mut fastrand::Rng, ids: &[u64]) -> u64 {
    match c.leader().await {
        Some(l) if rng.bool() => l,
        _ => ids[rng.usize(..ids.len())],
    }
}

/// Cuts `side` off from the other members for `lasting`, then heals.
async fn partition(c: &Cluster, side: &[u64], lasting: Duration) {
    c.net.partition(side, &c.ids);
    tokio::time::sleep(lasting).await;
    c.net.heal();
}

/// Waits until there is a leader and every member has applied its commit index; returns
/// that index.
async fn settle(c: &Cluster) -> Result<u64, String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(l) = c.leader().await
            && let Some(h) = c.handle(l)
            && let Ok(index) = h.linearizable().await
        {
            let mut all = true;
            for id in &c.ids {
                let Some(m) = c.handle(*id) else {
                    return Err(format!("member {id} is down"));
                };
                all &= tokio::time::timeout(Duration::from_secs(5), m.wait_applied(index))
                    .await
                    .is_ok();
            }
            if all {
                return Ok(index);
            }
        }
        tokio::time::sleep(cluster::TICK).await;
    }
    Err("the cluster did not settle within 30 s after the faults healed".into())
}

/// Every watcher saw exactly the ConfigMap changes the history holds, in order, once;
/// every member holds the same objects. Returns how many events were watched.
fn check_watches(c: &Cluster, seen: &[Seen], index: u64) -> Result<usize, String> {
    let first = c.ids[0];
    // The history as the member that kept the most of it has it (one that installed a
    // snapshot has none before it).
    let mut kept: Option<(u64, Vec<super::Event>)> = None;
    for id in &c.ids {
        let h = c.handle(*id).ok_or(format!("member {id} is down"))?;
        let (from, events) = match h.state().events_since(0) {
            Ok(e) => (0, e),
            Err(crate::Error::Compacted { compacted, .. }) => {
                match h.state().events_since(compacted) {
                    Ok(e) => (compacted, e),
                    Err(e) => return Err(format!("reading member {id}'s history: {e}")),
                }
            }
            Err(e) => return Err(format!("reading member {id}'s history: {e}")),
        };
        if kept.as_ref().is_none_or(|(f, _)| from < *f) {
            kept = Some((from, events));
        }
    }
    let (from, events) = kept.ok_or("no member")?;
    let truth: Vec<(u64, String)> = events
        .into_iter()
        .filter(|e| e.key.starts_with("ConfigMap/") && e.revision <= index)
        .map(|e| (e.revision, e.key))
        .collect();
    let mut watched = 0;
    for (i, s) in seen.iter().enumerate() {
        let id = c.ids[i];
        let skipped = |rev: u64| s.relisted.iter().any(|&(from, to)| rev > from && rev <= to);
        let want: Vec<&(u64, String)> = truth
            .iter()
            .filter(|(rev, _)| *rev <= s.events.last().map_or(0, |e| e.0) && !skipped(*rev))
            .collect();
        let got: Vec<&(u64, String)> = s.events.iter().filter(|(rev, _)| *rev > from).collect();
        if got != want {
            let at = got.iter().zip(&want).position(|(a, b)| a != b);
            return Err(format!(
                "member {id}'s watch saw {} changes, the history has {} (first difference at {:?}: saw {:?}, history {:?})",
                got.len(),
                want.len(),
                at,
                at.and_then(|i| got.get(i)),
                at.and_then(|i| want.get(i)),
            ));
        }
        if s.events.last().map_or(0, |e| e.0) < truth.last().map_or(0, |e| e.0) {
            return Err(format!("member {id}'s watch stopped short of the end"));
        }
        watched += got.len();
    }
    let objects = |id: u64| -> Result<Vec<(u64, String)>, String> {
        let h = c.handle(id).ok_or(format!("member {id} is down"))?;
        let (items, _) = h
            .state()
            .list(Kind::ConfigMap, None, None)
            .map_err(|e| e.to_string())?;
        Ok(items
            .into_iter()
            .map(|s| (s.revision, s.object.metadata().name.clone()))
            .collect())
    };
    let reference = objects(first)?;
    for id in &c.ids[1..] {
        if objects(*id)? != reference {
            return Err(format!(
                "member {id} holds other objects than member {first}"
            ));
        }
    }
    Ok(watched)
}

/// The run's length: `SKIFF_CHAOS_SECONDS`, else `default`.
fn duration(default: u64) -> Duration {
    let secs = std::env::var("SKIFF_CHAOS_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default);
    Duration::from_secs(secs)
}

async fn check(cfg: Config) {
    eprintln!("chaos: {cfg:?} (replay with SKIFF_CHAOS_SEED={})", cfg.seed);
    match run(cfg.clone()).await {
        Ok(r) => {
            eprintln!(
                "chaos: seed {}: {} calls ({} answered, {:.0}/s under faults), {} watched changes, {} faults:\n{}",
                cfg.seed,
                r.calls,
                r.answered,
                r.answered as f64 / cfg.duration.as_secs_f64(),
                r.watched,
                r.faults.len(),
                r.faults.join("\n")
            );
            assert!(r.answered > 0, "no call was answered");
        }
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_three_members_fixed_seed() {
    let seed = std::env::var("SKIFF_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261207);
    check(Config {
        members: 3,
        clients: 6,
        keys: 6,
        duration: duration(20),
        seed,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_five_members_random_seed() {
    let seed = std::env::var("SKIFF_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    check(Config {
        members: 5,
        clients: 6,
        keys: 6,
        duration: duration(20),
        seed,
    })
    .await;
}
