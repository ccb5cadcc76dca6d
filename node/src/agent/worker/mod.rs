//! One pod on this node: its sandbox (made by the runtime its `runtimeClassName` picks),
//! its init containers run in order, then its containers side by side (each prepared and
//! started by that runtime), each restarted as the pod's restart policy says (with
//! back-off), and the pod's status reported at every change. When the pod goes away its
//! runs are stopped gracefully (its grace period, then killed) and its sandbox removed;
//! when the agent goes away the worker is dropped and its runs left as they are; the next
//! agent adopts them, or, where they ended with it, does not start again what must not run
//! twice (`lost`).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use skiff_proto::model::container::Container;
use skiff_proto::model::pod::{ContainerState, Pod, RestartPolicy, StateRunning};
use skiff_proto::model::values::Time;
use tokio::sync::{Mutex, watch};

mod lost;
mod report;

use report::{AbortOnDrop, report, report_usage, set, write_status};

use super::backoff::Backoff;
use super::events::PodEvents;
use super::settings::{grace, limits, security};
use super::states::{config_error, create_error, not_started, terminated, waiting};
use super::status::PodState;
use super::{Shared, given, probe};
use crate::logs::{self, LogFile};
use crate::metrics::{Listed, PodEntry};
use crate::runtime::{PodRef, Pull, Running, Sandbox, StartSpec, Usage, WorkloadRuntime};

/// A pod worker's stop signal: `Some(grace)` once its pod is going away.
pub type Stop = watch::Receiver<Option<Duration>>;

/// Resolves with the grace period once the pod is to stop (never, if the sender is gone:
/// the agent is going away and drops the worker).
async fn stopping(stop: &mut Stop) -> Duration {
    loop {
        if let Some(grace) = *stop.borrow_and_update() {
            return grace;
        }
        if stop.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}

/// What every container of one pod shares.
struct PodCtx {
    shared: Arc<Shared>,
    pod: Pod,
    state: Arc<Mutex<PodState>>,
    runtime: Arc<dyn WorkloadRuntime>,
    sandbox: Arc<dyn Sandbox>,
    /// The pod's usage counters (the state's).
    usage: Arc<Usage>,
    /// Whether a status has been written.
    reported: AtomicBool,
    dir: std::path::PathBuf,
    events: PodEvents,
    /// The pod in the node's series (its phase kept current).
    listed: Listed,
    /// `wasm` or `container`, for the series.
    runtime_name: &'static str,
}

/// How long preparing an image may take before a `Pulling` event says it is being fetched.
const PULLING_AFTER: Duration = Duration::from_millis(200);

/// How long a pod's containers may take to start before the pod's address and waiting
/// containers are reported on their own.
const FIRST_REPORT_AFTER: Duration = Duration::from_millis(100);

/// Runs `pod` until it is done or `stop` says to stop.
pub async fn run_pod(shared: Arc<Shared>, pod: Pod, mut stop: Stop) {
    let mut state = PodState::new(
        &pod,
        &shared.host_ip,
        std::net::Ipv4Addr::UNSPECIFIED.into(),
    );
    // Restarts counted by an earlier agent stay counted.
    state.carry_over(&pod);
    let Some((runtime, sandbox)) = sandbox(&shared, &pod, &mut state, &mut stop).await else {
        return;
    };
    state.ip = sandbox.ip();
    if let Some(gateway) = sandbox.gateway() {
        shared.gateways.ensure(gateway, &shared.router).await;
        // A pod on a pod network has its address as soon as it has its sandbox (a Wasm
        // pod's shows once it serves).
        state.pod_ip = Some(sandbox.ip().to_string());
    }
    // Its in-cluster calls come from its address.
    let address =
        shared
            .router
            .register_pod(sandbox.ip(), &pod.metadata.namespace, &pod.metadata.name);
    let usage = state.usage.clone();
    let containers: Vec<&str> = pod
        .spec
        .containers
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    let listed = shared.metrics.pods.add(
        pod.metadata.uid.as_deref().unwrap_or(&pod.metadata.name),
        PodEntry::new(
            &pod.metadata.namespace,
            &pod.metadata.name,
            &containers,
            usage.clone(),
            Some(address.traffic().clone()),
            runtime.kind() == skiff_proto::model::node::Runtime::Wasm,
        ),
    );
    let state = Arc::new(Mutex::new(state));
    let cx = Arc::new(PodCtx {
        usage,
        listed,
        runtime_name: match runtime.kind() {
            skiff_proto::model::node::Runtime::Wasm => "wasm",
            skiff_proto::model::node::Runtime::Oci => "container",
        },
        reported: AtomicBool::new(false),
        dir: shared.pod_dir(&pod),
        events: PodEvents::new(shared.api.clone(), &pod, &shared.host_ip),
        shared,
        pod,
        state,
        runtime,
        sandbox,
    });
    // The pod's address and waiting containers are reported unless a container's own
    // report (its start, or why it cannot) comes first: a start that is done quickly
    // writes one status, not two, and does not compete with a write of its own.
    let first = cx.clone();
    let _first = AbortOnDrop(tokio::spawn(async move {
        tokio::time::sleep(FIRST_REPORT_AFTER).await;
        let s = first.state.lock().await;
        if !first.reported.load(Ordering::Acquire) {
            write_status(&first, s).await;
        }
    }));
    let reporter = AbortOnDrop(tokio::spawn(report_usage(cx.clone())));
    let mut finished = true;
    for (i, c) in cx.pod.spec.init_containers.iter().enumerate() {
        if run_container(&cx, c, Slot::Init(i), true, stop.clone()).await != Ended::Succeeded {
            finished = false;
            break;
        }
    }
    if finished {
        // The containers run side by side.
        let mut set = tokio::task::JoinSet::new();
        for (i, c) in cx.pod.spec.containers.iter().enumerate() {
            let (cx, c, stop) = (cx.clone(), c.clone(), stop.clone());
            set.spawn(async move { run_container(&cx, &c, Slot::Main(i), false, stop).await });
        }
        while set.join_next().await.is_some() {}
    }
    drop(reporter);
    // What the finished pod used, for good.
    cx.sandbox.sample(&cx.state.lock().await.usage);
    if cx.state.lock().await.sample() {
        report(&cx).await;
    }
    cx.sandbox.remove().await;
}

/// The pod's runtime and sandbox; until they can be had, every container waits with the
/// reason. `None`: the pod was stopped first.
async fn sandbox(
    shared: &Shared,
    pod: &Pod,
    state: &mut PodState,
    stop: &mut Stop,
) -> Option<(Arc<dyn WorkloadRuntime>, Arc<dyn Sandbox>)> {
    let m = &pod.metadata;
    let of = PodRef {
        uid: m.uid.clone().unwrap_or_else(|| m.name.clone()),
        namespace: m.namespace.clone(),
        name: m.name.clone(),
    };
    let mut backoff = Backoff::new(shared.backoff);
    loop {
        let made = match shared.runtimes.for_pod(&pod.spec) {
            Ok(runtime) => tokio::select! {
                s = runtime.sandbox(&of) => s.map(|s| (runtime, s)),
                _ = stopping(stop) => return None,
            },
            Err(n) => Err(n),
        };
        let n = match made {
            Ok(made) => return Some(made),
            Err(n) => n,
        };
        tracing::warn!(pod = %m.name, namespace = %m.namespace, reason = n.reason, message = %n.message, "no sandbox");
        state.set_all(waiting(n.reason, n.message));
        let status = state.status();
        if let Err(e) = shared.report(pod, &status).await {
            tracing::warn!(pod = %m.name, error = %e, "reporting pod status");
        }
        tokio::select! {
            () = tokio::time::sleep(backoff.after_run(Duration::ZERO)) => {}
            _ = stopping(stop) => return None,
        }
    }
}

/// Which status entry a container owns.
#[derive(Debug, Clone, Copy)]
pub enum Slot {
    Init(usize),
    Main(usize),
}

/// Starts the log of a new run of container `c`.
fn new_log(shared: &Shared, dir: &Path, c: &Container) -> Result<Arc<LogFile>, String> {
    logs::start_run(&logs::container_dir(dir, &c.name), shared.logs).map_err(|e| e.to_string())
}

/// What one run of container `c` starts with, or the waiting state that says why it
/// cannot start.
async fn start_spec(cx: &PodCtx, c: &Container) -> Result<StartSpec, ContainerState> {
    // Not from the locked state: the pod's first status may still be being written.
    let (ip, usage) = (cx.sandbox.ip(), cx.usage.clone());
    let given = given::resolve(&cx.shared, &cx.pod, c, &cx.dir, Some(&ip.to_string()))
        .await
        .map_err(config_error)?;
    let log = new_log(&cx.shared, &cx.dir, c).map_err(create_error)?;
    Ok(StartSpec {
        command: given.command,
        args: given.args,
        env: given.env,
        working_dir: c.working_dir.clone(),
        security: security(&cx.pod.spec, c),
        mounts: given.mounts,
        log,
        limits: limits(&cx.pod.spec, c),
        usage,
        port: c
            .ports
            .first()
            .and_then(|p| u16::try_from(p.container_port).ok()),
        outbound: Some(cx.shared.router.outbound(&cx.pod.metadata.namespace)),
        grants: given.grants,
    })
}

/// How a container's runs came to an end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// Its last run exited 0 and the policy does not run it again.
    Succeeded,
    /// Its last run failed and the policy does not run it again.
    Failed,
    /// The pod is going away.
    Stopped,
}

/// A run of a container, as `launch` gives it.
struct Launched {
    run: Box<dyn Running>,
    started: Time,
    /// For a new run, the `Pulled` event's message: the start's events are recorded once
    /// its status is written, so their writes do not hold that one up.
    pulled: Option<String>,
    /// An earlier agent's run that is not started again (see `lost`): the state it
    /// ended in.
    lost: Option<ContainerState>,
}

impl Launched {
    fn record_events(&self, cx: &PodCtx, c: &Container) {
        if let Some(pulled) = &self.pulled {
            cx.events.normal("Pulled", pulled.clone());
            cx.events
                .normal("Created", format!("Created container {}", c.name));
            cx.events
                .normal("Started", format!("Started container {}", c.name));
        }
    }
}

/// A run of the container: one an earlier agent left (the first time round), or a new
/// one; `Err` is the waiting state that says why there is none.
async fn launch(
    cx: &PodCtx,
    c: &Container,
    slot: Slot,
    adopt: bool,
) -> Result<Launched, ContainerState> {
    if adopt && let Some(run) = cx.sandbox.adopt(&c.name).await {
        tracing::info!(pod = %cx.pod.metadata.name, container = %c.name, "adopted a run an earlier agent started");
        return Ok(Launched {
            run,
            started: Time::now(),
            pulled: None,
            lost: None,
        });
    }
    if adopt && let Some((outcome, ended)) = lost::run(&cx.pod, slot, &c.name) {
        tracing::warn!(pod = %cx.pod.metadata.name, container = %c.name, reason = outcome.reason.as_str(), "not starting again a run an earlier agent started");
        return Ok(Launched {
            run: Box::new(lost::Ended(outcome)),
            started: Time::now(),
            pulled: None,
            lost: Some(ended),
        });
    }
    let pull = Pull {
        policy: c.image_pull_policy,
        credentials: given::pull_credentials(&cx.shared, &cx.pod).await,
    };
    let began = Instant::now();
    // A prepare that is not done at once fetches (or compiles): say so, as the kubelet's
    // `Pulling` does, without a write for images already here.
    let preparing = cx.runtime.prepare(&c.image, &pull);
    tokio::pin!(preparing);
    let ready = tokio::select! {
        r = &mut preparing => r,
        () = tokio::time::sleep(PULLING_AFTER) => {
            cx.events.normal("Pulling", format!("Pulling image {:?}", c.image));
            preparing.await
        }
    };
    let prepared = match ready {
        Ok(p) => p,
        Err(n) => {
            let what = if n.reason == "ErrImagePull" {
                format!("Failed to pull image {:?}: {}", c.image, n.message)
            } else {
                format!("Error: {}: {}", n.reason, n.message)
            };
            cx.events.warning("Failed", what);
            return Err(not_started(n));
        }
    };
    let took = began.elapsed();
    // Recorded with what comes of the start, so its write does not compete with it.
    let pulled = if took > PULLING_AFTER {
        format!("Successfully pulled image {:?} in {took:.1?}", c.image)
    } else {
        format!("Container image {:?} already present on machine", c.image)
    };
    let spec = start_spec(cx, c).await.inspect_err(|why| {
        cx.events.normal("Pulled", pulled.clone());
        if let Some(w) = &why.waiting {
            cx.events.warning(
                "Failed",
                format!("Error: {}", w.message.as_deref().unwrap_or_default()),
            );
        }
    })?;
    let started = Time::now();
    let run = match prepared.start(&cx.sandbox, &c.name, spec).await {
        Ok(r) => r,
        Err(n) => {
            cx.events.normal("Pulled", pulled);
            cx.events.warning("Failed", format!("Error: {}", n.message));
            return Err(not_started(n));
        }
    };
    Ok(Launched {
        run,
        started,
        pulled: Some(pulled),
        lost: None,
    })
}

/// Runs one container as the restart policy says, until it is done or the pod stops.
async fn run_container(
    cx: &PodCtx,
    c: &Container,
    slot: Slot,
    init: bool,
    mut stop: Stop,
) -> Ended {
    let (shared, pod, state) = (&*cx.shared, &cx.pod, &*cx.state);
    let policy = pod.spec.restart_policy.unwrap_or(RestartPolicy::Always);
    let mut backoff = Backoff::new(shared.backoff);
    let mut adopt = true;
    loop {
        let launched = tokio::select! {
            l = launch(cx, c, slot, std::mem::take(&mut adopt)) => l,
            _ = stopping(&mut stop) => return Ended::Stopped,
        };
        let launched = match launched {
            Ok(l) => l,
            Err(why) => {
                let pull_failed = why
                    .waiting
                    .as_ref()
                    .is_some_and(|w| w.reason.as_deref() == Some("ErrImagePull"));
                let message = why.waiting.as_ref().and_then(|w| w.message.clone());
                set(cx, slot, why).await;
                if pull_failed {
                    cx.events
                        .normal("BackOff", format!("Back-off pulling image {:?}", c.image));
                    // As the kubelet shows it: the pull failed, and waits to be tried again.
                    let why = format!(
                        "Back-off pulling image {:?}: {}",
                        c.image,
                        message.unwrap_or_default()
                    );
                    set(cx, slot, waiting("ImagePullBackOff", why)).await;
                }
                tokio::select! {
                    () = tokio::time::sleep(backoff.after_run(Duration::ZERO)) => continue,
                    _ = stopping(&mut stop) => return Ended::Stopped,
                }
            }
        };
        let started = launched.started;
        if let Some(addr) = launched.run.address() {
            tracing::info!(pod = %pod.metadata.name, container = %c.name, %addr, "serving");
            state.lock().await.pod_ip = Some(addr.ip().to_string());
        }
        // A lost run ends at once, without having run here.
        if launched.lost.is_none() {
            let running = ContainerState {
                running: Some(StateRunning {
                    started_at: Some(started),
                }),
                ..Default::default()
            };
            set(cx, slot, running).await;
            if launched.pulled.is_some() {
                tracing::info!(pod = %pod.metadata.name, container = %c.name, "container started");
                cx.shared.metrics.started(cx.runtime_name);
            }
            launched.record_events(cx, c);
        }
        let ended = launched.lost;
        let mut run = launched.run;
        let began = Instant::now();
        let target = probe::Target {
            ip: state.lock().await.ip,
            exec: run.exec(),
        };
        let probing = async {
            if init {
                return std::future::pending().await;
            }
            probe::supervise(c, &target, |found| async move {
                match found {
                    probe::Found::Started => state.lock().await.set_started(slot),
                    probe::Found::Ready(ready, why) => {
                        if let Some(why) = &why {
                            tracing::info!(pod = %pod.metadata.name, container = %c.name, %why, "readiness probe failed");
                            cx.events.warning("Unhealthy", format!("Readiness probe failed: {why}"));
                        }
                        state.lock().await.set_ready(slot, ready);
                    }
                }
                report(cx).await;
            })
            .await
        };
        let (outcome, stopped) = tokio::select! {
            o = run.wait() => (o, false),
            // A failed startup or liveness probe: the container is killed and restarted
            // as its policy says.
            why = probing => {
                tracing::info!(pod = %pod.metadata.name, container = %c.name, %why, "restarting the container");
                cx.events.warning("Unhealthy", why.clone());
                cx.events.normal("Killing", format!("Container {} failed a probe, will be restarted", c.name));
                let mut o = run.stop(grace(&pod.spec)).await;
                o.message = Some(why);
                (o, false)
            }
            grace = stopping(&mut stop) => {
                cx.events.normal("Killing", format!("Stopping container {}", c.name));
                (run.stop(grace).await, true)
            }
        };
        drop(run);
        if outcome.reason == crate::runtime::Reason::OomKilled {
            cx.events.warning(
                "OOMKilling",
                format!(
                    "Memory limit reached: container {} of pod {} was killed",
                    c.name, pod.metadata.name
                ),
            );
        }
        // A lost run keeps the end its agent recorded (or the one `lost` gives it).
        let end = ended.unwrap_or_else(|| terminated(&outcome, started));
        set(cx, slot, end).await;
        let ok = outcome.exit_code == 0;
        if stopped {
            return Ended::Stopped;
        }
        let restart = match policy {
            RestartPolicy::Always => !init || !ok,
            RestartPolicy::OnFailure => !ok,
            RestartPolicy::Never => false,
        };
        if !restart {
            return if ok { Ended::Succeeded } else { Ended::Failed };
        }
        let wait = backoff.after_run(began.elapsed());
        let message = format!(
            "back-off {}s restarting {} container {} of pod {}",
            wait.as_secs(),
            if ok { "completed" } else { "failed" },
            c.name,
            pod.metadata.name
        );
        cx.events.warning(
            "BackOff",
            format!(
                "Back-off restarting failed container {} in pod {}",
                c.name, pod.metadata.name
            ),
        );
        cx.shared.metrics.restarted(cx.runtime_name);
        {
            let mut s = state.lock().await;
            s.restarted(slot);
            s.set(slot, waiting("CrashLoopBackOff", message));
        }
        report(cx).await;
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stopping(&mut stop) => return Ended::Stopped,
        }
    }
}

#[cfg(test)]
mod tests;
