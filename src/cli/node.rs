//! `skiff node`: run a node agent that registers with the control plane and runs the pods
//! bound to it.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use skiff_node::agent::{self, AgentConfig, BackoffPolicy, Capacity};
use skiff_node::router::RouterLimits;
use skiff_proto::model::quantity::Quantity;

use std::net::IpAddr;

use super::NodeArgs;
use super::join::Joiner;

fn labels(text: Option<&str>) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for pair in text
        .unwrap_or_default()
        .split(',')
        .filter(|p| !p.is_empty())
    {
        let Some((k, v)) = pair.split_once('=') else {
            bail!("--labels {pair:?}: expected KEY=VALUE, e.g. zone=a,disk=ssd");
        };
        out.insert(k.trim().to_owned(), v.trim().to_owned());
    }
    Ok(out)
}

/// A size flag such as `16Mi` or `1048576`, in bytes.
pub(super) fn bytes(flag: &str, text: &str) -> Result<u64> {
    let q = Quantity::parse(text).map_err(|e| anyhow::anyhow!("{flag} {text:?}: {e}"))?;
    u64::try_from(q.value()).with_context(|| format!("{flag} {text:?} must be positive"))
}

/// The machine's memory, from /proc/meminfo (bytes).
fn machine_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(4 << 30, |kb| kb * 1024)
}

/// Where a node keeps its credentials.
fn kept(data: &std::path::Path) -> std::path::PathBuf {
    data.join("pki").join("node")
}

/// The node's credentials: from `--credentials DIR` (kept in the data folder from then
/// on), else those kept before, else a certificate got with `--join-token`. They must
/// name this node.
async fn node_tls(a: &NodeArgs, addresses: &[IpAddr]) -> Result<skiff_pki::Tls> {
    let (name, kept) = (&a.name, kept(&a.data_dir));
    let creds = match (&a.credentials, &a.join_token) {
        (Some(dir), _) => {
            let c = skiff_pki::Credentials::load(dir)
                .with_context(|| format!("--credentials {}", dir.display()))?;
            c.save(&kept)?;
            c
        }
        (None, _) if skiff_pki::Credentials::exist(&kept) => skiff_pki::Credentials::load(&kept)?,
        (None, Some(token)) => {
            let token = skiff_pki::join::JoinToken::parse(token).context("--join-token")?;
            let control: Vec<String> = a.control.iter().map(|c| c.to_string()).collect();
            let who = Joiner::Node(name.clone());
            let (c, _) = super::join::join(&token, &control, &who, addresses).await?;
            c.save(&kept)?;
            tracing::info!(node = %name, "joined with a token: certificate received");
            c
        }
        (None, None) => bail!(
            "node {name} has no credentials: join with --join-token TOKEN (`skiff token create`), or issue them with `skiff pki issue --ca CA_DIR --node {name} --out DIR` and pass --credentials DIR"
        ),
    };
    let who = creds.identity()?;
    if who.node_name() != Some(name) {
        bail!(
            "the credentials name {}, not system:node:{name}: issue this node its own (`skiff pki issue --node {name}`)",
            who.user
        );
    }
    Ok(skiff_pki::Tls::new(&creds)?)
}

pub fn run(a: NodeArgs) -> Result<ExitCode> {
    if a.control.is_empty() {
        bail!("--control needs at least one control-plane member, e.g. --control 127.0.0.1:7420");
    }
    let memory_bytes = match &a.memory {
        Some(m) => bytes("--memory", m)?,
        None => machine_memory(),
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    let router = RouterLimits {
        max_body_bytes: bytes("--max-request-body", &a.max_request_body)?,
        max_header_bytes: usize::try_from(bytes("--max-request-headers", &a.max_request_headers)?)
            .context("--max-request-headers is too large")?,
        timeout: Duration::from_secs(a.request_timeout_seconds),
        ..RouterLimits::default()
    };
    let containers = a.containers.config(&a.data_dir)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let addresses: Vec<IpAddr> = a.address.parse().into_iter().collect();
    let tls = rt.block_on(node_tls(&a, &addresses))?;
    // Renewed through the control plane: a node does not hold the CA.
    let _renewal = super::control::AbortOnDrop(rt.spawn(super::pki::renew(
        tls.clone(),
        kept(&a.data_dir),
        super::pki::Signer::Remote(a.control.iter().map(|c| c.to_string()).collect()),
        skiff_pki::Role::Node {
            name: a.name.clone(),
        },
        addresses,
        super::pki::VALID_FOR,
    )));
    let config = AgentConfig {
        name: a.name,
        control: a.control.iter().map(|c| c.to_string()).collect(),
        data_dir: a.data_dir,
        labels: labels(a.labels.as_deref())?,
        capacity: Capacity {
            cpu_millis: a.cpu_millis.unwrap_or(cores * 1000),
            memory_bytes,
            pods: a.max_pods,
            instances: a
                .max_instances
                .unwrap_or_else(|| a.max_pods.saturating_mul(2).max(256)),
        },
        address: a.address,
        listen: a.listen,
        logs: Default::default(),
        usage_interval: Duration::from_secs(a.usage_seconds.max(1)),
        heartbeat: Duration::from_secs(a.heartbeat_seconds.max(1)),
        backoff: BackoffPolicy {
            initial: Duration::from_secs(a.backoff_seconds.max(1)),
            ..BackoffPolicy::default()
        },
        ingress: a.ingress_addr,
        peer_listen: a.peer_listen,
        router,
        containers,
        tls,
        metrics: super::metrics::registry(),
    };
    if let Some(addr) = a.metrics_addr {
        let at = rt.block_on(super::metrics::listen(addr, config.metrics.clone()))?;
        tracing::info!(%at, "serving metrics at /metrics");
    }
    rt.block_on(agent::run(config, async {
        let _ = tokio::signal::ctrl_c().await;
    }))
    .context("the node agent stopped")?;
    Ok(ExitCode::SUCCESS)
}
