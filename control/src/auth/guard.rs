//! The client API as the network sees it: each service wrapped so every call is
//! authorized before the member acts on it. The wrapped services stay unguarded for the
//! member's own controllers, which call them in-process.

use std::sync::Arc;

use skiff_pki::Identity;
use skiff_proto::grpc::api::artifact_service_server::ArtifactService;
use skiff_proto::grpc::api::log_service_server::LogService;
use skiff_proto::grpc::api::object_service_server::ObjectService;
use skiff_proto::grpc::api::*;
use skiff_proto::{Kind, Object};
use tonic::{Request, Response, Status, Streaming};

use super::attributes::{Attributes, verb};
use super::authorizer::{Authorizer, forbidden};
use super::{escalation, node, requester};
use crate::api::objects::{WatchStream, decode, kind};
use crate::api::status;
use crate::api::{ArtifactApi, LogApi, ObjectApi};
use crate::store::key;

/// A service of the client API behind the authorizer.
pub struct Guarded<T> {
    pub inner: Arc<T>,
    pub authz: Authorizer,
}

impl<T> Guarded<T> {
    pub fn new(inner: Arc<T>, authz: Authorizer) -> Self {
        Guarded { inner, authz }
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

impl Guarded<ObjectApi> {
    /// Authorizes a write of `o` with `verb`: RBAC, no escalation, and a node's limits.
    async fn writes(&self, who: &Identity, verb: &str, o: &Object) -> Result<(), Status> {
        self.authz.check(who, &attrs_of(verb, o))?;
        escalation::check(&self.authz, who, o)?;
        if who.node_name().is_some() && o.kind() == Kind::Deployment {
            let current = self.inner.current(&key::of(o)).await?;
            node::activation_only(&current.object, o).map_err(|why| forbidden(who, &why))?;
        }
        Ok(())
    }
}

#[tonic::async_trait]
impl ObjectService for Guarded<ObjectApi> {
    async fn create(&self, r: Request<CreateRequest>) -> Result<Response<CreateResponse>, Status> {
        let who = requester(r.extensions())?.clone();
        let o = decode(&r.into_inner().manifest)?;
        self.writes(&who, verb::CREATE, &o).await?;
        let object = self.inner.create_object(o).await?;
        Ok(Response::new(CreateResponse {
            object: Some(object),
        }))
    }

    async fn update(&self, r: Request<UpdateRequest>) -> Result<Response<UpdateResponse>, Status> {
        let who = requester(r.extensions())?.clone();
        let r = r.into_inner();
        let o = decode(&r.manifest)?;
        self.writes(&who, verb::UPDATE, &o).await?;
        let object = self
            .inner
            .update_object(o, r.expected_resource_version)
            .await?;
        Ok(Response::new(UpdateResponse {
            object: Some(object),
        }))
    }

    async fn apply(&self, r: Request<ApplyRequest>) -> Result<Response<ApplyResponse>, Status> {
        let who = requester(r.extensions())?.clone();
        let r = r.into_inner();
        let o = decode(&r.manifest)?;
        // Apply creates what is missing and patches what exists: it needs the right verb.
        let exists = self
            .inner
            .store
            .state()
            .get(&key::of(&o))
            .map_err(status::store)?
            .is_some();
        let v = if exists { verb::PATCH } else { verb::CREATE };
        self.writes(&who, v, &o).await?;
        Ok(Response::new(self.inner.apply_object(o, r.dry_run).await?))
    }

    async fn get(&self, r: Request<GetRequest>) -> Result<Response<GetResponse>, Status> {
        let who = requester(r.extensions())?;
        self.authz
            .check(who, &attrs_at(verb::GET, &r.get_ref().key)?)?;
        self.inner.get(r).await
    }

    async fn list(&self, r: Request<ListRequest>) -> Result<Response<ListResponse>, Status> {
        let who = requester(r.extensions())?;
        let l = r.get_ref();
        self.authz.check(
            who,
            &Attributes::kind(verb::LIST, kind(&l.kind)?, &l.namespace, ""),
        )?;
        self.inner.list(r).await
    }

    type WatchStream = WatchStream;

    async fn watch(&self, r: Request<WatchRequest>) -> Result<Response<WatchStream>, Status> {
        let who = requester(r.extensions())?;
        let w = r.get_ref();
        self.authz.check(
            who,
            &Attributes::kind(verb::WATCH, kind(&w.kind)?, &w.namespace, ""),
        )?;
        self.inner.watch(r).await
    }

    async fn delete(&self, r: Request<DeleteRequest>) -> Result<Response<DeleteResponse>, Status> {
        let who = requester(r.extensions())?;
        self.authz
            .check(who, &attrs_at(verb::DELETE, &r.get_ref().key)?)?;
        self.inner.delete(r).await
    }

    async fn update_status(
        &self,
        r: Request<UpdateStatusRequest>,
    ) -> Result<Response<UpdateStatusResponse>, Status> {
        let who = requester(r.extensions())?;
        self.authz.check(
            who,
            &attrs_at(verb::UPDATE, &r.get_ref().key)?.subresource("status"),
        )?;
        self.inner.update_status(r).await
    }
}

#[tonic::async_trait]
impl ArtifactService for Guarded<ArtifactApi> {
    async fn stat(
        &self,
        r: Request<StatArtifactRequest>,
    ) -> Result<Response<ArtifactInfo>, Status> {
        let who = requester(r.extensions())?;
        self.authz
            .check(who, &Attributes::artifacts(verb::GET, &r.get_ref().digest))?;
        self.inner.stat(r).await
    }

    async fn upload(
        &self,
        r: Request<Streaming<UploadArtifactRequest>>,
    ) -> Result<Response<UploadArtifactResponse>, Status> {
        let who = requester(r.extensions())?;
        self.authz
            .check(who, &Attributes::artifacts(verb::CREATE, ""))?;
        self.inner.upload(r).await
    }

    type FetchStream = <ArtifactApi as ArtifactService>::FetchStream;

    async fn fetch(
        &self,
        r: Request<FetchArtifactRequest>,
    ) -> Result<Response<Self::FetchStream>, Status> {
        let who = requester(r.extensions())?;
        self.authz
            .check(who, &Attributes::artifacts(verb::GET, &r.get_ref().digest))?;
        self.inner.fetch(r).await
    }
}

#[tonic::async_trait]
impl LogService for Guarded<LogApi> {
    type LogsStream = <LogApi as LogService>::LogsStream;

    async fn logs(&self, r: Request<LogsRequest>) -> Result<Response<Self::LogsStream>, Status> {
        let who = requester(r.extensions())?;
        let l = r.get_ref();
        let a = Attributes::kind(
            verb::GET,
            Kind::Pod,
            namespace_of(Kind::Pod, &l.namespace),
            &l.pod,
        )
        .subresource("log");
        self.authz.check(who, &a)?;
        self.inner.logs(r).await
    }
}
