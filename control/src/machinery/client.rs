//! The API as controllers call it: in the member's own process, through the same
//! ObjectService methods (and so the same validation, defaults, admission, events and
//! cascades) as a remote client, without a socket.

use std::sync::Arc;

use skiff_proto::grpc::api::object_service_server::ObjectService;
use skiff_proto::grpc::api::*;
use skiff_proto::manifest::{self, Source};
use skiff_proto::{Kind, Object};
use tonic::{Request, Status};

use super::cache::Cache;
use super::recorder::Recorder;
use crate::api::ObjectApi;
use crate::store::Stored;
use skiff_proto::model::event::EventType;
use skiff_proto::model::meta::ObjectMeta;

/// The field manager of the controllers' writes (Kubernetes': `kube-controller-manager`).
pub const MANAGER: &str = "skiff-controller-manager";

/// A client of the member's own API (cheap to clone).
#[derive(Clone)]
pub struct Client {
    api: Arc<ObjectApi>,
    /// Writes the controllers' events in the background.
    recorder: Recorder,
    /// When set, every write returns only once this cache has it, so the next reconcile
    /// never acts on a view without its own last write (client-go's "expectations").
    cache: Option<Cache>,
}

fn to_json(o: &Object) -> Result<Vec<u8>, Status> {
    o.to_json()
        .map(String::into_bytes)
        .map_err(|e| Status::internal(format!("encoding {}: {e}", o.display_name())))
}

fn stored(env: Option<ObjectEnvelope>) -> Result<Stored, Status> {
    let env = env.ok_or_else(|| Status::internal("the API answered without an object"))?;
    let text = std::str::from_utf8(&env.json)
        .map_err(|_| Status::internal("the API answered with an object that is not UTF-8"))?;
    let object = manifest::decode_one(text, &Source::named("<api>"))
        .map_err(|d| Status::internal(format!("the API answered with a bad object: {d}")))?;
    Ok(Stored {
        revision: env.resource_version,
        object,
    })
}

fn object_key(kind: Kind, namespace: &str, name: &str) -> ObjectKey {
    ObjectKey {
        kind: kind.name().to_owned(),
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    }
}

impl Client {
    /// A client of `api`; its event writer runs in the current runtime.
    pub fn new(api: Arc<ObjectApi>) -> Client {
        let recorder = Recorder::spawn(api.store.clone());
        Client {
            api,
            recorder,
            cache: None,
        }
    }

    /// Records an event about the object of `kind` with metadata `about`, in the
    /// background (see [`Recorder`]).
    pub fn event(
        &self,
        component: &'static str,
        kind: Kind,
        about: &ObjectMeta,
        type_: EventType,
        reason: &str,
        message: String,
    ) {
        self.recorder.event(
            component,
            crate::api::About::meta(kind, about),
            type_,
            reason,
            message,
        );
    }

    /// The same client, with writes that wait for `cache` to see them.
    pub fn with_cache(&self, cache: &Cache) -> Client {
        Client {
            api: self.api.clone(),
            recorder: self.recorder.clone(),
            cache: Some(cache.clone()),
        }
    }

    async fn seen(&self, s: Stored) -> Stored {
        if let Some(c) = &self.cache {
            c.caught_up(s.revision).await;
        }
        s
    }

    pub async fn create(&self, o: &Object) -> Result<Stored, Status> {
        let r = self
            .api
            .create(Request::new(CreateRequest {
                manifest: to_json(o)?,
                field_manager: MANAGER.into(),
                dry_run: false,
            }))
            .await?;
        Ok(self.seen(stored(r.into_inner().object)?).await)
    }

    /// Creates all of `objects` in one transaction (all or none).
    pub async fn create_all(&self, objects: Vec<Object>) -> Result<Vec<Object>, Status> {
        let (made, rev) = self.api.create_all(objects).await?;
        if let Some(c) = &self.cache {
            c.caught_up(rev).await;
        }
        Ok(made)
    }

    /// Replaces the object's desired state if it is still at `expected`. Fields it changes
    /// become the controllers' ([`MANAGER`]), where fields are managed.
    pub async fn update(&self, o: &Object, expected: u64) -> Result<Stored, Status> {
        let r = self
            .api
            .update(Request::new(UpdateRequest {
                manifest: to_json(o)?,
                expected_resource_version: Some(expected),
                field_manager: MANAGER.into(),
                dry_run: false,
            }))
            .await?;
        Ok(self.seen(stored(r.into_inner().object)?).await)
    }

    /// Writes `o`'s status (the status subresource) if it is still at `expected`.
    pub async fn update_status(&self, o: &Object, expected: u64) -> Result<Stored, Status> {
        let mut doc = serde_json::to_value(o).map_err(|e| Status::internal(e.to_string()))?;
        let status = doc
            .get_mut("status")
            .map(serde_json::Value::take)
            .unwrap_or_default();
        let m = o.metadata();
        let r = self
            .api
            .update_status(Request::new(UpdateStatusRequest {
                key: Some(object_key(o.kind(), &m.namespace, &m.name)),
                expected_resource_version: expected,
                status_json: status.to_string().into_bytes(),
            }))
            .await?;
        Ok(self.seen(stored(r.into_inner().object)?).await)
    }

    /// Deletes an object (at `expected`, when given) with its dependents in the background.
    pub async fn delete(
        &self,
        kind: Kind,
        namespace: &str,
        name: &str,
        expected: Option<u64>,
    ) -> Result<(), Status> {
        let r = self
            .api
            .delete(Request::new(DeleteRequest {
                key: Some(object_key(kind, namespace, name)),
                expected_resource_version: expected,
                propagation: DeletePropagation::Background as i32,
                dry_run: false,
            }))
            .await?;
        if let (Some(c), Some(o)) = (&self.cache, r.into_inner().object) {
            c.caught_up(o.resource_version).await;
        }
        Ok(())
    }
}

/// Whether a failed write only lost a race (or its object went meanwhile): the next
/// reconcile, from a fresher cache, decides again.
pub fn stale(e: &Status) -> bool {
    matches!(
        e.code(),
        tonic::Code::Aborted | tonic::Code::NotFound | tonic::Code::AlreadyExists
    )
}
