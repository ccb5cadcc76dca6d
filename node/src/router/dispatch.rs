//! Sending a routed request on: to one of its backend's endpoints (another one after a
//! failed connect, when the request can be sent again), to the instance that wakes a
//! Deployment from zero, or held until an endpoint is ready (or, when every endpoint
//! refused it, until the table gives others); and requests another node's router sent
//! here for a local pod.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use hyper::{Request, Response, StatusCode};

use super::balance::{Backend, Via};
use super::proxy::{ENDPOINT_HEADER, Failure, NOT_SENT_HEADER, Spare};
use super::{Body, Decision, Router, answer};

impl Router {
    /// Sends `req` to an endpoint of the decision's backend. With none: wakes the
    /// Deployment behind it, or holds the request until an endpoint is ready. When every
    /// endpoint refused it (pods stopping before the table drops them), the request is
    /// held too, for at most [`REFUSED_HOLD`], and sent where the next table says.
    pub(super) async fn dispatch(&self, d: &Decision, mut req: Request<Body>) -> Response<Body> {
        let mut tables = self.built.subscribe();
        let start = tokio::time::Instant::now();
        let mut backend = d.backend.clone();
        let mut turn = None;
        loop {
            let (status, why, wait) = match self.to_endpoints(&backend, req).await {
                Ok(resp) => return resp,
                Err(Unsent::Refused(r, why)) => {
                    req = *r;
                    let wait = self.limits.hold_timeout.min(REFUSED_HOLD);
                    (StatusCode::BAD_GATEWAY, why, wait)
                }
                Err(Unsent::NoEndpoint(r)) => {
                    req = *r;
                    let why = format!(
                        "service {} port {} has no ready endpoint",
                        backend.service, backend.port
                    );
                    match &backend.wake {
                        // Not held already (its endpoints refused): nothing will come.
                        None if turn.is_none() => {
                            return answer(StatusCode::SERVICE_UNAVAILABLE, why);
                        }
                        None => {}
                        Some(w) => {
                            if let Some(a) = self.activator.get() {
                                let ns = w.deployment.namespace.clone();
                                let outbound = || self.outbound_for(&ns);
                                if let Some(handler) = w.instance(a, outbound).await {
                                    let answered = handler.call(req).await;
                                    w.record(a);
                                    return answered.unwrap_or_else(|e| {
                                        answer(
                                            StatusCode::BAD_GATEWAY,
                                            format!("{} (woken from zero): {e}", w.deployment),
                                        )
                                    });
                                }
                                w.record(a);
                            }
                        }
                    }
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        why,
                        self.limits.hold_timeout,
                    )
                }
            };
            // Held: a bounded number of requests, for a bounded time.
            if turn.is_none() {
                let Ok(t) = self.held.try_acquire() else {
                    return answer(
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!(
                            "{why}, and {} requests already wait for it",
                            self.limits.max_held
                        ),
                    );
                };
                turn = Some(t);
            }
            match self.next_backend(&backend, &mut tables, start + wait).await {
                Ok(Some(b)) => backend = b,
                Ok(None) => {
                    return answer(
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!("service {} is gone", backend.service),
                    );
                }
                Err(()) => return answer(status, format!("{why} (waited {wait:?})")),
            }
        }
    }

    /// Waits until a table gives `backend`'s Service port other endpoints (or none, or a
    /// Deployment to wake): `Ok(None)` when the port is gone, `Err` at `deadline`.
    async fn next_backend(
        &self,
        backend: &Backend,
        tables: &mut tokio::sync::watch::Receiver<u64>,
        deadline: tokio::time::Instant,
    ) -> Result<Option<Arc<Backend>>, ()> {
        let addrs = |b: &Backend| b.endpoints.iter().map(|e| e.addr).collect::<Vec<_>>();
        let before = (addrs(backend), backend.wake.is_some());
        loop {
            match tokio::time::timeout_at(deadline, tables.changed()).await {
                Ok(Ok(())) => {}
                _ => return Err(()),
            }
            let Some(b) = self.table().backend_of(&backend.service, backend.port) else {
                return Ok(None);
            };
            if (addrs(&b), b.wake.is_some()) != before {
                return Ok(Some(b));
            }
        }
    }

    /// Sends `req` to one of `backend`'s endpoints; a failed connect is tried again on
    /// another endpoint when the request can be sent again. `Err` gives the request back
    /// when there is no endpoint at all, or when every endpoint tried refused it.
    async fn to_endpoints(
        &self,
        backend: &Backend,
        req: Request<Body>,
    ) -> Result<Response<Body>, Unsent> {
        let mut tried: Vec<SocketAddr> = Vec::new();
        let mut req = Some(Box::new(req));
        let mut spare: Option<Spare> = None;
        let mut last = String::new();
        let mut failed_after_sending = false;
        // Requests sent and failed (within `retries`), and refused (nothing sent: cheap,
        // and what endpoints of pods that stopped do, so up to MAX_REFUSED of them).
        let (mut attempt, mut refused) = (0, 0);
        while attempt <= self.limits.retries && refused < MAX_REFUSED {
            let Some(ep) = backend.pick(&tried) else {
                break;
            };
            let r = match (req.take(), &spare) {
                (Some(r), _) => *r,
                (None, Some(s)) => s.request(),
                (None, None) => break,
            };
            // A request sent over TCP is gone when the connect fails: keep its head to
            // send again. One called in-process is given back instead.
            let in_process = ep.via == Via::Local && self.upstreams.in_process(ep.addr);
            if !in_process && spare.is_none() && attempt < self.limits.retries {
                spare = Spare::of(&r);
            }
            let start = Instant::now();
            let outstanding = ep.begin();
            let sent = if ep.via == Via::Local {
                self.call_local(ep.addr, r).await
            } else {
                self.upstreams.send(&ep, r).await
            };
            drop(outstanding);
            match sent {
                Ok(resp) => {
                    self.metrics
                        .endpoint(&backend.service.to_string(), &ep.label, start.elapsed());
                    return Ok(resp);
                }
                Err(Failure::NotSent(why, back)) => {
                    tracing::debug!(endpoint = %ep.label, %why, "trying another endpoint");
                    refused += 1;
                    tried.push(ep.addr);
                    req = back;
                    last = why;
                }
                // The endpoint took the request and failed before answering (a pod
                // stopping drops its connections): an idempotent request without a body
                // may go to another endpoint, as nginx's `proxy_next_upstream error`.
                Err(Failure::Failed(why)) if spare.is_some() => {
                    tracing::debug!(endpoint = %ep.label, %why, "failed; trying another endpoint");
                    failed_after_sending = true;
                    attempt += 1;
                    tried.push(ep.addr);
                    last = why;
                }
                Err(Failure::Failed(why)) => {
                    return Ok(answer(
                        StatusCode::BAD_GATEWAY,
                        format!("{} endpoint {}: {why}", backend.service, ep.label),
                    ));
                }
            }
        }
        if tried.is_empty()
            && let Some(req) = req
        {
            return Err(Unsent::NoEndpoint(req));
        }
        // Held only when every endpoint was tried: one not tried may not refuse.
        if !failed_after_sending
            && backend.pick(&tried).is_none()
            && let Some(req) = req.or_else(|| spare.map(|s| Box::new(s.request())))
        {
            let why = format!(
                "service {}: every endpoint refused the request (tried {}; last: {last})",
                backend.service,
                tried.len()
            );
            return Err(Unsent::Refused(req, why));
        }
        Ok(answer(
            StatusCode::BAD_GATEWAY,
            format!(
                "service {}: no endpoint answered (tried {}; last: {last})",
                backend.service,
                tried.len()
            ),
        ))
    }

    /// A request another node's router sent here for one of this node's pods.
    pub(super) async fn forwarded(
        &self,
        endpoint: hyper::header::HeaderValue,
        req: Request<Body>,
        start: Instant,
    ) -> Response<Body> {
        let Some(addr) = endpoint
            .to_str()
            .ok()
            .and_then(|s| s.parse::<SocketAddr>().ok())
        else {
            return answer(
                StatusCode::BAD_REQUEST,
                format!("{ENDPOINT_HEADER}: expected IP:PORT"),
            );
        };
        let (method, path) = (req.method().clone(), req.uri().path().to_owned());
        // Only this node's pods: the header may not make the router call anything else
        // this machine listens on.
        if !self.table().is_local_endpoint(addr) {
            let r = not_sent(format!("no ready pod on this node serves {addr}"));
            self.log("forwarded", &method, "", &path, r.status(), start);
            return r;
        }
        // No timeout here: the sending router holds the route's deadline, and drops the
        // connection (and with it this request) when it passes.
        let resp = match self.call_local(addr, req).await {
            Ok(mut r) => {
                // Only this router may say nothing was sent; a pod may not.
                r.headers_mut().remove(NOT_SENT_HEADER);
                r
            }
            Err(Failure::NotSent(why, _)) => not_sent(why),
            Err(Failure::Failed(why)) => answer(StatusCode::BAD_GATEWAY, why),
        };
        self.log("forwarded", &method, "", &path, resp.status(), start);
        resp
    }
}

impl Router {
    /// Calls the pod on this node at `addr`, counting the request in its traffic.
    async fn call_local(
        &self,
        addr: std::net::SocketAddr,
        req: Request<Body>,
    ) -> Result<Response<Body>, Failure> {
        let Some(traffic) = self.traffic_of(addr.ip()) else {
            return self.upstreams.local(addr, req).await;
        };
        let flight = traffic.begin();
        let r = self.upstreams.local(addr, req).await;
        match &r {
            Ok(resp) => flight.answered(resp.status().as_u16()),
            Err(Failure::NotSent(..)) => flight.not_sent(),
            Err(Failure::Failed(_)) => drop(flight),
        }
        r
    }
}

/// The most endpoints one request tries when they refuse it.
const MAX_REFUSED: usize = 16;

/// How long a request every endpoint refused waits for a table with other endpoints: a
/// stopping pod leaves the table within a second or two; one that stays refuses for real.
const REFUSED_HOLD: std::time::Duration = std::time::Duration::from_secs(5);

/// A request no endpoint took, given back.
enum Unsent {
    /// The backend has no endpoint.
    NoEndpoint(Box<Request<Body>>),
    /// Every endpoint tried refused it, as this says.
    Refused(Box<Request<Body>>, String),
}

/// A 503 that tells the sending router nothing reached a workload, so it may try another
/// endpoint.
fn not_sent(why: impl Into<String>) -> Response<Body> {
    let mut r = answer(StatusCode::SERVICE_UNAVAILABLE, why);
    r.headers_mut().insert(
        hyper::header::HeaderName::from_static(NOT_SENT_HEADER),
        hyper::header::HeaderValue::from_static("1"),
    );
    r
}
