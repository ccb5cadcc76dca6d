//! `/openapi/v3`: the OpenAPI 3 documents of the API, one per group-version, made from
//! the model's own schemas ([`Schemas`]) and the table of kinds, as Kubernetes serves
//! them. kubectl reads them to `explain` fields, and to learn that a kind's PATCH takes
//! `fieldValidation` (it then leaves validation to the server, which knows Skiff's
//! fields, instead of checking against a schema of its own).
//!
//! `/openapi/v2` is served empty (see [`serve_v2`]).
//!
//! The index (`/openapi/v3`) names each document with a hash of its content; documents
//! asked for with the current hash may be cached for good.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use skiff_proto::Kind;
use skiff_proto::object::Subresource;
use skiff_proto::schema::{REF_PREFIX, Schemas};

use super::reply::{Reply, bytes_reply};

/// One group-version's document, ready to send.
struct Document {
    json: Vec<u8>,
    hash: String,
}

/// The documents by their path under `/openapi/v3/` (`api/v1`, `apis/apps/v1`), and the
/// index that lists them.
struct Documents {
    index: Vec<u8>,
    by_path: BTreeMap<String, Document>,
}

static DOCUMENTS: LazyLock<Documents> = LazyLock::new(|| {
    let mut kinds: BTreeMap<String, Vec<Kind>> = BTreeMap::new();
    for k in Kind::ALL {
        kinds.entry(path_of(k)).or_default().push(k);
    }
    let by_path: BTreeMap<String, Document> = kinds
        .into_iter()
        .map(|(path, kinds)| {
            let json = document(&kinds).to_string().into_bytes();
            let hash = format!("{:X}", Sha256::digest(&json));
            (path, Document { json, hash })
        })
        .collect();
    let paths: Map<String, Value> = by_path
        .iter()
        .map(|(p, d)| {
            let url = format!("/openapi/v3/{p}?hash={}", d.hash);
            (p.clone(), json!({ "serverRelativeURL": url }))
        })
        .collect();
    let index = json!({ "paths": paths }).to_string().into_bytes();
    Documents { index, by_path }
});

/// Where a kind's group-version is, under `/openapi/v3/` and (with a leading `/`) in
/// the API.
fn path_of(k: Kind) -> String {
    match k.group() {
        "" => format!("api/{}", k.version()),
        g => format!("apis/{g}/{}", k.version()),
    }
}

/// Answers `GET /openapi/v3[/PATH]` (`rest` is what follows `/openapi/v3`).
pub fn serve(rest: &str, hash: Option<&str>) -> Option<Reply> {
    let docs = &*DOCUMENTS;
    let rest = rest.trim_start_matches('/');
    if rest.is_empty() {
        return Some(cached(
            bytes_reply(200, "application/json", docs.index.clone()),
            false,
        ));
    }
    let d = docs.by_path.get(rest)?;
    let current = hash == Some(d.hash.as_str());
    Some(cached(
        bytes_reply(200, "application/json", d.json.clone()),
        current,
    ))
}

/// `GET /openapi/v2`: an empty document. Skiff publishes its schemas in v3; clients that
/// fall back to v2 (kubectl, for a kind the v3 documents do not have) then find nothing
/// to check themselves and go on to the server, which names what is wrong, instead of
/// failing to download a document.
pub fn serve_v2(accept: &str) -> Reply {
    if accept.contains("protobuf") {
        // The protobuf encoding of an empty `openapi_v2.Document` is no bytes at all.
        return bytes_reply(
            200,
            "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
            Vec::new(),
        );
    }
    let empty = json!({
        "swagger": "2.0",
        "info": {"title": "Skiff", "version": concat!("v1.36.0-skiff.", env!("CARGO_PKG_VERSION"))},
        "paths": {},
        "definitions": {},
    });
    bytes_reply(200, "application/json", empty.to_string().into_bytes())
}

/// A document asked for by its current hash never changes; anything else may.
fn cached(mut r: Reply, immutable: bool) -> Reply {
    let value = if immutable {
        "public, immutable"
    } else {
        "no-cache, private"
    };
    r.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static(value),
    );
    r
}

/// The document of one group-version's `kinds`.
fn document(kinds: &[Kind]) -> Value {
    let schemas = Schemas::of(kinds.iter().copied());
    let mut components = schemas.components().clone();
    components.insert("ListMeta".into(), list_meta());
    let mut paths = Map::new();
    for &k in kinds {
        let Some(root) = schemas.root(k) else {
            continue;
        };
        let list = format!("{root}List");
        components.insert(list.clone(), list_of(k, root));
        for sub in k.info().subresources {
            if let Some((name, schema)) = sub_schema(*sub) {
                components.insert(name.into(), schema);
            }
        }
        paths_of(k, root, &list, &mut paths);
    }
    json!({
        "openapi": "3.0.0",
        "info": {
            "title": "Skiff",
            "version": concat!("v1.36.0-skiff.", env!("CARGO_PKG_VERSION")),
        },
        "paths": paths,
        "components": { "schemas": components },
    })
}

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("{REF_PREFIX}{name}") })
}

fn list_meta() -> Value {
    json!({
        "description": "What a list says of itself.",
        "type": "object",
        "properties": {
            "resourceVersion": {"type": "string", "description": "The store revision the list was read at; watch from here."},
            "continue": {"type": "string", "description": "Set when more items remain: pass it back as `continue` for the next page."},
            "remainingItemCount": {"type": "integer", "format": "int64", "description": "How many items the next pages hold, when known."},
        },
    })
}

fn list_of(k: Kind, root: &str) -> Value {
    let info = k.info();
    json!({
        "description": format!("A list of {}.", info.plural),
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"allOf": [reference("ListMeta")]},
            "items": {"type": "array", "items": reference(root)},
        },
        "x-kubernetes-group-version-kind": [
            {"group": k.group(), "version": k.version(), "kind": format!("{}List", info.name)}
        ],
    })
}

/// The schema a subresource reads and writes, when it is not the kind's own.
fn sub_schema(s: Subresource) -> Option<(&'static str, Value)> {
    let meta = json!({"type": "object", "properties": {
        "name": {"type": "string"}, "namespace": {"type": "string"},
        "resourceVersion": {"type": "string"},
    }});
    match s {
        Subresource::Scale => Some((
            "Scale",
            json!({
                "description": "The replica count of a scalable object (autoscaling/v1 Scale).",
                "type": "object",
                "properties": {
                    "apiVersion": {"type": "string"}, "kind": {"type": "string"},
                    "metadata": meta,
                    "spec": {"type": "object", "properties": {"replicas": {"type": "integer", "format": "int32", "description": "The desired number of replicas."}}},
                    "status": {"type": "object", "properties": {
                        "replicas": {"type": "integer", "format": "int32"},
                        "selector": {"type": "string"},
                    }},
                },
                "x-kubernetes-group-version-kind": [{"group": "autoscaling", "version": "v1", "kind": "Scale"}],
            }),
        )),
        Subresource::Eviction => Some((
            "Eviction",
            json!({
                "description": "A request to delete a pod within its disruption limits (policy/v1 Eviction).",
                "type": "object",
                "properties": {
                    "apiVersion": {"type": "string"}, "kind": {"type": "string"},
                    "metadata": meta,
                    "deleteOptions": {"type": "object"},
                },
                "x-kubernetes-group-version-kind": [{"group": "policy", "version": "v1", "kind": "Eviction"}],
            }),
        )),
        Subresource::Token => Some((
            "TokenRequest",
            json!({
                "description": "A request for a service account's token (authentication.k8s.io/v1 TokenRequest).",
                "type": "object",
                "properties": {
                    "apiVersion": {"type": "string"}, "kind": {"type": "string"},
                    "metadata": meta,
                    "spec": {"type": "object", "properties": {
                        "expirationSeconds": {"type": "integer", "format": "int64", "description": "How long the token is good for: ten minutes to a day (default an hour)."},
                    }},
                    "status": {"type": "object", "properties": {
                        "token": {"type": "string"},
                        "expirationTimestamp": {"type": "string", "format": "date-time"},
                    }},
                },
                "x-kubernetes-group-version-kind": [{"group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest"}],
            }),
        )),
        Subresource::Status | Subresource::Log => None,
    }
}

/// A query parameter.
fn query(name: &str, ty: &str, about: &str) -> Value {
    json!({"name": name, "in": "query", "description": about, "schema": {"type": ty}, "uniqueItems": true})
}

fn in_path(name: &str, about: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "description": about, "schema": {"type": "string"}, "uniqueItems": true})
}

fn reads() -> Vec<Value> {
    vec![
        query(
            "labelSelector",
            "string",
            "Only objects whose labels match.",
        ),
        query(
            "fieldSelector",
            "string",
            "Only objects whose fields match.",
        ),
        query("limit", "integer", "At most this many objects per page."),
        query("continue", "string", "The next page of an earlier list."),
        query(
            "resourceVersion",
            "string",
            "The store revision to read at or watch from.",
        ),
        query(
            "resourceVersionMatch",
            "string",
            "How `resourceVersion` applies.",
        ),
        query("watch", "boolean", "Watch for changes instead of listing."),
        query("allowWatchBookmarks", "boolean", "Send BOOKMARK events."),
        query(
            "sendInitialEvents",
            "boolean",
            "Start a watch with the current objects.",
        ),
        query("timeoutSeconds", "integer", "End the call after this long."),
    ]
}

fn writes(patch: bool) -> Vec<Value> {
    let mut out = vec![
        query(
            "dryRun",
            "string",
            "`All`: check and admit the write, but store nothing.",
        ),
        query("fieldManager", "string", "Who makes the change."),
        query(
            "fieldValidation",
            "string",
            "What to do with fields the kind does not have: `Strict` (refuse, the default), `Warn` (drop them with a warning) or `Ignore` (drop them).",
        ),
    ];
    if patch {
        out.push(query(
            "force",
            "boolean",
            "Server-side apply: take fields other managers own.",
        ));
    }
    out
}

fn deletes() -> Vec<Value> {
    vec![
        query("dryRun", "string", "`All`: check, but delete nothing."),
        query(
            "gracePeriodSeconds",
            "integer",
            "How long the pod has to stop.",
        ),
        query(
            "propagationPolicy",
            "string",
            "`Foreground`, `Background` or `Orphan`.",
        ),
    ]
}

/// One operation.
fn op(
    action: &str,
    id: String,
    gvk: &Value,
    params: Vec<Value>,
    body: Option<Value>,
    answer: Value,
) -> Value {
    let mut o = json!({
        "operationId": id,
        "parameters": params,
        "responses": {"200": {"description": "OK", "content": answer}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk,
    });
    if let Some(b) = body {
        o["requestBody"] = json!({"required": true, "content": b});
    }
    o
}

fn as_json(schema: Value) -> Value {
    json!({"application/json": {"schema": schema}})
}

/// The bodies a PATCH takes.
fn patches() -> Value {
    let object = json!({"type": "object"});
    json!({
        "application/json-patch+json": {"schema": object},
        "application/merge-patch+json": {"schema": object},
        "application/apply-patch+yaml": {"schema": object},
    })
}

/// `operationId`s as Kubernetes spells them: `patchAppsV1NamespacedDeployment`.
fn op_id(verb: &str, k: Kind, namespaced: bool, suffix: &str) -> String {
    let group = match k.group() {
        "" => "Core".to_owned(),
        g => g
            .trim_end_matches(".k8s.io")
            .split(['.', '-'])
            .map(|w| {
                let mut c = w.chars();
                c.next().map_or_else(String::new, |f| {
                    f.to_ascii_uppercase().to_string() + c.as_str()
                })
            })
            .collect(),
    };
    let v = k.version().replacen('v', "V", 1);
    let ns = if namespaced { "Namespaced" } else { "" };
    // Kubernetes' own: deleteCoreV1CollectionNamespacedConfigMap.
    let (verb, many) = match verb {
        "deletecollection" => ("delete", "Collection"),
        v => (v, ""),
    };
    format!("{verb}{group}{v}{many}{ns}{}{suffix}", k.info().name)
}

/// The paths of kind `k` (schema `root`, list schema `list`).
fn paths_of(k: Kind, root: &str, list: &str, paths: &mut Map<String, Value>) {
    let info = k.info();
    let ns = info.namespaced;
    let gvk = json!({"group": k.group(), "version": k.version(), "kind": info.name});
    let prefix = format!("/{}", path_of(k));
    let (collection, mut scope) = if ns {
        let p = format!("{prefix}/namespaces/{{namespace}}/{}", info.plural);
        (p, vec![in_path("namespace", "The object's namespace.")])
    } else {
        (format!("{prefix}/{}", info.plural), vec![])
    };
    let item = format!("{collection}/{{name}}");
    let one = reference(root);
    let json_in = || {
        let mut b = as_json(one.clone());
        b["application/yaml"] = json!({"schema": one.clone()});
        b
    };
    paths.insert(collection.clone(), json!({
        "parameters": scope,
        "get": op("list", op_id("list", k, ns, ""), &gvk, reads(), None, as_json(reference(list))),
        "post": op("post", op_id("create", k, ns, ""), &gvk, writes(false), Some(json_in()), as_json(one.clone())),
        "delete": op("deletecollection", op_id("deletecollection", k, ns, ""), &gvk, [reads(), deletes()].concat(), None, as_json(reference(list))),
    }));
    if ns {
        paths.insert(format!("{prefix}/{}", info.plural), json!({
            "get": op("list", op_id("list", k, false, "ForAllNamespaces"), &gvk, reads(), None, as_json(reference(list))),
        }));
    }
    scope.push(in_path("name", "The object's name."));
    paths.insert(item.clone(), json!({
        "parameters": scope,
        "get": op("get", op_id("read", k, ns, ""), &gvk, vec![], None, as_json(one.clone())),
        "put": op("put", op_id("replace", k, ns, ""), &gvk, writes(false), Some(json_in()), as_json(one.clone())),
        "patch": op("patch", op_id("patch", k, ns, ""), &gvk, writes(true), Some(patches()), as_json(one.clone())),
        "delete": op("delete", op_id("delete", k, ns, ""), &gvk, deletes(), None, as_json(one.clone())),
    }));
    for sub in info.subresources {
        let at = format!("{item}/{}", sub.name());
        let entry = match sub {
            Subresource::Scale => {
                let scale = reference("Scale");
                let gvk = json!({"group": "autoscaling", "version": "v1", "kind": "Scale"});
                json!({
                    "parameters": scope,
                    "get": op("get", op_id("read", k, ns, "Scale"), &gvk, vec![], None, as_json(scale.clone())),
                    "put": op("put", op_id("replace", k, ns, "Scale"), &gvk, writes(false), Some(as_json(scale.clone())), as_json(scale.clone())),
                    "patch": op("patch", op_id("patch", k, ns, "Scale"), &gvk, writes(true), Some(patches()), as_json(scale)),
                })
            }
            Subresource::Eviction => {
                let gvk = json!({"group": "policy", "version": "v1", "kind": "Eviction"});
                let eviction = reference("Eviction");
                json!({
                    "parameters": scope,
                    "post": op("post", op_id("create", k, ns, "Eviction"), &gvk, vec![], Some(as_json(eviction.clone())), as_json(eviction)),
                })
            }
            Subresource::Log => {
                let params = [
                    "container",
                    "follow",
                    "previous",
                    "sinceSeconds",
                    "tailLines",
                    "timestamps",
                ]
                .map(|p| {
                    query(
                        p,
                        if matches!(p, "container") {
                            "string"
                        } else if matches!(p, "sinceSeconds" | "tailLines") {
                            "integer"
                        } else {
                            "boolean"
                        },
                        "See `kubectl logs`.",
                    )
                })
                .to_vec();
                json!({
                    "parameters": scope,
                    "get": op("get", op_id("read", k, ns, "Log"), &gvk, params, None, json!({"text/plain": {"schema": {"type": "string"}}})),
                })
            }
            Subresource::Status => json!({
                "parameters": scope,
                "get": op("get", op_id("read", k, ns, "Status"), &gvk, vec![], None, as_json(one.clone())),
                "put": op("put", op_id("replace", k, ns, "Status"), &gvk, writes(false), Some(json_in()), as_json(one.clone())),
                "patch": op("patch", op_id("patch", k, ns, "Status"), &gvk, writes(true), Some(patches()), as_json(one.clone())),
            }),
            Subresource::Token => {
                let gvk = json!({"group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest"});
                let request = reference("TokenRequest");
                json!({
                    "parameters": scope,
                    "post": op("post", op_id("create", k, ns, "Token"), &gvk, vec![], Some(as_json(request.clone())), as_json(request)),
                })
            }
        };
        paths.insert(at, entry);
    }
}

#[cfg(test)]
mod tests;
