//! A pod's status as the agent knows it: each container's state, last state and restart
//! count, under Kubernetes' names, and the pod's phase and `Ready` condition derived from
//! them as the kubelet derives them.

use skiff_proto::model::condition::{Condition, ConditionStatus};
use skiff_proto::model::pod::{
    ContainerState, ContainerStatus, Pod, PodPhase, PodStatus, RestartPolicy,
};
use skiff_proto::model::values::Time;

use super::worker::Slot;
use crate::wasm::Outcome;

/// What the agent reports for one pod.
pub struct PodState {
    init: Vec<ContainerStatus>,
    main: Vec<ContainerStatus>,
    restart_policy: RestartPolicy,
    started: Time,
    /// CPU time used by every run so far.
    pub cpu: std::time::Duration,
    /// The largest linear memory any run had.
    pub peak_memory: u64,
    /// Where the pod's HTTP handler listens (its own loopback address).
    pub pod_ip: Option<String>,
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
    pub fn new(pod: &Pod) -> PodState {
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
            cpu: std::time::Duration::ZERO,
            peak_memory: 0,
            pod_ip: None,
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
    pub fn set(&mut self, slot: Slot, state: ContainerState) {
        if let Some(c) = self.entry(slot) {
            if c.state.terminated.is_some() && state.terminated.is_none() {
                c.last_state = std::mem::take(&mut c.state);
            }
            c.ready = state.running.is_some();
            c.started = Some(state.running.is_some());
            c.state = state;
        }
    }

    pub fn restarted(&mut self, slot: Slot) {
        if let Some(c) = self.entry(slot) {
            c.restart_count += 1;
        }
    }

    pub fn record_usage(&mut self, o: &Outcome) {
        self.cpu += o.cpu;
        self.peak_memory = self.peak_memory.max(o.peak_memory);
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

    pub fn status(&self) -> PodStatus {
        let ready = !self.main.is_empty() && self.main.iter().all(|c| c.ready);
        PodStatus {
            phase: self.phase(),
            conditions: vec![Condition {
                type_: "Ready".into(),
                status: if ready {
                    ConditionStatus::True
                } else {
                    ConditionStatus::False
                },
                last_transition_time: Some(Time::now()),
                ..Default::default()
            }],
            start_time: Some(self.started),
            pod_ip: self.pod_ip.clone(),
            host_ip: self.pod_ip.as_ref().map(|_| "127.0.0.1".to_owned()),
            init_container_statuses: self.init.clone(),
            container_statuses: self.main.clone(),
            ..Default::default()
        }
    }
}
