//! Probes, as the kubelet runs them: `httpGet` (a status from 200 to 399 is a success),
//! `tcpSocket` (a connection is) and `exec` (exit code 0 is; containers only, run through
//! the runtime), every `periodSeconds`, each within `timeoutSeconds`, after
//! `initialDelaySeconds`.
//! - startup: until it has passed, the others do not run; `failureThreshold` failures in
//!   a row restart the container.
//! - liveness: `failureThreshold` failures in a row restart the container.
//! - readiness: `successThreshold` successes in a row make the container ready,
//!   `failureThreshold` failures in a row take it out of its Service's endpoints.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use skiff_proto::model::container::Container;
use skiff_proto::model::probe::{Probe, Scheme};
use skiff_proto::model::values::IntOrString;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::runtime::Exec;

fn seconds(v: Option<i32>, default: u64) -> Duration {
    Duration::from_secs(v.and_then(|s| u64::try_from(s).ok()).unwrap_or(default))
}

fn count(v: Option<i32>, default: u32) -> u32 {
    v.and_then(|s| u32::try_from(s).ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

/// A probe's port: a number, or the name of one of the container's ports.
fn port(c: &Container, p: &IntOrString) -> Result<u16, String> {
    match p {
        IntOrString::Int(n) => u16::try_from(*n).map_err(|_| format!("port {n} is out of range")),
        IntOrString::String(name) => c
            .ports
            .iter()
            .find(|cp| cp.name.as_deref() == Some(name.as_str()))
            .and_then(|cp| u16::try_from(cp.container_port).ok())
            .ok_or_else(|| format!("the container has no port named {name:?}")),
    }
}

/// What a probe reaches: the pod's address, and a way to run commands in the container.
#[derive(Clone)]
pub struct Target {
    pub ip: IpAddr,
    pub exec: Option<Arc<dyn Exec>>,
}

/// One check of `probe` against `t`: `Ok` or why it failed.
pub async fn check(probe: &Probe, c: &Container, t: &Target) -> Result<(), String> {
    let ip = t.ip;
    let timeout = seconds(probe.timeout_seconds, 1).max(Duration::from_millis(100));
    let work = async {
        if let Some(h) = &probe.http_get {
            if h.scheme == Some(Scheme::Https) {
                return Err("httpGet with scheme HTTPS is not supported yet".to_owned());
            }
            let port = port(c, &h.port)?;
            // `host` is where to connect (the pod's address by default), as the kubelet
            // reads it; a Host header, if wanted, is among `httpHeaders`.
            let target = match h.host.as_deref() {
                Some(host) => format!("{host}:{port}"),
                None => SocketAddr::new(ip, port).to_string(),
            };
            let mut s = TcpStream::connect(target.as_str())
                .await
                .map_err(|e| format!("connecting to {target}: {e}"))?;
            let path = h.path.as_deref().unwrap_or("/");
            let mut req = format!("GET {path} HTTP/1.1\r\n");
            if !h
                .http_headers
                .iter()
                .any(|x| x.name.eq_ignore_ascii_case("host"))
            {
                req.push_str(&format!("Host: {target}\r\n"));
            }
            req.push_str("User-Agent: skiff-probe/1\r\nAccept: */*\r\nConnection: close\r\n");
            for hh in &h.http_headers {
                req.push_str(&format!("{}: {}\r\n", hh.name, hh.value));
            }
            req.push_str("\r\n");
            s.write_all(req.as_bytes())
                .await
                .map_err(|e| format!("writing to {target}: {e}"))?;
            // The status line, however the bytes arrive.
            let mut head = Vec::with_capacity(64);
            let mut buf = [0u8; 64];
            while !head.contains(&b'\n') && head.len() < 512 {
                let n = s
                    .read(&mut buf)
                    .await
                    .map_err(|e| format!("reading from {target}: {e}"))?;
                if n == 0 {
                    break;
                }
                head.extend_from_slice(buf.get(..n).unwrap_or_default());
            }
            let line = String::from_utf8_lossy(&head).into_owned();
            let code: u16 = line
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| format!("{target} did not answer HTTP: {line:?}"))?;
            return if (200..400).contains(&code) {
                Ok(())
            } else {
                Err(format!("HTTP probe failed with statuscode: {code}"))
            };
        }
        if let Some(t) = &probe.tcp_socket {
            let addr = SocketAddr::new(ip, port(c, &t.port)?);
            return TcpStream::connect(addr)
                .await
                .map(drop)
                .map_err(|e| format!("connecting to {addr}: {e}"));
        }
        if let Some(e) = &probe.exec {
            let Some(exec) = &t.exec else {
                return Err(
                    "exec probes need a container runtime; this workload cannot run commands"
                        .into(),
                );
            };
            return match exec.exec(&e.command, timeout).await? {
                (0, _) => Ok(()),
                (code, err) if err.is_empty() => {
                    Err(format!("command {:?} exited with {code}", e.command))
                }
                (code, err) => Err(format!("command {:?} exited with {code}: {err}", e.command)),
            };
        }
        // grpc probes: not run yet; they do not hold the pod back.
        Ok(())
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(format!("the probe timed out after {timeout:?}")),
    }
}

/// What the probes found, as they find it.
pub enum Found {
    /// The startup probe passed (or there is none).
    Started,
    /// Readiness changed, with why when it failed.
    Ready(bool, Option<String>),
}

/// A probe's schedule and thresholds.
struct Schedule {
    delay: Duration,
    period: Duration,
    need_ok: u32,
    need_fail: u32,
}

impl Schedule {
    fn of(p: &Probe) -> Schedule {
        Schedule {
            delay: seconds(p.initial_delay_seconds, 0),
            period: seconds(p.period_seconds, 10).max(Duration::from_millis(100)),
            need_ok: count(p.success_threshold, 1),
            need_fail: count(p.failure_threshold, 3),
        }
    }

    fn ticker(&self) -> tokio::time::Interval {
        let mut tick = tokio::time::interval(self.period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick
    }
}

/// Runs `p` until it has failed `failureThreshold` times in a row (returns why) or, with
/// `until_success`, passed once (returns `None`).
async fn until_failed(p: &Probe, c: &Container, t: &Target, until_success: bool) -> Option<String> {
    let s = Schedule::of(p);
    tokio::time::sleep(s.delay).await;
    let mut tick = s.ticker();
    let mut fails = 0u32;
    loop {
        tick.tick().await;
        match check(p, c, t).await {
            Ok(()) if until_success => return None,
            Ok(()) => fails = 0,
            Err(why) => {
                fails = fails.saturating_add(1);
                if fails >= s.need_fail {
                    return Some(why);
                }
            }
        }
    }
}

/// Runs `c`'s probes against `t` for as long as the future is polled, telling `found`
/// what they find; returns only when the container must be restarted (its startup or
/// liveness probe failed), with why.
pub async fn supervise<F, Fut>(c: &Container, t: &Target, mut found: F) -> String
where
    F: FnMut(Found) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    if let Some(p) = &c.startup_probe
        && let Some(why) = until_failed(p, c, t, true).await
    {
        return format!("Startup probe failed: {why}");
    }
    found(Found::Started).await;
    let liveness = async {
        match &c.liveness_probe {
            Some(p) => match until_failed(p, c, t, false).await {
                Some(why) => format!("Liveness probe failed: {why}"),
                None => std::future::pending().await,
            },
            None => std::future::pending().await,
        }
    };
    let readiness = async {
        let Some(p) = &c.readiness_probe else {
            return std::future::pending().await;
        };
        let s = Schedule::of(p);
        tokio::time::sleep(s.delay).await;
        let mut tick = s.ticker();
        let (mut ready, mut oks, mut fails) = (None, 0u32, 0u32);
        loop {
            tick.tick().await;
            match check(p, c, t).await {
                Ok(()) => {
                    (oks, fails) = (oks.saturating_add(1), 0);
                    if oks >= s.need_ok && ready != Some(true) {
                        ready = Some(true);
                        found(Found::Ready(true, None)).await;
                    }
                }
                Err(why) => {
                    (oks, fails) = (0, fails.saturating_add(1));
                    // Not ready until proven ready; once ready, after the threshold.
                    if (ready.is_none() || fails >= s.need_fail) && ready != Some(false) {
                        ready = Some(false);
                        found(Found::Ready(false, Some(why))).await;
                    }
                }
            }
        }
    };
    tokio::select! {
        why = liveness => why,
        never = readiness => never,
    }
}
