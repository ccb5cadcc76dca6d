//! Running one control-plane member: the store on its data directory, the raft transport
//! to its peers, and the gRPC services on its listen address. A member founds a cluster
//! (`initial_cluster`), joins a running one (`join`), or restarts from its data directory.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use skiff_proto::grpc::api::artifact_service_server::ArtifactServiceServer;
use skiff_proto::grpc::api::auth_service_server::AuthServiceServer;
use skiff_proto::grpc::api::certificate_service_server::CertificateServiceServer;
use skiff_proto::grpc::api::encryption_service_server::EncryptionServiceServer;
use skiff_proto::grpc::api::log_service_server::LogServiceServer;
use skiff_proto::grpc::api::metrics_service_server::MetricsServiceServer;
use skiff_proto::grpc::api::object_service_server::ObjectServiceServer;
use skiff_proto::grpc::raft::membership_client::MembershipClient;
use skiff_proto::grpc::raft::membership_server::MembershipServer;
use skiff_proto::grpc::raft::raft_transport_server::RaftTransportServer;
use skiff_proto::grpc::raft::{JoinRequest, MembersRequest};
use tokio::sync::mpsc;
use tonic::Code;
use tonic::service::interceptor::InterceptedService;

use crate::Error;
use crate::api::metrics::ApiMetrics;
use crate::api::{ArtifactApi, ObjectApi};
use crate::auth::{Authorizer, Guarded};
use crate::cluster::{AddressBook, check_address};
use crate::machinery::cache::Cache;
use crate::machinery::client::Client;
use crate::machinery::leader::Tasks;
use crate::membership::Limits;
use crate::peer::{GrpcTransport, MembershipService, PeerEvent, RaftService};
use crate::store::{Member, StoreHandle, Transport, Tuning, in_conf, spawn};

/// How a member runs.
#[derive(Debug, Clone)]
pub struct MemberConfig {
    pub id: u64,
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// The address other members reach this one at; `listen` when not given.
    pub advertise: Option<String>,
    /// Every founding member, this one included; empty when joining or restarting.
    pub initial_cluster: AddressBook,
    /// Members of a running cluster to join through (any of them will do).
    pub join: Vec<String>,
    /// Raft's clock: elections take 10–20 ticks, heartbeats every 2.
    pub tick: Duration,
    /// How the controllers the leader runs behave (node failure timing).
    pub controllers: crate::controllers::Config,
    /// This member's certificate and the cluster CA: every connection in or out is TLS
    /// 1.3 with client certificates (or, for API clients, a ServiceAccount's token).
    pub tls: skiff_pki::Tls,
    /// The cluster CA with its key, on a member that holds it: it signs certificates
    /// for joiners and renewals, and ServiceAccount tokens.
    pub ca: Option<Arc<skiff_pki::Ca>>,
    /// How long the certificates this member signs for others last.
    pub cert_validity: Duration,
    /// The Pod Security level of namespaces without a `pod-security.kubernetes.io/enforce`
    /// label.
    pub pod_security_default: crate::api::podsecurity::Level,
    /// Where the audit log goes (JSON lines); `None`: `audit.log` in the data folder.
    pub audit_log: Option<PathBuf>,
    /// The key-encryption key for Secrets at rest (base64 of 32 bytes, the same on every
    /// member); `None`: derived from the CA's key.
    pub encryption_key: Option<String>,
    /// Runs WasmAdmissionPolicies' components; `None`: writes a `Fail` policy matches
    /// are refused.
    pub policies: Option<Arc<dyn crate::api::policies::PolicyRunner>>,
    /// Where the member's series are registered (served at `/metrics` by whoever holds
    /// the registry: `skiff control --metrics-addr`).
    pub metrics: SharedRegistry,
}

/// A process's metrics registry, which each part registers its series in at start.
pub type SharedRegistry = Arc<std::sync::Mutex<prometheus_client::registry::Registry>>;

/// The file in the data directory that holds the log and the state machine.
pub const DATABASE_FILE: &str = "store.redb";

impl MemberConfig {
    fn advertised(&self) -> Result<String, Error> {
        if let Some(a) = &self.advertise {
            check_address(a).map_err(|e| Error::Config(format!("--advertise: {e}")))?;
            return Ok(a.clone());
        }
        if self.listen.ip().is_unspecified() {
            return Err(Error::Config(format!(
                "--listen {} does not say how other members reach this one: give --advertise HOST:PORT",
                self.listen
            )));
        }
        Ok(self.listen.to_string())
    }

    fn check(&self) -> Result<(), Error> {
        check_initial_cluster(self.id, &self.initial_cluster)
    }
}

/// A founding member must be in the founding list.
pub fn check_initial_cluster(id: u64, initial: &AddressBook) -> Result<(), Error> {
    if !initial.is_empty() && !initial.contains_key(&id) {
        return Err(Error::Config(format!(
            "member {id} is not in --initial-cluster ({}); add `{id}=ADDRESS`",
            initial
                .keys()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        )));
    }
    Ok(())
}

/// Runs the member until `shutdown` completes or the store fails (or this member is
/// removed from the cluster: [`Error::Removed`]).
pub async fn run(
    config: MemberConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    config.check()?;
    let advertise = config.advertised()?;
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| Error::Config(format!("creating {}: {e}", config.data_dir.display())))?;
    let path = config.data_dir.join(DATABASE_FILE);
    let member = Member::open(
        config.id,
        &path,
        &config.initial_cluster,
        &Tuning::default(),
    )?;
    // Secrets are sealed before they are proposed and opened as they are read.
    let kek = match (&config.encryption_key, &config.ca) {
        (Some(text), _) => Some(crate::encryption::Kek::from_base64(text).map_err(Error::Config)?),
        (None, Some(ca)) => {
            Some(crate::encryption::Kek::from_ca_key(&ca.key_pem()).map_err(Error::Config)?)
        }
        (None, None) => {
            tracing::warn!(
                "no key-encryption key (no CA key, no SKIFF_ENCRYPTION_KEY): this member cannot read or write Secrets"
            );
            None
        }
    };
    if member.state().adopt_address(config.id, &advertise)? {
        tracing::info!(id = config.id, address = %advertise, "a restored cluster: this member's address recorded");
    }
    let sealer = Arc::new(crate::encryption::Sealer::new(kek));
    member.state().set_transform(sealer.clone())?;
    let conf = member.state().conf_state();
    let fresh = conf.voters.is_empty() && conf.learners.is_empty();
    if fresh && config.join.is_empty() {
        return Err(Error::Config(format!(
            "{} holds no cluster yet: give --initial-cluster to found one, or --join ADDRESS to join a running one",
            config.data_dir.display()
        )));
    }
    if !fresh && !in_conf(&conf, config.id) {
        return Err(Error::Removed { id: config.id });
    }
    let dialer = skiff_pki::Dialer::new(config.tls.clone());
    let (transport, events) = GrpcTransport::new(config.id, dialer.clone());
    let transport = Arc::new(transport);
    let (store, task) = spawn(member, transport.clone(), config.tick);
    tokio::spawn(relay(events, store.clone()));
    tracing::info!(id = config.id, listen = %config.listen, data = %path.display(), "control-plane member starting");
    // Only members may send raft messages: the check runs before a message is decoded.
    let raft = InterceptedService::new(
        RaftTransportServer::new(RaftService {
            store: store.clone(),
        })
        .max_decoding_message_size(crate::peer::MAX_MESSAGE),
        crate::auth::members_only,
    );
    // The client API: every call authorized (see `auth`); controllers call `api` itself.
    let mut api =
        ObjectApi::new(store.clone()).with_pod_security_default(config.pod_security_default);
    if let Some(p) = config.policies.clone() {
        api = api.with_policy_runner(p);
    }
    let api = Arc::new(api);
    let authz = Authorizer::new(store.clone());
    let audit_path = config
        .audit_log
        .clone()
        .unwrap_or_else(|| config.data_dir.join("audit.log"));
    let audit = crate::auth::audit::Audit::to_file(&audit_path)
        .map_err(|e| Error::Config(format!("the audit log {}: {e}", audit_path.display())))?;
    let api_metrics = ApiMetrics::default();
    let scheduler_metrics = crate::scheduler::SchedulerMetrics::default();
    let controllers = config.controllers.clone();
    {
        let mut r = config.metrics.lock().unwrap_or_else(|p| p.into_inner());
        store.metrics().register(&mut r);
        api_metrics.register(&mut r);
        scheduler_metrics.register(&mut r);
        controllers.metrics.register(&mut r);
    }
    let guarded = Arc::new(
        Guarded::new(api.clone(), authz.clone(), audit.clone()).measured(api_metrics.clone()),
    );
    let objects = ObjectServiceServer::from_arc(guarded.clone());
    let artifacts = ArtifactServiceServer::new(
        Guarded::new(
            Arc::new(ArtifactApi {
                store: store.clone(),
            }),
            authz.clone(),
            audit.clone(),
        )
        .measured(api_metrics.clone()),
    );
    let guarded_logs = Arc::new(
        Guarded::new(
            Arc::new(crate::api::LogApi {
                store: store.clone(),
                dialer: dialer.clone(),
            }),
            authz.clone(),
            audit.clone(),
        )
        .measured(api_metrics.clone()),
    );
    let logs = LogServiceServer::from_arc(guarded_logs.clone());
    let node_stats: Arc<dyn crate::usage::NodeStats> =
        Arc::new(crate::usage::Dialing::new(dialer.clone()));
    let guarded_usage = Arc::new(
        Guarded::new(
            Arc::new(crate::usage::api::MetricsApi {
                store: store.clone(),
                nodes: node_stats.clone(),
            }),
            authz.clone(),
            audit.clone(),
        )
        .measured(api_metrics.clone()),
    );
    let usage = MetricsServiceServer::from_arc(guarded_usage.clone());
    let issuer = match &config.ca {
        Some(ca) => {
            Some(Arc::new(ca.token_issuer().map_err(|e| {
                Error::Config(format!("the cluster CA: {e}"))
            })?))
        }
        None => None,
    };
    let auth_api = Arc::new(crate::auth::AuthApi {
        authz,
        issuer,
        audit: audit.clone(),
    });
    let auth = AuthServiceServer::from_arc(auth_api.clone());
    let encryption = EncryptionServiceServer::new(crate::encryption::EncryptionApi {
        store: store.clone(),
        sealer,
        audit: audit.clone(),
    });
    let certificates = CertificateServiceServer::new(crate::auth::CertificateApi {
        api: api.clone(),
        ca: config.ca.clone(),
        valid_for: config.cert_validity,
        audit: audit.clone(),
    });
    let authenticate = crate::auth::Authenticate::new(
        store.clone(),
        skiff_pki::tokens::Verifier::from_ca_pem(config.tls.ca_pem())
            .map_err(|e| Error::Config(format!("the cluster CA: {e}")))?,
    );
    let membership = MembershipServer::new(MembershipService {
        store: store.clone(),
        limits: Limits::default(),
        dialer: dialer.clone(),
    });
    // Housekeeping every member runs: the `default` namespace, the default ClusterRoles, and expired events (the
    // leader's job). Both stop with the member.
    let chores = [
        tokio::spawn(crate::api::ensure_default_namespace(store.clone())),
        tokio::spawn(crate::auth::defaults::ensure(store.clone(), api.clone())),
        tokio::spawn(crate::api::refresh_quotas(
            api.clone(),
            Duration::from_secs(2),
        )),
        tokio::spawn(crate::machinery::leader::while_leading(
            store.clone(),
            LEADERSHIP_CHECK,
            leader_work(
                store.clone(),
                Client::new(api),
                controllers,
                scheduler_metrics,
                node_stats,
            ),
        )),
        tokio::spawn(crate::api::expire_events(
            store.clone(),
            crate::api::EVENT_TTL,
            Duration::from_secs(60),
        )),
    ];
    let _stop_chores = AbortOnDrop(chores.into_iter().collect());
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| Error::Config(format!("listening on {}: {e}", config.listen)))?;
    // Clients without a certificate may finish the handshake (to present a token); the
    // authentication layer refuses every call that has neither, and raft and membership
    // take only members' certificates.
    let server_tls = config
        .tls
        .server_config_allowing_anonymous()
        .map_err(|e| Error::Config(format!("TLS: {e}")))?;
    let incoming = skiff_pki::TlsIncoming::new(listener, server_tls);
    // gRPC and the Kubernetes REST API share the port (HTTP/2 and HTTP/1.1); each gRPC
    // service authenticates its calls, the REST API its requests, the same way.
    let rest = crate::rest::router(Arc::new(crate::rest::Rest {
        objects: guarded.clone(),
        logs: guarded_logs,
        usage: guarded_usage.clone(),
        auth: auth_api,
        authenticate: authenticate.clone(),
        server: advertise.clone(),
    }));
    let mut grpc = tonic::service::Routes::builder();
    grpc.add_service(InterceptedService::new(raft, authenticate.clone()))
        .add_service(InterceptedService::new(membership, authenticate.clone()))
        .add_service(InterceptedService::new(objects, authenticate.clone()))
        .add_service(InterceptedService::new(artifacts, authenticate.clone()))
        .add_service(InterceptedService::new(logs, authenticate.clone()))
        .add_service(InterceptedService::new(usage, authenticate.clone()))
        .add_service(InterceptedService::new(auth, authenticate.clone()))
        .add_service(InterceptedService::new(certificates, authenticate.clone()))
        .add_service(InterceptedService::new(encryption, authenticate.clone()));
    let app = grpc
        .routes()
        .into_axum_router()
        .layer(axum::middleware::map_request(crate::auth::audit::layer))
        .merge(rest)
        .merge(crate::ui::router(crate::ui::Ui {
            authenticate: authenticate.clone(),
            store: store.clone(),
            objects: guarded,
            usage: guarded_usage,
        }))
        .fallback(crate::rest::not_found)
        .layer(axum::middleware::from_fn(idempotency));
    let serve = tonic::transport::Server::builder()
        .accept_http1(true)
        .add_routes(app.into())
        .serve_with_incoming_shutdown(incoming, shutdown);
    let joining = async {
        if fresh {
            join(&config.join, config.id, &advertise, &*transport, &dialer).await
        } else {
            if !config.join.is_empty() {
                tracing::info!(id = config.id, "already a member; --join is not needed");
            }
            std::future::pending().await
        }
    };
    tokio::select! {
        r = serve => r.map_err(|e| Error::Config(format!("serving on {}: {e}", config.listen))),
        r = task => match r {
            Ok(result) => result,
            Err(e) => Err(Error::Config(format!("the store task stopped: {e}"))),
        },
        Err(e) = joining => Err(e),
    }
}

/// How often a member checks whether it leads (and so runs the scheduler and
/// controllers).
const LEADERSHIP_CHECK: Duration = Duration::from_millis(100);

/// What the leader runs: the informer cache, the scheduler and the controllers, each
/// started afresh with every term.
fn leader_work(
    store: StoreHandle,
    client: Client,
    config: crate::controllers::Config,
    scheduler: crate::scheduler::SchedulerMetrics,
    nodes: Arc<dyn crate::usage::NodeStats>,
) -> impl Fn() -> Tasks {
    move || {
        let mut tasks = Tasks::new();
        let cache = Cache::new();
        tasks.spawn(cache.clone().follow(store.clone()));
        tasks.spawn(crate::scheduler::run(
            store.clone(),
            cache.clone(),
            client.clone(),
            crate::scheduler::Config {
                metrics: scheduler.clone(),
                ..Default::default()
            },
        ));
        crate::controllers::start(&mut tasks, &cache, &client, config.clone(), nodes.clone());
        tasks.spawn(crate::autoscaler::hpa::run(
            cache.clone(),
            client.with_cache(&cache),
            nodes.clone(),
            config
                .hpa_sync_period
                .unwrap_or(crate::autoscaler::hpa::TICK),
        ));
        tasks
    }
}

/// Aborts background tasks when the member stops, however it stops.
struct AbortOnDrop(Vec<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

/// Tells the store what the transport learned.
async fn relay(mut events: mpsc::UnboundedReceiver<PeerEvent>, store: StoreHandle) {
    while let Some(e) = events.recv().await {
        let r = match e {
            PeerEvent::Snapshot { to, delivered } => store.report_snapshot(to, delivered).await,
            PeerEvent::Unreachable(to) => store.report_unreachable(to).await,
            PeerEvent::Removed => store.report_removed().await,
        };
        if r.is_err() {
            return;
        }
    }
}

/// How long a new member keeps asking to join before it gives up.
const JOIN_PATIENCE: Duration = Duration::from_secs(300);

/// Asks the running cluster to add this member (any of `through` will do), retrying while
/// the cluster is busy or away; returns once this member is a voter.
async fn join(
    through: &[String],
    id: u64,
    advertise: &str,
    transport: &dyn Transport,
    dialer: &skiff_pki::Dialer,
) -> Result<(), Error> {
    let deadline = tokio::time::Instant::now() + JOIN_PATIENCE;
    let mut last = String::new();
    while tokio::time::Instant::now() < deadline {
        for addr in through {
            let req = JoinRequest {
                id,
                address: advertise.to_owned(),
            };
            let mut client = match dialer.member(addr).await {
                Ok(c) => MembershipClient::new(c),
                Err(e) => {
                    last = format!("{addr}: {e}");
                    continue;
                }
            };
            // The leader's first messages need answers before its snapshot (with the
            // address book) arrives: learn the addresses now.
            if let Ok(r) = client.members(MembersRequest {}).await {
                let book: AddressBook = r
                    .into_inner()
                    .members
                    .into_iter()
                    .map(|m| (m.id, m.address))
                    .collect();
                transport.set_peers(&book);
            }
            let reply = client.join(req).await;
            match reply {
                Ok(r) => {
                    let n = r.into_inner().members.len();
                    tracing::info!(id, through = %addr, members = n, "joined the cluster");
                    return Ok(());
                }
                Err(s)
                    if s.code() == Code::FailedPrecondition
                        || s.code() == Code::InvalidArgument =>
                {
                    return Err(Error::Config(format!(
                        "joining through {addr}: {}",
                        s.message()
                    )));
                }
                Err(s) => {
                    tracing::info!(id, through = %addr, error = %s.message(), "join not done yet; retrying");
                    last = format!("{addr}: {}", s.message());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(Error::Config(format!(
        "could not join through {} within {JOIN_PATIENCE:?}; last answer: {last}",
        through.join(", ")
    )))
}

/// Serves a request under the idempotency key its client sent (see
/// `store::request_key`), gRPC and REST alike.
async fn idempotency(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let key = req
        .headers()
        .get(crate::store::IDEMPOTENCY_HEADER)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    crate::store::with_request_key(key, next.run(req)).await
}
