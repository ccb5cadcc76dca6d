//! HTTP filters (`skiff:http-filter/http-filter`, WIT in `sdk/wit/deps/http-filter`): a
//! component the router runs in-process on the requests of the routes that name it.
//! Each request gets a fresh instance of the pre-instantiated component under the
//! filter's limits (see `plugin`); the instance that saw the request also sees the
//! response head, with the time limit again. A filter that traps or exceeds a limit
//! fails that call only.

use std::sync::Arc;

use wasmtime::Store;
use wasmtime::component::Component;

use super::engine::Host;
use super::output::Output;
use super::plugin::{Plugin, PluginState};
use crate::Error;

pub use super::plugin::PluginLimits as FilterLimits;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../sdk/wit",
        world: "skiff:http-filter/http-filter",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "wasi:logging": crate::wasm::capability::bindings::wasi::logging,
            "wasi:config": crate::wasm::capability::bindings::wasi::config,
        },
    });
}

pub use bindings::exports::skiff::http_filter::filter::{
    Action, Request, RequestChanges, Response, ResponseChanges,
};

/// A loaded filter, ready for requests (cheap to share).
pub struct Filter {
    pre: bindings::HttpFilterPre<PluginState>,
    plugin: Arc<Plugin>,
}

/// One request's instance, kept for its response.
pub struct FilterCall {
    plugin: Arc<Plugin>,
    store: Store<PluginState>,
    instance: bindings::HttpFilter,
}

impl Filter {
    /// Links and pre-instantiates `component` for filter `name` (`NAMESPACE/NAME`), given
    /// `config` through `wasi:config`; its log records go to `log`.
    pub fn new(
        host: &Host,
        name: &str,
        component: &Component,
        config: Vec<(String, String)>,
        limits: FilterLimits,
        log: Output,
    ) -> Result<Filter, Error> {
        let (plugin, linker) = Plugin::link(host, "filter", name, component, config, limits, log)?;
        let pre = linker
            .instantiate_pre(component)
            .and_then(bindings::HttpFilterPre::new)
            .map_err(|e| Error::InvalidComponent {
                reason: format!("not an HTTP filter (skiff:http-filter/http-filter@0.1.0): {e:#}"),
            })?;
        Ok(Filter {
            pre,
            plugin: Arc::new(plugin),
        })
    }

    /// Runs `on-request` in a fresh instance: the action, and the call to finish with the
    /// response; `Err` says why the filter failed.
    pub async fn on_request(&self, req: Request) -> Result<(Action, FilterCall), String> {
        let mut store = self.plugin.store(self.pre.engine());
        let result = async {
            let instance = self.pre.instantiate_async(&mut store).await?;
            let action = instance
                .skiff_http_filter_filter()
                .call_on_request(&mut store, &req)
                .await?;
            Ok::<_, wasmtime::Error>((action, instance))
        }
        .await;
        match result {
            Ok((action, instance)) => Ok((
                action,
                FilterCall {
                    plugin: self.plugin.clone(),
                    store,
                    instance,
                },
            )),
            Err(e) => Err(self.plugin.failure(store.data(), &e)),
        }
    }
}

impl FilterCall {
    /// Runs `on-response` with the backend's response head.
    pub async fn on_response(
        mut self,
        status: u16,
        headers: Vec<(String, Vec<u8>)>,
    ) -> Result<ResponseChanges, String> {
        // The response hook gets the whole time limit again.
        self.store.data_mut().meter.restart_deadline();
        let r = self
            .instance
            .skiff_http_filter_filter()
            .call_on_response(&mut self.store, status, &headers)
            .await;
        r.map_err(|e| self.plugin.failure(self.store.data(), &e))
    }
}
