//! Rules for where a pod may run: tolerations, node and pod affinity, topology spread
//! (Kubernetes' own rules, so a manifest Kubernetes accepts is accepted here).

use super::Violations;
use crate::manifest::FieldPath;
use crate::model::PodSpec;
use crate::model::scheduling::*;

pub fn scheduling(spec: &PodSpec, at: &FieldPath, v: &mut Violations) {
    for (i, t) in spec.tolerations.iter().enumerate() {
        toleration(t, &at.field("tolerations").index(i), v);
    }
    if let Some(a) = &spec.affinity {
        let aat = at.field("affinity");
        if let Some(na) = &a.node_affinity {
            let nat = aat.field("nodeAffinity");
            if let Some(r) = &na.required_during_scheduling_ignored_during_execution {
                let rat = nat
                    .field("requiredDuringSchedulingIgnoredDuringExecution")
                    .field("nodeSelectorTerms");
                if r.node_selector_terms.is_empty() {
                    v.add(rat.clone(), "give at least one term (terms are ORed)");
                }
                for (i, t) in r.node_selector_terms.iter().enumerate() {
                    term(t, &rat.index(i), v);
                }
            }
            for (i, p) in na
                .preferred_during_scheduling_ignored_during_execution
                .iter()
                .enumerate()
            {
                let pat = nat
                    .field("preferredDuringSchedulingIgnoredDuringExecution")
                    .index(i);
                v.range(pat.field("weight"), p.weight.into(), 1, 100);
                term(&p.preference, &pat.field("preference"), v);
            }
        }
        for (pa, field) in [
            (&a.pod_affinity, "podAffinity"),
            (&a.pod_anti_affinity, "podAntiAffinity"),
        ] {
            let Some(pa) = pa else { continue };
            let pat = aat.field(field);
            for (i, t) in pa
                .required_during_scheduling_ignored_during_execution
                .iter()
                .enumerate()
            {
                pod_term(
                    t,
                    &pat.field("requiredDuringSchedulingIgnoredDuringExecution")
                        .index(i),
                    v,
                );
            }
            for (i, w) in pa
                .preferred_during_scheduling_ignored_during_execution
                .iter()
                .enumerate()
            {
                let wat = pat
                    .field("preferredDuringSchedulingIgnoredDuringExecution")
                    .index(i);
                v.range(wat.field("weight"), w.weight.into(), 1, 100);
                pod_term(&w.pod_affinity_term, &wat.field("podAffinityTerm"), v);
            }
        }
    }
    for (i, c) in spec.topology_spread_constraints.iter().enumerate() {
        let cat = at.field("topologySpreadConstraints").index(i);
        v.range(
            cat.field("maxSkew"),
            c.max_skew.into(),
            1,
            i64::from(i32::MAX),
        );
        if c.topology_key.is_empty() {
            v.add_hint(
                cat.field("topologyKey"),
                "missing topologyKey",
                "name the node label whose values are the domains, e.g. topology.kubernetes.io/zone",
            );
        }
    }
}

fn toleration(t: &Toleration, at: &FieldPath, v: &mut Violations) {
    let op = t.operator.unwrap_or_default();
    let key_empty = t.key.as_deref().is_none_or(str::is_empty);
    if key_empty && op != TolerationOperator::Exists {
        v.add_hint(
            at.field("operator"),
            "a toleration without a key must use operator Exists",
            "give a `key`, or `operator: Exists` to tolerate every taint",
        );
    }
    if op == TolerationOperator::Exists && t.value.as_deref().is_some_and(|v| !v.is_empty()) {
        v.add(
            at.field("value"),
            "a toleration with operator Exists takes no value",
        );
    }
    if t.toleration_seconds.is_some() && t.effect != Some(TaintEffect::NoExecute) {
        v.add_hint(
            at.field("tolerationSeconds"),
            "tolerationSeconds is only for effect NoExecute",
            "add `effect: NoExecute`, or remove tolerationSeconds",
        );
    }
}

fn term(t: &NodeSelectorTerm, at: &FieldPath, v: &mut Violations) {
    for (list, field) in [
        (&t.match_expressions, "matchExpressions"),
        (&t.match_fields, "matchFields"),
    ] {
        for (i, r) in list.iter().enumerate() {
            requirement(r, &at.field(field).index(i), v);
        }
        if field == "matchFields" {
            for (i, r) in list.iter().enumerate() {
                if r.key != "metadata.name" {
                    v.add(
                        at.field(field).index(i).field("key"),
                        format!(
                            "{:?} is not a field a node can be matched by; use metadata.name",
                            r.key
                        ),
                    );
                }
            }
        }
    }
}

fn requirement(r: &NodeSelectorRequirement, at: &FieldPath, v: &mut Violations) {
    use NodeSelectorOperator::*;
    let n = r.values.len();
    match r.operator {
        In | NotIn if n == 0 => v.add(
            at.field("values"),
            format!("operator {:?} needs at least one value", r.operator),
        ),
        Exists | DoesNotExist if n > 0 => v.add(
            at.field("values"),
            format!("operator {:?} takes no values", r.operator),
        ),
        Gt | Lt if n != 1 || r.values[0].trim().parse::<i64>().is_err() => v.add_hint(
            at.field("values"),
            format!("operator {:?} needs exactly one integer value", r.operator),
            "e.g. `values: [\"4\"]`",
        ),
        _ => {}
    }
}

fn pod_term(t: &PodAffinityTerm, at: &FieldPath, v: &mut Violations) {
    if t.topology_key.is_empty() {
        v.add_hint(
            at.field("topologyKey"),
            "missing topologyKey",
            "name the node label that defines \"the same place\", e.g. kubernetes.io/hostname",
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::manifest::{Source, decode_one};

    fn problems(spec: &str) -> String {
        let text = format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers: [{{name: c, image: a}}]\n{spec}"
        );
        match decode_one(&text, &Source::named("t")) {
            Ok(_) => String::new(),
            Err(d) => d.to_string(),
        }
    }

    #[test]
    fn scheduling_fields_are_checked_as_kubernetes_checks_them() {
        assert_eq!(
            problems("  tolerations: [{key: gpu, operator: Exists}]\n"),
            ""
        );
        assert!(
            problems("  tolerations: [{value: x}]\n")
                .contains("without a key must use operator Exists")
        );
        assert!(
            problems("  tolerations: [{key: a, tolerationSeconds: 5}]\n")
                .contains("only for effect NoExecute")
        );
        assert!(
            problems("  affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: gen, operator: Gt, values: [x]}]}]}}}\n")
                .contains("exactly one integer value")
        );
        assert!(
            problems("  affinity: {nodeAffinity: {preferredDuringSchedulingIgnoredDuringExecution: [{weight: 500, preference: {matchExpressions: [{key: a, operator: Exists}]}}]}}\n")
                .contains("weight")
        );
        assert!(problems("  topologySpreadConstraints: [{maxSkew: 0, topologyKey: zone, whenUnsatisfiable: DoNotSchedule}]\n").contains("maxSkew"));
        assert!(
            problems("  affinity: {podAntiAffinity: {requiredDuringSchedulingIgnoredDuringExecution: [{labelSelector: {matchLabels: {app: a}}, topologyKey: ''}]}}\n")
                .contains("missing topologyKey")
        );
    }
}
