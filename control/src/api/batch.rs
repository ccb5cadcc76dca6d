//! Many creations in one raft transaction, for controllers that stamp out pods: each
//! object gets the same validation, defaults, identity and namespace check as
//! `ObjectService/Create`, and they are committed all together or not at all.

use std::collections::BTreeMap;

use skiff_proto::Object;
use skiff_proto::model::values::Time;
use skiff_proto::validate;
use tonic::Status;

use super::apply::created;
use super::objects::ObjectApi;
use super::quota::{QUOTA_ATTEMPTS, lost_quota_race};
use super::{admission, status};
use crate::store::{Command, Op};

impl ObjectApi {
    /// Creates every object of `objects` in one transaction and returns them as stored
    /// (names completed from `generateName`) with the transaction's revision.
    pub async fn create_all(&self, objects: Vec<Object>) -> Result<(Vec<Object>, u64), Status> {
        let now = Time::now();
        let mut guards = BTreeMap::new();
        let mut made = Vec::with_capacity(objects.len());
        for mut o in objects {
            admission::default(&mut o);
            admission::no_local_files(&o)?;
            admission::own_namespace_backends(&o)?;
            let mut o = created(o, &now);
            self.admit_priority(&mut o)?;
            self.limit_ranges(&mut o)?;
            self.pod_security(&o)?;
            let problems = validate::object(&o, &validate::Context::default());
            if let Some(p) = problems.first() {
                return Err(Status::invalid_argument(format!(
                    "{}: {}: {}",
                    o.display_name(),
                    p.path,
                    p.message
                )));
            }
            if let Some(g) = self.namespace_guard(&o).await?
                && let Some(k) = g.key()
            {
                guards.insert(k, g);
            }
            made.push(o);
        }
        // Charged to the namespaces' quotas in the same command (again, if a quota
        // changed first).
        let mut attempts = 0;
        let rev = loop {
            let quotas = self.quota_ops(&made)?;
            let ops: Vec<Op> = guards
                .values()
                .cloned()
                .chain(quotas)
                .chain(made.iter().cloned().map(Op::Create))
                .collect();
            match self
                .store
                .propose(Command { ops })
                .await
                .map_err(status::write)
            {
                Err(e) if lost_quota_race(&e) && attempts < QUOTA_ATTEMPTS => {
                    attempts += 1;
                    self.read_barrier(skiff_proto::grpc::api::ReadConsistency::Linearizable as i32)
                        .await?;
                }
                done => break done?,
            }
        };
        self.store.wait_applied(rev).await.map_err(status::write)?;
        for o in &mut made {
            o.metadata_mut().resource_version = Some(rev);
        }
        Ok((made, rev))
    }
}
