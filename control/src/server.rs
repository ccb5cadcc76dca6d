//! Running one control-plane member: the store on its data directory, the raft transport
//! to its peers, and the gRPC services on its listen address.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use skiff_proto::grpc::api::object_service_server::ObjectServiceServer;
use skiff_proto::grpc::raft::membership_server::MembershipServer;
use skiff_proto::grpc::raft::raft_transport_server::RaftTransportServer;

use crate::Error;
use crate::api::ObjectApi;
use crate::peer::{AddressBook, GrpcTransport, MembershipService, RaftService};
use crate::store::{Member, Tuning, spawn};

/// How a member runs.
#[derive(Debug, Clone)]
pub struct MemberConfig {
    pub id: u64,
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// Every founding member, this one included.
    pub initial_cluster: AddressBook,
    /// Raft's clock: elections take 10–20 ticks, heartbeats every 2.
    pub tick: Duration,
}

/// The file in the data directory that holds the log and the state machine.
pub const DATABASE_FILE: &str = "store.redb";

/// Runs the member until `shutdown` completes or the store fails.
pub async fn run(
    config: MemberConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    if !config.initial_cluster.contains_key(&config.id) {
        return Err(Error::Config(format!(
            "member {} is not in --initial-cluster ({}); add `{}=ADDRESS`",
            config.id,
            config
                .initial_cluster
                .keys()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            config.id
        )));
    }
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| Error::Config(format!("creating {}: {e}", config.data_dir.display())))?;
    let path = config.data_dir.join(DATABASE_FILE);
    let founders: Vec<u64> = config.initial_cluster.keys().copied().collect();
    let member = Member::open(config.id, &path, &founders, &Tuning::default())?;
    let transport = Arc::new(GrpcTransport::new(config.id, &config.initial_cluster));
    let (store, task) = spawn(member, transport, config.tick);
    tracing::info!(id = config.id, listen = %config.listen, data = %path.display(), "control-plane member starting");
    let raft = RaftTransportServer::new(RaftService {
        store: store.clone(),
    })
    .max_decoding_message_size(crate::peer::MAX_MESSAGE);
    let objects = ObjectServiceServer::new(ObjectApi {
        store: store.clone(),
    });
    let membership = MembershipServer::new(MembershipService {
        store,
        book: config.initial_cluster.clone(),
    });
    let serve = tonic::transport::Server::builder()
        .add_service(raft)
        .add_service(membership)
        .add_service(objects)
        .serve_with_shutdown(config.listen, shutdown);
    tokio::select! {
        r = serve => r.map_err(|e| Error::Config(format!("serving on {}: {e}", config.listen))),
        r = task => match r {
            Ok(result) => result,
            Err(e) => Err(Error::Config(format!("the store task stopped: {e}"))),
        },
    }
}
