//! Namespace lifecycle, as Kubernetes' `NamespaceLifecycle` admission has it: nothing is
//! created in a namespace that does not exist or is being deleted; `default` always
//! exists (every member makes sure of it at start, see [`ensure_default`]).

use std::time::Duration;

use skiff_proto::grpc::api::ReadConsistency;
use skiff_proto::model::meta::ObjectMeta;
use skiff_proto::model::namespace::Namespace;
use skiff_proto::model::values::Time;
use skiff_proto::{Kind, Object};
use tonic::Status;

use super::apply::created;
use super::delete::{ALWAYS_THERE, DEFAULT_NAMESPACE};
use super::objects::ObjectApi;
use super::status;
use crate::store::{Command, Op, Rejection, StoreHandle, WriteError, key};

impl ObjectApi {
    /// The precondition under which `o` may be created: its namespace exists, as read, and
    /// is not being deleted. `None` for cluster-scoped objects and for `default` and
    /// `skiff-system`.
    pub(super) async fn namespace_guard(&self, o: &Object) -> Result<Option<Op>, Status> {
        let ns = &o.metadata().namespace;
        if !o.kind().is_namespaced() || ALWAYS_THERE.contains(&ns.as_str()) {
            return Ok(None);
        }
        let k = key::make(Kind::Namespace, "", ns);
        let mut found = self.store.state().get(&k).map_err(status::store)?;
        let usable = |f: &Option<crate::store::Stored>| {
            f.as_ref()
                .is_some_and(|s| s.object.metadata().deletion_timestamp.is_none())
        };
        if !usable(&found) {
            // This member may be behind: refuse only what the leader would refuse.
            self.read_barrier(ReadConsistency::Linearizable as i32)
                .await?;
            found = self.store.state().get(&k).map_err(status::store)?;
        }
        let what = o.display_name();
        match found {
            None => Err(Status::not_found(format!(
                "{what}: namespace {ns:?} not found; create it first (`kind: Namespace`, `name: {ns}`; in the same file, before what goes in it)"
            ))),
            Some(s) if s.object.metadata().deletion_timestamp.is_some() => {
                Err(Status::failed_precondition(format!(
                    "{what}: namespace {ns:?} is being deleted, so nothing new can be created in it; wait until it is gone and create it again"
                )))
            }
            // If the namespace changes before this write commits, the write fails and is
            // planned again (a lost race).
            Some(s) => Ok(Some(Op::Check {
                key: k,
                expected: Some(s.revision),
            })),
        }
    }
}

/// Creates the `default` namespace if it is missing, retrying until the cluster has a
/// leader; returns once it exists.
pub async fn ensure_default(store: StoreHandle) {
    let ns = Object::Namespace(Namespace {
        metadata: ObjectMeta {
            name: DEFAULT_NAMESPACE.to_owned(),
            ..Default::default()
        },
        ..Default::default()
    });
    ensure(store, vec![ns]).await
}

/// Creates each of `objects` that is missing (one left alone if it exists, whatever it
/// holds now), retrying until the cluster has a leader; returns once all exist.
pub async fn ensure(store: StoreHandle, objects: Vec<Object>) {
    for o in objects {
        let k = key::of(&o);
        loop {
            if matches!(store.state().get(&k), Ok(Some(_))) {
                break;
            }
            let cmd = Command {
                ops: vec![Op::Create(created(o.clone(), &Time::now()))],
            };
            match store.propose(cmd).await {
                Ok(_) | Err(WriteError::Rejected(Rejection::AlreadyExists(_))) => break,
                Err(WriteError::Stopped) => return,
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
}
