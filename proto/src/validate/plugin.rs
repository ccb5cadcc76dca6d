//! Rules for Wasm plugins: an HttpFilter's and a WasmAdmissionPolicy's component, limits
//! and matches.

use super::Violations;
use crate::artifact::parse_wasm_image;
use crate::manifest::FieldPath;
use crate::model::Quantity;
use crate::model::httproute::parse_duration;
use crate::model::plugin::{AdmissionPolicySpec, PluginSpec};
use crate::object::Kind;

/// The longest a plugin may be given per call.
const MAX_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// The most memory a plugin instance may be given.
const MAX_MEMORY: i128 = 1 << 30;

pub fn plugin(p: &PluginSpec, at: &FieldPath, v: &mut Violations) {
    if let Err(why) = parse_wasm_image(&p.image) {
        v.add(at.field("image"), why);
    }
    if let Some(t) = &p.timeout {
        match parse_duration(t) {
            Err(why) => v.add(at.field("timeout"), why),
            Ok(d) if d.is_zero() || d > MAX_TIMEOUT => v.add_hint(
                at.field("timeout"),
                format!("{t} is not between 1ms and {MAX_TIMEOUT:?}"),
                "a plugin runs on every request or write: give it milliseconds",
            ),
            Ok(_) => {}
        }
    }
    if let Some(m) = &p.memory {
        memory(m, &at.field("memory"), v);
    }
}

fn memory(m: &Quantity, at: &FieldPath, v: &mut Violations) {
    let bytes = m.value();
    if !(64 * 1024..=MAX_MEMORY).contains(&bytes) {
        v.add_hint(
            at.clone(),
            format!("{} is not between 64Ki and 1Gi", m.as_str()),
            "a plugin instance needs at least one 64 KiB Wasm page",
        );
    }
}

pub fn admission_policy(p: &AdmissionPolicySpec, at: &FieldPath, v: &mut Violations) {
    plugin(&p.plugin(), at, v);
    let m = &p.match_resources;
    let mat = at.field("matchResources");
    for (i, k) in m.kinds.iter().enumerate() {
        if Kind::from_name(k).is_none() {
            v.add_hint(
                mat.field("kinds").index(i),
                format!("no kind {k:?}"),
                "name kinds as manifests do, e.g. Deployment or Pod",
            );
        }
    }
    for (i, o) in m.operations.iter().enumerate() {
        match o.as_str() {
            "CREATE" | "UPDATE" => {}
            "DELETE" => v.add_hint(
                mat.field("operations").index(i),
                "deletions are not reviewed yet",
                "review CREATE and UPDATE (the default)",
            ),
            _ => v.add(
                mat.field("operations").index(i),
                format!("{o:?} is not CREATE or UPDATE"),
            ),
        }
    }
}
