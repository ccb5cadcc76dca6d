//! The scheduler and controllers together on a one-member store (see `plane`): rollouts,
//! unschedulable pods, Jobs, DaemonSets, lost nodes, Endpoints, garbage collection and
//! preemption.

use std::time::Duration;

use skiff_proto::Kind;
use skiff_proto::Object;
use skiff_proto::grpc::api::ApplyRequest;
use skiff_proto::grpc::api::object_service_server::ObjectService;
use skiff_proto::model::ConditionStatus;
use tonic::Request;

use super::plane::{Plane, get};
use crate::machinery::cache::Cache;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_that_fits_nowhere_says_why_and_is_placed_when_a_node_joins() {
    let p = Plane::start().await;
    p.node("n1", "").await;
    p.apply("apiVersion: v1\nkind: Pod\nmetadata: {name: picky}\nspec:\n  nodeSelector: {zone: x}\n  containers: [{name: c, image: app:v1}]\n").await;
    let message = |c: &Cache| {
        get(c, Kind::Pod, "picky", |o| match o {
            Object::Pod(p) => crate::scheduler::bind::scheduled_message(p).map(str::to_owned),
            _ => None,
        })
    };
    p.wait("the unschedulable condition", |c| message(c).is_some())
        .await;
    assert_eq!(
        message(&p.cache).unwrap(),
        "0/1 nodes available: 1 didn't match node selector or affinity"
    );
    p.node("n2", "zone: x").await;
    p.wait("binding once a node fits", |c| {
        get(c, Kind::Pod, "picky", |o| match o {
            Object::Pod(p) => p.spec.node_name.clone(),
            _ => None,
        })
        .as_deref()
            == Some("n2")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_run_to_completion_or_fail_at_their_backoff_limit() {
    let p = Plane::start().await;
    p.node("n1", "").await;
    let job = |name: &str, image: &str| {
        format!(
            "apiVersion: batch/v1\nkind: Job\nmetadata: {{name: {name}}}\nspec:\n  completions: 3\n  parallelism: 2\n  backoffLimit: 1\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{{name: c, image: {image}}}]\n"
        )
    };
    p.apply(&job("ok", "job:v1")).await;
    p.apply(&job("bad", "fail-job:v1")).await;
    let status = |c: &Cache, name: &str| {
        get(c, Kind::Job, name, |o| match o {
            Object::Job(j) => j.status.clone(),
            _ => None,
        })
    };
    let ended = |c: &Cache, name: &str, reason: &str| {
        status(c, name).is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.reason.as_deref() == Some(reason))
        })
    };
    p.wait("the job completes", |c| ended(c, "ok", "Completed"))
        .await;
    let s = status(&p.cache, "ok").unwrap();
    assert_eq!((s.succeeded, s.failed, s.active), (3, 0, 0));
    assert!(s.completion_time.is_some());
    p.wait("the failing job gives up", |c| {
        ended(c, "bad", "BackoffLimitExceeded")
    })
    .await;
    let s = status(&p.cache, "bad").unwrap();
    assert_eq!(s.failed, 2, "backoffLimit 1: the second failure ends it");
    let pods = p.pods();
    assert_eq!(
        pods.iter()
            .filter(|p| p.metadata.labels.get("job-name").map(String::as_str) == Some("ok"))
            .count(),
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_set_follows_nodes_joining_and_leaving() {
    let p = Plane::start().await;
    p.node("n1", "role: edge").await;
    p.node("n2", "").await;
    p.apply("apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: agent}\nspec:\n  selector: {matchLabels: {app: agent}}\n  template:\n    metadata: {labels: {app: agent}}\n    spec:\n      nodeSelector: {role: edge}\n      containers: [{name: c, image: agent:v1}]\n").await;
    let placed = |p: &Plane| {
        let mut nodes: Vec<String> = p
            .pods()
            .iter()
            .filter(|p| crate::controllers::pods::is_ready(p))
            .filter_map(|p| p.spec.node_name.clone())
            .collect();
        nodes.sort();
        nodes
    };
    p.wait("a pod on the edge node", |_| placed(&p) == ["n1"])
        .await;
    p.node("n3", "role: edge").await;
    p.wait("a pod on the new edge node", |_| placed(&p) == ["n1", "n3"])
        .await;
    p.delete(Kind::Node, "n1").await;
    p.wait("the gone node's pod deleted", |_| {
        placed(&p) == ["n3"] && p.pods().len() == 1
    })
    .await;
    p.wait("the status", |c| {
        get(c, Kind::DaemonSet, "agent", |o| match o {
            Object::DaemonSet(d) => d.status.clone(),
            _ => None,
        })
        .is_some_and(|s| s.desired_number_scheduled == 1 && s.number_ready == 1)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_nodes_pods_are_evicted_and_recreated_elsewhere() {
    let config = super::Config {
        // Two seconds: the stand-in agents heartbeat every 200 ms, but a loaded
        // machine (the whole suite at once) can delay them past one.
        lifecycle: super::node_lifecycle::Timing {
            monitor_grace: Duration::from_secs(2),
            eviction_grace: Duration::from_secs(1),
        },
        ..super::Config::default()
    };
    let p = Plane::with(config).await;
    p.node("n1", "").await;
    p.node("n2", "").await;
    p.apply(&WEB.replace("IMAGE", "app:v1")).await;
    p.wait("3 ready replicas", |c| {
        deployment_status(c).is_some_and(|s| s.available_replicas == 3)
    })
    .await;
    p.kill_node("n1");
    p.wait("all replicas on n2", |_| {
        let pods = p.pods();
        pods.len() == 3
            && pods.iter().all(|p| {
                p.spec.node_name.as_deref() == Some("n2") && crate::controllers::pods::is_ready(p)
            })
    })
    .await;
    let n1 = get(&p.cache, Kind::Node, "n1", |o| match o {
        Object::Node(n) => Some(n.clone()),
        _ => None,
    })
    .unwrap();
    assert!(
        n1.spec
            .taints
            .iter()
            .any(|t| t.key == "node.kubernetes.io/unreachable")
    );
    // It comes back: the taint goes.
    p.node("n1", "").await;
    p.wait("the taint lifted", |c| {
        get(c, Kind::Node, "n1", |o| match o {
            Object::Node(n) => Some(n.spec.taints.is_empty()),
            _ => None,
        }) == Some(true)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_list_ready_pods_and_follow_readiness() {
    let p = Plane::start().await;
    p.node("n1", "").await;
    p.apply(&WEB.replace("IMAGE", "app:v1")).await;
    p.apply("apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{port: 80, targetPort: 8080}]\n").await;
    let subsets = |c: &Cache| {
        get(c, Kind::Endpoints, "web", |o| match o {
            Object::Endpoints(e) => Some(e.subsets.clone()),
            _ => None,
        })
        .unwrap_or_default()
    };
    p.wait("3 ready addresses", |c| {
        subsets(c)
            .first()
            .is_some_and(|s| s.addresses.len() == 3 && s.ports[0].port == 8080)
    })
    .await;
    // One pod stops being ready: it moves to notReadyAddresses.
    let s = p
        .cache
        .list(Kind::Pod, Some("default"))
        .into_iter()
        .next()
        .unwrap();
    let mut o = s.object.clone();
    if let Object::Pod(pod) = &mut o {
        pod.status.as_mut().unwrap().conditions[0].status = ConditionStatus::False;
    }
    p.client.update_status(&o, s.revision).await.unwrap();
    p.wait("2 ready, 1 not", |c| {
        subsets(c)
            .first()
            .is_some_and(|s| s.addresses.len() == 2 && s.not_ready_addresses.len() == 1)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_whose_owner_never_existed_are_collected() {
    let p = Plane::start().await;
    p.apply("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stray\n  ownerReferences: [{apiVersion: v1, kind: ConfigMap, name: ghost, uid: no-such-uid}]\n").await;
    p.wait("the object", |c| {
        c.get(Kind::ConfigMap, "default", "stray").is_some()
    })
    .await;
    p.wait("its collection", |c| {
        c.get(Kind::ConfigMap, "default", "stray").is_none()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_high_priority_pod_preempts_the_fewest_lowest_priority_pods() {
    let p = Plane::start().await;
    p.node("n1", "").await;
    p.apply("apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: high}\nvalue: 1000\n").await;
    p.apply("apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: low}\nvalue: 10\nglobalDefault: true\n").await;
    // Four low-priority replicas of 2 CPUs fill the 8-CPU node.
    p.apply("apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: filler}\nspec:\n  replicas: 4\n  selector: {matchLabels: {app: filler}}\n  template:\n    metadata: {labels: {app: filler}}\n    spec:\n      containers: [{name: c, image: app:v1, resources: {requests: {cpu: '2'}}}]\n").await;
    let running = |p: &Plane, app: &str| {
        p.pods()
            .iter()
            .filter(|x| x.metadata.labels.get("app").map(String::as_str) == Some(app))
            .filter(|x| x.spec.node_name.is_some())
            .count()
    };
    p.wait("four fillers bound", |_| running(&p, "filler") == 4)
        .await;
    assert!(
        p.pods().iter().all(|x| x.spec.priority == Some(10)),
        "the global default class gives its value"
    );
    // A pod of the high class needing 3 CPUs: two fillers must go, not more.
    p.apply("apiVersion: v1\nkind: Pod\nmetadata: {name: vip, labels: {app: vip}}\nspec:\n  priorityClassName: high\n  containers: [{name: c, image: app:v1, resources: {requests: {cpu: '3'}}}]\n").await;
    p.wait("the vip bound", |_| running(&p, "vip") == 1).await;
    p.wait("two fillers waiting", |_| running(&p, "filler") == 2)
        .await;
    let waiting: Vec<_> = p
        .pods()
        .into_iter()
        .filter(|x| x.spec.node_name.is_none())
        .collect();
    assert_eq!(
        waiting.len(),
        2,
        "the evicted fillers were recreated and wait"
    );
    // An unknown class is refused at creation.
    let e = p
        .api
        .apply(Request::new(ApplyRequest {
            manifest: b"apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  priorityClassName: nope\n  containers: [{name: c, image: a}]\n".to_vec(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert!(
        e.message().contains("no PriorityClass with name \"nope\""),
        "{e}"
    );
}
