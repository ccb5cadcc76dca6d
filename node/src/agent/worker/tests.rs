//! The pod worker over the in-memory runtime: the order of sandbox, runs and removal, the
//! statuses it reports, graceful stops and adoption.

use std::sync::Mutex as StdMutex;

use skiff_proto::grpc::api::ObjectKey;
use skiff_proto::model::pod::{PodPhase, PodStatus};
use skiff_proto::{Kind, Object};

use super::*;
use crate::Error;
use crate::agent::{BackoffPolicy, Shared};
use crate::cluster::PodApi;
use crate::logs::LogPolicy;
use crate::router::{Locals, Router, RouterLimits};
use crate::runtime::Runtimes;
use crate::runtime::fake::FakeRuntime;

/// Statuses written, in order.
#[derive(Default)]
struct Api(StdMutex<Vec<PodStatus>>);

#[tonic::async_trait]
impl PodApi for Api {
    async fn get(&self, _: Kind, _: &str, _: &str) -> Result<Option<Object>, Error> {
        Ok(None)
    }

    async fn event(&self, _: skiff_proto::model::event::Event) -> Result<(), Error> {
        Ok(())
    }

    fn key_values(self: Arc<Self>, _: &str) -> Arc<dyn crate::runtime::KeyValueStore> {
        Arc::new(crate::wasm::capability::MemoryStore::default())
    }

    async fn update_status(&self, _: ObjectKey, json: Vec<u8>) -> Result<(), Error> {
        let s: PodStatus = serde_json::from_slice(&json).map_err(|e| Error::ControlPlane {
            reason: e.to_string(),
        })?;
        self.0.lock().unwrap().push(s);
        Ok(())
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    api: Arc<Api>,
    fake: Arc<FakeRuntime>,
    shared: Arc<Shared>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let api = Arc::new(Api::default());
    let fake = Arc::new(FakeRuntime::default());
    let mut runtimes = Runtimes::default();
    runtimes.add("", fake.clone());
    let shared = Arc::new(Shared {
        api: api.clone(),
        runtimes,
        data_dir: dir.path().to_owned(),
        backoff: BackoffPolicy {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(20),
            reset_after: Duration::from_secs(60),
        },
        logs: LogPolicy::default(),
        host_ip: "192.0.2.1".into(),
        router: Router::new(
            "n".into(),
            Arc::new(Locals::default()),
            RouterLimits::default(),
            &crate::fuzzing::node_tls(),
        ),
        gateways: Default::default(),
        usage_interval: Duration::from_secs(3600),
        metrics: Default::default(),
    });
    Fixture {
        _dir: dir,
        api,
        fake,
        shared,
    }
}

fn pod(images: &[&str], policy: RestartPolicy) -> Pod {
    let mut p = Pod::default();
    p.metadata.name = "p".into();
    p.metadata.namespace = "default".into();
    p.metadata.uid = Some("uid-1".into());
    p.spec.restart_policy = Some(policy);
    for (i, image) in images.iter().enumerate() {
        p.spec.containers.push(Container {
            name: format!("c{i}"),
            image: (*image).into(),
            ..Default::default()
        });
    }
    p
}

impl Fixture {
    fn statuses(&self) -> Vec<PodStatus> {
        self.api.0.lock().unwrap().clone()
    }

    fn last(&self) -> PodStatus {
        self.statuses().pop().expect("a status was reported")
    }

    /// Waits until a reported status satisfies `f`.
    async fn until(&self, what: &str, f: impl Fn(&PodStatus) -> bool) {
        for _ in 0..500 {
            if self.statuses().iter().any(&f) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no status where {what}: {:#?}", self.statuses());
    }
}

#[tokio::test]
async fn a_pod_that_completes_gets_its_sandbox_first_and_gives_it_back_last() {
    let f = fixture();
    let (_stop, rx) = watch::channel(None);
    run_pod(f.shared.clone(), pod(&["exit:0"], RestartPolicy::Never), rx).await;
    assert_eq!(
        f.fake.journal.entries(),
        ["sandbox uid-1", "start c0", "remove uid-1"]
    );
    let last = f.last();
    assert_eq!(last.phase, PodPhase::Succeeded);
    let t = last.container_statuses[0]
        .state
        .terminated
        .as_ref()
        .unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (0, Some("Completed")));
    // The sandbox's address is the pod's.
    assert!(
        f.statuses()
            .iter()
            .all(|s| s.host_ip.as_deref() == Some("192.0.2.1"))
    );
}

#[tokio::test]
async fn a_failing_container_restarts_with_back_off_as_the_policy_says() {
    let f = fixture();
    let (stop, rx) = watch::channel(None);
    let task = tokio::spawn(run_pod(
        f.shared.clone(),
        pod(&["exit:3"], RestartPolicy::Always),
        rx,
    ));
    f.until("restartCount reaches 2", |s| {
        s.container_statuses[0].restart_count >= 2
    })
    .await;
    assert!(f.statuses().iter().any(|s| {
        s.container_statuses[0]
            .state
            .waiting
            .as_ref()
            .is_some_and(|w| w.reason.as_deref() == Some("CrashLoopBackOff"))
    }));
    // The node's series count the restarts and list the pod while it is here.
    let mut registry = prometheus_client::registry::Registry::default();
    f.shared.metrics.register(&mut registry);
    let scrape = || {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        text
    };
    let text = scrape();
    let restarts: f64 = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("skiff_agent_container_restarts_total{runtime=\"container\"} ")
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no restarts series in\n{text}"));
    assert!(restarts >= 2.0, "{text}");
    assert!(
        text.contains("container_cpu_usage_seconds_total{namespace=\"default\",pod=\"p\""),
        "{text}"
    );
    stop.send(Some(Duration::from_secs(1))).unwrap();
    task.await.unwrap();
    assert_eq!(f.fake.journal.entries().last().unwrap(), "remove uid-1");
    assert!(
        !scrape().contains("pod=\"p\""),
        "the pod's series went with it"
    );
}

#[tokio::test]
async fn stopping_a_pod_stops_each_run_with_the_grace_period_then_removes_the_sandbox() {
    let f = fixture();
    let (stop, rx) = watch::channel(None);
    let task = tokio::spawn(run_pod(
        f.shared.clone(),
        pod(&["serve", "serve"], RestartPolicy::Always),
        rx,
    ));
    f.until("both containers run", |s| {
        s.container_statuses
            .iter()
            .all(|c| c.state.running.is_some())
    })
    .await;
    stop.send(Some(Duration::from_secs(7))).unwrap();
    task.await.unwrap();
    let mut journal = f.fake.journal.entries();
    assert_eq!(journal.pop().unwrap(), "remove uid-1");
    journal.sort();
    assert_eq!(
        journal,
        [
            "sandbox uid-1",
            "start c0",
            "start c1",
            "stop c0 7s",
            "stop c1 7s"
        ]
    );
    let last = f.last();
    for c in &last.container_statuses {
        assert!(c.state.terminated.is_some(), "{c:?}");
        assert_eq!(c.restart_count, 0, "a stop is not a restart");
    }
}

#[tokio::test]
async fn a_run_left_by_an_earlier_agent_is_adopted_not_started_again() {
    let f = fixture();
    let exit = f.fake.leave_running("c0");
    let (_stop, rx) = watch::channel(None);
    let task = tokio::spawn(run_pod(
        f.shared.clone(),
        pod(&["serve"], RestartPolicy::Never),
        rx,
    ));
    f.until("the adopted run is running", |s| {
        s.container_statuses[0].state.running.is_some()
    })
    .await;
    exit.send(Some(0)).unwrap();
    task.await.unwrap();
    assert_eq!(
        f.fake.journal.entries(),
        ["sandbox uid-1", "adopt c0", "remove uid-1"]
    );
    assert_eq!(f.last().phase, PodPhase::Succeeded);
}

/// A pod whose status says an earlier agent was running `c0` (and nothing to adopt).
fn ran_before(policy: RestartPolicy) -> Pod {
    use skiff_proto::model::pod::ContainerStatus;
    let mut p = pod(&["exit:0"], policy);
    let mut status = PodStatus::default();
    status.container_statuses.push(ContainerStatus {
        name: "c0".into(),
        state: ContainerState {
            running: Some(StateRunning::default()),
            ..Default::default()
        },
        ..Default::default()
    });
    p.status = Some(status);
    p
}

#[tokio::test]
async fn a_run_lost_with_an_earlier_agent_is_not_started_again_under_never() {
    let f = fixture();
    let (_stop, rx) = watch::channel(None);
    run_pod(f.shared.clone(), ran_before(RestartPolicy::Never), rx).await;
    // Nothing to adopt, and not started: a Job's pod does not run twice.
    assert_eq!(f.fake.journal.entries(), ["sandbox uid-1", "remove uid-1"]);
    let last = f.last();
    assert_eq!(last.phase, PodPhase::Failed);
    let t = last.container_statuses[0].state.terminated.clone().unwrap();
    assert_eq!(t.exit_code, 137);
    assert_eq!(t.reason.as_deref(), Some("ContainerStatusUnknown"));
}

#[tokio::test]
async fn a_run_lost_with_an_earlier_agent_starts_again_where_its_policy_restarts_it() {
    let f = fixture();
    let (_stop, rx) = watch::channel(None);
    let task = tokio::spawn(run_pod(
        f.shared.clone(),
        ran_before(RestartPolicy::OnFailure),
        rx,
    ));
    f.until("the new run ended", |s| s.phase == PodPhase::Succeeded)
        .await;
    task.await.unwrap();
    assert_eq!(
        f.fake.journal.entries(),
        ["sandbox uid-1", "start c0", "remove uid-1"]
    );
}

#[tokio::test]
async fn a_pod_for_a_runtime_the_node_lacks_waits_and_says_which() {
    let f = fixture();
    let mut p = pod(&["serve"], RestartPolicy::Always);
    p.spec.runtime_class_name = Some("gvisor".into());
    let (stop, rx) = watch::channel(None);
    let task = tokio::spawn(run_pod(f.shared.clone(), p, rx));
    f.until("the container waits", |s| {
        s.container_statuses[0].state.waiting.is_some()
    })
    .await;
    let w = f.last().container_statuses[0]
        .state
        .waiting
        .clone()
        .unwrap();
    assert_eq!(w.reason.as_deref(), Some("CreateContainerError"));
    let m = w.message.unwrap();
    assert!(m.contains("\"gvisor\"") && m.contains("containers"), "{m}");
    stop.send(Some(Duration::from_secs(1))).unwrap();
    task.await.unwrap();
    assert!(f.fake.journal.entries().is_empty(), "no sandbox was made");
}

#[tokio::test]
async fn an_image_that_cannot_be_pulled_is_a_waiting_reason_and_is_retried() {
    let f = fixture();
    let (stop, rx) = watch::channel(None);
    let task = tokio::spawn(run_pod(
        f.shared.clone(),
        pod(&["pull-error"], RestartPolicy::Always),
        rx,
    ));
    f.until("ErrImagePull", |s| {
        s.container_statuses[0]
            .state
            .waiting
            .as_ref()
            .is_some_and(|w| w.reason.as_deref() == Some("ErrImagePull"))
    })
    .await;
    stop.send(Some(Duration::from_secs(1))).unwrap();
    task.await.unwrap();
    assert_eq!(
        f.fake.journal.entries(),
        ["sandbox uid-1", "remove uid-1"],
        "the sandbox goes when the pod does, even with nothing started"
    );
}
