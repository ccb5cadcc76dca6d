//! How one RBAC rule matches a request, and when one set of rules covers another (the
//! escalation check: nobody grants what they do not hold). Kubernetes' `rbac/v1` helpers
//! and `validation.Covers`.

use skiff_proto::model::PolicyRule;

use super::attributes::Attributes;

const ALL: &str = "*";

fn has(list: &[String], x: &str) -> bool {
    list.iter().any(|v| v == ALL || v == x)
}

fn resource_matches(rule: &PolicyRule, a: &Attributes) -> bool {
    let path = a.resource_path();
    rule.resources.iter().any(|r| {
        r == ALL
            || *r == path
            || (!a.subresource.is_empty() && r.strip_prefix("*/") == Some(a.subresource.as_str()))
    })
}

/// Whether `rule` allows the request `a`.
pub fn allows(rule: &PolicyRule, a: &Attributes) -> bool {
    has(&rule.verbs, &a.verb)
        && has(&rule.api_groups, &a.group)
        && resource_matches(rule, a)
        && (rule.resource_names.is_empty() || rule.resource_names.contains(&a.name))
}

/// One grant a rule makes, down to a single verb, group, resource and name.
struct Atom<'a> {
    verb: &'a str,
    group: &'a str,
    resource: &'a str,
    name: Option<&'a str>,
}

fn atom_covered(owner: &PolicyRule, x: &Atom<'_>) -> bool {
    let lit = |list: &[String], v: &str| list.iter().any(|o| o == ALL || o == v);
    lit(&owner.verbs, x.verb)
        && lit(&owner.api_groups, x.group)
        && owner.resources.iter().any(|r| {
            r == ALL
                || r == x.resource
                || x.resource
                    .split_once('/')
                    .is_some_and(|(_, sub)| r.strip_prefix("*/") == Some(sub))
        })
        && (owner.resource_names.is_empty()
            || x.name
                .is_some_and(|n| owner.resource_names.iter().any(|o| o == n)))
}

fn url_covered(owner: &PolicyRule, verb: &str, url: &str) -> bool {
    owner.verbs.iter().any(|v| v == ALL || v == verb)
        && owner.non_resource_urls.iter().any(|o| {
            o == url
                || o == ALL
                || o.strip_suffix('*')
                    .is_some_and(|prefix| url.starts_with(prefix) && !url.ends_with('*'))
        })
}

/// Whether `owner` together allows everything `requested` grants. A wildcard in
/// `requested` is covered only by the same wildcard.
pub fn covers<'a>(
    owner: impl Iterator<Item = &'a PolicyRule> + Clone,
    requested: &PolicyRule,
) -> bool {
    let names: Vec<Option<&str>> = if requested.resource_names.is_empty() {
        vec![None]
    } else {
        requested
            .resource_names
            .iter()
            .map(|n| Some(n.as_str()))
            .collect()
    };
    for verb in &requested.verbs {
        for url in &requested.non_resource_urls {
            if !owner.clone().any(|o| url_covered(o, verb, url)) {
                return false;
            }
        }
        for group in &requested.api_groups {
            for resource in &requested.resources {
                for name in &names {
                    let atom = Atom {
                        verb,
                        group,
                        resource,
                        name: *name,
                    };
                    if !owner.clone().any(|o| atom_covered(o, &atom)) {
                        return false;
                    }
                }
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::attributes::verb;
    use skiff_proto::Kind;

    fn rule(verbs: &[&str], groups: &[&str], resources: &[&str], names: &[&str]) -> PolicyRule {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect();
        PolicyRule {
            verbs: v(verbs),
            api_groups: v(groups),
            resources: v(resources),
            resource_names: v(names),
            non_resource_urls: Vec::new(),
        }
    }

    #[test]
    fn a_rule_matches_verb_group_resource_and_name() {
        let r = rule(&["get", "list"], &[""], &["secrets"], &[]);
        assert!(allows(
            &r,
            &Attributes::kind(verb::LIST, Kind::Secret, "a", "")
        ));
        assert!(!allows(
            &r,
            &Attributes::kind(verb::WATCH, Kind::Secret, "a", "")
        ));
        assert!(!allows(
            &r,
            &Attributes::kind(verb::LIST, Kind::ConfigMap, "a", "")
        ));
        assert!(!allows(
            &r,
            &Attributes::kind(verb::LIST, Kind::Deployment, "a", "")
        ));
        let named = rule(&["get"], &[""], &["secrets"], &["db"]);
        assert!(allows(
            &named,
            &Attributes::kind(verb::GET, Kind::Secret, "a", "db")
        ));
        assert!(!allows(
            &named,
            &Attributes::kind(verb::GET, Kind::Secret, "a", "other")
        ));
        // A list names no object, so a rule limited to names never allows it.
        assert!(!allows(
            &named,
            &Attributes::kind("list", Kind::Secret, "a", "")
        ));
    }

    #[test]
    fn subresources_need_their_own_grant_or_a_star_prefix() {
        let pods = rule(&["get"], &[""], &["pods"], &[]);
        let log = Attributes::kind(verb::GET, Kind::Pod, "a", "web").subresource("log");
        assert!(!allows(&pods, &log));
        assert!(allows(&rule(&["get"], &[""], &["pods/log"], &[]), &log));
        let status = rule(&["update"], &["*"], &["*/status"], &[]);
        assert!(allows(
            &status,
            &Attributes::kind(verb::UPDATE, Kind::Deployment, "a", "d").subresource("status")
        ));
        assert!(!allows(
            &status,
            &Attributes::kind(verb::UPDATE, Kind::Deployment, "a", "d")
        ));
    }

    #[test]
    fn covering_breaks_rules_down_and_wildcards_cover_only_wildcards() {
        let owner = [rule(&["get", "list"], &[""], &["pods", "secrets"], &[])];
        assert!(covers(owner.iter(), &rule(&["get"], &[""], &["pods"], &[])));
        assert!(covers(
            owner.iter(),
            &rule(&["get"], &[""], &["secrets"], &["x"])
        ));
        assert!(!covers(
            owner.iter(),
            &rule(&["delete"], &[""], &["pods"], &[])
        ));
        assert!(!covers(owner.iter(), &rule(&["get"], &[""], &["*"], &[])));
        assert!(!covers(owner.iter(), &rule(&["*"], &[""], &["pods"], &[])));
        let all = [rule(&["*"], &["*"], &["*"], &[])];
        assert!(covers(all.iter(), &rule(&["*"], &["*"], &["*"], &[])));
        // Rules split across several owner rules still cover.
        let split = [
            rule(&["get"], &[""], &["pods"], &[]),
            rule(&["list"], &[""], &["pods"], &[]),
        ];
        assert!(covers(
            split.iter(),
            &rule(&["get", "list"], &[""], &["pods"], &[])
        ));
        // An owner limited to names covers only those names.
        let named = [rule(&["get"], &[""], &["secrets"], &["a"])];
        assert!(covers(
            named.iter(),
            &rule(&["get"], &[""], &["secrets"], &["a"])
        ));
        assert!(!covers(
            named.iter(),
            &rule(&["get"], &[""], &["secrets"], &[])
        ));
    }
}
