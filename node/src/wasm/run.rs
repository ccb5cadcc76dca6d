//! Running a workload to completion: a `wasi:cli/run` component or a WASI preview 1
//! module (`_start`), with its args, env, preopened folders and captured stdout/stderr,
//! under its pod's limits. The outcome uses Kubernetes' words for how a container ended,
//! plus Skiff's own for what only a Wasm guest can do (`Trapped`).

use std::sync::Arc;

use wasmtime::component::{Linker as ComponentLinker, ResourceTable};
use wasmtime::{Linker, Store, Trap, WasmBacktrace};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::bindings::Command;
use wasmtime_wasi::{I32Exit, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::capability::{self, CapabilityCtx, CapabilityCtxView, CapabilityView, Grants};
use super::engine::Host;
use super::inspect::Workload;
use super::meter::Meter;
use super::output::Output;
use super::preopen;
use crate::Error;
use crate::runtime::{Charged, Limits, Mount, OOM_EXIT_CODE, Outcome, Reason, Usage};

/// What a run gets.
#[derive(Debug)]
pub struct RunSpec {
    /// `argv`, the program name first.
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Host folders the guest sees.
    pub dirs: Vec<Mount>,
    pub stdout: Output,
    pub stderr: Output,
    pub limits: Limits,
    /// The pod's counters, which this run adds to.
    pub usage: Arc<Usage>,
    /// The host capabilities the container was granted.
    pub grants: Arc<Grants>,
}

/// The store's data: the guest's WASI state and its meter.
struct State<W> {
    wasi: W,
    meter: Meter,
}

/// WASI 0.2 state for components.
struct P2 {
    ctx: WasiCtx,
    caps: CapabilityCtx,
    table: ResourceTable,
}

impl CapabilityView for State<P2> {
    fn capabilities(&mut self) -> CapabilityCtxView<'_> {
        CapabilityCtxView {
            ctx: &self.wasi.caps,
            table: &mut self.wasi.table,
        }
    }
}

impl WasiView for State<P2> {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi.ctx,
            table: &mut self.wasi.table,
        }
    }
}

fn wasi(spec: &RunSpec) -> Result<WasiCtxBuilder, Error> {
    let mut b = WasiCtxBuilder::new();
    b.args(&spec.args)
        .envs(&spec.env)
        .stdout(spec.stdout.clone())
        .stderr(spec.stderr.clone());
    preopen::add(&mut b, &spec.dirs)?;
    Ok(b)
}

fn store<W: Send + 'static>(host: &Host, wasi: W, spec: &RunSpec) -> Store<State<W>> {
    let meter = Meter::new(spec.limits.clone(), host.tick()).charged_to(spec.usage.clone());
    let mut store = Store::new(host.engine(), State { wasi, meter });
    store.limiter(|s| &mut s.meter);
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|mut cx| Ok(cx.data_mut().meter.on_tick()));
    store
}

/// Runs `workload` (a command or a preview 1 module) to its end.
pub async fn run(host: &Host, workload: &Workload, spec: RunSpec) -> Result<Outcome, Error> {
    let before = spec.usage.snapshot().cpu;
    let mut o = match workload {
        Workload::Preview1Module(module) => {
            let mut linker: Linker<State<WasiP1Ctx>> = Linker::new(host.engine());
            wasmtime_wasi::p1::add_to_linker_async(&mut linker, |s| &mut s.wasi)
                .map_err(|e| link_error(&e))?;
            let mut store = store(host, wasi(&spec)?.build_p1(), &spec);
            let result = Charged::new(
                async {
                    let instance = linker.instantiate_async(&mut store, module).await?;
                    let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
                    start.call_async(&mut store, ()).await.map(|()| true)
                },
                spec.usage.clone(),
            )
            .await;
            outcome(result, &store.data().meter)
        }
        Workload::Command(component) => {
            let mut linker: ComponentLinker<State<P2>> = ComponentLinker::new(host.engine());
            wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| link_error(&e))?;
            capability::add_to_linker(&mut linker).map_err(|e| link_error(&e))?;
            let p2 = P2 {
                ctx: wasi(&spec)?.build(),
                caps: CapabilityCtx {
                    grants: spec.grants.clone(),
                    log: spec.stderr.clone(),
                },
                table: ResourceTable::new(),
            };
            let mut store = store(host, p2, &spec);
            let result = Charged::new(
                async {
                    let command =
                        Command::instantiate_async(&mut store, component, &linker).await?;
                    command
                        .wasi_cli_run()
                        .call_run(&mut store)
                        .await
                        .map(|r| r.is_ok())
                },
                spec.usage.clone(),
            )
            .await;
            outcome(result, &store.data().meter)
        }
        Workload::HttpFilter(_) | Workload::AdmissionPolicy(_) => {
            return Err(Error::NotRunnable {
                reason: format!(
                    "a {} is a plugin: attach it with an {} object, not a pod",
                    workload.kind(),
                    match workload {
                        Workload::HttpFilter(_) => "HttpFilter",
                        _ => "WasmAdmissionPolicy",
                    }
                ),
            });
        }
        Workload::HttpHandler(_) => {
            return Err(Error::NotRunnable {
                reason: "an HTTP handler serves requests; it does not run to completion".into(),
            });
        }
    };
    o.cpu = spec.usage.snapshot().cpu.saturating_sub(before);
    Ok(o)
}

fn link_error(e: &wasmtime::Error) -> Error {
    Error::Engine {
        reason: format!("adding WASI to the linker: {e:#}"),
    }
}

/// The outcome of a run that returned `result` (`Ok(succeeded)`, or how it failed).
fn outcome(result: wasmtime::Result<bool>, meter: &Meter) -> Outcome {
    let done = |reason, exit_code, message| Outcome {
        reason,
        exit_code,
        message,
        cpu: meter.cpu,
        peak_memory: meter.peak_memory as u64,
    };
    let e = match result {
        Ok(true) => return done(Reason::Completed, 0, None),
        Ok(false) => return done(Reason::Error, 1, None),
        Err(e) => e,
    };
    if let Some(exit) = e.downcast_ref::<I32Exit>() {
        return match exit.0 {
            0 => done(Reason::Completed, 0, None),
            code => done(Reason::Error, code, None),
        };
    }
    let backtrace = e
        .downcast_ref::<WasmBacktrace>()
        .map(|b| format!("\n{b}"))
        .unwrap_or_default();
    if meter.out_of_memory {
        return done(Reason::OomKilled, OOM_EXIT_CODE, Some(format!("{e:#}")));
    }
    if meter.deadline_exceeded {
        return done(
            Reason::DeadlineExceeded,
            1,
            Some("stopped at its deadline".into()),
        );
    }
    if let Some(trap) = e.downcast_ref::<Trap>() {
        return done(Reason::Trapped, 1, Some(format!("{trap}{backtrace}")));
    }
    done(Reason::Error, 1, Some(format!("{e:#}{backtrace}")))
}
