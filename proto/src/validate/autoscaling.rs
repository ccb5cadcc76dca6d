//! HorizontalPodAutoscaler rules, as Kubernetes' validation has them, narrowed to what
//! Skiff measures: Resource metrics of `cpu` and `memory`, and Pods metrics the routers
//! count (`http_requests_per_second`, `http_requests_in_flight`).

use super::Violations;
use crate::manifest::FieldPath;
use crate::model::autoscaling::*;

/// What an HPA may scale.
const TARGETS: [&str; 2] = ["Deployment", "ReplicaSet"];

pub fn spec(s: &HorizontalPodAutoscalerSpec, at: &FieldPath, v: &mut Violations) {
    let target = at.field("scaleTargetRef");
    if !TARGETS.contains(&s.scale_target_ref.kind.as_str()) {
        v.add_hint(
            target.field("kind"),
            format!("cannot scale a {:?}", s.scale_target_ref.kind),
            "name a Deployment or a ReplicaSet in the same namespace",
        );
    }
    if s.scale_target_ref.name.is_empty() {
        v.add(
            target.field("name"),
            "the name of what to scale is required",
        );
    }
    let min = s.min_replicas.unwrap_or(1);
    v.range(at.field("minReplicas"), min.into(), 0, i64::MAX);
    v.range(at.field("maxReplicas"), s.max_replicas.into(), 1, i64::MAX);
    if s.max_replicas < min {
        v.add(
            at.field("maxReplicas"),
            format!("must be at least minReplicas ({min})"),
        );
    }
    let http = s.metrics.iter().any(|m| m.type_ == MetricSourceType::Pods);
    if min == 0 && !http {
        v.add_hint(
            at.field("minReplicas"),
            "0 replicas needs a metric that a request can wake",
            "add a Pods metric (`http_requests_in_flight` or `http_requests_per_second`) of an HTTP workload, or set minReplicas to 1",
        );
    }
    for (i, m) in s.metrics.iter().enumerate() {
        metric(m, &at.field("metrics").index(i), v);
    }
    if let Some(b) = &s.behavior {
        let bat = at.field("behavior");
        for (name, rules) in [("scaleUp", &b.scale_up), ("scaleDown", &b.scale_down)] {
            if let Some(r) = rules {
                scaling_rules(r, &bat.field(name), v);
            }
        }
    }
}

fn metric(m: &MetricSpec, at: &FieldPath, v: &mut Violations) {
    match m.type_ {
        MetricSourceType::Resource => {
            let Some(r) = &m.resource else {
                v.add(at.field("resource"), "a Resource metric needs `resource`");
                return;
            };
            if m.pods.is_some() {
                v.add(at.field("pods"), "a Resource metric has no `pods`");
            }
            let rat = at.field("resource");
            if !["cpu", "memory"].contains(&r.name.as_str()) {
                v.add_hint(
                    rat.field("name"),
                    format!("unknown resource {:?}", r.name),
                    "use cpu or memory",
                );
            }
            target(&r.target, &rat.field("target"), true, v);
        }
        MetricSourceType::Pods => {
            let Some(p) = &m.pods else {
                v.add(at.field("pods"), "a Pods metric needs `pods`");
                return;
            };
            if m.resource.is_some() {
                v.add(at.field("resource"), "a Pods metric has no `resource`");
            }
            let pat = at.field("pods");
            let name = p.metric.name.as_str();
            if name != HTTP_REQUESTS_PER_SECOND && name != HTTP_REQUESTS_IN_FLIGHT {
                v.add_hint(
                    pat.field("metric").field("name"),
                    format!("Skiff does not measure {name:?} per pod"),
                    format!(
                        "use {HTTP_REQUESTS_PER_SECOND} or {HTTP_REQUESTS_IN_FLIGHT} (counted by the routers)"
                    ),
                );
            }
            target(&p.target, &pat.field("target"), false, v);
        }
    }
}

fn target(t: &MetricTarget, at: &FieldPath, utilization: bool, v: &mut Violations) {
    match t.type_ {
        MetricTargetType::Utilization if utilization => match t.average_utilization {
            Some(u) => v.range(at.field("averageUtilization"), u.into(), 1, i64::MAX),
            None => v.add(
                at.field("averageUtilization"),
                "a Utilization target needs averageUtilization (percent of the pods' requests)",
            ),
        },
        MetricTargetType::AverageValue => match &t.average_value {
            Some(q) if q.milli_value() > 0 => {}
            Some(q) => v.add(
                at.field("averageValue"),
                format!("must be more than 0 (is {})", q.as_str()),
            ),
            None => v.add(
                at.field("averageValue"),
                "an AverageValue target needs averageValue (per pod)",
            ),
        },
        other => v.add_hint(
            at.field("type"),
            format!("{other:?} is not a target of this metric"),
            if utilization {
                "use Utilization (with averageUtilization) or AverageValue"
            } else {
                "use AverageValue (with averageValue per pod)"
            },
        ),
    }
}

fn scaling_rules(r: &HpaScalingRules, at: &FieldPath, v: &mut Violations) {
    if let Some(w) = r.stabilization_window_seconds {
        v.range(at.field("stabilizationWindowSeconds"), w.into(), 0, 3600);
    }
    if r.policies.is_empty() && r.select_policy != Some(ScalingPolicySelect::Disabled) {
        v.add_hint(
            at.field("policies"),
            "at least one policy is required",
            "e.g. `policies: [{type: Percent, value: 100, periodSeconds: 15}]`, or `selectPolicy: Disabled`",
        );
    }
    for (i, p) in r.policies.iter().enumerate() {
        let pat = at.field("policies").index(i);
        v.range(pat.field("value"), p.value.into(), 1, i64::MAX);
        v.range(pat.field("periodSeconds"), p.period_seconds.into(), 1, 1800);
    }
}
