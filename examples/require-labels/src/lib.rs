//! Makes sure objects carry the labels named in the policy's `labels` config value
//! (comma-separated; `team` when unset). A missing label with a default in the `defaults`
//! config value (`team=platform,tier=web`) is added with a JSON merge patch; any other
//! missing label refuses the write, saying which.

use skiff_sdk::policy::{Request, Verdict};

#[skiff_sdk::policy]
fn require_labels(req: &Request) -> Verdict {
    let config = |key: &str| skiff_sdk::config::get(key).ok().flatten();
    let wanted = config("labels").unwrap_or_else(|| "team".into());
    let defaults = config("defaults").unwrap_or_default();
    let default_of = |label: &str| {
        defaults
            .split(',')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| k.trim() == label)
            .map(|(_, v)| v.trim().to_owned())
    };
    let (mut added, mut missing) = (Vec::new(), Vec::new());
    for label in wanted.split(',').map(str::trim).filter(|l| !l.is_empty()) {
        if req.label(label).is_some() {
            continue;
        }
        match default_of(label) {
            Some(v) => added.push(format!("{label:?}:{v:?}")),
            None => missing.push(label),
        }
    }
    if !missing.is_empty() {
        return Verdict::Deny(format!(
            "{} {:?} must have the label(s) {}",
            req.kind,
            req.name,
            missing.join(", ")
        ));
    }
    if added.is_empty() {
        return Verdict::Allow;
    }
    Verdict::Patch(format!(
        r#"{{"metadata":{{"labels":{{{}}}}}}}"#,
        added.join(",")
    ))
}
