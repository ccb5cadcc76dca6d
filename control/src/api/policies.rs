//! Wasm admission policies: before a create or an update is stored, every
//! WasmAdmissionPolicy that matches it (kind, namespace, labels, operation) reviews the
//! object, in name order, as ValidatingAdmissionPolicies and admission webhooks do. A
//! policy allows, denies with a message the writer sees, or patches the object (a JSON
//! merge patch, after which the object is decoded and validated again). A policy that
//! fails (cannot load, traps, misses its deadline) refuses the write under
//! `failurePolicy: Fail` and is skipped under `Ignore`.
//!
//! The Wasm engine is behind [`PolicyRunner`] (the `skiff` binary gives the node's
//! wasmtime host); a member without one refuses writes a `Fail` policy matches.

use std::sync::Arc;

use serde_json::Value;
use skiff_proto::manifest::{self, Source};
use skiff_proto::model::plugin::{FailurePolicy, WasmAdmissionPolicy};
use skiff_proto::{Kind, Object};
use tonic::Status;

use super::objects::ObjectApi;
use super::status;
use crate::store::blobs::Blobs;

tokio::task_local! {
    /// Who is writing, for the policies' `user` (set by the authorizing layer).
    pub static WRITER: String;
}

/// Where a client's idempotency key applies: who writes (as authenticated) and what.
pub fn key_scope(what: &str) -> String {
    let who = WRITER.try_with(Clone::clone).unwrap_or_default();
    format!("{who}\0{what}")
}

/// The policies read last, with the change stamp of their kind then.
pub type PolicyCache = std::sync::Mutex<Option<(u64, Arc<Vec<WasmAdmissionPolicy>>)>>;

/// One write under review, as the policy world's `request` has it.
#[derive(Debug, Clone)]
pub struct Review {
    pub operation: &'static str,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub object: String,
    pub old_object: Option<String>,
    pub user: String,
}

/// A policy's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    Deny(String),
    /// A JSON merge patch (RFC 7386).
    Patch(String),
}

/// A policy's component: its name, the artifact's digest, and how to read it.
pub struct PolicyCall<'a> {
    pub name: &'a str,
    pub policy: &'a WasmAdmissionPolicy,
    /// The hex sha256 of the component.
    pub digest: &'a str,
    /// Reads the component's bytes (on first use; a runner caches what it compiles).
    pub bytes: &'a (dyn Fn() -> Result<Vec<u8>, String> + Sync),
}

/// Runs admission policies' components.
#[tonic::async_trait]
pub trait PolicyRunner: Send + Sync {
    /// The verdict of `call` on `review`, or why the policy failed.
    async fn review(&self, call: &PolicyCall<'_>, review: &Review) -> Result<Verdict, String>;
}

impl std::fmt::Debug for dyn PolicyRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PolicyRunner")
    }
}

/// Whether `p` reviews `operation` of `o`.
fn matches(p: &WasmAdmissionPolicy, o: &Object, operation: &str) -> bool {
    let m = &p.spec.match_resources;
    let kind = o.kind();
    let meta = o.metadata();
    let kind_ok = match m.kinds.is_empty() {
        // Everything but the policies themselves and events.
        true => !matches!(kind, Kind::WasmAdmissionPolicy | Kind::Event),
        false => m.kinds.iter().any(|k| k == kind.name()),
    };
    let op_ok = match m.operations.is_empty() {
        true => matches!(operation, "CREATE" | "UPDATE"),
        false => m.operations.iter().any(|x| x == operation),
    };
    kind_ok
        && op_ok
        && (m.namespaces.is_empty() || m.namespaces.contains(&meta.namespace))
        && m.object_selector
            .as_ref()
            .is_none_or(|s| s.matches(&meta.labels))
}

/// The whole artifact `hex` from this member's blobs.
fn read_artifact(blobs: &Blobs, hex: &str) -> Result<Vec<u8>, String> {
    let m = blobs
        .manifest(hex)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| {
            format!("artifact sha256:{hex} is not in the store (upload it with `skiff apply`)")
        })?;
    let mut out = Vec::with_capacity(usize::try_from(m.size).unwrap_or(0));
    for c in &m.chunks {
        let chunk = blobs
            .chunk(c)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("chunk {c} of sha256:{hex} is missing"))?;
        out.extend(chunk);
    }
    Ok(out)
}

/// RFC 7386: `patch` merged into `target`.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

fn json(o: &Object) -> Result<String, Status> {
    o.to_json()
        .map_err(|e| Status::internal(format!("encoding {}: {e}", o.display_name())))
}

impl ObjectApi {
    /// Runs the policies that match `operation` of `o` (replacing `old` on an update):
    /// the object as they leave it, or the refusal.
    pub(super) async fn policies(
        &self,
        mut o: Object,
        old: Option<&Object>,
        operation: &'static str,
    ) -> Result<Object, Status> {
        if matches!(o.kind(), Kind::WasmAdmissionPolicy | Kind::Event) {
            return Ok(o);
        }
        let policies: Vec<WasmAdmissionPolicy> = self
            .all_policies()?
            .iter()
            .filter(|p| matches(p, &o, operation))
            .cloned()
            .collect();
        if policies.is_empty() {
            return Ok(o);
        }
        let user = WRITER
            .try_with(Clone::clone)
            .unwrap_or_else(|_| "system:skiff-control".to_owned());
        let old_object = old.map(json).transpose()?;
        for p in policies {
            let name = p.metadata.name.clone();
            let review = Review {
                operation,
                kind: o.kind().name().to_owned(),
                namespace: o.metadata().namespace.clone(),
                name: o.metadata().name.clone(),
                object: json(&o)?,
                old_object: old_object.clone(),
                user: user.clone(),
            };
            let fail = p.spec.failure_policy.unwrap_or_default() == FailurePolicy::Fail;
            let verdict = match self.run_policy(&p, &review).await {
                Ok(v) => v,
                Err(why) if fail => {
                    return Err(Status::failed_precondition(format!(
                        "admission policy {name:?} failed, so the write is refused (failurePolicy: Fail): {why}"
                    )));
                }
                Err(why) => {
                    tracing::warn!(policy = %name, error = %why, "admission policy failed; ignored (failurePolicy: Ignore)");
                    continue;
                }
            };
            match verdict {
                Verdict::Allow => {}
                Verdict::Deny(message) => {
                    return Err(Status::permission_denied(format!(
                        "admission policy {name:?} denied {}: {message}",
                        o.display_name()
                    )));
                }
                Verdict::Patch(patch) => o = patched(&o, &patch, &name)?,
            }
        }
        Ok(o)
    }

    async fn run_policy(
        &self,
        p: &WasmAdmissionPolicy,
        review: &Review,
    ) -> Result<Verdict, String> {
        let Some(runner) = self.policy_runner.as_ref() else {
            return Err("this member has no Wasm runtime to run admission policies".into());
        };
        let digest = p.spec.image.strip_prefix("sha256:").ok_or_else(|| {
            format!(
                "{} is not an uploaded artifact (sha256:...); policies run from the cluster's artifact store",
                p.spec.image
            )
        })?;
        let blobs = self.store.state().blobs().clone();
        let hex = digest.to_owned();
        let bytes = move || read_artifact(&blobs, &hex);
        let call = PolicyCall {
            name: &p.metadata.name,
            policy: p,
            digest,
            bytes: &bytes,
        };
        runner.review(&call, review).await
    }

    /// Every policy, read again only when one changed since the last read.
    fn all_policies(&self) -> Result<Arc<Vec<WasmAdmissionPolicy>>, Status> {
        let state = self.store.state();
        let stamp = state.kind_changed(Kind::WasmAdmissionPolicy);
        let mut cache = self.policy_cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, all)) = cache.as_ref()
            && *at == stamp
        {
            return Ok(all.clone());
        }
        let (stored, _) = state
            .list(Kind::WasmAdmissionPolicy, None, None)
            .map_err(status::store)?;
        let all: Arc<Vec<WasmAdmissionPolicy>> = Arc::new(
            stored
                .into_iter()
                .filter_map(|s| match s.object {
                    Object::WasmAdmissionPolicy(p) => Some(p),
                    _ => None,
                })
                .collect(),
        );
        *cache = Some((stamp, all.clone()));
        Ok(all)
    }

    /// Gives the API a Wasm runtime for admission policies.
    pub fn with_policy_runner(mut self, runner: Arc<dyn PolicyRunner>) -> Self {
        self.policy_runner = Some(runner);
        self
    }
}

/// `o` with policy `name`'s merge `patch`, decoded and validated again; a patch may not
/// change which object it is.
fn patched(o: &Object, patch: &str, name: &str) -> Result<Object, Status> {
    let bad = |why: String| {
        Status::failed_precondition(format!(
            "admission policy {name:?} returned a bad patch: {why}"
        ))
    };
    let patch: Value = serde_json::from_str(patch).map_err(|e| bad(format!("not JSON: {e}")))?;
    let mut doc = serde_json::to_value(o).map_err(|e| Status::internal(e.to_string()))?;
    merge_patch(&mut doc, &patch);
    let text = doc.to_string();
    let out = manifest::decode_one(&text, &Source::named(&format!("<patch of policy {name}>")))
        .map_err(|d| bad(d.to_string()))?;
    let (a, b) = (o.metadata(), out.metadata());
    if out.kind() != o.kind() || a.name != b.name || a.namespace != b.namespace {
        return Err(bad("it changes the object's kind, name or namespace".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::merge_patch;
    use serde_json::json;

    #[test]
    fn merge_patches_set_replace_and_remove() {
        let mut doc = json!({"a": {"b": 1, "c": [1, 2]}, "d": "x"});
        merge_patch(
            &mut doc,
            &json!({"a": {"b": null, "c": [3], "e": true}, "f": 2}),
        );
        assert_eq!(doc, json!({"a": {"c": [3], "e": true}, "d": "x", "f": 2}));
    }
}
