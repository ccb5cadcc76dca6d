//! Admission policies (`skiff:admission/admission-policy`, WIT in
//! `sdk/wit/deps/admission`): a component the API server runs on the writes a
//! WasmAdmissionPolicy matches, a fresh instance per review under the policy's limits
//! (see `plugin`).

use std::sync::Arc;

use wasmtime::component::Component;

use super::engine::Host;
use super::output::Output;
use super::plugin::{Plugin, PluginState};
use crate::Error;

pub use super::plugin::PluginLimits as PolicyLimits;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../sdk/wit",
        world: "skiff:admission/admission-policy",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "wasi:logging": crate::wasm::capability::bindings::wasi::logging,
            "wasi:config": crate::wasm::capability::bindings::wasi::config,
        },
    });
}

pub use bindings::exports::skiff::admission::policy::{Request, Verdict};

/// A loaded policy (cheap to share).
pub struct Policy {
    pre: bindings::AdmissionPolicyPre<PluginState>,
    plugin: Arc<Plugin>,
}

impl Policy {
    /// Links and pre-instantiates `component` for policy `name`, given `config` through
    /// `wasi:config`; its log records go to `log`.
    pub fn new(
        host: &Host,
        name: &str,
        component: &Component,
        config: Vec<(String, String)>,
        limits: PolicyLimits,
        log: Output,
    ) -> Result<Policy, Error> {
        let (plugin, linker) = Plugin::link(host, "policy", name, component, config, limits, log)?;
        let pre = linker
            .instantiate_pre(component)
            .and_then(bindings::AdmissionPolicyPre::new)
            .map_err(|e| Error::InvalidComponent {
                reason: format!(
                    "not an admission policy (skiff:admission/admission-policy@0.1.0): {e:#}"
                ),
            })?;
        Ok(Policy {
            pre,
            plugin: Arc::new(plugin),
        })
    }

    /// The verdict on `req`, in a fresh instance; `Err` says why the policy failed.
    pub async fn review(&self, req: &Request) -> Result<Verdict, String> {
        let mut store = self.plugin.store(self.pre.engine());
        let result = async {
            let instance = self.pre.instantiate_async(&mut store).await?;
            instance
                .skiff_admission_policy()
                .call_review(&mut store, req)
                .await
        }
        .await;
        result.map_err(|e| self.plugin.failure(store.data(), &e))
    }
}
