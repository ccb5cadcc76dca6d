//! Rules for workloads that stamp out pods from a template: the selector must select the
//! template, counts must be sane, and the restart policy must fit the workload.

use super::{Context, Violations, meta, pod};
use crate::manifest::FieldPath;
use crate::model::daemonset::DaemonSetSpec;
use crate::model::daemonset::DaemonSetUpdateStrategyType;
use crate::model::deployment::DeploymentStrategyType;
use crate::model::selector::SelectorOperator;
use crate::model::{
    DeploymentSpec, IntOrString, JobSpec, LabelSelector, PodTemplateSpec, RestartPolicy,
    RollingUpdate,
};

pub fn replicas(replicas: Option<i32>, at: &FieldPath, v: &mut Violations) {
    if let Some(r) = replicas {
        v.range(at.field("replicas"), r.into(), 0, i64::MAX);
    }
}

/// The selector is well-formed, not empty, and selects the template's labels.
pub fn selected_template(
    sel: &LabelSelector,
    template: &PodTemplateSpec,
    at: &FieldPath,
    ctx: &Context<'_>,
    v: &mut Violations,
) {
    selector(sel, &at.field("selector"), v);
    let tat = at.field("template");
    meta::labels(
        &template.metadata.labels,
        &tat.field("metadata").field("labels"),
        v,
    );
    if sel.is_empty() {
        v.add_hint(
            at.field("selector"),
            "the selector is empty and would select every pod",
            "set `matchLabels` to the template's labels, e.g. `app: web`",
        );
    } else if !sel.matches(&template.metadata.labels) {
        v.add_hint(
            tat.field("metadata").field("labels"),
            "selector does not match template labels",
            "give the template every label of `spec.selector.matchLabels` (and satisfy its matchExpressions)",
        );
    }
    pod::pod_spec(&template.spec, &tat.field("spec"), ctx, v);
}

fn selector(sel: &LabelSelector, at: &FieldPath, v: &mut Violations) {
    meta::labels(&sel.match_labels, &at.field("matchLabels"), v);
    for (i, r) in sel.match_expressions.iter().enumerate() {
        let rat = at.field("matchExpressions").index(i);
        let needs_values = matches!(r.operator, SelectorOperator::In | SelectorOperator::NotIn);
        if needs_values && r.values.is_empty() {
            v.add(
                rat.field("values"),
                format!("operator {:?} needs at least one value", r.operator),
            );
        } else if !needs_values && !r.values.is_empty() {
            v.add(
                rat.field("values"),
                format!("operator {:?} takes no values", r.operator),
            );
        }
    }
}

fn restart_policy(
    template: &PodTemplateSpec,
    allowed: &[RestartPolicy],
    what: &str,
    at: &FieldPath,
    v: &mut Violations,
) {
    let policy = template
        .spec
        .restart_policy
        .unwrap_or(RestartPolicy::Always);
    if !allowed.contains(&policy) {
        let names: Vec<String> = allowed.iter().map(|p| format!("{p:?}")).collect();
        v.add_hint(
            at.field("template").field("spec").field("restartPolicy"),
            format!("restartPolicy {policy:?} is not allowed in a {what}"),
            format!("use restartPolicy {}", names.join(" or ")),
        );
    }
}

/// `maxSurge`/`maxUnavailable`: a non-negative number or a percentage.
fn rolling_update(ru: &RollingUpdate, at: &FieldPath, v: &mut Violations) -> (bool, bool) {
    let mut zero = [false, false];
    for (i, (value, field)) in [
        (&ru.max_surge, "maxSurge"),
        (&ru.max_unavailable, "maxUnavailable"),
    ]
    .into_iter()
    .enumerate()
    {
        let fat = at.field(field);
        match value {
            Some(IntOrString::Int(n)) => {
                v.range(fat, (*n).into(), 0, i64::MAX);
                zero[i] = *n == 0;
            }
            Some(IntOrString::String(s)) => {
                match s.strip_suffix('%').and_then(|p| p.parse::<u32>().ok()) {
                    Some(p) if p <= 100 => zero[i] = p == 0,
                    _ => v.add_hint(
                        fat,
                        format!("invalid value {s:?}"),
                        "write a number such as 1 or a percentage such as 25%",
                    ),
                }
            }
            None => {}
        }
    }
    (zero[0], zero[1])
}

pub fn deployment(spec: &DeploymentSpec, at: &FieldPath, ctx: &Context<'_>, v: &mut Violations) {
    replicas(spec.replicas, at, v);
    selected_template(&spec.selector, &spec.template, at, ctx, v);
    restart_policy(
        &spec.template,
        &[RestartPolicy::Always],
        "Deployment",
        at,
        v,
    );
    if let Some(s) = &spec.strategy {
        let sat = at.field("strategy");
        match (s.type_.unwrap_or_default(), &s.rolling_update) {
            (DeploymentStrategyType::Recreate | DeploymentStrategyType::Canary, Some(_)) => v
                .add_hint(
                    sat.field("rollingUpdate"),
                    "rollingUpdate is only for type RollingUpdate",
                    "remove it, or use type RollingUpdate",
                ),
            (DeploymentStrategyType::RollingUpdate, Some(ru)) => {
                let (no_surge, no_unavailable) = rolling_update(ru, &sat.field("rollingUpdate"), v);
                if no_surge && no_unavailable {
                    v.add(sat.field("rollingUpdate"), "maxSurge and maxUnavailable cannot both be 0: the rollout could never progress");
                }
            }
            _ => {}
        }
        match (s.type_.unwrap_or_default(), &s.canary) {
            (DeploymentStrategyType::Canary, Some(c)) => {
                super::canary::strategy(c, &sat.field("canary"), v);
            }
            (DeploymentStrategyType::Canary, None) => v.add_hint(
                sat.field("canary"),
                "type Canary needs a canary section",
                "name stableService, canaryService and httpRoute, and list the steps",
            ),
            (_, Some(_)) => v.add_hint(
                sat.field("canary"),
                "canary is only for type Canary",
                "remove it, or set type: Canary",
            ),
            (_, None) => {}
        }
    }
    for (value, field) in [
        (spec.min_ready_seconds, "minReadySeconds"),
        (spec.revision_history_limit, "revisionHistoryLimit"),
    ] {
        if let Some(n) = value {
            v.range(at.field(field), n.into(), 0, i64::MAX);
        }
    }
    if let Some(p) = spec.progress_deadline_seconds {
        v.range(at.field("progressDeadlineSeconds"), p.into(), 1, i64::MAX);
    }
}

pub fn daemonset(spec: &DaemonSetSpec, at: &FieldPath, ctx: &Context<'_>, v: &mut Violations) {
    selected_template(&spec.selector, &spec.template, at, ctx, v);
    restart_policy(&spec.template, &[RestartPolicy::Always], "DaemonSet", at, v);
    if let Some(s) = &spec.update_strategy
        && let Some(ru) = &s.rolling_update
    {
        let sat = at.field("updateStrategy").field("rollingUpdate");
        if s.type_ == Some(DaemonSetUpdateStrategyType::OnDelete) {
            v.add(sat, "rollingUpdate is only for type RollingUpdate");
        } else {
            rolling_update(ru, &sat, v);
        }
    }
}

pub fn job(spec: &JobSpec, at: &FieldPath, ctx: &Context<'_>, v: &mut Violations) {
    match &spec.selector {
        Some(sel) => selected_template(sel, &spec.template, at, ctx, v),
        None => {
            meta::labels(
                &spec.template.metadata.labels,
                &at.field("template").field("metadata").field("labels"),
                v,
            );
            pod::pod_spec(
                &spec.template.spec,
                &at.field("template").field("spec"),
                ctx,
                v,
            );
        }
    }
    restart_policy(
        &spec.template,
        &[RestartPolicy::Never, RestartPolicy::OnFailure],
        "Job",
        at,
        v,
    );
    for (value, field) in [
        (spec.completions, "completions"),
        (spec.parallelism, "parallelism"),
        (spec.backoff_limit, "backoffLimit"),
        (spec.ttl_seconds_after_finished, "ttlSecondsAfterFinished"),
    ] {
        if let Some(n) = value {
            v.range(at.field(field), n.into(), 0, i64::MAX);
        }
    }
    if let Some(d) = spec.active_deadline_seconds {
        v.range(at.field("activeDeadlineSeconds"), d, 1, i64::MAX);
    }
}
