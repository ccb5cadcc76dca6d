//! The client API as the network sees it: each service wrapped so every call is
//! authorized before the member acts on it. The wrapped services stay unguarded for the
//! member's own controllers, which call them in-process.

use std::sync::Arc;

use skiff_pki::Identity;
use skiff_proto::grpc::api::artifact_service_server::ArtifactService;
use skiff_proto::grpc::api::log_service_server::LogService;
use skiff_proto::grpc::api::metrics_service_server::MetricsService;
use skiff_proto::grpc::api::object_service_server::ObjectService;
use skiff_proto::grpc::api::*;
use skiff_proto::{Kind, Object};
use tonic::{Request, Response, Status, Streaming};

use super::attributes::{Attributes, verb};
use super::audit::{Audit, Origin};
use super::authorizer::{Authorizer, forbidden};
use super::{escalation, node, requester};
use crate::api::metrics::{ApiMetrics, Call};
use crate::api::objects::{WatchStream, configuration, decode, kind, writer};
use crate::api::{ArtifactApi, LogApi, ObjectApi};
use crate::store::key;
use crate::usage::api::MetricsApi;
use skiff_proto::model::namespace::POD_SECURITY_AUDIT;

/// A service of the client API behind the authorizer, with every call audited.
pub struct Guarded<T> {
    pub inner: Arc<T>,
    pub authz: Authorizer,
    pub audit: Audit,
    /// Requests by verb, resource and code, and their latency.
    pub metrics: ApiMetrics,
}

impl<T> Guarded<T> {
    pub fn new(inner: Arc<T>, authz: Authorizer, audit: Audit) -> Self {
        Guarded {
            inner,
            authz,
            audit,
            metrics: ApiMetrics::default(),
        }
    }

    /// Counts calls into `m` (the member's registered series).
    pub fn measured(mut self, m: ApiMetrics) -> Self {
        self.metrics = m;
        self
    }

    /// Authorizes `a` for `who`, runs `body` if allowed, and audits the call (with
    /// `extra` annotations).
    async fn run<R>(
        &self,
        who: &Identity,
        from: &Origin,
        a: &Attributes,
        extra: &[(&'static str, String)],
        body: impl std::future::Future<Output = Result<R, Status>>,
    ) -> Result<R, Status> {
        let started = std::time::Instant::now();
        let d = match self.authz.decide(who, a) {
            Ok(d) => d,
            Err(e) => {
                self.audit.record(who, from, a, None, Err(&e), extra);
                self.measure(a, Err(&e), started);
                return Err(e);
            }
        };
        let result = if d.allowed {
            // Admission policies see who writes.
            crate::api::policies::WRITER
                .scope(who.user.clone(), body)
                .await
        } else {
            Err(Authorizer::refusal(who, a, &d))
        };
        self.audit.record(
            who,
            from,
            a,
            Some((d.allowed, &d.reason)),
            result.as_ref().map(|_| ()),
            extra,
        );
        self.measure(a, result.as_ref().map(|_| ()), started);
        result
    }

    fn measure(&self, a: &Attributes, result: Result<(), &Status>, started: std::time::Instant) {
        let code = match result {
            Ok(()) => 200,
            Err(s) => crate::rest::code_and_reason(s.code()).0,
        };
        let call = Call {
            verb: &a.verb,
            group: &a.group,
            resource: &a.resource,
            subresource: &a.subresource,
        };
        self.metrics.request(&call, code, started.elapsed());
    }
}

/// The namespace a namespaced object without one goes to.
fn namespace_of(kind: Kind, ns: &str) -> &str {
    if kind.is_namespaced() && ns.is_empty() {
        "default"
    } else {
        ns
    }
}

fn attrs_of(verb: &str, o: &Object) -> Attributes {
    let m = o.metadata();
    Attributes::kind(
        verb,
        o.kind(),
        namespace_of(o.kind(), &m.namespace),
        &m.name,
    )
}

fn attrs_at(verb: &str, k: &Option<ObjectKey>) -> Result<Attributes, Status> {
    let k = k
        .as_ref()
        .ok_or_else(|| Status::invalid_argument("missing object key"))?;
    let kind = kind(&k.kind)?;
    Ok(Attributes::kind(
        verb,
        kind,
        namespace_of(kind, &k.namespace),
        &k.name,
    ))
}

/// `r` with Kubernetes-style `warning` headers.
fn warned<T>(mut r: Response<T>, warnings: Vec<String>) -> Response<T> {
    for w in warnings {
        if let Ok(v) = w.parse() {
            r.metadata_mut().append("warning", v);
        }
    }
    r
}

impl Guarded<ObjectApi> {
    /// Checks past RBAC for a write of `o`: no escalation, and a node's limits.
    async fn admits(&self, who: &Identity, o: &Object) -> Result<(), Status> {
        escalation::check(&self.authz, who, o)?;
        if who.node_name().is_some() && o.kind() == Kind::Deployment {
            let current = self.inner.current(&key::of(o)).await?;
            node::activation_only(&current.object, o).map_err(|why| forbidden(who, &why))?;
        }
        Ok(())
    }

    /// A call on the scale subresource of `key`'s object, authorised as `verb` on
    /// `RESOURCE/scale` and audited. Kubernetes' rule: a role may scale what it may not
    /// otherwise change (a role that may update the whole object can still set its
    /// replicas that way, but not through this endpoint).
    /// `body` works on the unguarded API; its write goes through [`Self::admitted_update`].
    pub(crate) async fn on_scale<R>(
        &self,
        who: &Identity,
        from: &Origin,
        verb: &str,
        key: &Option<ObjectKey>,
        body: impl std::future::Future<Output = Result<R, Status>>,
    ) -> Result<R, Status> {
        let a = attrs_at(verb, key)?.subresource("scale");
        self.run(who, from, &a, &[], body).await
    }

    /// An update the caller authorised already (a scale): what `update` checks beyond the
    /// authorizer (escalation, a node's activation-only writes), then the write.
    pub(crate) async fn admitted_update(
        &self,
        who: &Identity,
        o: Object,
        expected: Option<u64>,
        how: &crate::api::objects::Writer,
    ) -> Result<ObjectEnvelope, Status> {
        self.admits(who, &o).await?;
        self.inner.update_object(o, expected, how).await
    }

    /// Pod Security's `audit` level: what it would refuse in `o`, for the audit log.
    fn audited_violations(&self, o: &Object) -> Vec<(&'static str, String)> {
        match self.inner.pod_security_violations(o, POD_SECURITY_AUDIT) {
            Ok(Some(v)) => vec![("pod-security.kubernetes.io/audit-violations", v)],
            _ => Vec::new(),
        }
    }
}

#[tonic::async_trait]
impl ObjectService for Guarded<ObjectApi> {
    async fn create(&self, r: Request<CreateRequest>) -> Result<Response<CreateResponse>, Status> {
        let (who, from) = (requester(r.extensions())?.clone(), Origin::of(&r));
        let r = r.into_inner();
        let o = decode(&r.manifest)?;
        let how = writer(r.field_manager, r.dry_run, false);
        let extra = self.audited_violations(&o);
        self.run(&who, &from, &attrs_of(verb::CREATE, &o), &extra, async {
            self.admits(&who, &o).await?;
            let warnings = self.inner.pod_security_warnings(&o)?;
            let object = self.inner.create_object(o.clone(), &how).await?;
            Ok(warned(
                Response::new(CreateResponse {
                    object: Some(object),
                }),
                warnings,
            ))
        })
        .await
    }

    async fn update(&self, r: Request<UpdateRequest>) -> Result<Response<UpdateResponse>, Status> {
        let (who, from) = (requester(r.extensions())?.clone(), Origin::of(&r));
        let r = r.into_inner();
        let o = decode(&r.manifest)?;
        let how = writer(r.field_manager.clone(), r.dry_run, false);
        let extra = self.audited_violations(&o);
        self.run(&who, &from, &attrs_of(verb::UPDATE, &o), &extra, async {
            self.admits(&who, &o).await?;
            let warnings = self.inner.pod_security_warnings(&o)?;
            let object = self
                .inner
                .update_object(o.clone(), r.expected_resource_version, &how)
                .await?;
            Ok(warned(
                Response::new(UpdateResponse {
                    object: Some(object),
                }),
                warnings,
            ))
        })
        .await
    }

    async fn apply(&self, r: Request<ApplyRequest>) -> Result<Response<ApplyResponse>, Status> {
        let (who, from) = (requester(r.extensions())?.clone(), Origin::of(&r));
        let r = r.into_inner();
        let (config, k) = configuration(&r.manifest)?;
        let how = writer(r.field_manager.clone(), r.dry_run, r.force);
        // The checks see the object as the apply would leave it, and the apply starts
        // from the same plan.
        let preview = self.inner.apply_preview(&config, &k, &how)?;
        // Apply creates what is missing and patches what exists: it needs the right verb.
        let v = if preview.exists() {
            verb::PATCH
        } else {
            verb::CREATE
        };
        let attrs = attrs_of(v, preview.object());
        let extra = self.audited_violations(preview.object());
        self.run(&who, &from, &attrs, &extra, async {
            self.admits(&who, preview.object()).await?;
            let warnings = self.inner.pod_security_warnings(preview.object())?;
            let applied = self
                .inner
                .apply_object(&config, &k, &how, Some(preview))
                .await?;
            Ok(warned(Response::new(applied), warnings))
        })
        .await
    }

    async fn get(&self, r: Request<GetRequest>) -> Result<Response<GetResponse>, Status> {
        let (who, from) = (requester(r.extensions())?.clone(), Origin::of(&r));
        let a = attrs_at(verb::GET, &r.get_ref().key)?;
        self.run(&who, &from, &a, &[], self.inner.get(r)).await
    }

    async fn list(&self, r: Request<ListRequest>) -> Result<Response<ListResponse>, Status> {
        let (who, from) = (requester(r.extensions())?.clone(), Origin::of(&r));
        let l = r.get_ref();
        let a = Attributes::kind(verb::LIST, kind(&l.kind)?, &l.namespace, "");
        self.run(&who, &from, &a, &[], self.inner.list(r)).await
    }

    type WatchStream = WatchStream;

    async fn watch(&self, r: Request<WatchRequest>) -> Result<Response<WatchStream>, Status> {
        let (who, from) = (requester(r.extensions())?.clone(), Origin::of(&r));
        let w = r.get_ref();
        let kind = kind(&w.kind)?;
        let a = Attributes::kind(verb::WATCH, kind, &w.namespace, "");
        let open = self.metrics.watching(kind.resource());
        let stream = self.run(&who, &from, &a, &[], self.inner.watch(r)).await?;
        // The stream counts as open until it is dropped.
        Ok(stream.map(|s| -> WatchStream {
            Box::pin(tokio_stream::StreamExt::map(s, move |e| {
                let _open = &open;
                e
            }))
        }))
    }

    async fn delete(&self, r: Request<DeleteRequest>) -> Result<Response<DeleteResponse>, Status> {
        let (who, from) = (requester(r.extensions())?.clone(), Origin::of(&r));
        let a = attrs_at(verb::DELETE, &r.get_ref().key)?;
        self.run(&who, &from, &a, &[], self.inner.delete(r)).await
    }

    async fn update_status(
        &self,
        r: Request<UpdateStatusRequest>,
    ) -> Result<Response<UpdateStatusResponse>, Status> {
        let (who, from) = (requester(r.extensions())?.clone(), Origin::of(&r));
        let a = attrs_at(verb::UPDATE, &r.get_ref().key)?.subresource("status");
        self.run(&who, &from, &a, &[], self.inner.update_status(r))
            .await
    }
}

#[tonic::async_trait]
impl ArtifactService for Guarded<ArtifactApi> {
    async fn stat(
        &self,
        r: Request<StatArtifactRequest>,
    ) -> Result<Response<ArtifactInfo>, Status> {
        let (who, from) = (requester(r.extensions())?.clone(), Origin::of(&r));
        let a = Attributes::artifacts(verb::GET, &r.get_ref().digest);
        self.run(&who, &from, &a, &[], self.inner.stat(r)).await
    }

    async fn upload(
        &self,
        r: Request<Streaming<UploadArtifactRequest>>,
    ) -> Result<Response<UploadArtifactResponse>, Status> {
        let (who, from) = (requester(r.extensions())?.clone(), Origin::of(&r));
        let a = Attributes::artifacts(verb::CREATE, "");
        self.run(&who, &from, &a, &[], self.inner.upload(r)).await
    }

    type FetchStream = <ArtifactApi as ArtifactService>::FetchStream;

    async fn fetch(
        &self,
        r: Request<FetchArtifactRequest>,
    ) -> Result<Response<Self::FetchStream>, Status> {
        let (who, from) = (requester(r.extensions())?.clone(), Origin::of(&r));
        let a = Attributes::artifacts(verb::GET, &r.get_ref().digest);
        self.run(&who, &from, &a, &[], self.inner.fetch(r)).await
    }
}

#[tonic::async_trait]
impl LogService for Guarded<LogApi> {
    type LogsStream = <LogApi as LogService>::LogsStream;

    async fn logs(&self, r: Request<LogsRequest>) -> Result<Response<Self::LogsStream>, Status> {
        let (who, from) = (requester(r.extensions())?.clone(), Origin::of(&r));
        let l = r.get_ref();
        let a = Attributes::kind(
            verb::GET,
            Kind::Pod,
            namespace_of(Kind::Pod, &l.namespace),
            &l.pod,
        )
        .subresource("log");
        self.run(&who, &from, &a, &[], self.inner.logs(r)).await
    }
}

#[tonic::async_trait]
impl MetricsService for Guarded<MetricsApi> {
    async fn pod_metrics(
        &self,
        r: Request<PodMetricsRequest>,
    ) -> Result<Response<PodMetricsResponse>, Status> {
        let (who, from) = (requester(r.extensions())?.clone(), Origin::of(&r));
        let a = Attributes::metrics(verb::LIST, "pods", &r.get_ref().namespace);
        self.run(&who, &from, &a, &[], self.inner.pod_metrics(r))
            .await
    }

    async fn node_metrics(
        &self,
        r: Request<NodeMetricsRequest>,
    ) -> Result<Response<NodeMetricsResponse>, Status> {
        let (who, from) = (requester(r.extensions())?.clone(), Origin::of(&r));
        let a = Attributes::metrics(verb::LIST, "nodes", "");
        // The sums of pods' requests are read from every pod: only for a caller who may
        // list them all (as `kubectl describe node` needs); others get the usage alone.
        let mut r = r;
        if r.get_ref().with_requests {
            let pods = Attributes::kind(verb::LIST, Kind::Pod, "", "");
            let allowed = self.authz.decide(&who, &pods).is_ok_and(|d| d.allowed);
            r.get_mut().with_requests = allowed;
        }
        self.run(&who, &from, &a, &[], self.inner.node_metrics(r))
            .await
    }

    /// A route's figures are its pods' traffic: the right to read those (`kubectl top
    /// pods`) reads them.
    async fn route_metrics(
        &self,
        r: Request<RouteMetricsRequest>,
    ) -> Result<Response<RouteMetricsResponse>, Status> {
        let (who, from) = (requester(r.extensions())?.clone(), Origin::of(&r));
        let a = Attributes::metrics(verb::LIST, "pods", &r.get_ref().namespace);
        self.run(&who, &from, &a, &[], self.inner.route_metrics(r))
            .await
    }
}
