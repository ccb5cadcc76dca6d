//! A pod's status as the agent knows it: each container's state, last state and restart
//! count, under Kubernetes' names, and the pod's phase and `Ready` condition derived from
//! them as the kubelet derives them.

use skiff_proto::model::condition::{Condition, ConditionStatus};
use skiff_proto::model::pod::{
    ContainerState, ContainerStatus, Pod, PodPhase, PodStatus, RestartPolicy,
};
use skiff_proto::model::values::Time;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use skiff_proto::model::pod::PodUsage;
use skiff_proto::model::quantity::Quantity;

use super::worker::Slot;
use crate::runtime::{Usage, UsageSnapshot};

/// What the agent reports for one pod.
pub struct PodState {
    init: Vec<ContainerStatus>,
    main: Vec<ContainerStatus>,
    restart_policy: RestartPolicy,
    started: Time,
    /// What the pod's instances use, counted as they run.
    pub usage: Arc<Usage>,
    /// The last sample reported, and when it was taken.
    sampled: Option<(UsageSnapshot, Instant, PodUsage)>,
    /// Where the pod's HTTP handler listens (its own loopback address).
    pub pod_ip: Option<String>,
    pub host_ip: String,
    /// The pod's own address (shown as `podIP` once a container serves on it).
    pub ip: IpAddr,
    /// Whether the pod was last reported ready, and since when: the `Ready` condition's
    /// `lastTransitionTime` (which `minReadySeconds` counts from).
    readiness: (bool, Time),
    /// Which containers have a readiness probe (they are ready when it says so) and a
    /// startup probe (they are started, and then ready, when it has passed).
    probed: Vec<(bool, bool)>,
}

fn waiting(reason: &str) -> ContainerState {
    ContainerState {
        waiting: Some(skiff_proto::model::pod::StateWaiting {
            reason: Some(reason.into()),
            message: None,
        }),
        ..Default::default()
    }
}

impl PodState {
    pub fn new(pod: &Pod, host_ip: &str, ip: IpAddr) -> PodState {
        let entry = |c: &skiff_proto::model::container::Container| ContainerStatus {
            name: c.name.clone(),
            state: waiting("ContainerCreating"),
            image: c.image.clone(),
            image_id: c.image.starts_with("sha256:").then(|| c.image.clone()),
            ..Default::default()
        };
        PodState {
            init: pod.spec.init_containers.iter().map(entry).collect(),
            main: pod.spec.containers.iter().map(entry).collect(),
            restart_policy: pod.spec.restart_policy.unwrap_or(RestartPolicy::Always),
            started: Time::now(),
            usage: Arc::default(),
            sampled: None,
            pod_ip: None,
            host_ip: host_ip.to_owned(),
            ip,
            readiness: (false, Time::now()),
            probed: pod
                .spec
                .containers
                .iter()
                .map(|c| (c.readiness_probe.is_some(), c.startup_probe.is_some()))
                .collect(),
        }
    }

    fn entry(&mut self, slot: Slot) -> Option<&mut ContainerStatus> {
        match slot {
            Slot::Init(i) => self.init.get_mut(i),
            Slot::Main(i) => self.main.get_mut(i),
        }
    }

    /// The container's new state; a state that ended becomes its `lastState` when the
    /// next one begins.
    /// Takes the restart counts, runs started or ended (and start time) the pod's status
    /// already has, written by an earlier agent.
    pub fn carry_over(&mut self, pod: &Pod) {
        let Some(status) = &pod.status else { return };
        for (mine, theirs) in [
            (&mut self.init, &status.init_container_statuses),
            (&mut self.main, &status.container_statuses),
        ] {
            for c in mine.iter_mut() {
                if let Some(t) = theirs.iter().find(|t| t.name == c.name) {
                    c.restart_count = t.restart_count;
                    c.last_state = t.last_state.clone();
                    // A run it saw start or end stays on record until this agent decides
                    // what becomes of it (adopts it, or not: see `worker::lost`), so a
                    // report meanwhile does not erase it for the agent after this one.
                    if t.state.running.is_some() || t.state.terminated.is_some() {
                        c.state = t.state.clone();
                    }
                }
            }
        }
        if let Some(t) = status.start_time {
            self.started = t;
        }
    }

    /// Every container waits, for the same reason (the pod has no sandbox).
    pub fn set_all(&mut self, state: ContainerState) {
        for c in self.init.iter_mut().chain(self.main.iter_mut()) {
            c.state = state.clone();
        }
    }

    pub fn set(&mut self, slot: Slot, state: ContainerState) {
        let (ready_probe, startup_probe) = self.probes(slot);
        if let Some(c) = self.entry(slot) {
            if c.state.terminated.is_some() && state.terminated.is_none() {
                c.last_state = std::mem::take(&mut c.state);
            }
            // A probed container is ready once its probe says so, and started once its
            // startup probe has passed.
            let running = state.running.is_some();
            c.ready = running && !ready_probe && !startup_probe;
            c.started = Some(running && !startup_probe);
            c.state = state;
        }
    }

    fn probes(&self, slot: Slot) -> (bool, bool) {
        match slot {
            Slot::Main(i) => self.probed.get(i).copied().unwrap_or_default(),
            Slot::Init(_) => (false, false),
        }
    }

    /// The container's startup probe passed: it is started (and ready, unless a readiness
    /// probe says when).
    pub fn set_started(&mut self, slot: Slot) {
        let (ready_probe, _) = self.probes(slot);
        if let Some(c) = self.entry(slot)
            && c.state.running.is_some()
        {
            c.started = Some(true);
            if !ready_probe {
                c.ready = true;
            }
        }
    }

    /// What the container's readiness probe found (while it runs).
    pub fn set_ready(&mut self, slot: Slot, ready: bool) {
        if let Some(c) = self.entry(slot) {
            c.ready = ready && c.state.running.is_some();
        }
    }

    pub fn restarted(&mut self, slot: Slot) {
        if let Some(c) = self.entry(slot) {
            c.restart_count += 1;
        }
    }

    /// Takes a new usage sample; whether it differs from the last one reported (an idle
    /// pod's status is not rewritten).
    pub fn sample(&mut self) -> bool {
        let now = Instant::now();
        let snap = self.usage.snapshot();
        let (prev, at) = match &self.sampled {
            Some((prev, _, _)) if *prev == snap => return false,
            Some((prev, at, _)) => (*prev, *at),
            None => (UsageSnapshot::default(), now),
        };
        let window = now.duration_since(at);
        let cpu = snap.cpu.saturating_sub(prev.cpu);
        let millicores = if window.is_zero() {
            0
        } else {
            (cpu.as_secs_f64() * 1000.0 / window.as_secs_f64()).round() as u64
        };
        let q = |text: String| Quantity::parse(&text).ok();
        let (Some(cpu_q), Some(memory), Some(peak_memory)) = (
            q(format!("{millicores}m")),
            q(snap.memory_bytes.to_string()),
            q(snap.peak_memory_bytes.to_string()),
        ) else {
            return false;
        };
        let usage = PodUsage {
            cpu: cpu_q,
            memory,
            peak_memory,
            cpu_nanos: u64::try_from(snap.cpu.as_nanos()).unwrap_or(u64::MAX),
            requests: snap.requests,
            failed_requests: snap.failures,
            timestamp: Time::now(),
            window_seconds: u32::try_from(window.as_secs()).unwrap_or(u32::MAX),
        };
        self.sampled = Some((snap, now, usage));
        true
    }

    /// The phase, as the kubelet decides it: Running while any container runs (or will
    /// restart); Succeeded when every container ended with 0 for good; Failed when they all
    /// ended and one did not, for good.
    fn phase(&self) -> PodPhase {
        let ended = |c: &ContainerStatus| c.state.terminated.as_ref().map(|t| t.exit_code);
        if self.main.iter().any(|c| c.state.running.is_some()) {
            return PodPhase::Running;
        }
        let codes: Vec<Option<i32>> = self.main.iter().map(ended).collect();
        if codes.iter().all(Option::is_some) && !self.main.is_empty() {
            let all_ok = codes.iter().all(|c| *c == Some(0));
            return match (self.restart_policy, all_ok) {
                (RestartPolicy::Never, true) | (RestartPolicy::OnFailure, true) => {
                    PodPhase::Succeeded
                }
                (RestartPolicy::Never, false) => PodPhase::Failed,
                _ => PodPhase::Running,
            };
        }
        let restarting = self
            .main
            .iter()
            .any(|c| c.restart_count > 0 || c.last_state.terminated.is_some());
        if restarting {
            PodPhase::Running
        } else {
            PodPhase::Pending
        }
    }

    pub fn status(&mut self) -> PodStatus {
        let ready = !self.main.is_empty() && self.main.iter().all(|c| c.ready);
        if ready != self.readiness.0 {
            self.readiness = (ready, Time::now());
        }
        PodStatus {
            phase: self.phase(),
            conditions: vec![Condition {
                type_: "Ready".into(),
                status: if ready {
                    ConditionStatus::True
                } else {
                    ConditionStatus::False
                },
                last_transition_time: Some(self.readiness.1),
                ..Default::default()
            }],
            start_time: Some(self.started),
            pod_ip: self.pod_ip.clone(),
            host_ip: Some(self.host_ip.clone()),
            usage: self.sampled.as_ref().map(|(_, _, u)| u.clone()),
            init_container_statuses: self.init.clone(),
            container_statuses: self.main.clone(),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_proto::model::pod::StateRunning;

    fn ready_since(s: &PodStatus) -> Option<Time> {
        s.conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .and_then(|c| c.last_transition_time)
    }

    #[test]
    fn the_ready_condition_keeps_its_transition_time_between_reports() {
        let mut pod = Pod::default();
        pod.spec.containers.push(skiff_proto::model::Container {
            name: "c".into(),
            ..Default::default()
        });
        let mut s = PodState::new(&pod, "127.0.0.1", std::net::Ipv4Addr::LOCALHOST.into());
        s.readiness.1 = Time { unix_seconds: 1 };
        assert_eq!(ready_since(&s.status()), Some(Time { unix_seconds: 1 }));
        let running = ContainerState {
            running: Some(StateRunning { started_at: None }),
            ..Default::default()
        };
        s.set(Slot::Main(0), running);
        let first = ready_since(&s.status()).unwrap();
        assert!(first.unix_seconds > 1, "becoming ready moves it");
        s.readiness.1 = Time { unix_seconds: 7 };
        // Reported again while still ready: unchanged.
        assert_eq!(ready_since(&s.status()), Some(Time { unix_seconds: 7 }));
    }
}
