//! Two subresources written through their own API calls:
//!
//! - `*/status` (GET, PUT, PATCH): what controllers and agents write, apart from the
//!   desired state. A write changes `status` only (the API's `UpdateStatus`), at the
//!   revision the body names, else at the one just read; a patch is applied to the object
//!   as stored and its status written back, retried when another writer got there first.
//! - `serviceaccounts/NAME/token` (POST a `TokenRequest`): a signed token for the account,
//!   as `kubectl create token` and the Python client ask for it (`AuthService.CreateToken`).

use axum::body::Body;
use serde_json::{Value, json};
use skiff_pki::Identity;
use skiff_proto::grpc::api::auth_service_server::AuthService;
use skiff_proto::grpc::api::object_service_server::ObjectService;
use skiff_proto::grpc::api::{ReadConsistency, TokenRequest, UpdateStatusRequest};
use tonic::{Code, Status};

use super::bodies::read_body;
use super::objects::{as_caller, key_of, read, warnings, written};
use super::patch::{self, Type};
use super::paths::Objects;
use super::reply::{Reply, json_reply};
use super::{Call, Rest};

/// Tries of a status patch that keeps losing to other writers.
const TRIES: usize = 8;

/// PUT or PATCH of `at`'s status (GET is served with the object).
pub async fn status(
    rest: &Rest,
    who: Identity,
    at: &Objects,
    call: &Call,
    body: Body,
) -> Result<Reply, Status> {
    if call.method == "PUT" {
        let object = read_body(call, body).await?;
        let pinned = object["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|v| v.parse::<u64>().ok());
        let expected = match pinned {
            Some(v) => v,
            None => {
                read(rest, &who, at, ReadConsistency::Linearizable)
                    .await?
                    .resource_version
            }
        };
        return write_status(rest, &who, at, &object, expected).await;
    }
    let (t, p) = patch::read_patch(call, body).await?;
    let mut last = Status::aborted("the object kept changing");
    for _ in 0..TRIES {
        let current = read(rest, &who, at, ReadConsistency::Linearizable).await?;
        let doc: Value =
            serde_json::from_slice(&current.json).map_err(|e| Status::internal(e.to_string()))?;
        // Applied, a configuration's status merges into the current one.
        let t = if t == Type::Apply { Type::Merge } else { t };
        let new = patch::patched(t, doc, &p)?;
        match write_status(rest, &who, at, &new, current.resource_version).await {
            Err(s) if s.code() == Code::Aborted => last = s,
            other => return other,
        }
    }
    Err(last)
}

async fn write_status(
    rest: &Rest,
    who: &Identity,
    at: &Objects,
    object: &Value,
    expected: u64,
) -> Result<Reply, Status> {
    let status = object.get("status").cloned().unwrap_or(Value::Null);
    let request = UpdateStatusRequest {
        key: Some(key_of(at)),
        expected_resource_version: expected,
        status_json: status.to_string().into_bytes(),
    };
    let r = ObjectService::update_status(&*rest.objects, as_caller(who, request)).await?;
    written(&warnings(&r), r.into_inner().object, 200)
}

/// POST `serviceaccounts/NAME/token`.
pub async fn token(
    rest: &Rest,
    who: Identity,
    at: &Objects,
    call: &Call,
    body: Body,
) -> Result<Reply, Status> {
    let review = read_body(call, body).await?;
    let spec = &review["spec"];
    if spec["boundObjectRef"].is_object() {
        return Err(Status::invalid_argument(
            "spec.boundObjectRef is not served: Skiff's tokens are bound to the account only",
        ));
    }
    let audiences = spec["audiences"].as_array().map_or(0, Vec::len);
    if audiences > 0 {
        return Err(Status::invalid_argument(
            "spec.audiences is not served: Skiff's tokens are for its own API only; leave it out",
        ));
    }
    let request = TokenRequest {
        namespace: at.namespace.clone().unwrap_or_default(),
        service_account: at.name.clone().unwrap_or_default(),
        expiration_seconds: spec["expirationSeconds"].as_i64().unwrap_or(0),
    };
    let t = AuthService::create_token(&*rest.auth, as_caller(&who, request))
        .await?
        .into_inner();
    Ok(json_reply(
        201,
        &json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "metadata": {"name": at.name, "namespace": at.namespace},
            "spec": {"audiences": [], "expirationSeconds": spec["expirationSeconds"]},
            "status": {"token": t.token, "expirationTimestamp": t.expiration_timestamp},
        }),
    ))
}
