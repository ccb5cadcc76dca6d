//! `skiff control`: run a control-plane member (found, join, restart). `skiff members`:
//! list the members, or remove one.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use skiff_control::cluster::parse_initial_cluster;
use skiff_control::server::{self, MemberConfig};
use skiff_proto::grpc::raft::membership_client::MembershipClient;
use skiff_proto::grpc::raft::{MembersRequest, RemoveMemberRequest, Role};

use super::pki::{self, CaSource};
use super::{MembersAction, MembersArgs};

#[derive(Debug, Args)]
pub struct ControlArgs {
    /// This member's raft id (unique in the cluster, not 0).
    #[arg(long)]
    pub id: u64,
    /// Where this member keeps its raft log and objects (created if missing; keep it across
    /// restarts).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Address for the API and the raft transport.
    #[arg(long, default_value = "127.0.0.1:7420")]
    pub listen: SocketAddr,
    /// The address other members reach this one at (default: --listen).
    #[arg(long, value_name = "HOST:PORT")]
    pub advertise: Option<String>,
    /// The cluster CA's folder (`ca.crt`, `ca.key`: `skiff pki init DIR`), for founding
    /// members of a cluster of more than one, and for joining. Copied into the data folder
    /// on first start; not needed afterwards.
    #[arg(long, value_name = "DIR")]
    pub pki: Option<PathBuf>,
    /// Join with a token instead of --pki (`skiff token create --usages member`): the
    /// member gets its certificate and the CA from the member it joins through.
    #[arg(
        long,
        env = "SKIFF_JOIN_TOKEN",
        hide_env_values = true,
        requires = "join"
    )]
    pub join_token: Option<String>,
    /// How long the member's own certificate is valid; it is renewed two thirds through.
    #[arg(long, default_value = "365d", hide = true)]
    pub cert_validity: humantime::Duration,
    /// The founding members: `1=ADDR1,2=ADDR2,3=ADDR3` (the same on each of them).
    #[arg(long, conflicts_with = "join")]
    pub initial_cluster: Option<String>,
    /// Join a running cluster through any of its members: `ADDR[,ADDR...]`. The member
    /// is added as a learner, catches up, then becomes a voter. Not needed to restart.
    #[arg(long, value_delimiter = ',', value_name = "ADDR")]
    pub join: Vec<String>,
    /// Raft's clock tick in milliseconds (elections take 10 to 20 ticks).
    #[arg(long, default_value_t = 50, hide = true)]
    pub tick_ms: u64,
    /// Seconds a node may go without reporting before it is marked unreachable and
    /// tainted (Kubernetes' node-monitor-grace-period).
    #[arg(long, default_value_t = 3)]
    pub node_monitor_grace_seconds: u64,
    /// Seconds the pods of an unreachable node stay before they are evicted and
    /// recreated elsewhere (unless they tolerate the taint longer).
    #[arg(long, default_value_t = 5)]
    pub pod_eviction_grace_seconds: u64,
    /// The addresses of container pods, cut into one range per node (spec.podCIDR).
    #[arg(long, default_value = "10.88.0.0/16")]
    pub cluster_cidr: String,
    /// The prefix length of each node's range.
    #[arg(long, default_value_t = 24)]
    pub node_cidr_mask_size: u8,
    /// The Pod Security level of namespaces that set none with the
    /// `pod-security.kubernetes.io/enforce` label: privileged, baseline or restricted.
    #[arg(long, default_value = "baseline", value_parser = ["privileged", "baseline", "restricted"])]
    pub pod_security_default: String,
    /// Where to write the audit log, one JSON line per API call (default: audit.log in
    /// the data folder).
    #[arg(long, value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
    /// Serve Prometheus metrics (raft, the API, and on the leader the scheduler and
    /// controllers) at http://ADDR/metrics over plain HTTP; off when not given.
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// How often HorizontalPodAutoscalers are evaluated (Kubernetes'
    /// --horizontal-pod-autoscaler-sync-period, whose default there is 15s).
    #[arg(long, value_name = "DURATION", default_value = "1s")]
    pub hpa_sync_period: humantime::Duration,
}

/// Aborts a background task when dropped.
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

pub fn run_member(a: ControlArgs) -> Result<ExitCode> {
    if a.id == 0 {
        bail!("--id 0 is reserved; number members from 1");
    }
    let initial_cluster = match &a.initial_cluster {
        Some(c) => {
            parse_initial_cluster(c).map_err(|e| anyhow::anyhow!("--initial-cluster: {e}"))?
        }
        None => Default::default(),
    };
    // Refused before anything is written to the data folder.
    server::check_initial_cluster(a.id, &initial_cluster)?;
    let source = match (&a.pki, initial_cluster.len(), a.join.is_empty()) {
        (Some(dir), _, _) => CaSource::Given(dir),
        (None, 1, _) => CaSource::MakeOne,
        (None, n, _) if n > 1 => CaSource::Missing(
            "the founding members of a cluster share one CA: make it with `skiff pki init DIR` and give each member --pki DIR",
        ),
        (None, _, false) => CaSource::Missing(
            "a joining member needs the cluster's CA: give --join-token TOKEN (`skiff token create --usages member`), or --pki DIR (the folder `skiff pki init` made, or `pki/ca` in a member's data folder)",
        ),
        (None, _, true) => CaSource::Missing(
            "this data folder holds no member certificate: found a cluster with --initial-cluster, or join one with --join and --pki",
        ),
    };
    let advertised = a.advertise.clone().unwrap_or_else(|| a.listen.to_string());
    let listen = a.listen.to_string();
    let addresses = pki::addresses([listen.as_str(), advertised.as_str()]);
    let valid_for = *a.cert_validity;
    if let Some(token) = &a.join_token
        && !skiff_pki::Credentials::exist(&pki::member_dir(&a.data_dir))
    {
        let token = skiff_pki::join::JoinToken::parse(token).context("--join-token")?;
        let who = super::join::Joiner::Member(a.id);
        let (creds, ca) =
            runtime()?.block_on(super::join::join(&token, &a.join, &who, &addresses))?;
        let ca = ca.context("the member joined through sent no CA")?;
        ca.save(&pki::ca_dir(&a.data_dir))?;
        creds.save(&pki::member_dir(&a.data_dir))?;
        tracing::info!(
            id = a.id,
            "joined with a token: certificate and CA received"
        );
    }
    let (tls, ca) = pki::member_tls(&a.data_dir, a.id, addresses.clone(), source, valid_for)?;
    let ca = ca.map(std::sync::Arc::new);
    let signer = match &ca {
        Some(ca) => pki::Signer::Local(ca.clone()),
        None => pki::Signer::Remote(a.join.clone()),
    };
    let renewal = pki::renew(
        tls.clone(),
        pki::member_dir(&a.data_dir),
        signer,
        skiff_pki::Role::Member { id: a.id },
        addresses,
        valid_for,
    );
    let config = MemberConfig {
        id: a.id,
        data_dir: a.data_dir,
        listen: a.listen,
        advertise: a.advertise,
        initial_cluster,
        join: a.join,
        tick: Duration::from_millis(a.tick_ms.max(1)),
        controllers: skiff_control::controllers::Config {
            lifecycle: skiff_control::controllers::node_lifecycle::Timing {
                monitor_grace: Duration::from_secs(a.node_monitor_grace_seconds.max(1)),
                eviction_grace: Duration::from_secs(a.pod_eviction_grace_seconds),
            },
            cluster_cidr: skiff_control::controllers::node_ipam::ClusterCidr::parse(
                &a.cluster_cidr,
                a.node_cidr_mask_size,
            )
            .map_err(|e| anyhow::anyhow!("--cluster-cidr: {e}"))?,
            metrics: Default::default(),
            hpa_sync_period: Some((*a.hpa_sync_period).max(Duration::from_millis(100))),
        },
        tls,
        ca,
        cert_validity: valid_for,
        pod_security_default: skiff_control::api::podsecurity::Level::parse(
            &a.pod_security_default,
        )
        .context("--pod-security-default")?,
        audit_log: a.audit_log.clone(),
        encryption_key: std::env::var(skiff_control::encryption::kek::ENV).ok(),
        policies: Some(std::sync::Arc::new(super::policies::WasmPolicies::new()?)),
        metrics: super::metrics::registry(),
    };
    let metrics_addr = a.metrics_addr;
    let result = runtime()?.block_on(async {
        if let Some(addr) = metrics_addr {
            let at = super::metrics::listen(addr, config.metrics.clone())
                .await
                .map_err(|e| skiff_control::Error::Config(format!("{e:#}")))?;
            tracing::info!(%at, "serving metrics at /metrics");
        }
        let renewal = tokio::spawn(renewal);
        let _stop = AbortOnDrop(renewal);
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        server::run(config, shutdown).await
    });
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e @ skiff_control::Error::Removed { .. }) => {
            eprintln!("skiff control: {e}");
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(e.into()),
    }
}

fn role_name(r: i32) -> &'static str {
    match Role::try_from(r).unwrap_or(Role::Unspecified) {
        Role::Leader => "leader",
        Role::Follower => "follower",
        Role::Learner => "learner",
        Role::Candidate => "candidate",
        Role::Unspecified => "?",
    }
}

/// `skiff members [list]` and `skiff members remove ID`.
pub fn members(a: &MembersArgs) -> Result<ExitCode> {
    runtime()?.block_on(async {
        let target = super::client::target(a.server.as_deref(), a.credentials.as_deref(), None);
        let dialer = match super::client::dialer(&target) {
            Ok(d) => d,
            Err(f) => return Ok(f.report()),
        };
        let mut client = match super::client::channel(&target).await {
            Ok(c) => MembershipClient::new(c),
            Err(f) => return Ok(f.report()),
        };
        match a.action {
            None | Some(MembersAction::List) => list(&mut client, &dialer).await,
            Some(MembersAction::Remove { id }) => {
                match client.remove(RemoveMemberRequest { id }).await {
                    Ok(_) => {
                        println!("member {id} removed");
                        Ok(ExitCode::SUCCESS)
                    }
                    Err(s) if s.code() == tonic::Code::FailedPrecondition => {
                        eprintln!("cannot remove member {id}: {}", s.message());
                        Ok(ExitCode::from(1))
                    }
                    Err(s) => bail!("removing member {id}: {}", s.message()),
                }
            }
        }
    })
}

async fn list(
    client: &mut MembershipClient<super::client::Conn>,
    dialer: &skiff_pki::Dialer,
) -> Result<ExitCode> {
    let book = client
        .members(MembersRequest {})
        .await
        .context("asking for the members")?
        .into_inner();
    let row = |id: &dyn std::fmt::Display,
               addr: &str,
               role: &str,
               term: &dyn std::fmt::Display,
               applied: &dyn std::fmt::Display| {
        println!("{id:<4} {addr:<22} {role:<11} {term:>6} {applied:>10}")
    };
    row(&"ID", "ADDRESS", "ROLE", &"TERM", &"APPLIED");
    for m in book.members {
        // Each member reports its own role, term and applied index.
        let own = async {
            let mut c = MembershipClient::new(dialer.member(&m.address).await.ok()?);
            let r = tokio::time::timeout(Duration::from_secs(2), c.members(MembersRequest {}))
                .await
                .ok()?
                .ok()?;
            r.into_inner().members.into_iter().find(|x| x.id == m.id)
        };
        match own.await {
            Some(s) => row(
                &m.id,
                &m.address,
                role_name(s.role),
                &s.term,
                &s.applied_index,
            ),
            None => row(&m.id, &m.address, "unreachable", &"-", &"-"),
        }
    }
    Ok(ExitCode::SUCCESS)
}
