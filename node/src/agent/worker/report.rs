//! A pod's status reports: on every change of a container, and its usage sampled every
//! `usage_interval` while it changes, in the order they were computed.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use skiff_proto::model::pod::ContainerState;

use super::super::status::PodState;
use super::{PodCtx, Slot};

/// Reports the pod's usage every `usage_interval` while it changes.
pub(super) async fn report_usage(cx: Arc<PodCtx>) {
    let mut tick = tokio::time::interval(cx.shared.usage_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first sample is one interval in: a starting pod has used nothing worth a write.
    tick.tick().await;
    loop {
        tick.tick().await;
        let changed = {
            let mut s = cx.state.lock().await;
            cx.sandbox.sample(&s.usage);
            s.sample()
        };
        if changed {
            report(&cx).await;
        }
    }
}

/// Aborts a task when dropped (the pod's worker ended or was aborted).
pub(super) struct AbortOnDrop(pub(super) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Sends the pod's status. The state stays locked until the status is written, so
/// reports from the containers and the usage sampler reach the API in the order they
/// were computed: an older status never overwrites a newer one.
pub(super) async fn report(cx: &PodCtx) {
    write_status(cx, cx.state.lock().await).await;
}

/// Writes the status of the state `s` holds locked.
pub(super) async fn write_status(cx: &PodCtx, mut s: tokio::sync::MutexGuard<'_, PodState>) {
    let status = s.status();
    cx.listed.entry.set_phase(status.phase);
    cx.reported.store(true, Ordering::Release);
    if let Err(e) = cx.shared.report(&cx.pod, &status).await {
        tracing::warn!(pod = %cx.pod.metadata.name, error = %e, "reporting pod status");
    }
}

pub(super) async fn set(cx: &PodCtx, slot: Slot, s: ContainerState) {
    cx.state.lock().await.set(slot, s);
    report(cx).await;
}
