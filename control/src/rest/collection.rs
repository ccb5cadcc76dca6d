//! `deletecollection`: DELETE on a collection (`/api/v1/namespaces/ns/configmaps?
//! labelSelector=app=web`) removes every object the selectors match, as Kubernetes does,
//! and answers with the list of what it removed.
//!
//! It lists and then deletes one object at a time through the guarded API, so the caller
//! needs `list` and `delete` on the resource (Kubernetes asks for `deletecollection`
//! alone), and each deletion is admitted, cascaded and audited as a single one is. An
//! object that went in between is skipped; the first other failure stops it, with the
//! ones before already gone (Kubernetes also deletes item by item, not atomically).

use axum::body::Body;
use skiff_pki::Identity;
use skiff_proto::grpc::api::object_service_server::ObjectService;
use skiff_proto::grpc::api::{DeleteRequest, ListRequest};
use tonic::{Code, Status};

use super::objects::{as_caller, list_json, list_request, read_delete_options};
use super::paths::Objects;
use super::reply::{Reply, bytes_reply};
use super::{Call, Rest};

pub async fn delete(
    rest: &Rest,
    who: Identity,
    at: &Objects,
    call: &Call,
    body: Body,
) -> Result<Reply, Status> {
    let (propagation, expected, dry_run) = read_delete_options(call, body).await?;
    if expected.is_some() {
        return Err(Status::invalid_argument(
            "preconditions name one object's version: give them when deleting by name, \
             not for a collection",
        ));
    }
    // Every object the selectors match, in one list.
    let everything = ListRequest {
        limit: 0,
        continue_token: String::new(),
        ..list_request(at, call)?
    };
    let listed = ObjectService::list(&*rest.objects, as_caller(&who, everything))
        .await?
        .into_inner();
    let mut deleted = Vec::with_capacity(listed.items.len());
    for item in listed.items {
        let key = item.key.clone().unwrap_or_default();
        let request = DeleteRequest {
            key: Some(key),
            expected_resource_version: None,
            propagation: propagation as i32,
            dry_run,
        };
        match ObjectService::delete(&*rest.objects, as_caller(&who, request)).await {
            Ok(_) => deleted.push(item),
            Err(s) if s.code() == Code::NotFound => {}
            Err(s) => return Err(s),
        }
    }
    let meta = serde_json::json!({"resourceVersion": listed.resource_version.to_string()});
    Ok(bytes_reply(
        200,
        "application/json",
        list_json(at, &meta, deleted),
    ))
}
