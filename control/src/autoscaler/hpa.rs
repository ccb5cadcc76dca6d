//! The HorizontalPodAutoscaler controller, on the leader: every tick (1 s by default,
//! `--hpa-sync-period`; not Kubernetes' 15 s: the figures are live), it reads the rates of the pods of every HPA's
//! target from their nodes, asks each metric what it wants, lets `behavior` decide how
//! far to go, writes the target's `spec.replicas`, and reports status and conditions as
//! Kubernetes' HPA does (`AbleToScale`, `ScalingActive`, `ScalingLimited`), with a
//! `SuccessfulRescale` event for each change.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use skiff_proto::model::autoscaling::{HorizontalPodAutoscaler, HorizontalPodAutoscalerStatus};
use skiff_proto::model::deployment::ACTIVATED_ANNOTATION;
use skiff_proto::model::event::EventType;
use skiff_proto::model::values::Time;
use skiff_proto::model::{Condition, ConditionStatus, Pod};
use skiff_proto::{Kind, Object};
use tonic::Status;

use super::behavior::{Behavior, History, Limit, decide};
use super::metrics::{Failed, Memory, Round, default_metrics, evaluate, window};
use super::observe::{Observer, Rates};
use crate::controllers::pods;
use crate::machinery::cache::Cache;
use crate::machinery::client::Client;
use crate::store::Stored;
use crate::usage::NodeStats;

/// The component its events name (Kubernetes').
const COMPONENT: &str = "horizontal-pod-autoscaler";

/// How often every HPA is looked at, unless the member is told otherwise.
pub const TICK: Duration = Duration::from_secs(1);

/// What one HPA remembers between rounds.
#[derive(Default)]
struct Tracked {
    history: History,
    memory: Memory,
    /// When its status was last written.
    written: Option<Instant>,
}

/// How often a status whose only change is its current figures is written (as often as
/// Kubernetes' HPA syncs), so a steady HPA costs no raft write per tick.
const FIGURES_EVERY: Duration = Duration::from_secs(15);

/// Runs the HPAs of `cache` until the task is dropped.
pub async fn run(cache: Cache, client: Client, nodes: Arc<dyn NodeStats>, every: Duration) {
    let mut observer = Observer::new(nodes);
    let mut tracked: HashMap<String, Tracked> = HashMap::new();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let hpas = cache.list(Kind::HorizontalPodAutoscaler, None);
        tracked.retain(|k, _| hpas.iter().any(|s| crate::store::key::of(&s.object) == *k));
        if hpas.is_empty() {
            continue;
        }
        let targets: Vec<(Arc<Stored>, Option<Target>)> = hpas
            .into_iter()
            .map(|s| {
                let t = match &s.object {
                    Object::HorizontalPodAutoscaler(h) => target(&cache, h),
                    _ => None,
                };
                (s, t)
            })
            .collect();
        let nodes = crate::usage::nodes_of(
            &cache,
            targets
                .iter()
                .filter_map(|(_, t)| t.as_ref())
                .flat_map(|t| t.pods.iter()),
        );
        let rates = observer.observe(&nodes).await;
        for (s, t) in targets {
            let key = crate::store::key::of(&s.object);
            let state = tracked.entry(key.clone()).or_default();
            if let Err(e) = reconcile(&client, &s, t, &rates, state).await {
                tracing::debug!(hpa = %key, error = %e.message(), "autoscaling round");
            }
        }
    }
}

/// What an HPA scales, as the cache has it.
struct Target {
    kind: Kind,
    stored: Arc<Stored>,
    replicas: i32,
    pods: Vec<Pod>,
    /// When it was last woken from zero by a request.
    activated: Option<Time>,
}

fn target(cache: &Cache, h: &HorizontalPodAutoscaler) -> Option<Target> {
    let r = &h.spec.scale_target_ref;
    let kind = Kind::from_name(&r.kind)?;
    let stored = cache.get(kind, &h.metadata.namespace, &r.name)?;
    let (meta, replicas) = match &stored.object {
        Object::Deployment(d) => (&d.metadata, d.spec.replicas.unwrap_or(1)),
        Object::ReplicaSet(rs) => (&rs.metadata, rs.spec.replicas.unwrap_or(1)),
        _ => return None,
    };
    let uid = meta.uid.clone().unwrap_or_default();
    let sets: Vec<String> = if kind == Kind::Deployment {
        cache
            .controlled_by(Kind::ReplicaSet, &uid)
            .iter()
            .filter_map(|s| s.object.metadata().uid.clone())
            .collect()
    } else {
        vec![uid]
    };
    let pods = sets
        .iter()
        .flat_map(|u| cache.controlled_by(Kind::Pod, u))
        .filter_map(|s| match &s.object {
            Object::Pod(p) if pods::is_active(p) => Some(p.clone()),
            _ => None,
        })
        .collect();
    let activated = meta
        .annotations
        .get(ACTIVATED_ANNOTATION)
        .and_then(|t| Time::parse(t).ok());
    Some(Target {
        kind,
        replicas,
        pods,
        activated,
        stored: stored.clone(),
    })
}

async fn reconcile(
    client: &Client,
    s: &Stored,
    t: Option<Target>,
    rates: &Rates,
    state: &mut Tracked,
) -> Result<(), Status> {
    let Object::HorizontalPodAutoscaler(h) = &s.object else {
        return Ok(());
    };
    let mut status = h.status.clone().unwrap_or_default();
    status.observed_generation = h.metadata.generation;
    let Some(t) = t else {
        let r = &h.spec.scale_target_ref;
        set(
            &mut status,
            "AbleToScale",
            false,
            "FailedGetScale",
            &format!(
                "the HPA controller was unable to get the target's current scale: {} {} not found",
                r.kind, r.name
            ),
        );
        return write_status(client, s, h, status, &mut state.written).await;
    };
    let now = Instant::now();
    let win = window(&h.metadata.annotations);
    let hold = t
        .activated
        .is_some_and(|a| Time::now().unix_seconds.saturating_sub(a.unix_seconds) < win.as_secs());
    let pods: Vec<&Pod> = t.pods.iter().collect();
    let round = Round {
        now,
        current: t.replicas,
        pods: &pods,
        rates,
        window: win,
        hold,
    };
    let specs = if h.spec.metrics.is_empty() {
        default_metrics()
    } else {
        h.spec.metrics.clone()
    };
    let mut desired: Option<(i32, String)> = None;
    let mut failure: Option<Failed> = None;
    status.current_metrics.clear();
    for m in &specs {
        match evaluate(m, &round, &mut state.memory) {
            Ok(v) => {
                status.current_metrics.push(v.status);
                if desired.as_ref().is_none_or(|(d, _)| v.desired > *d) {
                    desired = Some((v.desired, v.what));
                }
            }
            Err(f) => failure = Some(f),
        }
    }
    status.current_replicas = t.replicas;
    let Some((wanted, what)) = desired else {
        let f = failure.unwrap_or(Failed {
            reason: "FailedGetResourceMetric",
            message: "no metric could be read".into(),
        });
        set(&mut status, "ScalingActive", false, f.reason, &f.message);
        status.desired_replicas = t.replicas;
        return write_status(client, s, h, status, &mut state.written).await;
    };
    set(
        &mut status,
        "ScalingActive",
        true,
        "ValidMetricFound",
        &format!("the HPA was able to successfully calculate a replica count from {what}"),
    );
    let min = h.spec.min_replicas.unwrap_or(1);
    let behavior = Behavior::of(h.spec.behavior.as_ref());
    let (next, limit) = decide(
        &mut state.history,
        now,
        &behavior,
        t.replicas,
        wanted,
        (min, h.spec.max_replicas),
    );
    status.desired_replicas = next;
    limited(&mut status, limit);
    if next != t.replicas {
        match scale(client, &t, next).await {
            Ok(()) => {
                state.history.scaled(now, next - t.replicas);
                status.last_scale_time = Some(Time::now());
                let why = if next > t.replicas {
                    format!("{what} above target")
                } else {
                    "All metrics below target".to_owned()
                };
                client.event(
                    COMPONENT,
                    Kind::HorizontalPodAutoscaler,
                    &h.metadata,
                    EventType::Normal,
                    "SuccessfulRescale",
                    format!("New size: {next}; reason: {why}"),
                );
                set(
                    &mut status,
                    "AbleToScale",
                    true,
                    "SucceededRescale",
                    &format!("the HPA controller was able to update the target scale to {next}"),
                );
            }
            Err(e) => {
                set(
                    &mut status,
                    "AbleToScale",
                    false,
                    "FailedUpdateScale",
                    &format!(
                        "the HPA controller was unable to update the target scale: {}",
                        e.message()
                    ),
                );
            }
        }
    } else {
        let (reason, message) = match limit {
            Limit::DownStabilized => (
                "ScaleDownStabilized",
                "recent recommendations were higher than current one, applying the highest recent recommendation",
            ),
            Limit::UpStabilized => (
                "ScaleUpStabilized",
                "recent recommendations were lower than current one, applying the lowest recent recommendation",
            ),
            _ => ("ReadyForNewScale", "recommended size matches current size"),
        };
        set(&mut status, "AbleToScale", true, reason, message);
    }
    write_status(client, s, h, status, &mut state.written).await
}

/// Sets the target's `spec.replicas` to `n`.
async fn scale(client: &Client, t: &Target, n: i32) -> Result<(), Status> {
    let object = match (&t.stored.object, t.kind) {
        (Object::Deployment(d), Kind::Deployment) => {
            let mut d = d.clone();
            d.spec.replicas = Some(n);
            Object::Deployment(d)
        }
        (Object::ReplicaSet(rs), Kind::ReplicaSet) => {
            let mut rs = rs.clone();
            rs.spec.replicas = Some(n);
            Object::ReplicaSet(rs)
        }
        _ => return Err(Status::internal("the target changed kind")),
    };
    client.update(&object, t.stored.revision).await.map(|_| ())
}

/// `ScalingLimited` as `limit` says.
fn limited(status: &mut HorizontalPodAutoscalerStatus, limit: Limit) {
    let (on, reason, message) = match limit {
        Limit::TooManyReplicas => (
            true,
            "TooManyReplicas",
            "the desired replica count is more than the maximum replica count",
        ),
        Limit::TooFewReplicas => (
            true,
            "TooFewReplicas",
            "the desired replica count is less than the minimum replica count",
        ),
        Limit::ScaleUpLimit => (
            true,
            "ScaleUpLimit",
            "the desired replica count is increasing faster than the maximum scale rate",
        ),
        Limit::ScaleDownLimit => (
            true,
            "ScaleDownLimit",
            "the desired replica count is decreasing faster than the maximum scale rate",
        ),
        _ => (
            false,
            "DesiredWithinRange",
            "the desired count is within the acceptable range",
        ),
    };
    set(status, "ScalingLimited", on, reason, message);
}

/// Sets condition `type_`, keeping its transition time when its status stays.
fn set(
    status: &mut HorizontalPodAutoscalerStatus,
    type_: &str,
    on: bool,
    reason: &str,
    message: &str,
) {
    let value = if on {
        ConditionStatus::True
    } else {
        ConditionStatus::False
    };
    let since = status
        .conditions
        .iter()
        .find(|c| c.type_ == type_ && c.status == value)
        .and_then(|c| c.last_transition_time)
        .unwrap_or_else(Time::now);
    status.conditions.retain(|c| c.type_ != type_);
    status.conditions.push(Condition {
        type_: type_.to_owned(),
        status: value,
        reason: Some(reason.to_owned()),
        message: Some(message.to_owned()),
        last_transition_time: Some(since),
        ..Default::default()
    });
    let order = |t: &str| {
        ["AbleToScale", "ScalingActive", "ScalingLimited"]
            .iter()
            .position(|x| *x == t)
    };
    status.conditions.sort_by_key(|c| order(&c.type_));
}

async fn write_status(
    client: &Client,
    s: &Stored,
    h: &HorizontalPodAutoscaler,
    status: HorizontalPodAutoscalerStatus,
    written: &mut Option<Instant>,
) -> Result<(), Status> {
    let old = h.status.clone().unwrap_or_default();
    if old == status {
        return Ok(());
    }
    let figures_only = HorizontalPodAutoscalerStatus {
        current_metrics: status.current_metrics.clone(),
        ..old
    } == status;
    if figures_only && written.is_some_and(|w| w.elapsed() < FIGURES_EVERY) {
        return Ok(());
    }
    *written = Some(Instant::now());
    let mut next = h.clone();
    next.status = Some(status);
    client
        .update_status(&Object::HorizontalPodAutoscaler(next), s.revision)
        .await
        .map(|_| ())
}
