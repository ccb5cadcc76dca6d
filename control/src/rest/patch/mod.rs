//! PATCH: a change to an object sent as a patch, applied here to the current object and
//! written back as a replace at the revision it was read (retried when another writer got
//! there first, unless the patch pins a `resourceVersion`), so it goes through the same
//! admission as any write. The patch types kubectl and client libraries send:
//!
//! - `application/json-patch+json` (RFC 6902), `application/merge-patch+json` (RFC 7386);
//! - `application/strategic-merge-patch+json` (`strategic`);
//! - `application/apply-patch+yaml` (server-side apply): the object as the client wants
//!   it, created or replaced through the API's apply.

mod strategic;

use axum::body::Body;
use serde_json::Value;
use skiff_pki::Identity;
use skiff_proto::grpc::api::object_service_server::ObjectService;
use skiff_proto::grpc::api::{ApplyRequest, ReadConsistency, UpdateRequest};
use tonic::{Code, Status};

use super::bodies::{prepare, read_body};
use super::objects::{as_caller, read, warnings, written};
use super::paths::Objects;
use super::reply::Reply;
use super::{Call, Rest};

/// Tries of a patch that keeps losing to other writers.
const TRIES: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Type {
    Json,
    Merge,
    Strategic,
    Apply,
}

pub(super) fn type_of(content_type: &str) -> Result<Type, Status> {
    let base = content_type.split(';').next().unwrap_or_default().trim();
    Ok(match base {
        "application/json-patch+json" => Type::Json,
        "application/merge-patch+json" => Type::Merge,
        "application/strategic-merge-patch+json" => Type::Strategic,
        "application/apply-patch+yaml" | "application/apply-patch+json" => Type::Apply,
        other => {
            return Err(Status::unimplemented(format!(
                "the patch type {other:?} is not served: use json-patch+json, merge-patch+json, strategic-merge-patch+json or apply-patch+yaml"
            )));
        }
    })
}

/// `patch` (of type `t`) applied to `doc`.
pub(super) fn patched(t: Type, mut doc: Value, patch: &Value) -> Result<Value, Status> {
    let invalid = |e: String| Status::invalid_argument(format!("the patch does not apply: {e}"));
    match t {
        Type::Json => {
            let ops: json_patch::Patch = serde_json::from_value(patch.clone())
                .map_err(|e| invalid(format!("not a JSON patch: {e}")))?;
            json_patch::patch(&mut doc, &ops).map_err(|e| invalid(e.to_string()))?;
        }
        Type::Merge => json_patch::merge(&mut doc, patch),
        Type::Strategic => strategic::apply(&mut doc, patch).map_err(invalid)?,
        Type::Apply => return Ok(patch.clone()),
    }
    Ok(doc)
}

/// A PATCH's type (from its content type) and body: JSON, or YAML for an apply.
pub async fn read_patch(call: &Call, body: Body) -> Result<(Type, Value), Status> {
    let t = type_of(&call.content_type)?;
    let reading = Call {
        content_type: if t == Type::Apply {
            "application/yaml".into()
        } else {
            "application/json".into()
        },
        ..call.clone()
    };
    Ok((t, read_body(&reading, body).await?))
}

/// Serves a PATCH of the object `at`.
pub async fn serve(
    rest: &Rest,
    who: Identity,
    at: &Objects,
    call: &Call,
    body: Body,
) -> Result<Reply, Status> {
    if type_of(&call.content_type)? == Type::Apply
        && call.query_str("fieldManager").is_none_or(str::is_empty)
    {
        // As Kubernetes: an apply says whose configuration it is.
        return Err(Status::invalid_argument(
            "fieldManager: Required value: is required for apply patch; \
             name the applier, e.g. ?fieldManager=kubectl",
        ));
    }
    let (t, patch) = read_patch(call, body).await?;
    if t == Type::Apply {
        let p = prepare(at, call, patch)?;
        let request = ApplyRequest {
            manifest: p.manifest,
            dry_run: call.dry_run(),
            field_manager: call.field_manager(),
            force: call.flag("force"),
        };
        let r = ObjectService::apply(&*rest.objects, as_caller(&who, request)).await?;
        return written(
            &[p.warnings, warnings(&r)].concat(),
            r.into_inner().object,
            200,
        );
    }
    let pinned = patch["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|v| v.parse::<u64>().ok());
    let mut last = Status::aborted("the object kept changing");
    for _ in 0..TRIES {
        let current = read(rest, &who, at, ReadConsistency::Linearizable).await?;
        let doc: Value =
            serde_json::from_slice(&current.json).map_err(|e| Status::internal(e.to_string()))?;
        let new = patched(t, doc, &patch)?;
        let p = prepare(at, call, new)?;
        let manifest = p.manifest;
        let r = ObjectService::update(
            &*rest.objects,
            as_caller(
                &who,
                UpdateRequest {
                    manifest,
                    expected_resource_version: Some(pinned.unwrap_or(current.resource_version)),
                    field_manager: call.field_manager(),
                    dry_run: call.dry_run(),
                },
            ),
        )
        .await;
        match r {
            Ok(r) => {
                let noted = [p.warnings, warnings(&r)].concat();
                return written(&noted, r.into_inner().object, 200);
            }
            Err(s) if s.code() == Code::Aborted && pinned.is_none() => last = s,
            Err(s) => return Err(s),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn each_patch_type_changes_what_it_names() {
        let doc = json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "data": {"k": "v"}});
        let merged = patched(
            Type::Merge,
            doc.clone(),
            &json!({"metadata": {"labels": {"x": null, "y": "2"}}}),
        )
        .unwrap();
        assert_eq!(merged["metadata"]["labels"], json!({"y": "2"}));
        let ops = json!([{"op": "replace", "path": "/data/k", "value": "w"}, {"op": "add", "path": "/data/n", "value": "1"}]);
        let jp = patched(Type::Json, doc.clone(), &ops).unwrap();
        assert_eq!(jp["data"], json!({"k": "w", "n": "1"}));
        let bad =
            patched(Type::Json, doc, &json!([{"op": "remove", "path": "/nope"}])).unwrap_err();
        assert_eq!(bad.code(), Code::InvalidArgument);
        assert!(type_of("application/xml").is_err());
        assert_eq!(
            type_of("application/merge-patch+json; charset=utf-8").unwrap(),
            Type::Merge
        );
    }
}
