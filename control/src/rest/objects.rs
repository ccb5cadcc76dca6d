//! Objects at their Kubernetes paths: get, list (as JSON or a Table), create, replace and
//! delete, each by calling the same guarded API the gRPC front door serves (so RBAC,
//! admission, quotas and audit are one path), with the caller's identity.

use std::collections::HashMap;

use axum::body::Body;
use serde_json::Value;
use skiff_pki::Identity;
use skiff_proto::grpc::api::object_service_server::ObjectService;
use skiff_proto::grpc::api::{
    CreateRequest, DeletePropagation, DeleteRequest, GetRequest, ListRequest, ObjectEnvelope,
    ObjectKey, ReadConsistency, UpdateRequest,
};
use skiff_proto::manifest::{Source, decode_one};
use skiff_proto::model::values::Time;
use skiff_proto::object::Subresource;
use skiff_proto::{Kind, Object};
use tonic::Status;

use crate::auth::audit::ORIGIN;

use super::bodies::{MAX_BODY, Prepared, body_object, read_body};
use super::errors::{About, failure, refuse};
use super::paths::Objects;
use super::reply::{Reply, bytes_reply, with_warnings};
use super::tables::{self, Include};
use super::views::{present, shown};
use super::{Call, Rest, watch};

/// Serves `req` for the objects `at`.
pub async fn serve(rest: &Rest, who: Identity, at: Objects, call: Call, body: Body) -> Reply {
    let about = About {
        resource: at.kind.resource().into(),
        group: at.kind.group().into(),
        name: at.name.clone().unwrap_or_default(),
    };
    if let Some(view) = at.view
        && (call.method != "GET" || at.subresource.is_some())
    {
        return refuse(
            405,
            "MethodNotAllowed",
            format!(
                "{} is served by this server for reading (get, list, watch); write {} through {}",
                view.api_version(),
                at.kind.resource(),
                at.kind.api_version(),
            ),
        );
    }
    let result = match (call.method.as_str(), &at.name, at.subresource.as_deref()) {
        ("GET", Some(_), None | Some("status")) => get(rest, who, &at, &call).await,
        ("GET", Some(_), Some("log")) if at.kind == Kind::Pod => {
            super::logs::serve(rest, who, &at, &call).await
        }
        ("GET", None, None) if call.flag("watch") => watch::serve(rest, who, &at, &call).await,
        ("GET", None, None) => list(rest, who, &at, &call).await,
        ("POST", None, None) => create(rest, who, &at, &call, body).await,
        ("PUT", Some(_), None) => replace(rest, who, &at, &call, body).await,
        ("DELETE", Some(_), None) => delete(rest, who, &at, &call, body).await,
        ("DELETE", None, None) => super::collection::delete(rest, who, &at, &call, body).await,
        ("PATCH", Some(_), None) => super::patch::serve(rest, who, &at, &call, body).await,
        ("POST", Some(_), Some("eviction")) if at.kind == Kind::Pod => {
            evict(rest, who, &at, &call, body).await
        }
        ("PUT" | "PATCH", Some(_), Some("status")) if at.kind.has(Subresource::Status) => {
            super::subresources::status(rest, who, &at, &call, body).await
        }
        ("POST", Some(_), Some("token")) if at.kind == Kind::ServiceAccount => {
            super::subresources::token(rest, who, &at, &call, body).await
        }
        ("GET" | "PUT" | "PATCH", Some(_), Some("scale")) if at.kind.has(Subresource::Scale) => {
            super::scale::serve(rest, who, &at, &call, body).await
        }
        (method, _, sub) => {
            let what = match sub {
                Some(s) => format!("{}/{s}", at.kind.resource()),
                None => at.kind.resource().to_owned(),
            };
            return refuse(
                405,
                "MethodNotAllowed",
                format!("{method} is not supported on {what} by this server"),
            );
        }
    };
    result.unwrap_or_else(|s| failure(&s, &about))
}

/// A request to the guarded API as `who`, from where the REST request came (see
/// [`ORIGIN`]).
pub(super) fn as_caller<T>(who: &Identity, body: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(body);
    r.extensions_mut().insert(who.clone());
    if let Ok(from) = ORIGIN.try_with(Clone::clone) {
        r.extensions_mut().insert(from);
    }
    r
}

/// The warnings a response carries (`warning` metadata, as the gRPC API sends them).
pub(super) fn warnings<T>(r: &tonic::Response<T>) -> Vec<String> {
    r.metadata()
        .get_all("warning")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect()
}

pub(super) fn key_of(at: &Objects) -> ObjectKey {
    ObjectKey {
        kind: at.kind.name().into(),
        namespace: at.namespace.clone().unwrap_or_default(),
        name: at.name.clone().unwrap_or_default(),
    }
}

/// How fresh a read must be: `resourceVersion` unset is the latest; `0` is any.
fn consistency(call: &Call) -> ReadConsistency {
    match call.query.get("resourceVersion").map(String::as_str) {
        Some("0") => ReadConsistency::Serializable,
        _ => ReadConsistency::Linearizable,
    }
}

/// The list `call` asks for of the objects `at`: selectors, freshness and page.
pub(super) fn list_request(at: &Objects, call: &Call) -> Result<ListRequest, Status> {
    Ok(ListRequest {
        kind: at.kind.name().into(),
        namespace: at.namespace.clone().unwrap_or_default(),
        label_selector: call.query_str("labelSelector").unwrap_or_default().into(),
        field_selector: call.query_str("fieldSelector").unwrap_or_default().into(),
        consistency: consistency(call) as i32,
        limit: limit(call)?,
        continue_token: call.query_str("continue").unwrap_or_default().into(),
    })
}

/// `limit`: at most this many items in a list's page (absent or 0: all of them).
fn limit(call: &Call) -> Result<u32, Status> {
    match call.query_str("limit") {
        None | Some("") => Ok(0),
        Some(l) => l.parse::<u32>().map_err(|_| {
            Status::invalid_argument(format!(
                "limit {l:?} is not a count of items: give a whole number, or none for all"
            ))
        }),
    }
}

pub(super) fn envelope(e: Option<ObjectEnvelope>) -> Result<ObjectEnvelope, Status> {
    e.ok_or_else(|| Status::internal("the API answered without an object"))
}

/// The answer to a write: the object as stored, with the API's warnings.
pub(super) fn written(
    warnings: &[String],
    e: Option<ObjectEnvelope>,
    code: u16,
) -> Result<Reply, Status> {
    let e = envelope(e)?;
    Ok(with_warnings(
        bytes_reply(code, "application/json", e.json),
        warnings,
    ))
}

/// The object `at` as stored, read as fresh as `consistency` says.
pub(super) async fn read(
    rest: &Rest,
    who: &Identity,
    at: &Objects,
    consistency: ReadConsistency,
) -> Result<ObjectEnvelope, Status> {
    let request = GetRequest {
        key: Some(key_of(at)),
        consistency: consistency as i32,
    };
    let r = ObjectService::get(&*rest.objects, as_caller(who, request)).await?;
    envelope(r.into_inner().object)
}

/// An envelope's object, decoded (for a table).
pub(super) fn decoded(e: &ObjectEnvelope) -> Result<(Object, Value), Status> {
    let text =
        std::str::from_utf8(&e.json).map_err(|_| Status::internal("an object is not UTF-8"))?;
    let o = decode_one(text, &Source::named("<store>"))
        .map_err(|d| Status::internal(format!("a stored object does not decode: {d}")))?;
    let v = serde_json::from_str(text).map_err(|e| Status::internal(e.to_string()))?;
    Ok((o, v))
}

async fn get(rest: &Rest, who: Identity, at: &Objects, call: &Call) -> Result<Reply, Status> {
    let e = read(rest, &who, at, consistency(call)).await?;
    if tables::wanted(&call.accept) {
        let (o, v) = decoded_in(at, &e)?;
        let row = tables::row(
            &o,
            &v,
            Include::parse(call.query_str("includeObject")),
            Time::now(),
        );
        let t = tables::table(at.kind, vec![row], e.resource_version, true);
        return Ok(bytes_reply(
            200,
            "application/json",
            t.to_string().into_bytes(),
        ));
    }
    Ok(bytes_reply(
        200,
        "application/json",
        present(at.view, e.json),
    ))
}

/// [`decoded`], with the JSON as the view of `at` shows it.
pub(super) fn decoded_in(at: &Objects, e: &ObjectEnvelope) -> Result<(Object, Value), Status> {
    let (o, v) = decoded(e)?;
    Ok((o, shown(at.view, v)))
}

async fn list(rest: &Rest, who: Identity, at: &Objects, call: &Call) -> Result<Reply, Status> {
    let r = ObjectService::list(&*rest.objects, as_caller(&who, list_request(at, call)?))
        .await?
        .into_inner();
    let mut meta = serde_json::json!({"resourceVersion": r.resource_version.to_string()});
    if !r.continue_token.is_empty() {
        meta["continue"] = r.continue_token.into();
    }
    if let Some(n) = r.remaining_item_count {
        meta["remainingItemCount"] = n.into();
    }
    if tables::wanted(&call.accept) {
        let include = Include::parse(call.query_str("includeObject"));
        let now = Time::now();
        let mut rows = Vec::with_capacity(r.items.len());
        for e in &r.items {
            let (o, v) = decoded_in(at, e)?;
            rows.push(tables::row(&o, &v, include, now));
        }
        let mut t = tables::table(at.kind, rows, r.resource_version, true);
        t["metadata"] = meta;
        return Ok(bytes_reply(
            200,
            "application/json",
            t.to_string().into_bytes(),
        ));
    }
    Ok(bytes_reply(
        200,
        "application/json",
        list_json(at, &meta, r.items),
    ))
}

/// A `<Kind>List` of `items`: their JSON as stored (or as the view of `at` shows them),
/// joined without decoding them again.
pub(super) fn list_json(at: &Objects, meta: &Value, items: Vec<ObjectEnvelope>) -> Vec<u8> {
    let mut body = format!(
        r#"{{"kind":"{}List","apiVersion":"{}","metadata":{meta},"items":["#,
        at.kind.name(),
        at.api_version(),
    )
    .into_bytes();
    for (i, e) in items.into_iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(&present(at.view, e.json));
    }
    body.extend_from_slice(b"]}");
    body
}

async fn create(
    rest: &Rest,
    who: Identity,
    at: &Objects,
    call: &Call,
    body: Body,
) -> Result<Reply, Status> {
    let p = body_object(at, call, body).await?;
    let request = CreateRequest {
        manifest: p.manifest,
        field_manager: call.field_manager(),
        dry_run: call.dry_run(),
    };
    let r = ObjectService::create(&*rest.objects, as_caller(&who, request)).await?;
    written(
        &[p.warnings, warnings(&r)].concat(),
        r.into_inner().object,
        201,
    )
}

async fn replace(
    rest: &Rest,
    who: Identity,
    at: &Objects,
    call: &Call,
    body: Body,
) -> Result<Reply, Status> {
    let Prepared {
        manifest,
        warnings: noted,
    } = body_object(at, call, body).await?;
    // A resourceVersion in the body makes the replace a compare-and-swap.
    let expected = serde_json::from_slice::<Value>(&manifest)
        .ok()
        .and_then(|v| {
            v["metadata"]["resourceVersion"]
                .as_str()
                .and_then(|s| s.parse().ok())
        });
    let r = ObjectService::update(
        &*rest.objects,
        as_caller(
            &who,
            UpdateRequest {
                manifest,
                expected_resource_version: expected,
                field_manager: call.field_manager(),
                dry_run: call.dry_run(),
            },
        ),
    )
    .await?;
    written(&[noted, warnings(&r)].concat(), r.into_inner().object, 200)
}

/// `pods/NAME/eviction`: the pod is deleted with the Eviction's `deleteOptions` (Skiff has
/// no PodDisruptionBudgets, so nothing holds an eviction back).
async fn evict(
    rest: &Rest,
    who: Identity,
    at: &Objects,
    call: &Call,
    body: Body,
) -> Result<Reply, Status> {
    // kubectl sends it in protobuf; its options are the defaults then (drain sets none).
    let eviction = if call
        .content_type
        .starts_with("application/vnd.kubernetes.protobuf")
    {
        Value::Null
    } else {
        read_body(call, body).await?
    };
    let (propagation, expected, dry_run) = delete_options(call, &eviction["deleteOptions"])?;
    let request = DeleteRequest {
        key: Some(key_of(at)),
        expected_resource_version: expected,
        propagation: propagation as i32,
        dry_run,
    };
    ObjectService::delete(&*rest.objects, as_caller(&who, request)).await?;
    Ok(super::reply::json_reply(
        201,
        &serde_json::json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    ))
}

/// The `DeleteOptions` of a DELETE, from its body (JSON; none is the defaults) or query.
pub(super) async fn read_delete_options(
    call: &Call,
    body: Body,
) -> Result<(DeletePropagation, Option<u64>, bool), Status> {
    let body = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|e| Status::invalid_argument(format!("reading the body: {e}")))?;
    let opts: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| Status::invalid_argument(format!("the DeleteOptions are not JSON: {e}")))?
    };
    delete_options(call, &opts)
}

/// `DeleteOptions` (`opts`, null for none), or the query's.
fn delete_options(
    call: &Call,
    opts: &Value,
) -> Result<(DeletePropagation, Option<u64>, bool), Status> {
    let policy = opts["propagationPolicy"]
        .as_str()
        .or(call.query_str("propagationPolicy"));
    let propagation = match policy {
        None | Some("Background") => DeletePropagation::Background,
        Some("Foreground") => DeletePropagation::Foreground,
        Some("Orphan") => DeletePropagation::Orphan,
        Some(other) => {
            return Err(Status::invalid_argument(format!(
                "propagationPolicy {other:?}: expected Background, Foreground or Orphan"
            )));
        }
    };
    let expected = opts["preconditions"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok());
    let dry_run = opts["dryRun"].as_array().is_some_and(|a| !a.is_empty()) || call.dry_run();
    Ok((propagation, expected, dry_run))
}

async fn delete(
    rest: &Rest,
    who: Identity,
    at: &Objects,
    call: &Call,
    body: Body,
) -> Result<Reply, Status> {
    let (propagation, expected, dry_run) = read_delete_options(call, body).await?;
    let r = ObjectService::delete(
        &*rest.objects,
        as_caller(
            &who,
            DeleteRequest {
                key: Some(key_of(at)),
                expected_resource_version: expected,
                propagation: propagation as i32,
                dry_run,
            },
        ),
    )
    .await?;
    let e = envelope(r.into_inner().object)?;
    Ok(bytes_reply(200, "application/json", e.json))
}

/// The query of a request, decoded.
pub fn query_map(query: Option<&str>) -> HashMap<String, String> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}
