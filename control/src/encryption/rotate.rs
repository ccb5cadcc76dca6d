//! `skiff secrets rotate-key`: a new data key becomes active (every member learns it as
//! the keys record is applied, before any write sealed with it), every Secret is sealed
//! again with it, and the old keys are removed once no stored Secret names them. Both
//! keys open values meanwhile.

use std::sync::Arc;
use std::time::Duration;

use skiff_proto::grpc::api::encryption_service_server::EncryptionService;
use skiff_proto::grpc::api::{RotateKeyRequest, RotateKeyResponse};
use skiff_proto::{Kind, Object};
use tonic::{Request, Response, Status};

use super::keys::{self, Record};
use super::sealer::Sealer;
use crate::api::status;
use crate::auth::{forbidden, is_privileged, requester};
use crate::store::{Command, Op, Rejection, StoreHandle, WriteError};

/// How many times the Secrets are swept for values under an old key (a write from a
/// member that had not yet learnt the new key can land after a sweep).
const SWEEPS: usize = 5;

pub struct EncryptionApi {
    pub store: StoreHandle,
    pub sealer: Arc<Sealer>,
    pub audit: crate::auth::audit::Audit,
}

impl EncryptionApi {
    /// The keys record and its revision (made if there is none).
    async fn record(&self) -> Result<(Record, u64), Status> {
        for _ in 0..3 {
            self.store.linearizable().await.map_err(status::write)?;
            let found = self
                .store
                .state()
                .get(&keys::store_key())
                .map_err(status::store)?;
            if let Some(s) = found
                && let Object::Secret(secret) = &s.object
                && let Some(r) = Record::read(secret)
            {
                return Ok((r, s.revision));
            }
            let first = crate::store::transform::Transformer::first_keys(&*self.sealer)
                .map_err(|e| Status::failed_precondition(e.to_string()))?;
            match self
                .store
                .propose(Command {
                    ops: vec![Op::Create(first)],
                })
                .await
            {
                Ok(_) | Err(WriteError::Rejected(Rejection::AlreadyExists(_))) => {}
                Err(e) => return Err(status::write(e)),
            }
        }
        Err(Status::unavailable(
            "the encryption keys record keeps changing; try again",
        ))
    }

    /// Writes `r` over the record at `revision`.
    async fn write(&self, r: &Record, revision: u64) -> Result<(), WriteError> {
        self.store
            .propose(Command {
                ops: vec![Op::Update {
                    object: r.to_object(),
                    expected: Some(revision),
                }],
            })
            .await
            .map(|_| ())
    }

    /// Seals again every Secret stored under a key other than `active`; how many.
    async fn sweep(&self, active: &str) -> Result<u64, Status> {
        let mut n = 0;
        for (k, stored) in self
            .store
            .state()
            .list_stored(Kind::Secret)
            .map_err(status::store)?
        {
            if k == keys::store_key()
                || Sealer::sealed_with(&stored.object).as_deref() == Some(active)
            {
                continue;
            }
            let Some(current) = self.store.state().get(&k).map_err(status::store)? else {
                continue;
            };
            let write = Command {
                ops: vec![Op::Update {
                    object: current.object,
                    expected: Some(stored.revision),
                }],
            };
            match self.store.propose(write).await {
                Ok(_) => n += 1,
                // Written (or deleted) meanwhile: the next sweep looks at it again.
                Err(WriteError::Rejected(Rejection::Conflict { .. } | Rejection::NotFound(_))) => {}
                Err(e) => return Err(status::write(e)),
            }
        }
        Ok(n)
    }
}

#[tonic::async_trait]
impl EncryptionService for EncryptionApi {
    async fn rotate_key(
        &self,
        r: Request<RotateKeyRequest>,
    ) -> Result<Response<RotateKeyResponse>, Status> {
        let who = requester(r.extensions())?.clone();
        let from = crate::auth::audit::Origin::of(&r);
        let a = crate::auth::Attributes {
            verb: "update".into(),
            group: "skiff.dev".into(),
            resource: "encryptionkeys".into(),
            subresource: String::new(),
            namespace: String::new(),
            name: keys::NAME.into(),
        };
        let result = self.rotate(&who).await;
        self.audit
            .record(&who, &from, &a, None, result.as_ref().map(|_| ()), &[]);
        result.map(Response::new)
    }
}

impl EncryptionApi {
    async fn rotate(&self, who: &skiff_pki::Identity) -> Result<RotateKeyResponse, Status> {
        if !is_privileged(who) {
            return Err(forbidden(
                who,
                "rotate the encryption key (only system:masters may)",
            ));
        }
        let kek = self
            .sealer
            .kek_for_rotation()
            .map_err(|e| Status::failed_precondition(e.to_string()))?;
        // 1. A new active key.
        let active = loop {
            let (record, revision) = self.record().await?;
            let next = record.with_new_key(kek).map_err(Status::internal)?;
            match self.write(&next, revision).await {
                Ok(()) => break next.active,
                Err(WriteError::Rejected(Rejection::Conflict { .. })) => continue,
                Err(e) => return Err(status::write(e)),
            }
        };
        // 2. Everything sealed again with it, until a sweep finds nothing left.
        let mut resealed = 0;
        let mut clean = false;
        for _ in 0..SWEEPS {
            self.store.linearizable().await.map_err(status::write)?;
            let n = self.sweep(&active).await?;
            resealed += n;
            if n == 0 {
                clean = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        if !clean {
            return Err(Status::aborted(format!(
                "{active} is active and {resealed} Secrets were sealed again with it, but writes under the old keys kept coming; run rotate-key again"
            )));
        }
        // 3. The old keys go.
        let removed = loop {
            let (mut record, revision) = self.record().await?;
            let old: Vec<String> = record
                .wrapped
                .keys()
                .filter(|k| **k != active)
                .cloned()
                .collect();
            record.wrapped.retain(|k, _| *k == active);
            match self.write(&record, revision).await {
                Ok(()) => break old,
                Err(WriteError::Rejected(Rejection::Conflict { .. })) => continue,
                Err(e) => return Err(status::write(e)),
            }
        };
        tracing::info!(%active, resealed, ?removed, "encryption key rotated");
        Ok(RotateKeyResponse {
            active_key: active,
            resealed,
            removed_keys: removed,
        })
    }
}
