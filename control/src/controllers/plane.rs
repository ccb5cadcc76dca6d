//! The harness the controllers' tests share: the scheduler and controllers together on
//! a one-member store, with a stand-in kubelet that heartbeats the live nodes and runs
//! every pod bound to them at once (pods whose image names `broken` never get ready;
//! those naming `job` succeed, `fail` fail). The real agents are in the workspace's
//! process tests.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use skiff_proto::Kind;
use skiff_proto::Object;
use skiff_proto::grpc::api::ApplyRequest;
use skiff_proto::grpc::api::object_service_server::ObjectService;
use skiff_proto::manifest::{Source, decode_one};
use skiff_proto::model::values::Time;
use skiff_proto::model::{
    Condition, ConditionStatus, ContainerState, ContainerStatus, PodPhase, PodStatus,
};
use tonic::Request;

use crate::api::ObjectApi;
use crate::machinery::cache::Cache;
use crate::machinery::client::Client;
use crate::machinery::leader::Tasks;
use crate::store::runtime_tests::Cluster;

/// The stand-in kubelet serves no figures (canary analysis is tested with real agents).
struct NoAgents;

#[tonic::async_trait]
impl crate::usage::NodeStats for NoAgents {
    async fn stats(
        &self,
        _: &skiff_proto::model::Node,
    ) -> Result<skiff_proto::grpc::node::StatsResponse, tonic::Status> {
        Err(tonic::Status::unavailable(
            "the test plane's kubelet serves no figures",
        ))
    }
}

pub struct Plane {
    _cluster: Cluster,
    pub api: Arc<ObjectApi>,
    pub cache: Cache,
    pub client: Client,
    /// Nodes whose stand-in agent runs.
    live: Arc<Mutex<HashSet<String>>>,
    _tasks: Tasks,
}

impl Plane {
    pub async fn start() -> Plane {
        Self::with(super::Config::default()).await
    }

    pub async fn with(config: super::Config) -> Plane {
        let cluster = Cluster::start(1);
        cluster.leader().await;
        let store = cluster.handle(1).unwrap();
        let api = Arc::new(ObjectApi::new(store.clone()));
        let client = Client::new(api.clone());
        let cache = Cache::new();
        let mut tasks = Tasks::new();
        tasks.spawn(crate::api::ensure_default_namespace(store.clone()));
        tasks.spawn(cache.clone().follow(store.clone()));
        tasks.spawn(crate::scheduler::run(
            store.clone(),
            cache.clone(),
            client.clone(),
            crate::scheduler::Config::default(),
        ));
        super::start(&mut tasks, &cache, &client, config, Arc::new(NoAgents));
        let live = Arc::new(Mutex::new(HashSet::new()));
        tasks.spawn(kubelet(
            cache.clone(),
            client.with_cache(&cache),
            live.clone(),
        ));
        let p = Plane {
            _cluster: cluster,
            api,
            cache,
            client,
            live,
            _tasks: tasks,
        };
        p.wait("the default namespace", |c| {
            c.get(Kind::Namespace, "", "default").is_some()
        })
        .await;
        p
    }

    pub async fn apply(&self, yaml: &str) {
        self.api
            .apply(Request::new(ApplyRequest {
                manifest: yaml.as_bytes().to_vec(),
                ..Default::default()
            }))
            .await
            .unwrap_or_else(|e| panic!("apply: {e}\n{yaml}"));
    }

    /// Registers a Ready node that runs Wasm and containers (or brings a killed one
    /// back: its stand-in agent heartbeats again).
    pub async fn node(&self, name: &str, labels: &str) {
        if self.cache.get(Kind::Node, "", name).is_some() {
            self.live.lock().unwrap().insert(name.to_owned());
            return;
        }
        self.apply(&format!(
            "apiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n  labels: {{{labels}}}\n"
        ))
        .await;
        // The node IPAM controller may write the node meanwhile: read it again and retry.
        for attempt in 0.. {
            let s = self.cache_get(Kind::Node, "", name).await;
            let mut o = s.object.clone();
            if let Object::Node(n) = &mut o {
                let text = format!(
                    "apiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\nstatus:\n  allocatable: {{cpu: '8', memory: 16Gi, pods: '110', wasm-instances: '1000'}}\n  runtimes: [wasm, oci]\n  conditions:\n  - type: Ready\n    status: 'True'\n    lastHeartbeatTime: '{}'\n",
                    Time::now()
                );
                let Object::Node(with) = decode_one(&text, &Source::named("node")).unwrap() else {
                    unreachable!()
                };
                n.status = with.status;
            }
            match self.client.update_status(&o, s.revision).await {
                Ok(_) => break,
                Err(e) if attempt < 20 => {
                    tracing::debug!(error = %e, "stand-in heartbeat lost a race");
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                Err(e) => panic!("writing node {name}'s status: {e}"),
            }
        }
        self.live.lock().unwrap().insert(name.to_owned());
    }

    /// Stops a node's stand-in agent: no more heartbeats, its pods stay as they are.
    pub fn kill_node(&self, name: &str) {
        self.live.lock().unwrap().remove(name);
    }

    pub async fn delete(&self, kind: Kind, name: &str) {
        let ns = if kind.is_namespaced() { "default" } else { "" };
        self.client.delete(kind, ns, name, None).await.unwrap();
    }

    async fn cache_get(&self, kind: Kind, ns: &str, name: &str) -> Arc<crate::store::Stored> {
        let mut found = None;
        self.wait(&format!("{kind} {name}"), |c| {
            found = c.get(kind, ns, name);
            found.is_some()
        })
        .await;
        found.unwrap()
    }

    /// Waits (up to 30 s) until `f` holds of the cache.
    pub async fn wait(&self, what: &str, mut f: impl FnMut(&Cache) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !f(&self.cache) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn pods(&self) -> Vec<skiff_proto::model::Pod> {
        self.cache
            .list(Kind::Pod, Some("default"))
            .into_iter()
            .filter_map(|s| match &s.object {
                Object::Pod(p) => Some(p.clone()),
                _ => None,
            })
            .collect()
    }
}

/// Heartbeats the live nodes; runs each pod bound to one: Running and Ready, unless its
/// image names `broken`; `Succeeded` if it names `job`.
async fn kubelet(cache: Cache, client: Client, live: Arc<Mutex<HashSet<String>>>) {
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tick.tick().await;
        let alive = live.lock().unwrap().clone();
        for s in cache.list(Kind::Node, None) {
            let Object::Node(n) = &s.object else { continue };
            if !alive.contains(&n.metadata.name) {
                continue;
            }
            let mut n = n.clone();
            let st = n.status.get_or_insert_with(Default::default);
            st.conditions.retain(|c| c.type_ != "Ready");
            st.conditions.push(Condition {
                type_: "Ready".into(),
                status: ConditionStatus::True,
                reason: Some("AgentReady".into()),
                last_heartbeat_time: Some(Time::now()),
                ..Default::default()
            });
            let _ = client.update_status(&Object::Node(n), s.revision).await;
        }
        for s in cache.list(Kind::Pod, None) {
            let Object::Pod(p) = &s.object else { continue };
            let Some(node) = &p.spec.node_name else {
                continue;
            };
            let image = &p.spec.containers[0].image;
            let phase = if image.contains("fail") {
                PodPhase::Failed
            } else if image.contains("job") {
                PodPhase::Succeeded
            } else {
                PodPhase::Running
            };
            if !alive.contains(node)
                || image.contains("broken")
                || p.status.as_ref().is_some_and(|s| s.phase == phase)
            {
                continue;
            }
            let mut p = p.clone();
            p.status = Some(PodStatus {
                phase,
                pod_ip: Some(format!("127.0.0.{}", s.revision % 250 + 2)),
                conditions: vec![Condition {
                    type_: "Ready".into(),
                    status: ConditionStatus::True,
                    last_transition_time: Some(Time::now()),
                    ..Default::default()
                }],
                container_statuses: vec![ContainerStatus {
                    name: "c".into(),
                    ready: true,
                    state: ContainerState::default(),
                    ..Default::default()
                }],
                ..Default::default()
            });
            let _ = client.update_status(&Object::Pod(p), s.revision).await;
        }
    }
}

/// The object `name` (in `default`, for namespaced kinds) as `f` reads it.
pub fn get<T>(c: &Cache, kind: Kind, name: &str, f: impl Fn(&Object) -> Option<T>) -> Option<T> {
    let ns = if kind.is_namespaced() { "default" } else { "" };
    f(&c.get(kind, ns, name)?.object)
}
