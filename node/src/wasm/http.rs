//! Serving a `wasi:http/incoming-handler` component: a fresh instance per request (as
//! Spin and `wasmtime serve` do), pre-instantiated once (`ProxyPre`), under the pod's
//! limits: memory per instance, a deadline per request, the CPU share, and at most
//! `max_instances` requests in the guest at once (the rest wait their turn).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::server::conn::http1;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use wasmtime::Store;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{
    RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView,
};

use super::capability::{self, CapabilityCtx, CapabilityCtxView, CapabilityView, Grants};
use super::engine::Host;
use super::meter::Meter;
use super::output::Output;
use super::preopen;
use crate::Error;
use crate::runtime::{Charged, Limits, Mount, Usage};

/// What one HTTP pod's handler is given.
pub struct HttpSpec {
    pub env: Vec<(String, String)>,
    /// Host folders every instance sees (the pod's volumes).
    pub dirs: Vec<Mount>,
    /// Where the guest's stdout and stderr go (the pod's log).
    pub stdout: Output,
    pub stderr: Output,
    pub limits: Limits,
    /// Requests in the guest at once.
    pub max_instances: usize,
    /// The pod's counters.
    pub usage: Arc<Usage>,
    /// Where the guest's outgoing requests for the cluster go (none: all go out).
    pub outbound: Option<Arc<dyn Outbound>>,
    /// The host capabilities the container was granted.
    pub grants: Arc<Grants>,
}

/// A response on its way to a guest.
pub type Answer = Pin<Box<dyn Future<Output = hyper::Response<WasiBody>> + Send>>;

/// Routes a guest's outgoing requests for in-cluster names (`SERVICE.NAMESPACE.svc`,
/// or a Service of the pod's own namespace by name): the node's router.
pub trait Outbound: Send + Sync {
    /// Whether `req` is for the cluster (else it goes out as any request would).
    fn accepts(&self, req: &hyper::Request<WasiBody>) -> bool;
    /// The answer to a request for the cluster.
    fn send(&self, req: hyper::Request<WasiBody>) -> Answer;
}

/// The `wasi:http` hooks of one instance: outgoing requests go to [`Outbound`] first.
#[derive(Default)]
struct Hooks {
    outbound: Option<Arc<dyn Outbound>>,
}

type Done = Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>;

impl WasiHttpHooks for Hooks {
    fn send_request(
        &mut self,
        request: hyper::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Done,
    ) -> Box<
        dyn Future<Output = Result<(hyper::Response<WasiBody>, Done), wasmtime_wasi_http::Error>>
            + Send,
    > {
        drop(fut);
        let mut request = request;
        // Routers' own header: a guest may not name an endpoint.
        request.headers_mut().remove("skiff-endpoint");
        if let Some(o) = &self.outbound
            && o.accepts(&request)
        {
            let answer = o.send(request);
            return Box::new(async move { Ok((answer.await, Box::new(async { Ok(()) }) as Done)) });
        }
        Box::new(async move {
            let (res, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((res.map(|b| b.boxed_unsync()), Box::new(io) as Done))
        })
    }
}

struct State {
    ctx: WasiCtx,
    caps: CapabilityCtx,
    http: WasiHttpCtx,
    hooks: Hooks,
    table: ResourceTable,
    meter: Meter,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
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

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// A component linked against WASI and `wasi:http` and pre-instantiated: made once per
/// component and shared by every pod that serves it (cheap to clone).
#[derive(Clone)]
pub struct HttpPre(ProxyPre<State>);

impl HttpPre {
    pub fn new(host: &Host, component: &Component) -> Result<HttpPre, Error> {
        let mut linker = Linker::new(host.engine());
        let link = |e: wasmtime::Error| Error::Engine {
            reason: format!("linking wasi:http: {e:#}"),
        };
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(link)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(link)?;
        capability::add_to_linker(&mut linker).map_err(link)?;
        let pre = linker
            .instantiate_pre(component)
            .and_then(ProxyPre::new)
            .map_err(|e| Error::InvalidComponent {
                reason: format!("{e:#}"),
            })?;
        Ok(HttpPre(pre))
    }

    /// Refuses `grants` if the component imports a capability they do not give (see
    /// [`capability::check`]).
    pub fn check(&self, grants: &Grants, container: &str) -> Result<(), String> {
        let pre = self.0.instance_pre();
        capability::check(pre.engine(), pre.component(), grants, container)
    }
}

/// One pod's handler, ready to serve.
pub struct Handler {
    pre: ProxyPre<State>,
    spec: HttpSpec,
    tick: Duration,
    slots: Arc<Semaphore>,
}

impl Handler {
    pub fn new(host: &Host, pre: &HttpPre, spec: HttpSpec) -> Handler {
        Handler {
            pre: pre.0.clone(),
            slots: Arc::new(Semaphore::new(spec.max_instances.max(1))),
            spec,
            tick: host.tick(),
        }
    }

    fn store(&self) -> Result<Store<State>, Error> {
        let mut b = WasiCtxBuilder::new();
        b.envs(&self.spec.env)
            .stdout(self.spec.stdout.clone())
            .stderr(self.spec.stderr.clone());
        preopen::add(&mut b, &self.spec.dirs)?;
        let ctx = b.build();
        let state = State {
            ctx,
            caps: CapabilityCtx {
                grants: self.spec.grants.clone(),
                log: self.spec.stderr.clone(),
            },
            http: WasiHttpCtx::new(),
            hooks: Hooks {
                outbound: self.spec.outbound.clone(),
            },
            table: ResourceTable::new(),
            meter: Meter::new(self.spec.limits.clone(), self.tick)
                .charged_to(self.spec.usage.clone()),
        };
        let mut store = Store::new(self.pre.engine(), state);
        store.limiter(|s| &mut s.meter);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut cx| Ok(cx.data_mut().meter.on_tick()));
        Ok(store)
    }

    /// Waits until no request is in flight; while it waits, new requests also wait
    /// (a stopping pod's are refused by its router first).
    pub async fn drain(&self) {
        let all = u32::try_from(self.spec.max_instances.max(1)).unwrap_or(u32::MAX);
        let _all = self.slots.acquire_many(all).await;
    }

    /// One request, in a fresh instance: from a connection, or in-process (a router
    /// calling a local pod, a benchmark) with any body.
    pub async fn handle<B>(
        self: Arc<Self>,
        req: hyper::Request<B>,
    ) -> wasmtime::Result<hyper::Response<HyperOutgoingBody>>
    where
        B: hyper::body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let permit = self.slots.clone().acquire_owned().await?;
        self.spec.usage.request();
        let mut store = self.store()?;
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let req = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, req)?;
        let out = store.data_mut().http().new_response_outparam(sender)?;
        let me = self.clone();
        let usage = self.spec.usage.clone();
        let task = tokio::spawn(Charged::new(
            async move {
                let _permit = permit;
                let result = async {
                    let proxy = me.pre.instantiate_async(&mut store).await?;
                    proxy
                        .wasi_http_incoming_handler()
                        .call_handle(&mut store, req, out)
                        .await
                }
                .await;
                if result.is_err() {
                    me.spec.usage.failure();
                }
                result
            },
            usage,
        ));
        match receiver.await {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => {
                let e = match task.await {
                    Ok(Ok(())) => wasmtime::format_err!("the guest never set a response"),
                    Ok(Err(e)) => e,
                    Err(e) => e.into(),
                };
                Err(e.context("the guest never set a response"))
            }
        }
    }
}

/// Serves `handler` on `listener` until the task is dropped.
pub async fn serve(handler: Arc<Handler>, listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let handler = handler.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handler.clone().handle(req));
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Listens on `addr` (the pod's own address and the container's port).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, Error> {
    TcpListener::bind(addr).await.map_err(|e| Error::Io {
        path: addr.to_string().into(),
        what: "listening on".into(),
        source: e,
    })
}
