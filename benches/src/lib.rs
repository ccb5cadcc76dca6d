//! Skiff's benchmark harnesses. Each benchmark runs its anchor (etcd, `wasmtime serve`,
//! `runc`, ...) in the same run and prints ratios, medians and p99 over many runs; none is
//! a test and none gates CI on wall-clock time.
//!
//! # Benchmarks (binaries in `src/bin/`)
//! - `store`: write throughput and latency of a 3-member Skiff control plane against a
//!   3-member etcd, both on loopback with fsync on, at several client concurrencies; then
//!   the time a client waits for its next acknowledged write after `kill -9` of the leader.
//!
//! - `wasm`: one HTTP request in a fresh instance through Skiff's runtime against
//!   wasmtime's own `ProxyPre` + pooling path; pod start latency on a real agent; density
//!   (10,000 HTTP pods and 1,000 sleeping jobs on one node).
//!
//! - `scheduler`: 1,000 simulated nodes and 10,000 pending pods (a ReplicaSet) on a
//!   3-member control plane: pods bound per second, pending → bound p99; then apply →
//!   Running of a 1-replica Wasm Deployment on a real agent.
//!
//! - `routing`: runwasi's `hello_wasi_http` through a node's ingress against `wasmtime
//!   serve` of the same wasmtime version (req/s, p50, p99, ratios); the added latency of a
//!   scale-from-zero first request.
//!
//! - `api`: the object API (apply, get, list of 100, watch fan-out to 1,000 watchers)
//!   against etcd's v3 API (put, range, range over a prefix, watch).
//!
//! - `containers`: container pod start (bound → Running) through the agent and its shim
//!   against `runc run -d` of the same bundle, beside Wasm pod start in the same run; the
//!   agent's and each shim's memory per running container.
//!
//! - `dashboard`: the web dashboard's overview in headless Chromium with 100 nodes and
//!   1,000 pods (first meaningful paint, bytes fetched), and the API's apply p99 with and
//!   without a page following the writes.
//!
//! # Modules
//! - [`pki`]: the benches' cluster CA and admin credential (Skiff is always TLS).
//! - [`api`]: the `api` bench's operations for both systems, and the watch fan-out.
//! - [`cluster`]: start and stop 3 `skiff control` or 3 `etcd` processes on free loopback
//!   ports in a temporary directory; every child is killed by PID on drop.
//! - [`skiff`]: the Skiff client side: 1 KiB ConfigMap manifests, `ObjectService/Create`,
//!   finding the leader with `Membership/Members`.
//! - [`etcd`]: the etcd client side over its v3 gRPC API (`KV.Put`,
//!   `Maintenance.Status`), generated from `proto/etcd_kv.proto`.
//! - [`instantiate`]: the `wasm` bench's in-process request paths (Skiff, wasmtime).
//! - [`pods`]: the `wasm` bench's member + node agent, artifacts, pods and their start.
//! - [`sched`]: the `scheduler` bench's simulated nodes (register, heartbeat,
//!   acknowledge) and the watch that times pods from created to bound.
//! - [`load`]: N concurrent closed-loop clients for a duration; latencies, errors.
//! - [`failover`]: kill the leader while a client writes; time to the next acknowledged write.
//! - [`routing`]: the `routing` bench's HTTP client, `wasmtime serve`, manifests.
//! - [`images`]: the busybox container image (built from Debian's static busybox) and
//!   pushing images to a registry; the tests use it too.
//! - [`report`]: percentiles, medians and table printing.
//! - [`setup`]: the `skiff` binary, waiting for a ready cluster, the machine's load.
//! - [`webdriver`]: headless Chromium or Firefox through their WebDriver servers (the
//!   dashboard's tests and bench).
//! - [`watches`]: a REST watch followed as a page follows it, minus the page (the
//!   dashboard bench).

pub mod api;
pub mod cluster;
pub mod etcd;
pub mod failover;
pub mod images;
pub mod instantiate;
pub mod load;
pub mod pki;
pub mod pods;
pub mod report;
pub mod routing;
pub mod sched;
pub mod setup;
pub mod skiff;
pub mod watches;
pub mod webdriver;

/// One client connection of the benchmark, to one member.
pub trait Writer: Clone + Send + Sync + 'static {
    /// Writes one 1 KiB object ([`skiff::manifest`]) under `name`, never used before. `Ok`
    /// means the system acknowledged the write (committed by a quorum, fsync'd).
    fn write(
        &self,
        name: String,
    ) -> impl std::future::Future<Output = Result<(), tonic::Status>> + Send;
}

/// A system under test, as the load and failover measurements see it. Member `i` of a
/// [`cluster::Cluster`] is `cluster.api[i]`.
// Not spawned (awaited in place), so the futures need not be `Send`.
#[allow(async_fn_in_trait)]
pub trait System {
    type W: Writer;
    /// For output: "skiff" or "etcd".
    const NAME: &'static str;
    /// One new connection (its own HTTP/2 connection) to the member at `addr`.
    async fn connect(addr: &str) -> anyhow::Result<Self::W>;
    /// The index of the leader, as reported by the members in `among` (`None` while
    /// there is none or it is not among them).
    async fn leader(cluster: &cluster::Cluster, among: &[usize]) -> anyhow::Result<Option<usize>>;
    /// Whether `member` knows the leader and has applied everything the leader has.
    async fn caught_up(cluster: &cluster::Cluster, member: usize) -> anyhow::Result<bool>;
}

/// Connects one gRPC channel (its own HTTP/2 connection, TLS 1.3 with the bench's admin
/// certificate, as every Skiff client) to the Skiff member at `addr` (`host:port`).
pub async fn channel(addr: &str) -> anyhow::Result<tonic::transport::Channel> {
    use anyhow::Context;
    pki::dialer()?
        .member(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))
}

/// Connects one plaintext gRPC channel to `addr` (etcd, when a bench runs it without TLS:
/// `--etcd-plaintext`).
pub async fn plain_channel(addr: &str) -> anyhow::Result<tonic::transport::Channel> {
    use anyhow::Context;
    tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .context("building an endpoint")?
        .connect_timeout(std::time::Duration::from_secs(2))
        .tcp_nodelay(true)
        .connect()
        .await
        .with_context(|| format!("connecting to {addr}"))
}

/// Waits (up to 30 s) until the one-member `cluster` answers, creating namespace
/// `namespace` through it, and returns an API client to it.
pub async fn namespace_on(
    cluster: &cluster::Cluster,
    namespace: &str,
) -> anyhow::Result<
    skiff_proto::grpc::api::object_service_client::ObjectServiceClient<tonic::transport::Channel>,
> {
    use skiff_proto::grpc::api::CreateRequest;
    use skiff_proto::grpc::api::object_service_client::ObjectServiceClient;
    let start = std::time::Instant::now();
    loop {
        if let Ok(ch) = channel(&cluster.api[0]).await {
            let mut api = ObjectServiceClient::new(ch);
            let ns = format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {namespace}}}\n");
            if api
                .create(CreateRequest {
                    manifest: ns.into_bytes(),
                    ..Default::default()
                })
                .await
                .is_ok()
            {
                return Ok(api);
            }
        }
        if start.elapsed() > std::time::Duration::from_secs(30) {
            anyhow::bail!("the member did not answer within 30 s:\n{}", cluster.logs());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
