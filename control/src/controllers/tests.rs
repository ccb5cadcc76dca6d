//! The scheduler and controllers together on a one-member store, with a stand-in
//! kubelet that runs every bound pod at once (pods whose image names `broken` never get
//! ready). The real agents are in the workspace's process tests.

use std::sync::Arc;
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

pub struct Plane {
    _cluster: Cluster,
    pub api: Arc<ObjectApi>,
    pub cache: Cache,
    pub client: Client,
    _tasks: Tasks,
}

impl Plane {
    pub async fn start() -> Plane {
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
            crate::scheduler::Config::default(),
        ));
        super::start(&mut tasks, &cache, &client);
        tasks.spawn(kubelet(cache.clone(), client.with_cache(&cache)));
        let p = Plane {
            _cluster: cluster,
            api,
            cache,
            client,
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

    /// Registers a Ready node that runs Wasm and containers.
    pub async fn node(&self, name: &str, labels: &str) {
        self.apply(&format!(
            "apiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n  labels: {{{labels}}}\n"
        ))
        .await;
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
        self.client.update_status(&o, s.revision).await.unwrap();
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

    /// Waits (up to 20 s) until `f` holds of the cache.
    pub async fn wait(&self, what: &str, mut f: impl FnMut(&Cache) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
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

/// Runs each bound pod: Running and Ready, unless its image names `broken`.
async fn kubelet(cache: Cache, client: Client) {
    let mut changes = cache.subscribe();
    loop {
        for s in cache.list(Kind::Pod, None) {
            let Object::Pod(p) = &s.object else { continue };
            if p.spec.node_name.is_none()
                || p.status
                    .as_ref()
                    .is_some_and(|s| s.phase == PodPhase::Running)
            {
                continue;
            }
            if p.spec.containers.iter().any(|c| c.image.contains("broken")) {
                continue;
            }
            let mut p = p.clone();
            p.status = Some(PodStatus {
                phase: PodPhase::Running,
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
        if changes.recv().await.is_err() {
            changes = cache.subscribe();
        }
    }
}

const WEB: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  strategy: {rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
  progressDeadlineSeconds: 3
  template:
    metadata: {labels: {app: web}}
    spec:
      runtimeClassName: wasm
      containers: [{name: web, image: IMAGE}]
";

fn deployment_status(c: &Cache) -> Option<skiff_proto::model::DeploymentStatus> {
    match &c.get(Kind::Deployment, "default", "web")?.object {
        Object::Deployment(d) => d.status.clone(),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_is_scheduled_rolls_and_reports_a_stuck_rollout() {
    let p = Plane::start().await;
    for n in ["n1", "n2", "n3"] {
        p.node(n, "").await;
    }
    p.apply(&WEB.replace("IMAGE", "app:v1")).await;
    p.wait("3 ready replicas", |c| {
        deployment_status(c).is_some_and(|s| s.available_replicas == 3 && s.updated_replicas == 3)
    })
    .await;
    let pods = p.pods();
    assert_eq!(pods.len(), 3);
    let mut nodes: Vec<_> = pods
        .iter()
        .map(|p| p.spec.node_name.clone().unwrap())
        .collect();
    nodes.sort();
    assert_eq!(
        nodes,
        vec!["n1", "n2", "n3"],
        "replicas spread over the nodes"
    );

    // v2 rolls; at no point are fewer than 3 ready (maxUnavailable 0).
    p.apply(&WEB.replace("IMAGE", "app:v2")).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let pods = p.pods();
        let ready = pods
            .iter()
            .filter(|p| crate::controllers::pods::is_ready(p))
            .count();
        assert!(ready >= 3, "only {ready} ready during the rollout");
        let v2 = pods
            .iter()
            .filter(|p| {
                p.spec.containers[0].image == "app:v2" && crate::controllers::pods::is_ready(p)
            })
            .count();
        if v2 == 3 && pods.len() == 3 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "rollout did not finish: {pods:#?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    p.wait("the rollout completes", |c| {
        deployment_status(c).is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.reason.as_deref() == Some("NewReplicaSetAvailable"))
        })
    })
    .await;

    // A template whose pods never get ready stops at one surge pod and times out.
    p.apply(&WEB.replace("IMAGE", "broken:v3")).await;
    p.wait("ProgressDeadlineExceeded", |c| {
        deployment_status(c).is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.reason.as_deref() == Some("ProgressDeadlineExceeded"))
        })
    })
    .await;
    let pods = p.pods();
    assert_eq!(pods.len(), 4, "three v2 and one stuck surge pod");
    assert_eq!(
        pods.iter()
            .filter(|p| crate::controllers::pods::is_ready(p))
            .count(),
        3
    );
}
