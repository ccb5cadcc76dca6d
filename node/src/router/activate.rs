//! Scale from zero, as Knative's activator does it but without the extra hop: a request
//! for a Service with no ready endpoint whose Deployment is scaled to zero by a
//! HorizontalPodAutoscaler with `minReplicas: 0` is served by an instance
//! started here at once when the Deployment is a Wasm workload whose artifact is on this
//! node. The activation is recorded (the Deployment scaled to one replica), so the
//! controllers start a real pod. Requests that cannot be served at once are held (a
//! bounded number, for a bounded time) until an endpoint is ready.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use skiff_proto::model::pod::PodTemplateSpec;
use tokio::sync::OnceCell;

use super::locals::LocalEndpoint;
use super::table::ServiceKey;
use crate::wasm::Outbound;

pub use skiff_proto::model::deployment::ACTIVATED_ANNOTATION;

/// What waking needs from the node (the agent provides it).
#[tonic::async_trait]
pub trait Activator: Send + Sync {
    /// An instance of `template` started here at once, if it is a Wasm HTTP handler whose
    /// artifact is on this node and that needs nothing from the API (no ConfigMap,
    /// Secret or volume). Its outgoing in-cluster calls go to `outbound`.
    async fn start_local(
        &self,
        deployment: &ServiceKey,
        template: &PodTemplateSpec,
        outbound: Arc<dyn Outbound>,
    ) -> Option<Arc<dyn LocalEndpoint>>;

    /// Asks for the Deployment to run (one replica), so the controllers catch up.
    async fn record(&self, deployment: &ServiceKey) -> Result<(), String>;
}

/// A Deployment at zero that a request may wake.
pub struct Wakeable {
    pub deployment: ServiceKey,
    template: PodTemplateSpec,
    /// The instance started here, once it could be.
    instance: OnceCell<Arc<dyn LocalEndpoint>>,
    /// An activation write is under way or done (cleared when it fails, so the next
    /// request tries again).
    recorded: Arc<AtomicBool>,
}

impl std::fmt::Debug for Wakeable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Wakeable({})", self.deployment)
    }
}

impl Wakeable {
    pub fn new(deployment: ServiceKey, template: PodTemplateSpec) -> Wakeable {
        Wakeable {
            deployment,
            template,
            instance: OnceCell::new(),
            recorded: Arc::default(),
        }
    }

    /// Whether `template` is the one this was made for.
    pub fn is_for(&self, template: &PodTemplateSpec) -> bool {
        self.template == *template
    }

    /// The local instance, started by the first call that can (`None`: not now, e.g.
    /// the artifact is not compiled here yet; a later call tries again).
    pub async fn instance(
        &self,
        activator: &Arc<dyn Activator>,
        outbound: impl FnOnce() -> Arc<dyn Outbound>,
    ) -> Option<Arc<dyn LocalEndpoint>> {
        self.instance
            .get_or_try_init(|| async {
                activator
                    .start_local(&self.deployment, &self.template, outbound())
                    .await
                    .ok_or(())
            })
            .await
            .ok()
            .cloned()
    }

    /// Records the activation, once, in the background (after the first answer is on
    /// its way: the write's work on this machine must not delay it).
    pub fn record(self: &Arc<Self>, activator: &Arc<dyn Activator>) {
        if self.recorded.swap(true, Ordering::AcqRel) {
            return;
        }
        let (me, activator) = (self.clone(), activator.clone());
        tokio::spawn(async move {
            match activator.record(&me.deployment).await {
                Ok(()) => tracing::info!(deployment = %me.deployment, "activated from zero"),
                Err(e) => {
                    me.recorded.store(false, Ordering::Release);
                    tracing::warn!(deployment = %me.deployment, error = %e, "recording an activation")
                }
            }
        });
    }
}
