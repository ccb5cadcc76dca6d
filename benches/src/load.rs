//! Closed-loop load: N clients, each with its own connection, each writing one object at a
//! time (the next write starts when the previous one is acknowledged) for a duration.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::{System, Writer};

/// A write not acknowledged in this long counts as an error.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// One round of load.
#[derive(Debug, Default)]
pub struct Round {
    /// Acknowledged writes.
    pub ok: u64,
    /// Failed or timed-out writes (not in `latencies`).
    pub errors: u64,
    /// From the start until the last client's last write returned.
    pub elapsed: Duration,
    /// One per acknowledged write.
    pub latencies: Vec<Duration>,
    /// The first error seen, for the report.
    pub first_error: Option<String>,
    /// CPU time the system's members used during the round (set by the caller).
    pub member_cpu: Duration,
}

impl Round {
    pub fn writes_per_sec(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// `clients` connections spread round-robin over the cluster's members (client `i` talks to
/// member `i % members`).
pub async fn connect<S: System>(api: &[String], clients: usize) -> Result<Vec<S::W>> {
    let mut out = Vec::with_capacity(clients);
    for i in 0..clients {
        let addr = &api[i % api.len()];
        out.push(
            S::connect(addr)
                .await
                .with_context(|| format!("{} client {i}", S::NAME))?,
        );
    }
    Ok(out)
}

/// Runs every writer in its own task for `duration`. Object names are
/// `{tag}-c{client}-{seq}`, so `tag` must be unique per round.
pub async fn run<W: Writer>(writers: &[W], duration: Duration, tag: &str) -> Round {
    let start = Instant::now();
    let tasks: Vec<_> = writers
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let w = w.clone();
            let prefix = format!("{tag}-c{i}");
            tokio::spawn(async move {
                let mut r = Round::default();
                let mut seq = 0u64;
                while start.elapsed() < duration {
                    seq += 1;
                    let t = Instant::now();
                    let res =
                        tokio::time::timeout(WRITE_TIMEOUT, w.write(format!("{prefix}-{seq}")))
                            .await;
                    let err = match res {
                        Ok(Ok(())) => {
                            r.ok += 1;
                            r.latencies.push(t.elapsed());
                            continue;
                        }
                        Ok(Err(status)) => format!("{:?}: {}", status.code(), status.message()),
                        Err(_) => format!("no acknowledgement within {WRITE_TIMEOUT:?}"),
                    };
                    r.errors += 1;
                    r.first_error.get_or_insert(err);
                    // Do not spin on a failing member.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                r
            })
        })
        .collect();
    let mut total = Round::default();
    for t in tasks {
        match t.await {
            Ok(r) => {
                total.ok += r.ok;
                total.errors += r.errors;
                total.latencies.extend(r.latencies);
                if total.first_error.is_none() {
                    total.first_error = r.first_error;
                }
            }
            Err(e) => {
                total.errors += 1;
                total
                    .first_error
                    .get_or_insert(format!("client task failed: {e}"));
            }
        }
    }
    total.elapsed = start.elapsed();
    total
}
