//! HTTP filters on routes: every HttpFilter of the cluster is loaded (fetched, compiled,
//! linked) once per node by a [`FilterLoader`], and the filters a rule names run in order
//! on its requests and in reverse on its responses. A filter that is missing, failed to
//! load, or fails a call fails the request with a 5xx that says which and why; other
//! routes are not touched.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use skiff_proto::model::plugin::PluginSpec;

use super::Body;
use super::table::ServiceKey;
use crate::wasm::filter::{self, Action, Filter, FilterCall};

/// How long a request waits for a filter still loading.
const LOAD_WAIT: Duration = Duration::from_secs(10);

/// Loads an HttpFilter's component (the agent's Wasm runtime).
#[tonic::async_trait]
pub trait FilterLoader: Send + Sync {
    /// The filter `name` (`NAMESPACE/NAME`) as `spec` describes it, or why not.
    async fn load(&self, name: &str, spec: &PluginSpec) -> Result<Filter, String>;
}

#[derive(Clone)]
enum Slot {
    Loading,
    Ready(Arc<Filter>),
    Failed(Arc<str>),
}

/// The node's filters, by namespace and name.
#[derive(Default)]
pub struct Filters {
    loader: OnceLock<Arc<dyn FilterLoader>>,
    slots: RwLock<HashMap<ServiceKey, (PluginSpec, Slot)>>,
    /// Bumped whenever a load ends, so waiting requests look again.
    loaded: tokio::sync::watch::Sender<u64>,
}

/// A failed request: its status and reason.
pub type Refusal = (StatusCode, String);

impl Filters {
    /// Sets what loads filters, and loads those already wanted.
    pub fn set_loader(self: &Arc<Self>, l: Arc<dyn FilterLoader>) {
        let _ = self.loader.set(l);
        let waiting: Vec<(ServiceKey, PluginSpec)> = self
            .slots
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(_, (_, s))| matches!(s, Slot::Loading))
            .map(|(k, (spec, _))| (k.clone(), spec.clone()))
            .collect();
        for (key, spec) in waiting {
            self.load(key, spec);
        }
    }

    /// Makes the loaded filters those of `wanted`: new or changed ones are loaded in the
    /// background, removed ones dropped.
    pub fn sync(self: &Arc<Self>, wanted: &HashMap<ServiceKey, PluginSpec>) {
        let mut fresh = Vec::new();
        {
            let mut slots = self.slots.write().unwrap_or_else(|p| p.into_inner());
            slots.retain(|k, _| wanted.contains_key(k));
            for (key, spec) in wanted {
                if !slots.get(key).is_some_and(|(s, _)| s == spec) {
                    slots.insert(key.clone(), (spec.clone(), Slot::Loading));
                    fresh.push((key.clone(), spec.clone()));
                }
            }
        }
        for (key, spec) in fresh {
            self.load(key, spec);
        }
    }

    /// Loads `key` in the background (once there is a loader).
    fn load(self: &Arc<Self>, key: ServiceKey, spec: PluginSpec) {
        let Some(loader) = self.loader.get().cloned() else {
            return;
        };
        let me = self.clone();
        tokio::spawn(async move {
            let slot = match loader.load(&key.to_string(), &spec).await {
                Ok(f) => Slot::Ready(Arc::new(f)),
                Err(why) => {
                    tracing::warn!(filter = %key, error = %why, "router: loading a filter");
                    Slot::Failed(why.into())
                }
            };
            let mut slots = me.slots.write().unwrap_or_else(|p| p.into_inner());
            // Only if the spec is still the one loaded.
            if let Some((s, old)) = slots.get_mut(&key)
                && *s == spec
            {
                *old = slot;
            }
            drop(slots);
            me.loaded.send_modify(|n| *n += 1);
        });
    }

    /// The filter `key`, waiting a while if it is loading.
    async fn get(&self, key: &ServiceKey) -> Result<Arc<Filter>, Refusal> {
        let mut loaded = self.loaded.subscribe();
        let deadline = tokio::time::Instant::now() + LOAD_WAIT;
        loop {
            let slot = self
                .slots
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .get(key)
                .map(|(_, s)| s.clone());
            match slot {
                Some(Slot::Ready(f)) => return Ok(f),
                Some(Slot::Failed(why)) => {
                    return Err((
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!("filter {key} could not be loaded: {why}"),
                    ));
                }
                None => {
                    return Err((
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!(
                            "filter {key} does not exist (see `skiff get httpfilters -n {}`)",
                            key.namespace
                        ),
                    ));
                }
                Some(Slot::Loading) => {
                    if tokio::time::timeout_at(deadline, loaded.changed())
                        .await
                        .is_err()
                    {
                        return Err((
                            StatusCode::SERVICE_UNAVAILABLE,
                            format!("filter {key} is still loading"),
                        ));
                    }
                }
            }
        }
    }

    /// Runs `names` in order on `req`: the calls to finish with the response, or the
    /// answer a filter made (or why one failed).
    pub async fn before(
        &self,
        names: &[ServiceKey],
        req: &mut Request<Body>,
        authority: &str,
    ) -> Result<Vec<FilterCall>, Response<Body>> {
        let mut calls = Vec::with_capacity(names.len());
        for key in names {
            let f = self.get(key).await.map_err(refused)?;
            let (action, call) = f
                .on_request(head(req, authority))
                .await
                .map_err(|why| refused((StatusCode::INTERNAL_SERVER_ERROR, why)))?;
            match action {
                Action::Pass => {}
                Action::Modify(c) => modify(req, c).map_err(|why| {
                    refused((
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!("filter {key}: {why}"),
                    ))
                })?,
                Action::Respond(r) => {
                    return Err(response(r).unwrap_or_else(|why| {
                        refused((
                            StatusCode::INTERNAL_SERVER_ERROR,
                            format!("filter {key}: {why}"),
                        ))
                    }));
                }
            }
            calls.push(call);
        }
        Ok(calls)
    }
}

/// Runs `calls`' response hooks, last filter first, on `resp`.
pub async fn after(calls: Vec<FilterCall>, mut resp: Response<Body>) -> Response<Body> {
    for call in calls.into_iter().rev() {
        let headers = fields(resp.headers());
        let changes = match call.on_response(resp.status().as_u16(), headers).await {
            Ok(c) => c,
            Err(why) => return refused((StatusCode::BAD_GATEWAY, why)),
        };
        if let Some(s) = changes.status {
            match StatusCode::from_u16(s) {
                Ok(s) => *resp.status_mut() = s,
                Err(_) => {
                    return refused((
                        StatusCode::BAD_GATEWAY,
                        format!("a filter set the invalid status {s}"),
                    ));
                }
            }
        }
        if let Err(why) = edit(
            resp.headers_mut(),
            changes.set_headers,
            changes.remove_headers,
        ) {
            return refused((StatusCode::BAD_GATEWAY, why));
        }
    }
    resp
}

fn refused((status, why): Refusal) -> Response<Body> {
    super::answer(status, why)
}

fn fields(h: &hyper::HeaderMap) -> Vec<(String, Vec<u8>)> {
    h.iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
        .collect()
}

/// The request head a filter sees.
fn head(req: &Request<Body>, authority: &str) -> filter::Request {
    filter::Request {
        method: req.method().as_str().to_owned(),
        path: req
            .uri()
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned()),
        authority: authority.to_owned(),
        headers: fields(req.headers()),
    }
}

/// Sets and removes headers as a filter asked.
fn edit(
    h: &mut hyper::HeaderMap,
    set: Vec<(String, Vec<u8>)>,
    remove: Vec<String>,
) -> Result<(), String> {
    for name in remove {
        if let Ok(n) = HeaderName::from_bytes(name.as_bytes()) {
            h.remove(n);
        }
    }
    for (name, value) in set {
        let n = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("a filter set the invalid header name {name:?}"))?;
        let v = HeaderValue::from_bytes(&value)
            .map_err(|_| format!("a filter set an invalid value for header {name:?}"))?;
        h.insert(n, v);
    }
    Ok(())
}

fn modify(req: &mut Request<Body>, c: filter::RequestChanges) -> Result<(), String> {
    if let Some(path) = c.path {
        let pq = path
            .parse::<hyper::http::uri::PathAndQuery>()
            .map_err(|_| format!("the path {path:?} it set is not a valid path"))?;
        if !pq.path().starts_with('/') {
            return Err(format!("the path {path:?} it set does not start with '/'"));
        }
        let mut parts = req.uri().clone().into_parts();
        parts.path_and_query = Some(pq);
        *req.uri_mut() = hyper::Uri::from_parts(parts).map_err(|e| e.to_string())?;
    }
    edit(req.headers_mut(), c.set_headers, c.remove_headers)
}

/// The answer a filter made.
fn response(r: filter::Response) -> Result<Response<Body>, String> {
    let status = StatusCode::from_u16(r.status)
        .map_err(|_| format!("it answered with the invalid status {}", r.status))?;
    let mut resp = Response::new(
        Full::new(Bytes::from(r.body))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *resp.status_mut() = status;
    edit(resp.headers_mut(), r.headers, Vec::new())?;
    Ok(resp)
}
