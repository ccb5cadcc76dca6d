//! Rules for a Deployment's canary strategy: the Services and the route are named, the
//! two Services differ, every step is one thing, and weights, durations and thresholds
//! are in range.

use super::{Violations, names};
use crate::manifest::FieldPath;
use crate::model::canary::{CanaryAnalysis, CanaryStrategy};
use crate::model::httproute::parse_duration;

pub fn strategy(c: &CanaryStrategy, at: &FieldPath, v: &mut Violations) {
    for (name, field) in [
        (&c.stable_service, "stableService"),
        (&c.canary_service, "canaryService"),
    ] {
        if let Err(why) = names::dns_label(name) {
            v.add_hint(
                at.field(field),
                why,
                "name a Service in the Deployment's namespace",
            );
        }
    }
    if !c.stable_service.is_empty() && c.stable_service == c.canary_service {
        v.add_hint(
            at.field("canaryService"),
            "the canary and stable Services are the same",
            "use two Services: the controller pins each to one revision",
        );
    }
    if let Err(why) = names::dns_subdomain(&c.http_route) {
        v.add_hint(
            at.field("httpRoute"),
            why,
            "name the HTTPRoute whose rules send to both Services",
        );
    }
    for (i, step) in c.steps.iter().enumerate() {
        let sat = at.field("steps").index(i);
        match (step.set_weight, &step.pause) {
            (Some(w), None) => v.range(sat.field("setWeight"), w.into(), 0, 100),
            (None, Some(p)) => {
                if let Some(d) = &p.duration
                    && let Err(why) = parse_duration(d)
                {
                    v.add(sat.field("pause").field("duration"), why);
                }
            }
            _ => v.add_hint(
                sat,
                "a step has exactly one of setWeight and pause",
                "write `- setWeight: 20` or `- pause: {duration: 30s}` as separate steps",
            ),
        }
    }
    if let Some(a) = &c.analysis {
        analysis(a, &at.field("analysis"), v);
    }
}

fn analysis(a: &CanaryAnalysis, at: &FieldPath, v: &mut Violations) {
    for (value, field, min, max) in [
        (a.min_success_percent, "minSuccessPercent", 0, 100),
        (a.max_p99_millis, "maxP99Millis", 1, i64::from(i32::MAX)),
        (a.interval_seconds, "intervalSeconds", 1, 3600),
        (a.min_requests, "minRequests", 1, i64::from(i32::MAX)),
        (a.failure_limit, "failureLimit", 0, 1000),
    ] {
        if let Some(n) = value {
            v.range(at.field(field), n.into(), min, max);
        }
    }
}
