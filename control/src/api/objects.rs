//! ObjectService on top of the replicated store.

use std::pin::Pin;

use skiff_proto::grpc::api::object_service_server::ObjectService;
use skiff_proto::grpc::api::*;
use skiff_proto::manifest::{self, Source};
use skiff_proto::model::LabelSelector;
use skiff_proto::{Kind, Object};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::status;
use crate::store::{Command, EventType, Op, StoreHandle, key};

/// Serves the object API of one member.
pub struct ObjectApi {
    pub store: StoreHandle,
}

fn envelope(o: &Object, revision: u64) -> Result<ObjectEnvelope, Status> {
    let m = o.metadata();
    Ok(ObjectEnvelope {
        key: Some(ObjectKey {
            kind: o.kind().name().to_owned(),
            namespace: m.namespace.clone(),
            name: m.name.clone(),
        }),
        resource_version: revision,
        json: o
            .to_json()
            .map_err(|e| Status::internal(e.to_string()))?
            .into_bytes(),
    })
}

fn kind(name: &str) -> Result<Kind, Status> {
    Kind::ALL
        .into_iter()
        .find(|k| k.name().eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            Status::invalid_argument(format!(
                "unknown kind {name:?}; kinds: {}",
                Kind::ALL.map(|k| k.name()).join(", ")
            ))
        })
}

fn object_key(k: Option<ObjectKey>) -> Result<String, Status> {
    let k = k.ok_or_else(|| Status::invalid_argument("missing object key"))?;
    Ok(key::make(kind(&k.kind)?, &k.namespace, &k.name))
}

/// Decodes one manifest with the same strict rules as `skiff validate`; a namespaced object
/// without a namespace goes to `default`.
fn decode(manifest: &[u8]) -> Result<Object, Status> {
    let text = std::str::from_utf8(manifest)
        .map_err(|_| Status::invalid_argument("the manifest is not UTF-8"))?;
    let mut o =
        manifest::decode_one(text, &Source::named("<request>")).map_err(|d| status::invalid(&d))?;
    if o.kind().is_namespaced() && o.metadata().namespace.is_empty() {
        o.metadata_mut().namespace = "default".to_owned();
    }
    Ok(o)
}

/// Equality selectors (`app=web,tier=db`); the full syntax comes with the API server work.
fn selector(s: &str) -> Result<Option<LabelSelector>, Status> {
    if s.trim().is_empty() {
        return Ok(None);
    }
    let mut sel = LabelSelector::default();
    for part in s.split(',') {
        let (k, v) = part
            .split_once('=')
            .filter(|(k, _)| !k.ends_with('!'))
            .ok_or_else(|| {
                Status::invalid_argument(format!(
                    "selector {part:?}: only key=value is supported here"
                ))
            })?;
        sel.match_labels
            .insert(k.trim().to_owned(), v.trim().to_owned());
    }
    Ok(Some(sel))
}

impl ObjectApi {
    async fn read_barrier(&self, c: i32) -> Result<(), Status> {
        if c == ReadConsistency::Serializable as i32 {
            return Ok(());
        }
        self.store
            .linearizable()
            .await
            .map(|_| ())
            .map_err(status::write)
    }

    /// Proposes one operation and answers with the object as that write left it (for a
    /// deletion, its last state), at the write's revision.
    async fn write(&self, op: Op) -> Result<ObjectEnvelope, Status> {
        let k = match &op {
            Op::Create(o) | Op::Update { object: o, .. } => key::of(o),
            Op::Delete { key, .. } => key.clone(),
        };
        let written = match &op {
            Op::Create(o) | Op::Update { object: o, .. } => Some(o.clone()),
            Op::Delete { .. } => self
                .store
                .state()
                .get(&k)
                .map_err(status::store)?
                .map(|s| s.object),
        };
        let rev = self
            .store
            .propose(Command { ops: vec![op] })
            .await
            .map_err(status::write)?;
        // Read-your-writes on this member, even for serializable reads.
        self.store.wait_applied(rev).await.map_err(status::write)?;
        match written {
            Some(mut o) => {
                o.metadata_mut().resource_version = Some(rev);
                envelope(&o, rev)
            }
            // Deleted before this member saw it: the deletion's event has its last state.
            None => {
                let events = self
                    .store
                    .state()
                    .events_since(rev.saturating_sub(1))
                    .map_err(status::store)?;
                match events.into_iter().find(|e| e.revision == rev && e.key == k) {
                    Some(e) => envelope(&e.object, rev),
                    None => Err(Status::not_found(format!("{k} not found"))),
                }
            }
        }
    }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchEvent, Status>> + Send>>;

#[tonic::async_trait]
impl ObjectService for ObjectApi {
    async fn create(&self, r: Request<CreateRequest>) -> Result<Response<CreateResponse>, Status> {
        let o = decode(&r.into_inner().manifest)?;
        Ok(Response::new(CreateResponse {
            object: Some(self.write(Op::Create(o)).await?),
        }))
    }

    async fn update(&self, r: Request<UpdateRequest>) -> Result<Response<UpdateResponse>, Status> {
        let r = r.into_inner();
        let o = decode(&r.manifest)?;
        let object = self
            .write(Op::Update {
                object: o,
                expected: r.expected_resource_version,
            })
            .await?;
        Ok(Response::new(UpdateResponse {
            object: Some(object),
        }))
    }

    async fn apply(&self, _: Request<ApplyRequest>) -> Result<Response<ApplyResponse>, Status> {
        Err(Status::unimplemented(
            "apply (create-or-update with admission) is not available yet; use Create and Update",
        ))
    }

    async fn get(&self, r: Request<GetRequest>) -> Result<Response<GetResponse>, Status> {
        let r = r.into_inner();
        let k = object_key(r.key)?;
        self.read_barrier(r.consistency).await?;
        match self.store.state().get(&k).map_err(status::store)? {
            Some(s) => Ok(Response::new(GetResponse {
                object: Some(envelope(&s.object, s.revision)?),
            })),
            None => Err(Status::not_found(format!("{k} not found"))),
        }
    }

    async fn list(&self, r: Request<ListRequest>) -> Result<Response<ListResponse>, Status> {
        let r = r.into_inner();
        let kind = kind(&r.kind)?;
        let sel = selector(&r.label_selector)?;
        if !r.field_selector.is_empty() {
            return Err(Status::invalid_argument(
                "field selectors are not available yet",
            ));
        }
        self.read_barrier(r.consistency).await?;
        let ns = (!r.namespace.is_empty()).then_some(r.namespace.as_str());
        let (items, rev) = self
            .store
            .state()
            .list(kind, ns, sel.as_ref())
            .map_err(status::store)?;
        let items = items
            .iter()
            .map(|s| envelope(&s.object, s.revision))
            .collect::<Result<_, _>>()?;
        Ok(Response::new(ListResponse {
            items,
            resource_version: rev,
        }))
    }

    type WatchStream = WatchStream;

    async fn watch(&self, r: Request<WatchRequest>) -> Result<Response<WatchStream>, Status> {
        let r = r.into_inner();
        let kind = kind(&r.kind)?;
        let sel = selector(&r.label_selector)?;
        let (start, end) = key::range(
            kind,
            (!r.namespace.is_empty()).then_some(r.namespace.as_str()),
        );
        // Fail fast on a compacted revision, before the stream starts.
        self.store
            .state()
            .events_since(r.since_revision)
            .map_err(status::store)?;
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        let store = self.store.clone();
        tokio::spawn(async move {
            let mut last = r.since_revision;
            let mut applied = store.applied_index();
            loop {
                let events = match store.state().events_since(last) {
                    Ok(e) => e,
                    Err(e) => {
                        let _ = tx.send(Err(status::store(e))).await;
                        return;
                    }
                };
                for e in events {
                    last = e.revision;
                    let wanted = e.key >= start
                        && e.key < end
                        && sel
                            .as_ref()
                            .is_none_or(|s| s.matches(&e.object.metadata().labels));
                    if !wanted {
                        continue;
                    }
                    let t = match e.kind {
                        EventType::Added => WatchEventType::Added,
                        EventType::Modified => WatchEventType::Modified,
                        EventType::Deleted => WatchEventType::Deleted,
                    };
                    let ev = envelope(&e.object, e.revision).map(|object| WatchEvent {
                        r#type: t as i32,
                        object: Some(object),
                        revision: e.revision,
                    });
                    if tx.send(ev).await.is_err() {
                        return;
                    }
                }
                // Sleep until something new is applied (or the watcher goes away).
                tokio::select! {
                    changed = applied.wait_for(|&a| a > last) => if changed.is_err() { return },
                    _ = tx.closed() => return,
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn delete(&self, r: Request<DeleteRequest>) -> Result<Response<DeleteResponse>, Status> {
        let r = r.into_inner();
        let k = object_key(r.key)?;
        if r.dry_run {
            return Err(Status::unimplemented("dry runs are not available yet"));
        }
        let object = self
            .write(Op::Delete {
                key: k,
                expected: r.expected_resource_version,
            })
            .await?;
        Ok(Response::new(DeleteResponse {
            object: Some(object),
        }))
    }

    async fn update_status(
        &self,
        _: Request<UpdateStatusRequest>,
    ) -> Result<Response<UpdateStatusResponse>, Status> {
        Err(Status::unimplemented(
            "the status subresource is not available yet",
        ))
    }
}
