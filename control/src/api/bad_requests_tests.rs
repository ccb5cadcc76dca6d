//! Bad requests, each refused with its own class of error and a message that names what is
//! wrong, and none of them changing the store: every malformed manifest of
//! `proto/tests/manifests/bad` sent through Apply, then a table of requests that are well
//! formed but wrong (conflicts, missing objects, immutable fields, oversized objects...).

use std::path::PathBuf;

use prost::Message as _;
use skiff_proto::Kind;
use skiff_proto::grpc::api::object_service_server::ObjectService;
use skiff_proto::grpc::api::*;
use tonic::{Code, Request, Status};

use super::ObjectApi;
use super::api_tests::{DEPLOYMENT, retry};
use crate::store::runtime_tests::Cluster;

fn bad_corpus() -> Vec<(PathBuf, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../proto/tests/manifests/bad");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("yaml" | "json")
            )
        })
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect()
}

/// `expect-message:` of a corpus file (in its comments or its `.expect` sidecar).
fn expected_message(path: &std::path::Path, text: &str) -> String {
    let sidecar = std::fs::read_to_string(path.with_extension("expect")).unwrap_or_default();
    sidecar
        .lines()
        .chain(text.lines())
        .find_map(|l| {
            l.trim_start_matches('#')
                .trim()
                .strip_prefix("expect-message:")
        })
        .map(|m| m.trim().to_owned())
        .unwrap_or_default()
}

/// Every object of every kind, as the store holds it.
async fn everything(api: &ObjectApi) -> Vec<(String, u64, Vec<u8>)> {
    let mut all = Vec::new();
    for kind in Kind::ALL {
        let r = retry(|| {
            api.list(Request::new(ListRequest {
                kind: kind.name().into(),
                ..Default::default()
            }))
        })
        .await
        .unwrap()
        .into_inner();
        for e in r.items {
            let k = e.key.unwrap();
            all.push((
                format!("{}/{}/{}", k.kind, k.namespace, k.name),
                e.resource_version,
                e.json,
            ));
        }
    }
    all
}

fn apply_req(manifest: &str) -> Request<ApplyRequest> {
    Request::new(ApplyRequest {
        manifest: manifest.as_bytes().to_vec(),
        ..Default::default()
    })
}

fn key(kind: &str, name: &str) -> Option<ObjectKey> {
    Some(ObjectKey {
        kind: kind.into(),
        namespace: "default".into(),
        name: name.into(),
    })
}

const JOB: &str = "apiVersion: batch/v1
kind: Job
metadata: {name: pi}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: pi, image: registry.example/pi:v1}]
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_with_their_class_and_change_nothing() {
    let c = Cluster::start(3);
    let api = ObjectApi::new(c.handle(c.leader().await).unwrap());
    // Something to conflict with.
    let mut revs = Vec::new();
    for m in [
        DEPLOYMENT,
        JOB,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\ndata: {k: v}\n",
    ] {
        let r = retry(|| api.apply(apply_req(m)))
            .await
            .unwrap()
            .into_inner();
        revs.push(r.object.unwrap().resource_version);
    }
    let before = everything(&api).await;

    // 1. Every malformed manifest: INVALID_ARGUMENT, with the corpus' expected message.
    let corpus = bad_corpus();
    assert!(corpus.len() >= 30, "{} files", corpus.len());
    for (path, text) in &corpus {
        let e = api.apply(apply_req(text)).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{}: {e:?}", path.display());
        let details = ErrorDetails::decode(e.details()).unwrap_or_default();
        let said = format!(
            "{} {}",
            e.message(),
            details
                .errors
                .iter()
                .map(|f| format!("{} {}", f.path, f.message))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let expected = expected_message(path, text);
        assert!(
            said.contains(&expected),
            "{}: expected {expected:?} in {said}",
            path.display()
        );
    }

    // 2. Well-formed requests that are wrong.
    let deploy_rev = revs[0];
    let huge = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: huge}}\ndata: {{k: \"{}\"}}\n",
        "x".repeat(1 << 21)
    );
    let cases: Vec<(&str, Code, &str, Result<(), Status>)> = vec![
        (
            "a second Create",
            Code::AlreadyExists,
            "exists",
            retry(|| {
                api.create(Request::new(CreateRequest {
                    manifest: DEPLOYMENT.as_bytes().to_vec(),
                    ..Default::default()
                }))
            })
            .await
            .map(|_| ()),
        ),
        (
            "Update with a stale version",
            Code::Aborted,
            "expected",
            retry(|| {
                api.update(Request::new(UpdateRequest {
                    manifest: DEPLOYMENT.replace("web:v1", "web:v2").into_bytes(),
                    expected_resource_version: Some(deploy_rev - 1),
                    ..Default::default()
                }))
            })
            .await
            .map(|_| ()),
        ),
        (
            "Update of nothing",
            Code::NotFound,
            "not found",
            retry(|| {
                api.update(Request::new(UpdateRequest {
                    manifest: DEPLOYMENT
                        .replace("name: web", "name: nothing")
                        .into_bytes(),
                    expected_resource_version: None,
                    ..Default::default()
                }))
            })
            .await
            .map(|_| ()),
        ),
        (
            "Apply with a stale resourceVersion",
            Code::Aborted,
            "expected",
            retry(|| {
                api.apply(apply_req(
                    &DEPLOYMENT
                        .replace(
                            "  name: web\n  labels",
                            &format!(
                                "  name: web\n  resourceVersion: \"{}\"\n  labels",
                                deploy_rev - 1
                            ),
                        )
                        .replace("web:v1", "web:v2"),
                ))
            })
            .await
            .map(|_| ()),
        ),
        (
            "a Deployment's selector changed",
            Code::InvalidArgument,
            "spec.selector",
            retry(|| api.apply(apply_req(&DEPLOYMENT.replace("app: web", "app: other"))))
                .await
                .map(|_| ()),
        ),
        (
            "a Job's template changed",
            Code::InvalidArgument,
            "spec.template",
            retry(|| api.apply(apply_req(&JOB.replace("pi:v1", "pi:v2"))))
                .await
                .map(|_| ()),
        ),
        (
            "an object over 1 MiB",
            Code::InvalidArgument,
            "the limit is",
            retry(|| api.apply(apply_req(&huge))).await.map(|_| ()),
        ),
        (
            "a Wasm image that is a file on the client's machine",
            Code::InvalidArgument,
            "spec.containers[0].image: \"./fn.wasm\" is a file on the client's machine",
            retry(|| {
                api.apply(apply_req(
                    "apiVersion: v1\nkind: Pod\nmetadata: {name: fn}\nspec:\n  runtimeClassName: wasm\n  containers: [{name: fn, image: ./fn.wasm}]\n",
                ))
            })
            .await
            .map(|_| ()),
        ),
        (
            "a manifest that is not UTF-8",
            Code::InvalidArgument,
            "UTF-8",
            retry(|| {
                api.apply(Request::new(ApplyRequest {
                    manifest: vec![0xff, 0xfe, b'k'],
                    ..Default::default()
                }))
            })
            .await
            .map(|_| ()),
        ),
        (
            "two objects in one Apply",
            Code::InvalidArgument,
            "",
            retry(|| api.apply(apply_req(&format!("{DEPLOYMENT}---\n{JOB}"))))
                .await
                .map(|_| ()),
        ),
        (
            "an empty manifest",
            Code::InvalidArgument,
            "",
            retry(|| api.apply(apply_req(""))).await.map(|_| ()),
        ),
        (
            "Delete of nothing",
            Code::NotFound,
            "not found",
            retry(|| {
                api.delete(Request::new(DeleteRequest {
                    key: key("Deployment", "nothing"),
                    ..Default::default()
                }))
            })
            .await
            .map(|_| ()),
        ),
        (
            "Delete with a stale version",
            Code::Aborted,
            "changed",
            retry(|| {
                api.delete(Request::new(DeleteRequest {
                    key: key("Deployment", "web"),
                    expected_resource_version: Some(deploy_rev - 1),
                    ..Default::default()
                }))
            })
            .await
            .map(|_| ()),
        ),
        (
            "Delete of an unknown kind",
            Code::InvalidArgument,
            "unknown kind",
            retry(|| {
                api.delete(Request::new(DeleteRequest {
                    key: key("Widget", "web"),
                    ..Default::default()
                }))
            })
            .await
            .map(|_| ()),
        ),
        (
            "Delete without a key",
            Code::InvalidArgument,
            "missing object key",
            retry(|| api.delete(Request::new(DeleteRequest::default())))
                .await
                .map(|_| ()),
        ),
        (
            "a status for a kind without one",
            Code::InvalidArgument,
            "no status",
            retry(|| {
                api.update_status(Request::new(UpdateStatusRequest {
                    key: key("ConfigMap", "cm"),
                    expected_resource_version: 0,
                    status_json: b"{}".to_vec(),
                }))
            })
            .await
            .map(|_| ()),
        ),
        (
            "a status that is not JSON",
            Code::InvalidArgument,
            "not JSON",
            retry(|| {
                api.update_status(Request::new(UpdateStatusRequest {
                    key: key("Deployment", "web"),
                    expected_resource_version: 0,
                    status_json: b"{replicas".to_vec(),
                }))
            })
            .await
            .map(|_| ()),
        ),
        (
            "a status with an unknown field",
            Code::InvalidArgument,
            "unknown field",
            retry(|| {
                api.update_status(Request::new(UpdateStatusRequest {
                    key: key("Deployment", "web"),
                    expected_resource_version: 0,
                    status_json: br#"{"replicaz": 1}"#.to_vec(),
                }))
            })
            .await
            .map(|_| ()),
        ),
        (
            "a stale status write",
            Code::Aborted,
            "expected",
            retry(|| {
                api.update_status(Request::new(UpdateStatusRequest {
                    key: key("Deployment", "web"),
                    expected_resource_version: deploy_rev - 1,
                    status_json: br#"{"replicas": 1}"#.to_vec(),
                }))
            })
            .await
            .map(|_| ()),
        ),
        (
            "Get of an unknown kind",
            Code::InvalidArgument,
            "unknown kind",
            retry(|| {
                api.get(Request::new(GetRequest {
                    key: key("Widget", "x"),
                    consistency: 0,
                }))
            })
            .await
            .map(|_| ()),
        ),
        (
            "Get of nothing",
            Code::NotFound,
            "not found",
            retry(|| {
                api.get(Request::new(GetRequest {
                    key: key("Deployment", "nothing"),
                    consistency: 0,
                }))
            })
            .await
            .map(|_| ()),
        ),
        (
            "List with a broken label selector",
            Code::InvalidArgument,
            "not closed",
            retry(|| {
                api.list(Request::new(ListRequest {
                    kind: "Pod".into(),
                    label_selector: "app in (a".into(),
                    ..Default::default()
                }))
            })
            .await
            .map(|_| ()),
        ),
        (
            "List by a field that cannot select",
            Code::InvalidArgument,
            "supported",
            retry(|| {
                api.list(Request::new(ListRequest {
                    kind: "ConfigMap".into(),
                    field_selector: "spec.nodeName=n1".into(),
                    ..Default::default()
                }))
            })
            .await
            .map(|_| ()),
        ),
        (
            "Watch of an unknown kind",
            Code::InvalidArgument,
            "unknown kind",
            retry(|| {
                api.watch(Request::new(WatchRequest {
                    kind: "Widget".into(),
                    ..Default::default()
                }))
            })
            .await
            .map(|_| ()),
        ),
    ];
    assert!(corpus.len() + cases.len() >= 30);
    for (what, code, says, result) in cases {
        let e = result.expect_err(what);
        assert_eq!(e.code(), code, "{what}: {e:?}");
        assert!(
            e.message().contains(says),
            "{what}: {:?} lacks {says:?}",
            e.message()
        );
    }

    assert_eq!(
        everything(&api).await,
        before,
        "a refused request changed the store"
    );
}
