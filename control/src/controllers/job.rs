//! The Job controller: runs pods until `completions` of them succeed, at most
//! `parallelism` at once.
//! - A failed pod is replaced until `backoffLimit` failures (pods that failed, plus
//!   container restarts of `OnFailure` pods), then the Job fails
//!   (`BackoffLimitExceeded`).
//! - Past `activeDeadlineSeconds` from its start the Job fails (`DeadlineExceeded`).
//! - A finished Job's running pods are deleted; the Job itself goes
//!   `ttlSecondsAfterFinished` after it finished, when set.
//! - Its pods carry `job-name` and `controller-uid` labels, as Kubernetes' do.

use std::time::Duration;

use skiff_proto::model::event::EventType;
use skiff_proto::model::job::{Job, JobStatus};
use skiff_proto::model::values::Time;
use skiff_proto::model::{Condition, ConditionStatus, Pod, PodPhase};
use skiff_proto::{Kind, Object};
use tonic::Status;

use super::pods;
use super::runner::{Next, Reconciler, live, own_key, owner_keys};
use crate::machinery::cache::{Cache, Change};
use crate::machinery::client::Client;

/// The component its events name (Kubernetes').
const COMPONENT: &str = "job-controller";

pub struct JobController {
    pub cache: Cache,
    pub client: Client,
}

/// How a Job ended, if it did.
fn finished(j: &Job) -> Option<&Condition> {
    j.status.as_ref()?.conditions.iter().find(|c| {
        (c.type_ == "Complete" || c.type_ == "Failed") && c.status == ConditionStatus::True
    })
}

fn condition(type_: &str, reason: &str, message: String) -> Condition {
    Condition {
        type_: type_.into(),
        status: ConditionStatus::True,
        reason: Some(reason.into()),
        message: Some(message),
        last_transition_time: Some(Time::now()),
        last_probe_time: Some(Time::now()),
        ..Default::default()
    }
}

fn restarts(p: &Pod) -> i32 {
    p.status.as_ref().map_or(0, |s| {
        s.container_statuses
            .iter()
            .map(|c| i32::try_from(c.restart_count).unwrap_or(i32::MAX))
            .sum()
    })
}

impl Reconciler for JobController {
    const NAME: &'static str = "job";
    const KIND: Kind = Kind::Job;

    fn keys(&self, c: &Change, _cache: &Cache) -> Vec<String> {
        match c.kind {
            Kind::Job => own_key(c, Kind::Job),
            Kind::Pod => owner_keys(c, Kind::Job),
            _ => Vec::new(),
        }
    }

    async fn reconcile(&self, k: &str) -> Next {
        let Some(s) = live(&self.cache, Kind::Job, k) else {
            return Ok(None);
        };
        let Object::Job(j) = &s.object else {
            return Ok(None);
        };
        let uid = j.metadata.uid.clone().unwrap_or_default();
        let owned: Vec<Pod> = self
            .cache
            .controlled_by(Kind::Pod, &uid)
            .iter()
            .filter_map(|s| super::replicaset::pod_of(s).cloned())
            .collect();
        let active: Vec<&Pod> = owned.iter().filter(|p| pods::is_active(p)).collect();
        let succeeded = owned
            .iter()
            .filter(|p| pods::phase(p) == PodPhase::Succeeded)
            .count() as i32;
        let failed = owned
            .iter()
            .filter(|p| pods::phase(p) == PodPhase::Failed)
            .count() as i32;
        let failures = failed + owned.iter().map(restarts).sum::<i32>();
        let now = Time::now();
        let prev = j.status.clone().unwrap_or_default();
        let start = prev.start_time.unwrap_or(now);
        let completions = j.spec.completions.unwrap_or(1).max(0);
        let parallelism = j.spec.parallelism.unwrap_or(1).max(0);
        let backoff_limit = j.spec.backoff_limit.unwrap_or(6).max(0);

        let mut status = JobStatus {
            active: active.len() as i32,
            succeeded,
            failed,
            start_time: Some(start),
            completion_time: prev.completion_time,
            conditions: prev.conditions.clone(),
        };
        let mut again = None;
        let elapsed = now.unix_seconds.saturating_sub(start.unix_seconds);
        if finished(j).is_none() {
            let ending = if succeeded >= completions {
                status.completion_time = Some(now);
                Some(condition(
                    "Complete",
                    "Completed",
                    format!("{succeeded} of {completions} pods succeeded"),
                ))
            } else if failures > backoff_limit {
                Some(condition(
                    "Failed",
                    "BackoffLimitExceeded",
                    format!("Job has reached the specified backoff limit ({backoff_limit})"),
                ))
            } else if let Some(d) = j.spec.active_deadline_seconds
                && elapsed >= u64::try_from(d).unwrap_or(0)
            {
                Some(condition(
                    "Failed",
                    "DeadlineExceeded",
                    format!("Job was active longer than specified deadline ({d} s)"),
                ))
            } else {
                None
            };
            match ending {
                Some(c) => {
                    tracing::info!(job = %k, reason = ?c.reason, "job finished");
                    let (t, reason, message) = if c.type_ == "Complete" {
                        (EventType::Normal, "Completed", "Job completed".to_owned())
                    } else {
                        let reason = c.reason.as_deref().unwrap_or("Failed");
                        let message = c.message.clone().unwrap_or_default();
                        (EventType::Warning, reason, message)
                    };
                    self.client
                        .event(COMPONENT, Kind::Job, &j.metadata, t, reason, message);
                    status.conditions.push(c);
                }
                None => {
                    let left = completions - succeeded;
                    let want = parallelism.min(left);
                    let missing = want - active.len() as i32;
                    if missing > 0 {
                        self.create(j, missing as usize).await?;
                        status.active += missing;
                    }
                    if let Some(d) = j.spec.active_deadline_seconds {
                        let d = u64::try_from(d).unwrap_or(0);
                        again = Some(Duration::from_secs(d.saturating_sub(elapsed) + 1));
                    }
                }
            }
        }
        if finished(j).is_some() || status.conditions.len() > prev.conditions.len() {
            // Nothing more runs for a finished Job.
            for p in &active {
                let r = self
                    .client
                    .delete(Kind::Pod, &p.metadata.namespace, &p.metadata.name, None)
                    .await;
                if let Err(e) = r
                    && e.code() != tonic::Code::NotFound
                {
                    return Err(e);
                }
            }
            status.active = 0;
            if let Some(ttl) = j.spec.ttl_seconds_after_finished {
                let done = status
                    .completion_time
                    .or(finished(j).and_then(|c| c.last_transition_time))
                    .unwrap_or(now);
                let due = done.unix_seconds + u64::try_from(ttl.max(0)).unwrap_or(0);
                if due <= now.unix_seconds {
                    self.client
                        .delete(Kind::Job, &j.metadata.namespace, &j.metadata.name, None)
                        .await?;
                    return Ok(None);
                }
                again = Some(Duration::from_secs(due - now.unix_seconds));
            }
        }
        if j.status.as_ref() != Some(&status) {
            let mut next = j.clone();
            next.status = Some(status);
            self.client
                .update_status(&Object::Job(next), s.revision)
                .await?;
        }
        Ok(again)
    }
}

impl JobController {
    async fn create(&self, j: &Job, n: usize) -> Result<(), Status> {
        let mut template = j.spec.template.clone();
        let labels = &mut template.metadata.labels;
        labels.insert("job-name".into(), j.metadata.name.clone());
        labels.insert(
            "controller-uid".into(),
            j.metadata.uid.clone().unwrap_or_default(),
        );
        let prefix = format!("{}-", j.metadata.name);
        let pod = pods::from_template(&template, &j.metadata, Kind::Job, &prefix);
        for _ in 0..n {
            let made = self.client.create(&pod).await.inspect_err(|e| {
                let message = format!("Error creating: {}", e.message());
                self.client.event(
                    COMPONENT,
                    Kind::Job,
                    &j.metadata,
                    EventType::Warning,
                    "FailedCreate",
                    message,
                );
            })?;
            let message = format!("Created pod: {}", made.object.metadata().name);
            self.client.event(
                COMPONENT,
                Kind::Job,
                &j.metadata,
                EventType::Normal,
                "SuccessfulCreate",
                message,
            );
        }
        Ok(())
    }
}
