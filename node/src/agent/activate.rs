//! The node's side of scale from zero ([`crate::router::Activator`]): an instance of a
//! Deployment's template started at once from the compiled artifact on this node, and the
//! activation recorded by scaling the Deployment to one replica.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use skiff_proto::model::pod::PodTemplateSpec;
use skiff_proto::model::values::Time;
use skiff_proto::{Kind, Object};

use crate::cluster::ControlPlane;
use crate::logs::{self, LogPolicy, Stream};
use crate::router::table::ServiceKey;
use crate::router::{ACTIVATED_ANNOTATION, Activator, LocalEndpoint};
use crate::runtime::{Usage, WasmRuntime};
use crate::wasm::{HttpSpec, Outbound, Output};

pub struct NodeActivator {
    pub runtime: Arc<WasmRuntime>,
    pub cp: Arc<ControlPlane>,
    pub data_dir: PathBuf,
    pub logs: LogPolicy,
}

#[tonic::async_trait]
impl Activator for NodeActivator {
    async fn start_local(
        &self,
        d: &ServiceKey,
        template: &PodTemplateSpec,
        outbound: Arc<dyn Outbound>,
    ) -> Option<Arc<dyn LocalEndpoint>> {
        let spec = &template.spec;
        let [c] = spec.containers.as_slice() else {
            return None;
        };
        // Anything the API would have to give the pod first waits for the real pod.
        let needs_api = !spec.volumes.is_empty()
            || !spec.init_containers.is_empty()
            || !c.env_from.is_empty()
            || c.wasi.is_some()
            || c.env.iter().any(|e| e.value_from.is_some());
        if !spec.is_wasm() || needs_api {
            return None;
        }
        // The compiled artifact first: without it there is nothing to open a log for.
        let pre = self.runtime.http_pre_now(&c.image)?;
        // A component that needs a capability waits for the real pod, which says why.
        pre.check(&Default::default(), &c.name).ok()?;
        let dir = self
            .data_dir
            .join("activations")
            .join(format!("{}_{}", d.namespace, d.name))
            .join(&c.name);
        let log = logs::start_run(&dir, self.logs).ok()?;
        let mut limits = super::settings::limits(spec, c);
        // A request's deadline, as the runtime gives HTTP pods that set none.
        limits.deadline = Some(limits.deadline.unwrap_or(Duration::from_secs(60)));
        let spec = HttpSpec {
            env: c
                .env
                .iter()
                .map(|e| (e.name.clone(), e.value.clone().unwrap_or_default()))
                .collect(),
            dirs: Vec::new(),
            stdout: Output::new(log.sink(Stream::Stdout)),
            stderr: Output::new(log.sink(Stream::Stderr)),
            limits,
            max_instances: 64,
            usage: Arc::new(Usage::default()),
            outbound: Some(outbound),
            grants: Default::default(),
        };
        Some(Arc::new(self.runtime.handler(&pre, spec)))
    }

    async fn record(&self, d: &ServiceKey) -> Result<(), String> {
        for _ in 0..5 {
            let Some(Object::Deployment(mut dep)) = self
                .cp
                .get(Kind::Deployment, &d.namespace, &d.name)
                .await
                .map_err(|e| e.to_string())?
            else {
                return Err(format!("deployment {d} is gone"));
            };
            if dep.spec.replicas.unwrap_or(1) > 0 {
                return Ok(());
            }
            let revision = dep.metadata.resource_version.unwrap_or(0);
            dep.spec.replicas = Some(1);
            dep.metadata
                .annotations
                .insert(ACTIVATED_ANNOTATION.into(), Time::now().to_string());
            match self.cp.update(&Object::Deployment(dep), revision).await {
                Ok(()) => return Ok(()),
                // Changed meanwhile: read it again.
                Err(e) => {
                    tracing::debug!(deployment = %d, error = %e, "activation write lost a race")
                }
            }
        }
        Err(format!("deployment {d} kept changing"))
    }
}
