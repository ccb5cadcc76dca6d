//! One pod on this node: its address, its init containers run in order, then its
//! containers side by side (each prepared and started by the workload runtime), each restarted as the pod's restart policy
//! says (with back-off), and the pod's status reported at every change.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use skiff_proto::model::container::Container;
use skiff_proto::model::pod::{
    ContainerState, Pod, PodSpec, RestartPolicy, StateRunning, StateTerminated, StateWaiting,
};
use skiff_proto::model::values::Time;
use tokio::sync::Mutex;

use super::backoff::Backoff;
use super::status::PodState;
use super::{Shared, given, probe};
use crate::logs::{self, LogFile};
use crate::runtime::{Limits, Outcome, StartSpec};

/// Runs `pod` until it is done (or the task is aborted because the pod went away).
pub async fn run_pod(shared: Arc<Shared>, pod: Pod) {
    let ip = shared
        .network
        .allocate(pod.metadata.uid.as_deref().unwrap_or(&pod.metadata.name));
    let state = Arc::new(Mutex::new(PodState::new(&pod, &shared.host_ip, ip.ip)));
    report(&shared, &pod, &state).await;
    let _reporter = AbortOnDrop(tokio::spawn(report_usage(
        shared.clone(),
        pod.clone(),
        state.clone(),
    )));
    let dir = shared.pod_dir(&pod);
    for (i, c) in pod.spec.init_containers.iter().enumerate() {
        let ok = run_container(&shared, &pod, &state, &dir, c, Slot::Init(i), true).await;
        if !ok {
            return;
        }
    }
    // The containers run side by side; aborting this task (the pod went away) drops the
    // set, which stops them all.
    let mut set = tokio::task::JoinSet::new();
    for (i, c) in pod.spec.containers.iter().enumerate() {
        let (shared, pod, state, dir, c) = (
            shared.clone(),
            pod.clone(),
            state.clone(),
            dir.clone(),
            c.clone(),
        );
        set.spawn(async move {
            run_container(&shared, &pod, &state, &dir, &c, Slot::Main(i), false).await
        });
    }
    while set.join_next().await.is_some() {}
    // What the finished pod used, for good.
    if state.lock().await.sample() {
        report(&shared, &pod, &state).await;
    }
}

/// Reports the pod's usage every `usage_interval` while it changes.
async fn report_usage(shared: Arc<Shared>, pod: Pod, state: Arc<Mutex<PodState>>) {
    let mut tick = tokio::time::interval(shared.usage_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if state.lock().await.sample() {
            report(&shared, &pod, &state).await;
        }
    }
}

/// Aborts a task when dropped (the pod's worker ended or was aborted).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Which status entry a container owns.
#[derive(Debug, Clone, Copy)]
pub enum Slot {
    Init(usize),
    Main(usize),
}

/// Sends the pod's status. The state stays locked until the status is written, so
/// reports from the containers and the usage sampler reach the API in the order they
/// were computed: an older status never overwrites a newer one.
async fn report(shared: &Shared, pod: &Pod, state: &Mutex<PodState>) {
    let mut s = state.lock().await;
    let status = s.status();
    if let Err(e) = shared.report(pod, &status).await {
        tracing::warn!(pod = %pod.metadata.name, error = %e, "reporting pod status");
    }
}

async fn set(shared: &Shared, pod: &Pod, state: &Mutex<PodState>, slot: Slot, s: ContainerState) {
    state.lock().await.set(slot, s);
    report(shared, pod, state).await;
}

fn waiting(reason: &str, message: String) -> ContainerState {
    ContainerState {
        waiting: Some(StateWaiting {
            reason: Some(reason.into()),
            message: Some(message),
        }),
        ..Default::default()
    }
}

/// A container's limits, as the pod spec sets them.
pub(super) fn limits(spec: &PodSpec, c: &Container) -> Limits {
    let l = &c.resources.limits;
    Limits {
        memory_bytes: l.get("memory").and_then(|q| u64::try_from(q.value()).ok()),
        cpu_millis: l
            .get("cpu")
            .and_then(|q| u64::try_from(q.milli_value()).ok()),
        deadline: spec
            .active_deadline_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map(Duration::from_secs),
    }
}

/// argv: `command` then `args`, or the container's name then `args`.
fn argv(c: &Container) -> Vec<String> {
    let mut a = if c.command.is_empty() {
        vec![c.name.clone()]
    } else {
        c.command.clone()
    };
    a.extend(c.args.iter().cloned());
    a
}

/// Starts the log of a new run of container `c`.
fn new_log(shared: &Shared, dir: &Path, c: &Container) -> Result<Arc<LogFile>, String> {
    logs::start_run(&logs::container_dir(dir, &c.name), shared.logs).map_err(|e| e.to_string())
}

/// What one run of container `c` starts with, or the waiting state that says why it
/// cannot start.
async fn start_spec(
    shared: &Shared,
    pod: &Pod,
    c: &Container,
    dir: &Path,
    state: &Mutex<PodState>,
) -> Result<StartSpec, ContainerState> {
    let (ip, usage) = {
        let s = state.lock().await;
        (s.ip, s.usage.clone())
    };
    let given = given::resolve(shared, pod, c, dir, Some(&ip.to_string()))
        .await
        .map_err(config_error)?;
    let log = new_log(shared, dir, c).map_err(create_error)?;
    Ok(StartSpec {
        args: argv(c),
        env: given.env,
        dirs: given.dirs,
        log,
        limits: limits(&pod.spec, c),
        usage,
        ip: ip.into(),
        port: c
            .ports
            .first()
            .and_then(|p| u16::try_from(p.container_port).ok()),
        outbound: Some(shared.router.outbound(&pod.metadata.namespace)),
    })
}

fn terminated(o: &Outcome, started: Time) -> ContainerState {
    ContainerState {
        terminated: Some(StateTerminated {
            exit_code: o.exit_code,
            signal: None,
            reason: Some(o.reason.as_str().into()),
            message: o.message.clone(),
            started_at: Some(started),
            finished_at: Some(Time::now()),
        }),
        ..Default::default()
    }
}

fn create_error(why: String) -> ContainerState {
    waiting("CreateContainerError", why)
}

/// A ConfigMap, Secret or field the container needs is missing or wrong.
fn config_error(why: String) -> ContainerState {
    waiting("CreateContainerConfigError", why)
}

/// Shows why the container cannot start, and waits its back-off before trying again.
async fn wait(
    shared: &Shared,
    pod: &Pod,
    state: &Mutex<PodState>,
    slot: Slot,
    backoff: &mut Backoff,
    why: ContainerState,
) {
    set(shared, pod, state, slot, why).await;
    tokio::time::sleep(backoff.after_run(Duration::ZERO)).await;
}

/// Runs one container as the restart policy says; returns whether it ended well (exit 0).
async fn run_container(
    shared: &Shared,
    pod: &Pod,
    state: &Mutex<PodState>,
    dir: &Path,
    c: &Container,
    slot: Slot,
    init: bool,
) -> bool {
    let policy = pod.spec.restart_policy.unwrap_or(RestartPolicy::Always);
    let mut backoff = Backoff::new(shared.backoff);
    loop {
        let prepared = match shared.runtime.prepare(&c.image).await {
            Ok(p) => p,
            Err(n) => {
                let why = waiting(n.reason, n.message);
                wait(shared, pod, state, slot, &mut backoff, why).await;
                continue;
            }
        };
        let spec = match start_spec(shared, pod, c, dir, state).await {
            Ok(s) => s,
            Err(why) => {
                wait(shared, pod, state, slot, &mut backoff, why).await;
                continue;
            }
        };
        let started = Time::now();
        let mut run = match prepared.start(spec).await {
            Ok(r) => r,
            Err(n) => {
                let why = waiting(n.reason, n.message);
                wait(shared, pod, state, slot, &mut backoff, why).await;
                continue;
            }
        };
        if let Some(addr) = run.address() {
            tracing::info!(pod = %pod.metadata.name, container = %c.name, %addr, "serving");
            state.lock().await.pod_ip = Some(addr.ip().to_string());
        }
        let running = ContainerState {
            running: Some(StateRunning {
                started_at: Some(started),
            }),
            ..Default::default()
        };
        set(shared, pod, state, slot, running).await;
        let began = Instant::now();
        let ip = state.lock().await.ip;
        let probing = async {
            if init {
                return std::future::pending().await;
            }
            probe::readiness(c, ip.into(), |ready, why| async move {
                if let Some(why) = &why {
                    tracing::info!(pod = %pod.metadata.name, container = %c.name, %why, "readiness probe failed");
                }
                state.lock().await.set_ready(slot, ready);
                report(shared, pod, state).await;
            })
            .await
        };
        let outcome = tokio::select! {
            o = run.wait() => o,
            // A probe runs until its container stops; were it to end, wait for the run.
            () = probing => run.wait().await,
        };
        drop(run);
        let ok = outcome.exit_code == 0;
        let restart = match policy {
            RestartPolicy::Always => !init || !ok,
            RestartPolicy::OnFailure => !ok,
            RestartPolicy::Never => false,
        };
        set(shared, pod, state, slot, terminated(&outcome, started)).await;
        if !restart {
            return ok;
        }
        let wait = backoff.after_run(began.elapsed());
        let message = format!(
            "back-off {}s restarting {} container {} of pod {}",
            wait.as_secs(),
            if ok { "completed" } else { "failed" },
            c.name,
            pod.metadata.name
        );
        {
            let mut s = state.lock().await;
            s.restarted(slot);
            s.set(slot, waiting("CrashLoopBackOff", message));
        }
        report(shared, pod, state).await;
        tokio::time::sleep(wait).await;
    }
}
