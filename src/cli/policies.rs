//! The control plane's runner of WasmAdmissionPolicies: the node's wasmtime host in the
//! member's process. A policy's component is compiled once per digest and linked once
//! per config and limits; its log records go to the member's stderr.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use skiff_control::api::policies::{PolicyCall, PolicyRunner, Review, Verdict};
use skiff_node::wasm::policy::{self, Policy, PolicyLimits};
use skiff_node::wasm::{self as node_wasm, Host, HostConfig, Output, Workload};
use skiff_proto::model::plugin::{DEFAULT_POLICY_MEMORY, DEFAULT_POLICY_TIMEOUT, PluginSpec};

/// Linked policies by name, with the spec each was linked from.
type Linked = HashMap<String, (PluginSpec, Arc<Policy>)>;

pub struct WasmPolicies {
    host: Arc<Host>,
    linked: Mutex<Linked>,
}

impl WasmPolicies {
    pub fn new() -> Result<WasmPolicies> {
        let host = Host::new(&HostConfig {
            instances: 64,
            ..Default::default()
        })
        .context("starting the Wasm engine for admission policies")?;
        Ok(WasmPolicies {
            host: Arc::new(host),
            linked: Mutex::default(),
        })
    }

    /// The policy `call` names, compiled and linked on first use.
    async fn policy(&self, call: &PolicyCall<'_>) -> Result<Arc<Policy>, String> {
        let spec = call.policy.spec.plugin();
        if let Some((linked, p)) = self
            .linked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(call.name)
            && *linked == spec
        {
            return Ok(p.clone());
        }
        let limits = PolicyLimits::of(&spec, DEFAULT_POLICY_TIMEOUT, DEFAULT_POLICY_MEMORY)?;
        let bytes = (call.bytes)()?;
        let host = self.host.clone();
        let workload =
            tokio::task::spawn_blocking(move || node_wasm::inspect(host.engine(), &bytes))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
        let Workload::AdmissionPolicy(component) = workload else {
            return Err(format!(
                "sha256:{} is a {}, not an admission policy (skiff:admission/policy@0.1)",
                call.digest,
                workload.kind()
            ));
        };
        let config = spec.config.clone().into_iter().collect();
        let p = Policy::new(
            &self.host,
            call.name,
            &component,
            config,
            limits,
            Output::stderr(),
        )
        .map_err(|e| e.to_string())?;
        let p = Arc::new(p);
        // Only the current version of each policy stays linked.
        self.linked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(call.name.to_owned(), (spec, p.clone()));
        Ok(p)
    }
}

#[tonic::async_trait]
impl PolicyRunner for WasmPolicies {
    async fn review(&self, call: &PolicyCall<'_>, r: &Review) -> Result<Verdict, String> {
        let p = self.policy(call).await?;
        let req = policy::Request {
            operation: r.operation.to_owned(),
            kind: r.kind.clone(),
            namespace: r.namespace.clone(),
            name: r.name.clone(),
            object: r.object.clone(),
            old_object: r.old_object.clone(),
            user: r.user.clone(),
        };
        Ok(match p.review(&req).await? {
            policy::Verdict::Allow => Verdict::Allow,
            policy::Verdict::Deny(m) => Verdict::Deny(m),
            policy::Verdict::Patch(p) => Verdict::Patch(p),
        })
    }
}
