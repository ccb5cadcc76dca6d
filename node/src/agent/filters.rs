//! The router's filter loader on a node: an HttpFilter's component is fetched and
//! compiled by the node's Wasm runtime (cached like any pod's), then linked as a filter
//! with its config and limits. Its log records go to the agent's stderr.

use std::sync::Arc;
use std::time::Duration;

use skiff_proto::model::Quantity;
use skiff_proto::model::httproute::parse_duration;
use skiff_proto::model::plugin::{DEFAULT_FILTER_MEMORY, DEFAULT_FILTER_TIMEOUT, PluginSpec};

use crate::router::FilterLoader;
use crate::runtime::{Pull, WasmRuntime};
use crate::wasm::filter::{Filter, FilterLimits};
use crate::wasm::{Output, Workload};

pub struct NodeFilters {
    pub runtime: Arc<WasmRuntime>,
}

/// A plugin's limits: what its spec says, else the defaults.
pub fn limits(spec: &PluginSpec, timeout: &str, memory: &str) -> Result<(Duration, u64), String> {
    let t = parse_duration(spec.timeout.as_deref().unwrap_or(timeout))?;
    let m = match &spec.memory {
        Some(q) => q.value(),
        None => Quantity::parse(memory)?.value(),
    };
    Ok((
        t,
        u64::try_from(m).map_err(|_| "the memory limit is negative".to_owned())?,
    ))
}

#[tonic::async_trait]
impl FilterLoader for NodeFilters {
    async fn load(&self, name: &str, spec: &PluginSpec) -> Result<Filter, String> {
        let (timeout, memory_bytes) = limits(spec, DEFAULT_FILTER_TIMEOUT, DEFAULT_FILTER_MEMORY)?;
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
            FilterLimits {
                memory_bytes,
                timeout,
            },
            Output::new(wasmtime_wasi::cli::stderr()),
        )
        .map_err(|e| e.to_string())
    }
}
