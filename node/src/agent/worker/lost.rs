//! Runs an earlier agent started and no runtime can adopt: a Wasm run ends with the agent
//! that ran it (a container's shim outlives it and is adopted instead).
//!
//! Such a run is not started again when the pod's restart policy would not start it again
//! after the way it ended, so a pod that must not run twice (a Job's, `restartPolicy:
//! Never`) does not: as the kubelet does when it cannot find a container after a restart,
//! the run ends `ContainerStatusUnknown` with exit code 137, the pod fails, and its owner
//! replaces it. A run the earlier agent saw end keeps the end it recorded.

use skiff_proto::model::pod::{ContainerState, Pod, RestartPolicy, StateTerminated};
use skiff_proto::model::values::Time;

use super::Slot;
use crate::runtime::{Outcome, Reason, Running};

/// What the run of container `name` that an earlier agent started counts as, and the
/// state it ended in, when the restart policy does not start it again after that; `None`
/// to start it (again).
pub(super) fn run(pod: &Pod, slot: Slot, name: &str) -> Option<(Outcome, ContainerState)> {
    let status = pod.status.as_ref()?;
    let (earlier, init) = match slot {
        Slot::Init(_) => (&status.init_container_statuses, true),
        Slot::Main(_) => (&status.container_statuses, false),
    };
    let state = &earlier.iter().find(|c| c.name == name)?.state;
    let (outcome, ended) = match (&state.terminated, &state.running) {
        // Ended while that agent watched: as it recorded.
        (Some(t), _) => (Outcome::exited(t.exit_code), state.clone()),
        (None, Some(r)) => {
            let why = "The container could not be located: the node agent that ran it stopped while it ran";
            let o = Outcome::ended(Reason::Lost, 137, why);
            let ended = ContainerState {
                terminated: Some(StateTerminated {
                    exit_code: o.exit_code,
                    signal: None,
                    reason: Some(o.reason.as_str().into()),
                    message: o.message.clone(),
                    started_at: r.started_at,
                    finished_at: Some(Time::now()),
                }),
                ..Default::default()
            };
            (o, ended)
        }
        (None, None) => return None,
    };
    let ok = outcome.exit_code == 0;
    // The run loop's own rule for a run that ended.
    let again = match pod.spec.restart_policy.unwrap_or(RestartPolicy::Always) {
        RestartPolicy::Always => !init || !ok,
        RestartPolicy::OnFailure => !ok,
        RestartPolicy::Never => false,
    };
    (!again).then_some((outcome, ended))
}

/// A run that ended before this agent: its outcome at once.
pub(super) struct Ended(pub Outcome);

#[tonic::async_trait]
impl Running for Ended {
    fn address(&self) -> Option<std::net::SocketAddr> {
        None
    }

    async fn wait(&mut self) -> Outcome {
        self.0.clone()
    }

    async fn stop(&mut self, _grace: std::time::Duration) -> Outcome {
        self.0.clone()
    }
}
