//! Failover: while a client writes continuously to the two followers, `kill -9` the leader
//! and time how long until a write is acknowledged again.
//!
//! The client starts a new write every [`PROBE_EVERY`] without waiting for earlier ones
//! (each with its own deadline), alternating between the two survivors, so a write stuck
//! on the dead leader does not delay the next attempt. The failover time is from just
//! before the SIGKILL to the first acknowledgement of a write *sent after* the kill (a
//! write acknowledged right after the kill may have committed before it). Then the killed
//! member is restarted on its data directory and the next run waits until it has caught up.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::sync::{Semaphore, mpsc};

use crate::cluster::Cluster;
use crate::{System, Writer};

/// How often the client starts a write.
pub const PROBE_EVERY: Duration = Duration::from_millis(5);
/// Writes in flight at most (a tick with none free skips its write). Writes a follower
/// had forwarded to the dead leader may hang until their deadline, so this allows for a
/// whole [`PROBE_TIMEOUT`] of them: otherwise the client would stop sending new writes.
const MAX_IN_FLIGHT: usize = 4096;
/// Deadline of each probe write (etcd's clients are given 5 s in its robustness tests).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// A run with no acknowledged write this long after the kill counts as failed.
pub const GIVE_UP: Duration = Duration::from_secs(30);

/// One kill.
#[derive(Debug)]
pub struct Run {
    pub killed: usize,
    pub pid: u32,
    /// Kill -> first acknowledged write sent after it; `None` if none within [`GIVE_UP`].
    pub time: Option<Duration>,
    /// Writes in flight at the kill or sent before that acknowledgement that failed
    /// (their callers saw an error or no answer within [`PROBE_TIMEOUT`]).
    pub errors: u64,
    /// The first such error.
    pub first_error: Option<String>,
    /// How long the restarted member took to catch up.
    pub rejoin: Duration,
}

enum Event {
    Ack { sent: Instant, at: Instant },
    Err { sent: Instant, why: String },
}

/// Polls `f` every 50 ms until it returns `Some`, or fails after `limit`.
async fn until<T>(
    limit: Duration,
    what: &str,
    mut f: impl AsyncFnMut() -> Result<Option<T>>,
) -> Result<T> {
    let start = Instant::now();
    loop {
        if let Ok(Some(v)) = f().await {
            return Ok(v);
        }
        if start.elapsed() > limit {
            bail!("{what}: not after {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the cluster has a leader; returns its index.
pub async fn wait_leader<S: System>(cluster: &Cluster, limit: Duration) -> Result<usize> {
    let all: Vec<usize> = (0..cluster.api.len()).collect();
    until(
        limit,
        &format!("{} electing a leader", S::NAME),
        async || S::leader(cluster, &all).await,
    )
    .await
}

/// Starts the continuous writer; it stops when the returned sender is dropped.
fn start_writer<W: Writer>(
    writers: Vec<W>,
    tag: String,
) -> (
    mpsc::UnboundedReceiver<Event>,
    tokio::sync::oneshot::Sender<()>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (stop_tx, mut stop) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
        let mut tick = tokio::time::interval(PROBE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut seq = 0u64;
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = tick.tick() => {}
            }
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                continue;
            };
            seq += 1;
            let w = writers[seq as usize % writers.len()].clone();
            let (tx, name) = (tx.clone(), format!("{tag}-{seq}"));
            tokio::spawn(async move {
                let sent = Instant::now();
                let e = match tokio::time::timeout(PROBE_TIMEOUT, w.write(name)).await {
                    Ok(Ok(())) => Event::Ack {
                        sent,
                        at: Instant::now(),
                    },
                    Ok(Err(s)) => Event::Err {
                        sent,
                        why: format!("{:?}: {}", s.code(), s.message()),
                    },
                    Err(_) => Event::Err {
                        sent,
                        why: format!("no acknowledgement within {PROBE_TIMEOUT:?}"),
                    },
                };
                let _ = tx.send(e);
                drop(slot);
            });
        }
    });
    (rx, stop_tx)
}

/// One kill of the leader; `run` makes object names unique.
pub async fn once<S: System>(cluster: &mut Cluster, run: usize) -> Result<Run> {
    cluster.check_running()?;
    let leader = wait_leader::<S>(cluster, Duration::from_secs(30)).await?;
    let survivors: Vec<usize> = (0..cluster.api.len()).filter(|&i| i != leader).collect();
    let mut writers = Vec::new();
    for &i in &survivors {
        writers.push(S::connect(&cluster.api[i]).await?);
    }
    let (mut events, stop) = start_writer(writers, format!("failover-r{run}"));

    // The client is writing (acknowledged writes are flowing) before the kill.
    let mut acks = 0;
    let warm = Instant::now();
    while acks < 20 {
        match tokio::time::timeout(Duration::from_secs(10), events.recv()).await {
            Ok(Some(Event::Ack { .. })) => acks += 1,
            Ok(Some(Event::Err { .. })) if warm.elapsed() < Duration::from_secs(10) => {}
            Ok(Some(Event::Err { why, .. })) => {
                bail!("{} writes fail before the kill: {why}", S::NAME)
            }
            _ => bail!(
                "{}: no write acknowledged within 10 s before the kill",
                S::NAME
            ),
        }
    }

    let pid = cluster.members[leader]
        .pid()
        .context("the leader is not running")?;
    let killed_at = Instant::now();
    cluster.members[leader].kill()?;
    let (mut errors, mut first_error, mut time) = (0, None, None);
    let deadline = tokio::time::Instant::from_std(killed_at + GIVE_UP);
    // Every write sent before the recovery counts, those in flight at the kill too: their
    // outcomes arrive within a deadline of it.
    let mut recovered: Option<Instant> = None;
    loop {
        let until = match recovered {
            Some(at) => {
                tokio::time::Instant::from_std(at + PROBE_TIMEOUT + Duration::from_millis(500))
            }
            None => deadline,
        };
        let Ok(Some(e)) = tokio::time::timeout_at(until, events.recv()).await else {
            break;
        };
        let before = |sent: Instant| recovered.is_none_or(|r| sent < r);
        match e {
            Event::Ack { sent, at } if sent >= killed_at && recovered.is_none() => {
                time = Some(at - killed_at);
                recovered = Some(sent);
            }
            Event::Ack { .. } => {}
            Event::Err { sent, why } if before(sent) => {
                errors += 1;
                first_error.get_or_insert(why);
            }
            Event::Err { .. } => {}
        }
    }
    drop(stop);
    drop(events);

    let restarted = Instant::now();
    cluster.members[leader].start()?;
    until(
        Duration::from_secs(60),
        &format!(
            "{} catching up after its restart",
            cluster.members[leader].name
        ),
        async || Ok(S::caught_up(cluster, leader).await?.then_some(())),
    )
    .await?;
    Ok(Run {
        killed: leader,
        pid,
        time,
        errors,
        first_error,
        rejoin: restarted.elapsed(),
    })
}
