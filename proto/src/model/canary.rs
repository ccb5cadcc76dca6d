//! The canary strategy of a Deployment, shaped like Argo Rollouts' (with Flagger's
//! metric thresholds): a new revision gets a share of an HTTPRoute's traffic step by step,
//! is analysed on what the routers measure for its pods, and is promoted when every step
//! passes or rolled back as soon as the analysis fails.
//!
//! ```yaml
//! strategy:
//!   type: Canary
//!   canary:
//!     stableService: web-stable     # the controller pins each Service's selector to a
//!     canaryService: web-canary     # revision with `pod-template-hash`
//!     httpRoute: web                # whose rules send to both; the controller sets weights
//!     steps:
//!     - setWeight: 10
//!     - pause: {duration: 30s}
//!     - setWeight: 50
//!     - pause: {}                   # until `skiff rollout promote`
//!     analysis: {minSuccessPercent: 99, maxP99Millis: 500}
//! ```

use skiff_proto_macros::model;

use super::values::Time;

/// Annotation on a Deployment that lets a paused canary go on: `<revision hash>:<step>`
/// skips that pause, `<revision hash>:full` promotes at once (`skiff rollout promote`).
pub const PROMOTE_ANNOTATION: &str = "skiff.dev/promote";
/// Annotation on a Deployment that aborts the canary of revision `<hash>`
/// (`skiff rollout abort`): all traffic back to the stable revision.
pub const ABORT_ANNOTATION: &str = "skiff.dev/abort";

#[model]
pub struct CanaryStrategy {
    /// The Service that sends to the stable revision's pods.
    pub stable_service: String,
    /// The Service that sends to the new revision's pods.
    pub canary_service: String,
    /// The HTTPRoute (in the Deployment's namespace) whose rules name both Services as
    /// backends; their weights are the canary's share.
    pub http_route: String,
    /// Done in order; after the last, the new revision takes all traffic.
    #[serde(default)]
    pub steps: Vec<CanaryStep>,
    /// Checks of the new revision's traffic while it has a share of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis: Option<CanaryAnalysis>,
}

/// One step: exactly one of its fields is set.
#[model]
pub struct CanaryStep {
    /// The new revision's share of traffic, 0..=100 percent; its replicas are scaled to
    /// the same share of `replicas` (at least 1) before the weight moves.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_weight: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pause: Option<CanaryPause>,
}

/// A wait, for `duration` (e.g. `30s`, `1m`) or, without one, until promoted.
#[model]
pub struct CanaryPause {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
}

/// Thresholds for the new revision's requests, judged every `intervalSeconds`.
#[model]
pub struct CanaryAnalysis {
    /// Lowest share of requests answered without a 5xx, in percent (default 95).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_success_percent: Option<i32>,
    /// Highest 99th-percentile latency to the response head (default: not checked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_p99_millis: Option<i32>,
    /// Seconds between checks (default 5).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval_seconds: Option<i32>,
    /// Requests a check needs to judge; fewer leave it inconclusive (default 20).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_requests: Option<i32>,
    /// Failed checks tolerated: one more aborts the canary (default 0, as Argo's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_limit: Option<i32>,
}

/// Where a canary stands.
#[model]
pub enum CanaryPhase {
    /// Moving through its steps.
    #[default]
    Progressing,
    /// At a pause step.
    Paused,
    /// Every step done: the new revision is scaling to all replicas.
    Promoting,
    /// The stable revision has every replica and all traffic; no canary.
    Healthy,
    /// Rolled back: by a failed analysis or `skiff rollout abort`.
    Aborted,
}

#[model]
pub struct CanaryStatus {
    /// The `pod-template-hash` of the revision the stable Service sends to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stable_hash: Option<String>,
    /// The revision under trial, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary_hash: Option<String>,
    /// The step in progress (the number of steps once all are done).
    #[serde(default)]
    pub current_step: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_started_at: Option<Time>,
    /// The canary's share of traffic now, in percent.
    #[serde(default)]
    pub weight: i32,
    #[serde(default)]
    pub phase: CanaryPhase,
    /// Failed analysis checks of this canary so far.
    #[serde(default)]
    pub failed_checks: i32,
    /// Passed analysis checks of this canary so far: with an analysis, a canary that has
    /// traffic leaves a timed pause, or is promoted, only after one (Argo Rollouts holds
    /// on an inconclusive analysis too).
    #[serde(default)]
    pub passed_checks: i32,
    /// A digest of the steps it is walking: changed steps start the canary again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps_hash: Option<String>,
    /// The last analysis, or why the canary was aborted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl CanaryAnalysis {
    pub fn min_success_percent(&self) -> i32 {
        self.min_success_percent.unwrap_or(95)
    }
    pub fn interval_seconds(&self) -> i32 {
        self.interval_seconds.unwrap_or(5)
    }
    pub fn min_requests(&self) -> i32 {
        self.min_requests.unwrap_or(20)
    }
    pub fn failure_limit(&self) -> i32 {
        self.failure_limit.unwrap_or(0)
    }
}
