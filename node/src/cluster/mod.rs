//! The node's connection to the control plane: the object API (the Node, its pods, their
//! status) and the artifact store, through whichever member answers. A member that stops
//! answering is replaced by the next one on the list. The agent and the router both use
//! it; [`PodApi`] is the part a pod worker needs, so a worker can be tested without one.
//!
//! `keyvalue`: a namespace's `wasi:keyvalue` buckets, kept as KeyValue objects.

mod keyvalue;

use std::time::Duration;

use skiff_proto::grpc::api::artifact_service_client::ArtifactServiceClient;
use skiff_proto::grpc::api::object_service_client::ObjectServiceClient;
use skiff_proto::grpc::api::{
    ApplyRequest, FetchArtifactRequest, GetRequest, ListRequest, ObjectEnvelope, ObjectKey,
    ReadConsistency, UpdateRequest, UpdateStatusRequest, WatchEvent, WatchRequest,
};
use skiff_proto::manifest::{Source, decode_one};
use skiff_proto::{Kind, Object};
use tokio::sync::Mutex;
use tonic::transport::Channel;
use tonic::{Code, Status, Streaming};

use crate::Error;
use crate::runtime::ArtifactSource;

/// Members to talk to, and the connection in use.
pub struct ControlPlane {
    members: Vec<String>,
    /// TLS with the node's certificate (`system:node:NAME`).
    dialer: skiff_pki::Dialer,
    channel: Mutex<Option<Channel>>,
}

fn unreachable(members: &[String], why: impl std::fmt::Display) -> Error {
    Error::ControlPlane {
        reason: format!(
            "no control-plane member answers at {} ({why})",
            members.join(", ")
        ),
    }
}

/// Errors worth trying another member for.
fn transient(s: &Status) -> bool {
    matches!(
        s.code(),
        Code::Unavailable | Code::Unknown | Code::Cancelled
    )
}

impl ControlPlane {
    pub fn new(members: Vec<String>, dialer: skiff_pki::Dialer) -> ControlPlane {
        ControlPlane {
            members,
            dialer,
            channel: Mutex::new(None),
        }
    }

    /// A connection to some member.
    async fn channel(&self) -> Result<Channel, Error> {
        let mut c = self.channel.lock().await;
        if let Some(ch) = c.as_ref() {
            return Ok(ch.clone());
        }
        let mut last = String::from("no members given");
        for m in &self.members {
            match self.dialer.member(m).await {
                Ok(ch) => {
                    *c = Some(ch.clone());
                    return Ok(ch);
                }
                Err(e) => last = format!("{m}: {e}"),
            }
        }
        Err(unreachable(&self.members, last))
    }

    /// Forgets the connection after a failure, so the next call tries the members again.
    async fn failed(&self) {
        *self.channel.lock().await = None;
    }

    /// Calls `f` with a connection, moving to another member (and waiting a little) while
    /// the cluster is unavailable, for up to `patience`.
    async fn call<T, F, Fut>(&self, what: &str, f: F) -> Result<T, Error>
    where
        F: FnMut(Channel) -> Fut,
        Fut: std::future::Future<Output = Result<T, Status>>,
    {
        self.call_status(what, f)
            .await?
            .map_err(|s| Error::ControlPlane {
                reason: format!("{what}: {}", s.message()),
            })
    }

    /// As `call`, but a status that is not worth retrying is the inner `Err`, for the
    /// caller to tell conflicts and absences from failures.
    async fn call_status<T, F, Fut>(&self, what: &str, mut f: F) -> Result<Result<T, Status>, Error>
    where
        F: FnMut(Channel) -> Fut,
        Fut: std::future::Future<Output = Result<T, Status>>,
    {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let ch = match self.channel().await {
                Ok(ch) => ch,
                Err(e) if tokio::time::Instant::now() >= deadline => return Err(e),
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            match f(ch).await {
                Ok(v) => return Ok(Ok(v)),
                Err(s) if transient(&s) && tokio::time::Instant::now() < deadline => {
                    self.failed().await;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(s) if transient(&s) => {
                    return Err(Error::ControlPlane {
                        reason: format!("{what}: {}", s.message()),
                    });
                }
                Err(s) => return Ok(Err(s)),
            }
        }
    }

    /// Creates or updates `o` (server-side apply).
    pub async fn apply(&self, o: &Object) -> Result<(), Error> {
        let manifest = o.to_json().map_err(|e| Error::ControlPlane {
            reason: format!("encoding {}: {e}", o.display_name()),
        })?;
        self.call("applying the node", |ch| {
            let manifest = manifest.clone().into_bytes();
            async move {
                ObjectServiceClient::new(ch)
                    .apply(ApplyRequest {
                        manifest,
                        dry_run: false,
                        field_manager: "skiff-node".into(),
                        ..Default::default()
                    })
                    .await
                    .map(|_| ())
            }
        })
        .await
    }

    /// Replaces `o` if it is still at revision `expected` (compare-and-swap).
    pub async fn update(&self, o: &Object, expected: u64) -> Result<(), Error> {
        let manifest = o.to_json().map_err(|e| Error::ControlPlane {
            reason: format!("encoding {}: {e}", o.display_name()),
        })?;
        self.call("updating an object", |ch| {
            let manifest = manifest.clone().into_bytes();
            async move {
                ObjectServiceClient::new(ch)
                    .update(UpdateRequest {
                        manifest,
                        expected_resource_version: Some(expected),
                        ..Default::default()
                    })
                    .await
                    .map(|_| ())
            }
        })
        .await
    }

    /// Writes the status of the object `key` (the agent owns its pods' and node's status).
    pub async fn update_status(&self, key: ObjectKey, status_json: Vec<u8>) -> Result<(), Error> {
        self.call("writing a status", |ch| {
            let (key, status_json) = (key.clone(), status_json.clone());
            async move {
                ObjectServiceClient::new(ch)
                    .update_status(UpdateStatusRequest {
                        key: Some(key),
                        expected_resource_version: 0,
                        status_json,
                    })
                    .await
                    .map(|_| ())
            }
        })
        .await
    }

    /// The object `kind` `namespace/name`, or `None` when there is none.
    pub async fn get(
        &self,
        kind: Kind,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Object>, Error> {
        let key = ObjectKey {
            kind: kind.name().into(),
            namespace: namespace.into(),
            name: name.into(),
        };
        let found = self
            .call("reading an object", |ch| {
                let key = key.clone();
                async move {
                    let r = ObjectServiceClient::new(ch)
                        .get(GetRequest {
                            key: Some(key),
                            consistency: ReadConsistency::Linearizable as i32,
                        })
                        .await;
                    match r {
                        Ok(r) => Ok(r.into_inner().object),
                        Err(s) if s.code() == Code::NotFound => Ok(None),
                        Err(s) => Err(s),
                    }
                }
            })
            .await?;
        found.as_ref().map(object).transpose()
    }

    /// The pods bound to `node`, and the revision to watch from.
    pub async fn pods(&self, node: &str) -> Result<(Vec<Object>, u64), Error> {
        self.list(Kind::Pod, &format!("spec.nodeName={node}")).await
    }

    /// Every change to the pods bound to `node` after `since`.
    pub async fn watch_pods(&self, node: &str, since: u64) -> Result<Streaming<WatchEvent>, Error> {
        self.watch(Kind::Pod, &format!("spec.nodeName={node}"), since)
            .await
    }

    /// Every object of `kind` in every namespace that `field_selector` picks (empty: all),
    /// and the revision to watch from.
    pub async fn list(
        &self,
        kind: Kind,
        field_selector: &str,
    ) -> Result<(Vec<Object>, u64), Error> {
        let r = self
            .call("listing objects", |ch| {
                let field_selector = field_selector.to_owned();
                async move {
                    ObjectServiceClient::new(ch)
                        .list(ListRequest {
                            kind: kind.name().into(),
                            field_selector,
                            ..Default::default()
                        })
                        .await
                        .map(|r| r.into_inner())
                }
            })
            .await?;
        let items = r.items.iter().map(object).collect::<Result<_, _>>()?;
        Ok((items, r.resource_version))
    }

    /// Every change to the objects of `kind` that `field_selector` picks, after `since`.
    pub async fn watch(
        &self,
        kind: Kind,
        field_selector: &str,
        since: u64,
    ) -> Result<Streaming<WatchEvent>, Error> {
        self.call("watching objects", |ch| {
            let field_selector = field_selector.to_owned();
            async move {
                ObjectServiceClient::new(ch)
                    .watch(WatchRequest {
                        kind: kind.name().into(),
                        field_selector,
                        since_revision: since,
                        ..Default::default()
                    })
                    .await
                    .map(|r| r.into_inner())
            }
        })
        .await
    }

    /// The artifact `digest` (`sha256:<hex>`), whole.
    pub async fn fetch(&self, digest: &str) -> Result<Vec<u8>, Error> {
        self.call("fetching an artifact", |ch| {
            let digest = digest.to_owned();
            async move {
                let mut stream = ArtifactServiceClient::new(ch)
                    .fetch(FetchArtifactRequest { digest })
                    .await?
                    .into_inner();
                let mut out = Vec::new();
                while let Some(chunk) = stream.message().await? {
                    out.extend(chunk.data);
                }
                Ok(out)
            }
        })
        .await
    }

    /// Whether `e` says an artifact is not in the store.
    pub fn is_not_found(e: &Error) -> bool {
        matches!(e, Error::ControlPlane { reason } if reason.contains("not in the store"))
    }
}

/// What a pod worker reads and writes: the objects its containers are given (ConfigMaps,
/// Secrets) and its pod's status.
#[tonic::async_trait]
pub trait PodApi: Send + Sync {
    /// The object `kind` `namespace/name`, or `None` when there is none.
    async fn get(&self, kind: Kind, namespace: &str, name: &str) -> Result<Option<Object>, Error>;
    /// Writes the status of the object `key`.
    async fn update_status(&self, key: ObjectKey, status_json: Vec<u8>) -> Result<(), Error>;
    /// Records an event (creates or updates the Event object).
    async fn event(&self, e: skiff_proto::model::event::Event) -> Result<(), Error>;
    /// The `wasi:keyvalue` buckets of `namespace`.
    fn key_values(
        self: std::sync::Arc<Self>,
        namespace: &str,
    ) -> std::sync::Arc<dyn crate::runtime::KeyValueStore>;
}

#[tonic::async_trait]
impl PodApi for ControlPlane {
    async fn get(&self, kind: Kind, namespace: &str, name: &str) -> Result<Option<Object>, Error> {
        ControlPlane::get(self, kind, namespace, name).await
    }

    async fn update_status(&self, key: ObjectKey, status_json: Vec<u8>) -> Result<(), Error> {
        ControlPlane::update_status(self, key, status_json).await
    }

    async fn event(&self, e: skiff_proto::model::event::Event) -> Result<(), Error> {
        self.apply(&Object::Event(e)).await
    }

    fn key_values(
        self: std::sync::Arc<Self>,
        namespace: &str,
    ) -> std::sync::Arc<dyn crate::runtime::KeyValueStore> {
        std::sync::Arc::new(keyvalue::Buckets::new(self, namespace))
    }
}

#[tonic::async_trait]
impl ArtifactSource for ControlPlane {
    async fn fetch(&self, digest: &str) -> Result<Vec<u8>, String> {
        ControlPlane::fetch(self, digest)
            .await
            .map_err(|e| e.to_string())
    }
}

/// An object as the server sent it.
pub fn object(env: &ObjectEnvelope) -> Result<Object, Error> {
    let text = std::str::from_utf8(&env.json).map_err(|_| Error::ControlPlane {
        reason: "the server sent an object that is not UTF-8".into(),
    })?;
    decode_one(text, &Source::named("<server>")).map_err(|d| Error::ControlPlane {
        reason: format!("the server sent an object this agent cannot read: {d}"),
    })
}
