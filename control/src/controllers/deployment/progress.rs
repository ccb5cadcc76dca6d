//! One look at a Canary Deployment: the analysis when one is due, the plan, and its
//! writes (traffic first, then replicas), with the status and event the plan gives.

use std::time::Duration;

use skiff_proto::Kind;
use skiff_proto::model::Deployment;
use skiff_proto::model::canary::{CanaryPhase, CanaryStatus, CanaryStrategy};
use skiff_proto::model::values::Time;
use tonic::Status;

use super::analysis;
use super::canary::{self, Input, SetView};
use super::{COMPONENT, DeploymentController, Set, history, shift};
use crate::controllers::pods;

/// What a look did.
pub struct Outcome {
    pub moved: bool,
    pub status: CanaryStatus,
    pub requeue: Option<Duration>,
    /// Annotations to remove from the Deployment.
    pub clear: Vec<&'static str>,
}

impl DeploymentController {
    /// Moves Deployment `key`'s canary on by one look.
    pub(super) async fn canary(
        &self,
        key: &str,
        d: &Deployment,
        c: &CanaryStrategy,
        sets: &mut [Set],
        new_idx: usize,
    ) -> Result<Outcome, Status> {
        let want = d.spec.replicas.unwrap_or(1).max(0);
        let now = Time::now();
        let prev = d.status.as_ref().and_then(|s| s.canary.as_deref());
        if let Some(why) = shift::problem(&self.cache, d, c) {
            let mut status = prev.cloned().unwrap_or_default();
            status.message = Some(why);
            return Ok(Outcome {
                moved: false,
                status,
                requeue: Some(Duration::from_secs(5)),
                clear: Vec::new(),
            });
        }
        let views: Vec<SetView> = sets
            .iter()
            .map(|s| SetView {
                hash: s
                    .rs
                    .metadata
                    .labels
                    .get(history::TEMPLATE_HASH)
                    .cloned()
                    .unwrap_or_default(),
                revision: history::revision_of(&s.rs),
                spec: s.rs.spec.replicas.unwrap_or(1),
                available: s.available,
            })
            .collect();
        let verdict = self
            .analyse(key, c, prev, &views[new_idx].hash, &sets[new_idx])
            .await;
        let (promote, abort) = canary::requests(d);
        let steps = serde_json::to_vec(&c.steps).unwrap_or_default();
        let steps_hash = crate::store::blobs::sha256_hex(&steps);
        let plan = canary::plan(Input {
            strategy: c,
            steps_hash: &steps_hash[..16],
            status: prev,
            promote,
            abort,
            sets: &views,
            new_idx,
            want,
            now,
            verdict,
        });
        if plan.status.canary_hash.is_none() || plan.status.phase == CanaryPhase::Aborted {
            self.analyst.forget(key);
        }
        shift::apply(
            &self.cache,
            &self.client,
            d,
            c,
            &plan.stable_hash,
            &plan.canary_hash,
            plan.weight,
        )
        .await?;
        let mut moved = false;
        for (i, n) in &plan.scales {
            moved |= self.scale(d, &mut sets[*i], *n).await?;
        }
        if let Some((type_, reason, message)) = plan.event {
            self.client.event(
                COMPONENT,
                Kind::Deployment,
                &d.metadata,
                type_,
                reason,
                message,
            );
        }
        Ok(Outcome {
            moved,
            status: plan.status,
            requeue: plan.requeue,
            clear: plan.clear,
        })
    }

    /// The verdict on the canary's traffic since the last reading, when one is due.
    async fn analyse(
        &self,
        key: &str,
        c: &CanaryStrategy,
        prev: Option<&CanaryStatus>,
        hash: &str,
        set: &Set,
    ) -> Option<analysis::Verdict> {
        let a = c.analysis.as_ref()?;
        let prev = prev?;
        let live = prev.canary_hash.as_deref() == Some(hash)
            && prev.weight > 0
            && prev.phase != CanaryPhase::Aborted;
        if !live {
            return None;
        }
        let pods: Vec<_> = self
            .cache
            .controlled_by(Kind::Pod, set.rs.metadata.uid.as_deref().unwrap_or(""))
            .into_iter()
            .filter_map(|s| super::super::replicaset::pod_of(&s).cloned())
            .filter(pods::is_active)
            .collect();
        let uids: Vec<String> = pods.iter().filter_map(|p| p.metadata.uid.clone()).collect();
        let nodes = crate::usage::nodes_of(&self.cache, &pods);
        let every = Duration::from_secs(u64::try_from(a.interval_seconds()).unwrap_or(5));
        // A little early is on time: requeues land just before the interval ends.
        let due = every.saturating_sub(Duration::from_millis(250));
        let totals = self.analyst.read(key, hash, &uids, &nodes, due).await?;
        Some(analysis::judge(a, &totals))
    }
}
