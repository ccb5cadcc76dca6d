//! Refuses objects that lack any label named in the policy's `labels` config value
//! (comma-separated; `team` when unset), saying which are missing.

use skiff_sdk::policy::{Request, Verdict};

#[skiff_sdk::policy]
fn require_labels(req: &Request) -> Verdict {
    let wanted = skiff_sdk::config::get("labels")
        .ok()
        .flatten()
        .unwrap_or_else(|| "team".into());
    let missing: Vec<&str> = wanted
        .split(',')
        .map(str::trim)
        .filter(|l| !l.is_empty() && req.label(l).is_none())
        .collect();
    if missing.is_empty() {
        Verdict::Allow
    } else {
        Verdict::Deny(format!(
            "{} {:?} must have the label(s) {}",
            req.kind,
            req.name,
            missing.join(", ")
        ))
    }
}
