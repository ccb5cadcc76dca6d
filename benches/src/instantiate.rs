//! The `wasm` bench, part (a): one HTTP request in a fresh instance, through Skiff's
//! runtime ([`skiff_node::wasm::Handler`]: per-pod meter, epoch interruption, usage
//! counters, log sinks, instance slots) against wasmtime's own path as `wasmtime serve`
//! takes it (an `InstancePre`/`ProxyPre` on a pooling engine, a new store per request), in
//! the same process and the same run. Both are called in-process with the same request, so
//! the difference is the runtime's own work.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use skiff_node::runtime::{Limits, Usage};
use skiff_node::wasm::{
    CompileCache, Handler, Host, HostConfig, HttpPre, HttpSpec, Output, Workload, sha256_hex,
};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Instances either side may have at once (one request at a time here).
const INSTANCES: u32 = 64;

fn request() -> hyper::Request<Empty<Bytes>> {
    hyper::Request::get("http://bench.local/hello?x=1")
        .body(Empty::new())
        .expect("a constant request is valid")
}

/// wasmtime's own per-request state, as `wasmtime serve` keeps it.
struct Plain {
    ctx: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
}

impl WasiView for Plain {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for Plain {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: Default::default(),
        }
    }
}

/// The anchor: a pooling engine and a `ProxyPre`, nothing else.
pub struct Baseline {
    pre: ProxyPre<Plain>,
}

impl Baseline {
    pub fn new(bytes: &[u8]) -> Result<Baseline> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(INSTANCES)
            .total_core_instances(INSTANCES * 8)
            .total_memories(INSTANCES * 2)
            .total_tables(INSTANCES * 4)
            .total_stacks(INSTANCES);
        let mut c = Config::new();
        c.wasm_component_model(true)
            .memory_init_cow(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&c).map_err(|e| anyhow!("{e:#}"))?;
        let component = Component::from_binary(&engine, bytes).map_err(|e| anyhow!("{e:#}"))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| anyhow!("{e:#}"))?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(|e| anyhow!("{e:#}"))?;
        let pre = linker
            .instantiate_pre(&component)
            .and_then(ProxyPre::new)
            .map_err(|e| anyhow!("{e:#}"))?;
        Ok(Baseline { pre })
    }

    /// One request in a fresh instance; the response body, whole.
    pub async fn call(&self) -> Result<Bytes> {
        let mut store = Store::new(
            self.pre.engine(),
            Plain {
                ctx: WasiCtxBuilder::new().build(),
                http: WasiHttpCtx::new(),
                table: ResourceTable::new(),
            },
        );
        let req = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, request())
            .map_err(|e| anyhow!("{e:#}"))?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let out = store
            .data_mut()
            .http()
            .new_response_outparam(tx)
            .map_err(|e| anyhow!("{e:#}"))?;
        let pre = self.pre.clone();
        // As `wasmtime serve` (and Skiff) do: the response is sent while the instance
        // finishes and is torn down in its own task.
        tokio::spawn(async move {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, req, out)
                .await
        });
        let resp = rx
            .await
            .context("the guest set no response")?
            .map_err(|e| anyhow!("{e:?}"))?;
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| anyhow!("{e:?}"))?;
        Ok(body.to_bytes())
    }
}

/// Skiff's runtime, as a node agent sets it up for one HTTP pod.
pub struct Skiff {
    handler: Arc<Handler>,
    _host: Host,
    _logs: tempfile::TempDir,
}

impl Skiff {
    pub fn new(bytes: &[u8]) -> Result<Skiff> {
        let host = Host::new(&HostConfig {
            instances: INSTANCES,
            ..HostConfig::default()
        })?;
        let logs = tempfile::tempdir()?;
        let cache = CompileCache::open(&logs.path().join("compiled"), host.engine())?;
        let Workload::HttpHandler(component) =
            cache.load(&sha256_hex(bytes), || Ok(bytes.to_vec()))?
        else {
            anyhow::bail!("the bench component is not a wasi:http handler");
        };
        let log = skiff_node::logs::start_run(&logs.path().join("log"), Default::default())?;
        let handler = Handler::new(
            &host,
            &HttpPre::new(&host, &component)?,
            HttpSpec {
                env: Vec::new(),
                dirs: Vec::new(),
                stdout: Output::new(log.sink(skiff_node::logs::Stream::Stdout)),
                stderr: Output::new(log.sink(skiff_node::logs::Stream::Stderr)),
                limits: Limits {
                    memory_bytes: Some(128 << 20),
                    cpu_millis: Some(1000),
                    deadline: Some(Duration::from_secs(60)),
                    ..Limits::default()
                },
                max_instances: INSTANCES as usize,
                usage: Arc::new(Usage::default()),
                outbound: None,
                grants: Default::default(),
            },
        );
        Ok(Skiff {
            handler: Arc::new(handler),
            _host: host,
            _logs: logs,
        })
    }

    pub async fn call(&self) -> Result<Bytes> {
        let resp = self
            .handler
            .clone()
            .handle(request())
            .await
            .map_err(|e| anyhow!("{e:#}"))?;
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| anyhow!("{e:?}"))?;
        Ok(body.to_bytes())
    }
}

/// `n` sequential requests through `call`; each one's latency.
pub async fn measure<F, Fut>(n: usize, mut call: F) -> Result<Vec<Duration>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Bytes>>,
{
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let began = Instant::now();
        let body = call().await?;
        out.push(began.elapsed());
        if body.is_empty() {
            anyhow::bail!("an empty response body");
        }
    }
    Ok(out)
}
