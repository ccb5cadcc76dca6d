//! `deployments/NAME/scale` and `replicasets/NAME/scale`: the replica count alone, as an
//! `autoscaling/v1` Scale (what `kubectl scale` and autoscalers read and write). A write
//! changes only the object's `spec.replicas`, at the revision it was read. Each call is
//! authorised on `RESOURCE/scale`, as in Kubernetes, not on the object itself.

use axum::body::Body;
use serde_json::{Value, json};
use skiff_pki::Identity;
use skiff_proto::grpc::api::object_service_server::ObjectService;
use skiff_proto::grpc::api::{GetRequest, ObjectEnvelope, ReadConsistency};
use tonic::Status;

use super::bodies::{prepare, read_body};
use super::objects::{envelope, key_of};
use super::patch::{self, Type};
use super::paths::Objects;
use super::reply::{Reply, json_reply};
use super::{Call, Rest};
use crate::api::objects::{decode, writer};
use crate::auth::attributes::verb;
use crate::auth::audit::ORIGIN;

/// The Scale of a stored object.
fn scale_of(e: &ObjectEnvelope) -> Result<Value, Status> {
    let o: Value = serde_json::from_slice(&e.json).map_err(|e| Status::internal(e.to_string()))?;
    let m = &o["metadata"];
    let selector: Vec<String> = o["spec"]["selector"]["matchLabels"]
        .as_object()
        .map(|l| {
            l.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    Ok(json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": m["name"],
            "namespace": m["namespace"],
            "uid": m["uid"],
            "resourceVersion": e.resource_version.to_string(),
            "creationTimestamp": m["creationTimestamp"],
        },
        "spec": {"replicas": o["spec"]["replicas"].as_i64().unwrap_or(1)},
        "status": {
            "replicas": o["status"]["replicas"].as_i64().unwrap_or(0),
            "selector": selector.join(","),
        },
    }))
}

/// Serves the scale subresource of `at`: GET, PUT (a whole Scale) or PATCH, each
/// authorised as that verb on `RESOURCE/scale`.
pub async fn serve(
    rest: &Rest,
    who: Identity,
    at: &Objects,
    call: &Call,
    body: Body,
) -> Result<Reply, Status> {
    let verb = match call.method.as_str() {
        "GET" => verb::GET,
        "PUT" => verb::UPDATE,
        "PATCH" => verb::PATCH,
        m => {
            return Err(Status::unimplemented(format!(
                "{m} is not supported on scale"
            )));
        }
    };
    let from = ORIGIN.try_with(Clone::clone).unwrap_or_default();
    let key = Some(key_of(at));
    let guard = &*rest.objects;
    guard
        .on_scale(&who, &from, verb, &key, async {
            let request = GetRequest {
                key: key.clone(),
                consistency: ReadConsistency::Linearizable as i32,
            };
            let r = ObjectService::get(&*guard.inner, tonic::Request::new(request)).await?;
            let e = envelope(r.into_inner().object)?;
            let scale = scale_of(&e)?;
            if verb == verb::GET {
                return Ok(json_reply(200, &scale));
            }
            let (object, expected) = rescaled(call, body, &e, scale).await?;
            let o = decode(&prepare(at, call, object)?.manifest)?;
            let how = writer(call.field_manager(), call.dry_run(), false);
            let written = guard.admitted_update(&who, o, Some(expected), &how).await?;
            Ok(json_reply(200, &scale_of(&written)?))
        })
        .await
}

/// The object with the replica count that a PUT or PATCH of its `scale` asks for, and the
/// revision the write must find.
async fn rescaled(
    call: &Call,
    body: Body,
    e: &ObjectEnvelope,
    scale: Value,
) -> Result<(Value, u64), Status> {
    let wanted = if call.method == "PUT" {
        read_body(call, body).await?
    } else {
        let (t, p) = patch::read_patch(call, body).await?;
        // Applied, a Scale's fields merge into the current ones.
        let t = if t == Type::Apply { Type::Merge } else { t };
        patch::patched(t, scale.clone(), &p)?
    };
    let replicas = wanted["spec"]["replicas"]
        .as_i64()
        .and_then(|r| i32::try_from(r).ok())
        .filter(|r| *r >= 0)
        .ok_or_else(|| {
            Status::invalid_argument("spec.replicas: must be a number of replicas (0 or more)")
        })?;
    let expected = match wanted["metadata"]["resourceVersion"].as_str() {
        Some(v) if v != scale["metadata"]["resourceVersion"] => v
            .parse()
            .map_err(|_| Status::invalid_argument("metadata.resourceVersion is not a number"))?,
        _ => e.resource_version,
    };
    let mut object: Value =
        serde_json::from_slice(&e.json).map_err(|e| Status::internal(e.to_string()))?;
    object["spec"]["replicas"] = json!(replicas);
    Ok((object, expected))
}
