//! What Skiff's plugins share (HTTP filters, admission policies): a store per call with
//! WASI (stderr to the plugin's log, nothing else), `wasi:config` from the plugin's
//! `config`, `wasi:logging`, a memory limit and a deadline; and the message that says
//! why a call failed.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::capability::{self, CapabilityCtx, CapabilityCtxView, CapabilityView, Grants};
use super::engine::Host;
use super::meter::Meter;
use super::output::Output;
use crate::Error;
use crate::runtime::Limits;

/// A plugin's limits, per call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PluginLimits {
    /// Linear memory of one instance.
    pub memory_bytes: u64,
    /// Wall-clock time of one call (interrupted at the next epoch tick past it).
    pub timeout: Duration,
}

impl PluginLimits {
    /// What `spec` says, else the defaults (texts as a manifest writes them).
    pub fn of(
        spec: &skiff_proto::model::plugin::PluginSpec,
        default_timeout: &str,
        default_memory: &str,
    ) -> Result<PluginLimits, String> {
        use skiff_proto::model::Quantity;
        let timeout = skiff_proto::model::httproute::parse_duration(
            spec.timeout.as_deref().unwrap_or(default_timeout),
        )?;
        let memory = match &spec.memory {
            Some(q) => q.value(),
            None => Quantity::parse(default_memory)?.value(),
        };
        Ok(PluginLimits {
            timeout,
            memory_bytes: u64::try_from(memory).map_err(|_| "the memory limit is negative")?,
        })
    }
}

/// One call's store data.
pub struct PluginState {
    wasi: WasiCtx,
    caps: CapabilityCtx,
    table: ResourceTable,
    pub(super) meter: Meter,
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl CapabilityView for PluginState {
    fn capabilities(&mut self) -> CapabilityCtxView<'_> {
        CapabilityCtxView {
            ctx: &self.caps,
            table: &mut self.table,
        }
    }
}

/// What every call of one plugin gets.
pub struct Plugin {
    /// `NAMESPACE/NAME` or `NAME`, for messages.
    pub name: String,
    /// `filter` or `policy`, for messages.
    pub what: &'static str,
    pub limits: PluginLimits,
    grants: Arc<Grants>,
    tick: Duration,
    log: Output,
}

impl Plugin {
    /// Checks `component`'s imports (only `wasi:config` and `wasi:logging` beyond WASI)
    /// and links it.
    pub fn link(
        host: &Host,
        what: &'static str,
        name: &str,
        component: &Component,
        config: Vec<(String, String)>,
        limits: PluginLimits,
        log: Output,
    ) -> Result<(Plugin, Linker<PluginState>), Error> {
        let grants = Arc::new(Grants {
            config: Some(Arc::new(config)),
            keyvalue: None,
        });
        capability::check(host.engine(), component, &grants, name)
            .map_err(|reason| Error::InvalidComponent { reason })?;
        let mut linker = Linker::new(host.engine());
        let link = |e: wasmtime::Error| Error::Engine {
            reason: format!("linking a {what}: {e:#}"),
        };
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(link)?;
        capability::add_to_linker(&mut linker).map_err(link)?;
        let plugin = Plugin {
            name: name.to_owned(),
            what,
            limits,
            grants,
            tick: host.tick(),
            log,
        };
        Ok((plugin, linker))
    }

    /// A fresh store for one call.
    pub fn store(&self, engine: &Engine) -> Store<PluginState> {
        let limits = Limits {
            memory_bytes: Some(self.limits.memory_bytes),
            deadline: Some(self.limits.timeout),
            ..Limits::default()
        };
        let state = PluginState {
            wasi: WasiCtxBuilder::new().stderr(self.log.clone()).build(),
            caps: CapabilityCtx {
                grants: self.grants.clone(),
                log: self.log.clone(),
            },
            table: ResourceTable::new(),
            meter: Meter::new(limits, self.tick),
        };
        let mut store = Store::new(engine, state);
        store.limiter(|s| &mut s.meter);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut cx| Ok(cx.data_mut().meter.on_tick()));
        store
    }

    /// Why a call in `state` failed with `e`.
    pub fn failure(&self, state: &PluginState, e: &wasmtime::Error) -> String {
        let (what, name) = (self.what, &self.name);
        if state.meter.deadline_exceeded {
            return format!(
                "{what} {name} ran past its time limit ({:?}) and was stopped",
                self.limits.timeout
            );
        }
        if state.meter.out_of_memory {
            return format!(
                "{what} {name} ran out of its memory limit ({} bytes) and was stopped",
                self.limits.memory_bytes
            );
        }
        format!("{what} {name} failed: {e:#}")
    }
}
