//! The states a container's run waits or ends in, with the reasons the kubelet gives
//! (`CreateContainerError`, `CreateContainerConfigError`, the runtime's own).

use skiff_proto::model::pod::{ContainerState, StateTerminated, StateWaiting};
use skiff_proto::model::values::Time;

use crate::runtime::{NotStarted, Outcome};

pub(super) fn waiting(reason: &str, message: String) -> ContainerState {
    ContainerState {
        waiting: Some(StateWaiting {
            reason: Some(reason.into()),
            message: Some(message),
        }),
        ..Default::default()
    }
}

pub(super) fn terminated(o: &Outcome, started: Time) -> ContainerState {
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

pub(super) fn create_error(why: String) -> ContainerState {
    waiting("CreateContainerError", why)
}

/// A ConfigMap, Secret or field the container needs is missing or wrong.
pub(super) fn config_error(why: String) -> ContainerState {
    waiting("CreateContainerConfigError", why)
}

pub(super) fn not_started(n: NotStarted) -> ContainerState {
    waiting(n.reason, n.message)
}
