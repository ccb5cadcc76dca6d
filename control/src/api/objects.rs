//! ObjectService on top of the replicated store.

use std::pin::Pin;

use serde_json::Value;
use skiff_proto::grpc::api::object_service_server::ObjectService;
use skiff_proto::grpc::api::*;
use skiff_proto::manifest::{self, Source};
use skiff_proto::model::values::Time;
use skiff_proto::model::{LabelSelector, ManagedFields, ManagedFieldsEntry};
use skiff_proto::{Kind, Object};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Request, Response, Status};

use super::apply::{self as plan, Plan};
use super::fields::FieldSelector;
use super::pages::Continue;
use super::watch::{self, Filter, Hub};
use super::writes::{APPLY_ATTEMPTS, lost_race, status_object};
use super::{admission, managed, status};
use crate::store::{StoreHandle, key};

/// The largest manifest a write accepts.
pub const MAX_OBJECT_BYTES: usize = 1 << 20;

/// Serves the object API of one member.
pub struct ObjectApi {
    pub store: StoreHandle,
    /// The Pod Security level of namespaces without the enforce label.
    pub(super) pod_security_default: super::podsecurity::Level,
    /// Changes read once for every watch.
    hub: Hub,
    /// Runs WasmAdmissionPolicies (see `policies`).
    pub(super) policy_runner: Option<std::sync::Arc<dyn super::policies::PolicyRunner>>,
    /// Every WasmAdmissionPolicy, and the store's change stamp of the kind when read.
    pub(super) policy_cache: super::policies::PolicyCache,
}

impl ObjectApi {
    /// The API over `store`; starts the member's watch hub (call within tokio).
    pub fn new(store: StoreHandle) -> Self {
        ObjectApi {
            hub: Hub::start(store.clone()),
            store,
            pod_security_default: super::podsecurity::Level::Baseline,
            policy_runner: None,
            policy_cache: Default::default(),
        }
    }

    /// The same API with another level for namespaces that set none.
    pub fn with_pod_security_default(mut self, level: super::podsecurity::Level) -> Self {
        self.pod_security_default = level;
        self
    }

    /// The API with a watch hub that keeps only `backlog` batches for a slow watch.
    #[cfg(test)]
    pub(super) fn with_hub_backlog(store: StoreHandle, backlog: usize) -> Self {
        ObjectApi {
            hub: Hub::with_backlog(store.clone(), backlog),
            store,
            pod_security_default: super::podsecurity::Level::Baseline,
            policy_runner: None,
            policy_cache: Default::default(),
        }
    }
}

pub(super) fn envelope(o: &Object, revision: u64) -> Result<ObjectEnvelope, Status> {
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

pub(crate) fn kind(name: &str) -> Result<Kind, Status> {
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

pub(super) fn object_key(k: Option<ObjectKey>) -> Result<String, Status> {
    let k = k.ok_or_else(|| Status::invalid_argument("missing object key"))?;
    Ok(key::make(kind(&k.kind)?, &k.namespace, &k.name))
}

/// Decodes one manifest with the same strict rules as `skiff validate`, then fills in the
/// defaults (see `admission`).
pub(crate) fn decode(manifest: &[u8]) -> Result<Object, Status> {
    admit(decode_raw(manifest)?)
}

/// Decodes one manifest as written (no defaults); any `managedFields` it carries are
/// dropped: they are the server's to keep.
pub(crate) fn decode_raw(manifest: &[u8]) -> Result<Object, Status> {
    if manifest.len() > MAX_OBJECT_BYTES {
        return Err(Status::invalid_argument(format!(
            "the object is {} bytes; the limit is {MAX_OBJECT_BYTES} (1 MiB, as etcd's request limit keeps Kubernetes objects small); hint: keep large data out of the object, e.g. in an artifact or a volume",
            manifest.len()
        )));
    }
    let text = std::str::from_utf8(manifest)
        .map_err(|_| Status::invalid_argument("the manifest is not UTF-8"))?;
    let mut o =
        manifest::decode_one(text, &Source::named("<request>")).map_err(|d| status::invalid(&d))?;
    o.metadata_mut().managed_fields.clear();
    Ok(o)
}

/// `o` with its defaults, checked for what no one may write.
pub(crate) fn admit(mut o: Object) -> Result<Object, Status> {
    admission::default(&mut o);
    admission::no_local_files(&o)?;
    admission::own_namespace_backends(&o)?;
    Ok(o)
}

/// Who writes, for `metadata.managedFields` (empty: `skiff`), and whether only to see
/// what would be written.
#[derive(Debug, Clone, Default)]
pub(crate) struct Writer {
    pub manager: String,
    pub dry_run: bool,
    /// Server-side apply only: take fields other managers own.
    pub force: bool,
}

impl Writer {
    pub(super) fn manager(&self) -> &str {
        if self.manager.is_empty() {
            "skiff"
        } else {
            &self.manager
        }
    }
}

/// Who owns which fields of a stored object. They are the server's own writing, so one
/// that does not parse is a fault of this store, not of the client.
pub(super) fn owners(o: &Object) -> Result<Vec<ManagedFieldsEntry>, Status> {
    o.metadata().managed_fields.entries().map_err(|e| {
        Status::internal(format!(
            "the managed fields of {} do not read: {e}",
            key::of(o)
        ))
    })
}

/// An object as JSON, as field ownership reads it (no resourceVersion: it is the
/// write's, not a field).
pub(super) fn as_json(o: &Object) -> Result<serde_json::Value, Status> {
    let mut v = serde_json::to_value(o).map_err(|e| Status::internal(e.to_string()))?;
    if let Some(m) = v
        .get_mut("metadata")
        .and_then(serde_json::Value::as_object_mut)
    {
        m.remove("resourceVersion");
        m.remove("managedFields");
    }
    Ok(v)
}

/// Server-side apply refused: the fields other managers own, as Kubernetes words it.
pub(super) fn conflicts(found: &[managed::Conflict]) -> Status {
    let list: Vec<String> = found
        .iter()
        .map(|c| format!("{}: {}", managed::conflict_message(c), c.field))
        .collect();
    let n = found.len();
    let message = format!(
        "Apply failed with {n} conflict{}: {}; leave the fields out of your configuration, or apply with force (kubectl: --force-conflicts) to take them",
        if n == 1 { "" } else { "s" },
        list.join("; ")
    );
    let details = ErrorDetails {
        errors: found
            .iter()
            .map(|c| FieldError {
                path: c.field.clone(),
                message: managed::conflict_message(c),
                ..Default::default()
            })
            .collect(),
    };
    use prost::Message as _;
    Status::with_details(
        Code::FailedPrecondition,
        message,
        details.encode_to_vec().into(),
    )
}

/// A label selector in Kubernetes' text form; `None` when empty.
pub(crate) fn selector(s: &str) -> Result<Option<LabelSelector>, Status> {
    if s.trim().is_empty() {
        return Ok(None);
    }
    LabelSelector::parse(s)
        .map(Some)
        .map_err(Status::invalid_argument)
}

pub(crate) type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchEvent, Status>> + Send>>;

impl ObjectApi {
    /// Creates `o` (decoded and defaulted).
    pub(crate) async fn create_object(
        &self,
        o: Object,
        how: &Writer,
    ) -> Result<ObjectEnvelope, Status> {
        let plan = Plan::Create(plan::created(o, &Time::now()));
        if how.dry_run {
            return self.check(None, plan).await;
        }
        Ok(self.commit(None, plan).await?.0)
    }

    /// Replaces the object `o` names; a compare-and-swap with `expected`. Fields it
    /// changes move to its writer, when the object's fields are managed.
    pub(crate) async fn update_object(
        &self,
        mut o: Object,
        expected: Option<u64>,
        how: &Writer,
    ) -> Result<ObjectEnvelope, Status> {
        let current = self.current(&key::of(&o)).await?;
        let owned = owners(&current.object)?;
        if !owned.is_empty() {
            let api_version = o.kind().info().api_version;
            let (old, new) = (as_json(&current.object)?, as_json(&o)?);
            let entries =
                managed::update(&old, &new, &owned, how.manager(), api_version, Time::now());
            o.metadata_mut().managed_fields = ManagedFields::from_entries(&entries);
        }
        let plan = plan::update(&current, o, expected);
        if how.dry_run {
            return self.check(Some(&current), plan).await;
        }
        Ok(self.commit(Some(&current), plan).await?.0)
    }
}

/// An apply's configuration as the client wrote it, as JSON (`null`s and the server's
/// `managedFields` left out; it may name only the fields its manager wants), and the key
/// of the object it names. Checked in full once merged (see `apply_object`).
pub(crate) fn configuration(manifest: &[u8]) -> Result<(Value, String), Status> {
    if manifest.len() > MAX_OBJECT_BYTES {
        return Err(Status::invalid_argument(format!(
            "the configuration is {} bytes; the limit is {MAX_OBJECT_BYTES} (1 MiB)",
            manifest.len()
        )));
    }
    let text = std::str::from_utf8(manifest)
        .map_err(|_| Status::invalid_argument("the manifest is not UTF-8"))?;
    // What does not parse, or names no kind, gets the manifest decoder's diagnostics.
    let diagnosed = |fallback: Status| match decode_raw(manifest) {
        Err(e) => e,
        Ok(_) => fallback,
    };
    // JSON is read as JSON (no trailing commas), anything else as YAML (no duplicate keys).
    let parsed: Result<Value, String> = if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| e.to_string())
    } else {
        serde_saphyr::from_str(text).map_err(|e| e.to_string())
    };
    let mut v = parsed.map_err(|e| {
        diagnosed(Status::invalid_argument(format!(
            "the configuration is not one YAML or JSON document: {e}"
        )))
    })?;
    drop_nulls(&mut v);
    let Some(top) = v.as_object_mut() else {
        let not = Status::invalid_argument("the configuration is not an object");
        return Err(diagnosed(not));
    };
    if let Some(m) = top.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
    let word = v["kind"].as_str().unwrap_or_default();
    let Some(kind) = Kind::lookup(word).filter(|k| k.name() == word) else {
        return Err(diagnosed(Status::invalid_argument(format!(
            "kind {word:?} is not one Skiff serves; kinds: {}",
            Kind::ALL.map(|k| k.name()).join(", ")
        ))));
    };
    let name = v["metadata"]["name"].as_str().unwrap_or_default();
    if name.is_empty() {
        return Err(diagnosed(Status::invalid_argument(
            "metadata.name: an applied configuration names its object (generateName is for create)",
        )));
    }
    let namespace = match v["metadata"]["namespace"].as_str() {
        Some(ns) if !ns.is_empty() => ns,
        _ if kind.is_namespaced() => "default",
        _ => "",
    };
    let k = key::make(kind, namespace, name);
    Ok((v, k))
}

/// Removes `null` members everywhere: Kubernetes reads them as absent (clients send
/// `creationTimestamp: null`), Skiff's decoder as wrong types.
pub(crate) fn drop_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(drop_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// How a request asks to write.
pub(crate) fn writer(manager: String, dry_run: bool, force: bool) -> Writer {
    Writer {
        manager,
        dry_run,
        force,
    }
}

#[tonic::async_trait]
impl ObjectService for ObjectApi {
    async fn create(&self, r: Request<CreateRequest>) -> Result<Response<CreateResponse>, Status> {
        let r = r.into_inner();
        let how = writer(r.field_manager, r.dry_run, false);
        let object = self.create_object(decode(&r.manifest)?, &how).await?;
        Ok(Response::new(CreateResponse {
            object: Some(object),
        }))
    }

    async fn update(&self, r: Request<UpdateRequest>) -> Result<Response<UpdateResponse>, Status> {
        let r = r.into_inner();
        let how = writer(r.field_manager, r.dry_run, false);
        let object = self
            .update_object(decode(&r.manifest)?, r.expected_resource_version, &how)
            .await?;
        Ok(Response::new(UpdateResponse {
            object: Some(object),
        }))
    }

    async fn apply(&self, r: Request<ApplyRequest>) -> Result<Response<ApplyResponse>, Status> {
        let r = r.into_inner();
        let (config, k) = configuration(&r.manifest)?;
        let how = writer(r.field_manager, r.dry_run, r.force);
        Ok(Response::new(
            self.apply_object(&config, &k, &how, None).await?,
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
        let fields = FieldSelector::parse(&r.field_selector, kind)?;
        let from = match r.continue_token.as_str() {
            "" => None,
            token => Some(Continue::read(token)?),
        };
        self.read_barrier(r.consistency).await?;
        let ns = (!r.namespace.is_empty()).then_some(r.namespace.as_str());
        let keep = |o: &Object| {
            sel.as_ref().is_none_or(|s| s.matches(&o.metadata().labels)) && fields.matches(o)
        };
        let after = from.as_ref().map(|c| c.key(kind));
        let limit = r.limit as usize;
        let page = self
            .store
            .state()
            .list_page(kind, ns, after.as_deref(), limit, keep)
            .map_err(status::store)?;
        let revision = from.map_or(page.revision, |c| c.revision);
        let more = limit > 0 && page.items.len() == limit && page.unread > 0;
        let continue_token = match page.items.last() {
            Some(last) if more => {
                let m = last.object.metadata();
                let after = format!("{}/{}", m.namespace, m.name);
                Continue { after, revision }.token()
            }
            _ => String::new(),
        };
        // With selectors, how many of the unread items match is not known.
        let filtered = sel.is_some() || !r.field_selector.trim().is_empty();
        let items = page
            .items
            .iter()
            .map(|s| envelope(&s.object, s.revision))
            .collect::<Result<_, _>>()?;
        Ok(Response::new(ListResponse {
            items,
            resource_version: revision,
            remaining_item_count: (more && !filtered).then_some(page.unread as u64),
            continue_token,
        }))
    }

    type WatchStream = WatchStream;

    async fn watch(&self, r: Request<WatchRequest>) -> Result<Response<WatchStream>, Status> {
        let r = r.into_inner();
        let kind = kind(&r.kind)?;
        let sel = selector(&r.label_selector)?;
        let fields = FieldSelector::parse(&r.field_selector, kind)?;
        let (start, end) = key::range(
            kind,
            (!r.namespace.is_empty()).then_some(r.namespace.as_str()),
        );
        // Fail fast on a compacted revision, before the stream starts.
        self.store
            .state()
            .events_since(r.since_revision)
            .map_err(status::store)?;
        let mut filter = Filter::new(start, end, sel, fields);
        if filter.selects() {
            let ns = (!r.namespace.is_empty()).then_some(r.namespace.as_str());
            let (items, now) = self
                .store
                .state()
                .list(kind, ns, None)
                .map_err(status::store)?;
            filter.seed(
                items.into_iter().map(|s| (key::of(&s.object), s.object)),
                now,
            );
        }
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        tokio::spawn(watch::follow(
            self.store.clone(),
            self.hub.clone(),
            filter,
            r.since_revision,
            tx,
        ));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn delete(&self, r: Request<DeleteRequest>) -> Result<Response<DeleteResponse>, Status> {
        let r = r.into_inner();
        let propagation = r.propagation();
        let k = object_key(r.key)?;
        let object = self
            .delete_object(&k, r.expected_resource_version, propagation, r.dry_run)
            .await?;
        Ok(Response::new(DeleteResponse {
            object: Some(object),
        }))
    }

    async fn update_status(
        &self,
        r: Request<UpdateStatusRequest>,
    ) -> Result<Response<UpdateStatusResponse>, Status> {
        let r = r.into_inner();
        let k = object_key(r.key)?;
        let expected = (r.expected_resource_version != 0).then_some(r.expected_resource_version);
        // This member's copy first, as the kube-apiserver starts a status update from its
        // cache: the write is conditional on the copy's revision, so a stale copy costs
        // another attempt (read linearizably), never a lost update; a current one saves
        // the read's round through raft on every status a node reports. Without an
        // expected version, a write that lost a race is tried again.
        let mut fresh = false;
        for _ in 0..APPLY_ATTEMPTS {
            let current = if fresh {
                self.current(&k).await?
            } else {
                match self.local(&k) {
                    // Maybe not here yet: asked again, linearizably.
                    Err(e) if e.code() == tonic::Code::NotFound => {
                        fresh = true;
                        continue;
                    }
                    read => read?,
                }
            };
            if !current.object.has_status() {
                return Err(Status::invalid_argument(format!(
                    "{k} has no status subresource; update the object itself"
                )));
            }
            let with_status = status_object(&current.object, &r.status_json)?;
            let plan = plan::status(&current, &with_status, expected);
            match self.commit(Some(&current), plan).await {
                Err(e) if expected.is_none() && lost_race(&e) => fresh = true,
                done => {
                    let (object, _) = done?;
                    return Ok(Response::new(UpdateStatusResponse {
                        object: Some(object),
                    }));
                }
            }
        }
        Err(Status::aborted(format!(
            "{k} kept changing while its status was written ({APPLY_ATTEMPTS} attempts); write it again"
        )))
    }
}
