//! Percentiles, medians and the printed tables.

use std::time::Duration;

use crate::load::Round;

/// The nearest-rank `q`-quantile (0 < q <= 1) of `sorted`; zero when empty.
pub fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The median of `v` (the mean of the middle two for an even count); NaN when empty.
pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One system at one concurrency, over all its rounds.
#[derive(Debug)]
pub struct Level {
    pub clients: usize,
    /// Writes per second of each round.
    pub per_round: Vec<f64>,
    /// Over every acknowledged write of every round.
    pub p50: Duration,
    pub p99: Duration,
    pub ok: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    /// The members' CPU time over all rounds' wall time (100 = one core busy).
    pub cpu_percent: f64,
    /// The members' CPU time per acknowledged write.
    pub cpu_per_write: Duration,
}

impl Level {
    pub fn new(clients: usize, rounds: Vec<Round>) -> Level {
        let per_round = rounds.iter().map(Round::writes_per_sec).collect();
        let mut lat: Vec<Duration> = Vec::new();
        let (mut ok, mut errors, mut first_error) = (0, 0, None);
        let (mut cpu, mut wall) = (Duration::ZERO, Duration::ZERO);
        for r in rounds {
            cpu += r.member_cpu;
            wall += r.elapsed;
            ok += r.ok;
            errors += r.errors;
            if first_error.is_none() {
                first_error = r.first_error;
            }
            lat.extend(r.latencies);
        }
        lat.sort_unstable();
        Level {
            clients,
            per_round,
            p50: percentile(&lat, 0.50),
            p99: percentile(&lat, 0.99),
            ok,
            errors,
            first_error,
            cpu_percent: 100.0 * cpu.as_secs_f64() / wall.as_secs_f64().max(1e-9),
            cpu_per_write: cpu / u32::try_from(ok.max(1)).unwrap_or(u32::MAX),
        }
    }

    /// The median over rounds.
    pub fn writes_per_sec(&self) -> f64 {
        median(&self.per_round)
    }
}

/// The throughput and latency table of one system.
pub fn print_levels(system: &str, levels: &[Level]) {
    println!();
    println!("{system}");
    println!(
        "  {:>7}  {:>10}  {:>17}  {:>8}  {:>8}  {:>8}  {:>6}  {:>7}  {:>9}",
        "clients",
        "writes/s",
        "rounds min..max",
        "p50 ms",
        "p99 ms",
        "acked",
        "errors",
        "CPU %",
        "CPU us/w"
    );
    for l in levels {
        let min = l.per_round.iter().copied().fold(f64::INFINITY, f64::min);
        let max = l.per_round.iter().copied().fold(0.0, f64::max);
        println!(
            "  {:>7}  {:>10.0}  {:>17}  {:>8.2}  {:>8.2}  {:>8}  {:>6}  {:>7.0}  {:>9.0}",
            l.clients,
            l.writes_per_sec(),
            format!("{min:.0}..{max:.0}"),
            ms(l.p50),
            ms(l.p99),
            l.ok,
            l.errors,
            l.cpu_percent,
            l.cpu_per_write.as_secs_f64() * 1e6
        );
    }
    for l in levels {
        if let Some(e) = &l.first_error {
            println!("  first error at {} clients: {e}", l.clients);
        }
    }
}

/// Skiff/etcd per concurrency: throughput (above 1: Skiff is faster) and p99 (below 1:
/// Skiff's tail is shorter).
pub fn print_ratios(skiff: &[Level], etcd: &[Level]) {
    println!();
    println!("skiff/etcd  (writes/s: above 1 = Skiff faster; p50, p99: below 1 = Skiff quicker)");
    println!(
        "  {:>7}  {:>10}  {:>8}  {:>8}",
        "clients", "writes/s", "p50", "p99"
    );
    for (s, e) in skiff.iter().zip(etcd) {
        println!(
            "  {:>7}  {:>10.2}  {:>8.2}  {:>8.2}",
            s.clients,
            s.writes_per_sec() / e.writes_per_sec(),
            ms(s.p50) / ms(e.p50),
            ms(s.p99) / ms(e.p99)
        );
    }
}

/// Median and max of the failover times (`None`: no write acknowledged within the limit).
pub fn failover_summary(times: &[Option<Duration>]) -> Option<(f64, f64)> {
    let ok: Vec<f64> = times.iter().flatten().map(|d| ms(*d)).collect();
    if ok.is_empty() {
        return None;
    }
    Some((median(&ok), ok.iter().copied().fold(0.0, f64::max)))
}

/// One failover run: the time to the next acknowledged write (`None`: none), and the
/// writes that failed meanwhile.
pub type FailoverRun = (Option<Duration>, u64);

pub fn print_failover(rows: &[(&str, Vec<FailoverRun>)]) {
    println!();
    println!("failover: kill -9 of the leader -> the next acknowledged write");
    println!(
        "  {:<10}  {:>5}  {:>10}  {:>10}  {:>7}  {:>14}  all (ms)",
        "system", "runs", "median ms", "max ms", "failed", "errors per run"
    );
    for (name, runs) in rows {
        let times: Vec<Option<Duration>> = runs.iter().map(|r| r.0).collect();
        let errors: Vec<String> = runs.iter().map(|r| r.1.to_string()).collect();
        let times = &times;
        let all = times
            .iter()
            .map(|t| t.map_or("-".to_string(), |d| format!("{:.0}", ms(d))))
            .collect::<Vec<_>>()
            .join(" ");
        let failed = times.iter().filter(|t| t.is_none()).count();
        let (med, max) = failover_summary(times).map_or(("-".into(), "-".into()), |(a, b)| {
            (format!("{a:.0}"), format!("{b:.0}"))
        });
        println!(
            "  {:<10}  {:>5}  {:>10}  {:>10}  {:>7}  {:>14}  {all}",
            name,
            times.len(),
            med,
            max,
            failed,
            errors.join(" ")
        );
    }
    let skiff = rows
        .first()
        .map(|r| r.1.iter().map(|x| x.0).collect::<Vec<_>>());
    for (name, e) in rows.iter().skip(1) {
        let e: Vec<Option<Duration>> = e.iter().map(|x| x.0).collect();
        if let Some(s) = &skiff
            && let (Some((sm, sx)), Some((em, ex))) = (failover_summary(s), failover_summary(&e))
        {
            println!(
                "  skiff/{name}: median {:.2}, max {:.2} (below 1 = Skiff recovers sooner)",
                sm / em,
                sx / ex
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_medians() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 0.5), Duration::from_millis(50));
        assert_eq!(percentile(&v, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&v[..1], 0.99), Duration::from_millis(1));
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
