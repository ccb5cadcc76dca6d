//! HTTP filters (`skiff:http-filter/http-filter`, WIT in `sdk/wit/deps/http-filter`): a
//! component the router runs in-process on the requests of the routes that name it.
//! Each request gets a fresh instance of the pre-instantiated component, under the
//! filter's memory limit and deadline; the instance that saw the request also sees the
//! response head. A filter that traps or exceeds a limit fails that call only.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::Store;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::capability::{self, CapabilityCtx, CapabilityCtxView, CapabilityView, Grants};
use super::engine::Host;
use super::meter::Meter;
use super::output::Output;
use crate::Error;
use crate::runtime::Limits;

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

/// A filter's limits, per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterLimits {
    /// Linear memory of one instance.
    pub memory_bytes: u64,
    /// Wall-clock time of one call (interrupted at the next epoch tick past it).
    pub timeout: Duration,
}

struct State {
    wasi: WasiCtx,
    caps: CapabilityCtx,
    table: ResourceTable,
    meter: Meter,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl CapabilityView for State {
    fn capabilities(&mut self) -> CapabilityCtxView<'_> {
        CapabilityCtxView {
            ctx: &self.caps,
            table: &mut self.table,
        }
    }
}

/// A loaded filter, ready for requests (cheap to share).
pub struct Filter {
    name: String,
    pre: bindings::HttpFilterPre<State>,
    grants: Arc<Grants>,
    limits: FilterLimits,
    tick: Duration,
    log: Output,
}

/// One request's instance, kept for its response.
pub struct FilterCall {
    name: String,
    limits: FilterLimits,
    store: Store<State>,
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
        let grants = Arc::new(Grants {
            config: Some(Arc::new(config)),
            keyvalue: None,
        });
        capability::check(host.engine(), component, &grants, name)
            .map_err(|reason| Error::InvalidComponent { reason })?;
        let mut linker = Linker::new(host.engine());
        let link = |e: wasmtime::Error| Error::Engine {
            reason: format!("linking an HTTP filter: {e:#}"),
        };
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(link)?;
        capability::add_to_linker(&mut linker).map_err(link)?;
        let pre = linker
            .instantiate_pre(component)
            .and_then(bindings::HttpFilterPre::new)
            .map_err(|e| Error::InvalidComponent {
                reason: format!("not an HTTP filter (skiff:http-filter/http-filter@0.1.0): {e:#}"),
            })?;
        Ok(Filter {
            name: name.to_owned(),
            pre,
            grants,
            limits,
            tick: host.tick(),
            log,
        })
    }

    fn store(&self) -> Store<State> {
        let limits = Limits {
            memory_bytes: Some(self.limits.memory_bytes),
            deadline: Some(self.limits.timeout),
            ..Limits::default()
        };
        let state = State {
            wasi: WasiCtxBuilder::new().stderr(self.log.clone()).build(),
            caps: CapabilityCtx {
                grants: self.grants.clone(),
                log: self.log.clone(),
            },
            table: ResourceTable::new(),
            meter: Meter::new(limits, self.tick),
        };
        let mut store = Store::new(self.pre.engine(), state);
        store.limiter(|s| &mut s.meter);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut cx| Ok(cx.data_mut().meter.on_tick()));
        store
    }

    /// Runs `on-request` in a fresh instance: the action, and the call to finish with the
    /// response; `Err` says why the filter failed.
    pub async fn on_request(&self, req: Request) -> Result<(Action, FilterCall), String> {
        let mut store = self.store();
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
                    name: self.name.clone(),
                    limits: self.limits,
                    store,
                    instance,
                },
            )),
            Err(e) => Err(failure(&self.name, &self.limits, store.data(), &e)),
        }
    }

    pub fn limits(&self) -> FilterLimits {
        self.limits
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
        r.map_err(|e| failure(&self.name, &self.limits, self.store.data(), &e))
    }
}

/// Why a call failed, for the route's 5xx answer.
fn failure(name: &str, limits: &FilterLimits, state: &State, e: &wasmtime::Error) -> String {
    let m = &state.meter;
    if m.deadline_exceeded {
        return format!(
            "filter {name} ran past its time limit ({:?}) and was stopped",
            limits.timeout
        );
    }
    if m.out_of_memory {
        return format!(
            "filter {name} ran out of its memory limit ({} bytes) and was stopped",
            limits.memory_bytes
        );
    }
    format!("filter {name} failed: {e:#}")
}
