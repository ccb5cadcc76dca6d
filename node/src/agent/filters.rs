//! The router's filter loader on a node: an HttpFilter's component is fetched and
//! compiled by the node's Wasm runtime (cached like any pod's), then linked as a filter
//! with its config and limits. Its log records go to the agent's stderr.

use std::sync::Arc;

use skiff_proto::model::plugin::{DEFAULT_FILTER_MEMORY, DEFAULT_FILTER_TIMEOUT, PluginSpec};

use crate::router::FilterLoader;
use crate::runtime::{Pull, WasmRuntime};
use crate::wasm::filter::{Filter, FilterLimits};
use crate::wasm::{Output, Workload};

pub struct NodeFilters {
    pub runtime: Arc<WasmRuntime>,
}

#[tonic::async_trait]
impl FilterLoader for NodeFilters {
    async fn load(&self, name: &str, spec: &PluginSpec) -> Result<Filter, String> {
        let limits = FilterLimits::of(spec, DEFAULT_FILTER_TIMEOUT, DEFAULT_FILTER_MEMORY)?;
        let (_, workload) = self
            .runtime
            .workload(&spec.image, &Pull::default())
            .await
            .map_err(|n| format!("{}: {}", n.reason, n.message))?;
        let Workload::HttpFilter(component) = workload else {
            return Err(format!(
                "{} is a {}, not an HTTP filter (skiff:http-filter/filter@0.1)",
                spec.image,
                workload.kind()
            ));
        };
        let config = spec
            .config
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Filter::new(
            self.runtime.host(),
            name,
            &component,
            config,
            limits,
            Output::stderr(),
        )
        .map_err(|e| e.to_string())
    }
}
