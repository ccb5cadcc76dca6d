//! The object API's verbs on the in-process three-member cluster of
//! `store::runtime_tests`, called through the service trait on leader and followers.

use skiff_proto::Object;
use skiff_proto::grpc::api::object_service_server::ObjectService;
use skiff_proto::grpc::api::*;
use skiff_proto::manifest::{Source, decode_one};
use tonic::{Code, Request};

use super::ObjectApi;
use crate::store::runtime_tests::Cluster;

pub(super) const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: registry.example/web:v1
        resources: {limits: {memory: 64Mi}}
";

/// Calls `f` again while there is no leader (an election under a loaded machine), as
/// clients do with UNAVAILABLE.
pub(super) async fn retry<T, Fut>(mut f: impl FnMut() -> Fut) -> Result<T, tonic::Status>
where
    Fut: std::future::Future<Output = Result<T, tonic::Status>>,
{
    for _ in 0..100 {
        match f().await {
            Err(e) if e.code() == Code::Unavailable => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await
            }
            other => return other,
        }
    }
    f().await
}

pub(super) fn api(c: &Cluster, id: u64) -> ObjectApi {
    ObjectApi::new(c.handle(id).unwrap())
}

pub(super) async fn apply(
    api: &ObjectApi,
    manifest: &str,
) -> Result<(ApplyOutcome, Object, u64), tonic::Status> {
    let r = retry(|| {
        api.apply(Request::new(ApplyRequest {
            manifest: manifest.as_bytes().to_vec(),
            ..Default::default()
        }))
    })
    .await?
    .into_inner();
    let outcome = r.outcome();
    let env = r.object.unwrap();
    let text = String::from_utf8(env.json).unwrap();
    let o = decode_one(&text, &Source::named("response")).unwrap();
    Ok((outcome, o, env.resource_version))
}

pub(super) async fn get(api: &ObjectApi, kind: &str, name: &str) -> (Object, u64) {
    let env = retry(|| {
        api.get(Request::new(GetRequest {
            key: Some(ObjectKey {
                kind: kind.into(),
                namespace: "default".into(),
                name: name.into(),
            }),
            consistency: ReadConsistency::Linearizable as i32,
        }))
    })
    .await
    .unwrap()
    .into_inner()
    .object
    .unwrap();
    let text = String::from_utf8(env.json).unwrap();
    (
        decode_one(&text, &Source::named("get")).unwrap(),
        env.resource_version,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_creates_configures_and_leaves_unchanged_objects_alone() {
    let c = Cluster::start(3);
    let leader = c.leader().await;
    let follower = c.ids().into_iter().find(|&id| id != leader).unwrap();
    let (api, via_follower) = (api(&c, leader), api(&c, follower));

    let (outcome, created, rev) = apply(&via_follower, DEPLOYMENT).await.unwrap();
    assert_eq!(outcome, ApplyOutcome::Created);
    let m = created.metadata();
    assert_eq!((m.generation, m.namespace.as_str()), (Some(1), "default"));
    assert!(m.uid.is_some() && m.creation_timestamp.is_some());
    let Object::Deployment(d) = &created else {
        panic!()
    };
    assert_eq!(d.spec.replicas, Some(1), "defaulted");
    let c0 = &d.spec.template.spec.containers[0];
    assert_eq!(
        c0.resources.requests, c0.resources.limits,
        "requests default to limits"
    );

    let (outcome, same, same_rev) = apply(&api, DEPLOYMENT).await.unwrap();
    assert_eq!((outcome, same_rev), (ApplyOutcome::Unchanged, rev));
    assert_eq!(same.metadata().uid, m.uid);

    // Labels only: configured, same generation.
    let relabelled = DEPLOYMENT.replace(
        "labels: {app: web}\nspec",
        "labels: {app: web, tier: front}\nspec",
    );
    let (outcome, o, _) = apply(&api, &relabelled).await.unwrap();
    assert_eq!(
        (outcome, o.metadata().generation),
        (ApplyOutcome::Configured, Some(1))
    );

    // A new image: the generation moves.
    let v2 = relabelled.replace("web:v1", "web:v2");
    let (outcome, o, rev2) = apply(&via_follower, &v2).await.unwrap();
    assert_eq!(
        (outcome, o.metadata().generation),
        (ApplyOutcome::Configured, Some(2))
    );
    assert_eq!(o.metadata().uid, m.uid, "identity is kept");
    assert_eq!(get(&api, "Deployment", "web").await.1, rev2);

    // A dry run reports without writing.
    let r = retry(|| {
        api.apply(Request::new(ApplyRequest {
            manifest: v2.replace("web:v2", "web:v3").into_bytes(),
            dry_run: true,
            ..Default::default()
        }))
    })
    .await
    .unwrap()
    .into_inner();
    assert_eq!(r.outcome(), ApplyOutcome::Configured);
    assert_eq!(get(&api, "Deployment", "web").await.1, rev2);

    // The selector is fixed once created: refused, nothing written.
    let moved = v2
        .replace("matchLabels: {app: web}", "matchLabels: {app: web2}")
        .replace(
            "metadata: {labels: {app: web}}",
            "metadata: {labels: {app: web2}}",
        );
    let e = apply(&api, &moved).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("spec.selector"), "{}", e.message());
    assert_eq!(get(&api, "Deployment", "web").await.1, rev2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_is_its_own_subresource() {
    let c = Cluster::start(3);
    let api = api(&c, c.leader().await);
    apply(&api, DEPLOYMENT).await.unwrap();
    let key = Some(ObjectKey {
        kind: "Deployment".into(),
        namespace: "default".into(),
        name: "web".into(),
    });
    let written = retry(|| {
        api.update_status(Request::new(UpdateStatusRequest {
            key: key.clone(),
            expected_resource_version: 0,
            status_json: br#"{"replicas": 1, "readyReplicas": 1}"#.to_vec(),
        }))
    })
    .await
    .unwrap()
    .into_inner()
    .object
    .unwrap();
    let (o, _) = get(&api, "Deployment", "web").await;
    let Object::Deployment(d) = &o else { panic!() };
    assert_eq!(d.status.as_ref().map(|s| s.ready_replicas), Some(1));
    assert_eq!(
        o.metadata().generation,
        Some(1),
        "a status write is not a spec change"
    );

    // Applying the manifest again (which has no status) keeps the status.
    let (outcome, _, rev) = apply(&api, DEPLOYMENT).await.unwrap();
    assert_eq!(
        (outcome, rev),
        (ApplyOutcome::Unchanged, written.resource_version)
    );
    let (o, _) = apply(&api, &DEPLOYMENT.replace("web:v1", "web:v2"))
        .await
        .map(|(_, o, r)| (o, r))
        .unwrap();
    let Object::Deployment(d) = &o else { panic!() };
    assert!(d.status.is_some(), "apply never clobbers status");

    // A stale expected version is a conflict; a kind without status is refused.
    let stale = retry(|| {
        api.update_status(Request::new(UpdateStatusRequest {
            key: key.clone(),
            expected_resource_version: written.resource_version,
            status_json: br#"{"replicas": 2}"#.to_vec(),
        }))
    })
    .await
    .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted, "{stale:?}");
    apply(
        &api,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\ndata: {k: v}\n",
    )
    .await
    .unwrap();
    let e = retry(|| {
        api.update_status(Request::new(UpdateStatusRequest {
            key: Some(ObjectKey {
                kind: "ConfigMap".into(),
                namespace: "default".into(),
                name: "cm".into(),
            }),
            expected_resource_version: 0,
            status_json: b"{}".to_vec(),
        }))
    })
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");

    // Without an expected version a status write starts from the member's own copy. Four
    // at once, through the leader and a follower (whose copy may lag): each lands, as a
    // stale copy or a lost race is a conflict the server retries from a linearizable
    // read (each loses at most to the three others).
    let leader = c.leader().await;
    let follower = c.ids().into_iter().find(|i| *i != leader).unwrap();
    let apis = [self::api(&c, leader), self::api(&c, follower)];
    let writes = (1..=4).map(|n| {
        let (api, key) = (&apis[n % 2], key.clone());
        async move {
            retry(|| {
                api.update_status(Request::new(UpdateStatusRequest {
                    key: key.clone(),
                    expected_resource_version: 0,
                    status_json: format!(r#"{{"replicas": {n}}}"#).into_bytes(),
                }))
            })
            .await
            .map(|r| r.into_inner().object.unwrap().resource_version)
        }
    });
    let mut revisions: Vec<u64> = futures_util::future::try_join_all(writes).await.unwrap();
    revisions.sort();
    revisions.dedup();
    assert_eq!(revisions.len(), 4, "each write is its own revision");
}

async fn list(api: &ObjectApi, labels: &str, fields: &str) -> Result<Vec<String>, tonic::Status> {
    let r = retry(|| {
        api.list(Request::new(ListRequest {
            kind: "Pod".into(),
            namespace: "default".into(),
            label_selector: labels.into(),
            field_selector: fields.into(),
            ..Default::default()
        }))
    })
    .await?
    .into_inner();
    Ok(r.items.into_iter().map(|e| e.key.unwrap().name).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_filter_by_label_and_field_selectors() {
    let c = Cluster::start(3);
    let api = api(&c, c.leader().await);
    for (name, tier, node) in [("a", "web", "n1"), ("b", "db", "n1"), ("c", "web", "n2")] {
        let pod = format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, labels: {{tier: {tier}}}}}\n\
             spec:\n  nodeName: {node}\n  containers: [{{name: app, image: registry.example/app:v1}}]\n"
        );
        apply(&api, &pod).await.unwrap();
    }
    let key = |name: &str| {
        Some(ObjectKey {
            kind: "Pod".into(),
            namespace: "default".into(),
            name: name.into(),
        })
    };
    retry(|| {
        api.update_status(Request::new(UpdateStatusRequest {
            key: key("c"),
            expected_resource_version: 0,
            status_json: br#"{"phase": "Running"}"#.to_vec(),
        }))
    })
    .await
    .unwrap();
    assert_eq!(list(&api, "tier!=db", "").await.unwrap(), ["a", "c"]);
    assert_eq!(list(&api, "tier in (db, cache)", "").await.unwrap(), ["b"]);
    assert_eq!(
        list(&api, "", "spec.nodeName=n1").await.unwrap(),
        ["a", "b"]
    );
    assert_eq!(
        list(&api, "tier=web", "spec.nodeName!=n1").await.unwrap(),
        ["c"]
    );
    assert_eq!(
        list(&api, "", "status.phase=Pending").await.unwrap(),
        ["a", "b"]
    );
    assert_eq!(list(&api, "", "status.phase=Running").await.unwrap(), ["c"]);
    for (labels, fields, says) in [
        ("tier in (web", "", "not closed"),
        ("", "spec.image=x", "supported: metadata.name"),
        ("", "nodeName", "FIELD=VALUE"),
    ] {
        let e = list(&api, labels, fields).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        assert!(e.message().contains(says), "{}", e.message());
    }
}

pub(super) async fn delete(
    api: &ObjectApi,
    kind: &str,
    ns: &str,
    name: &str,
    propagation: DeletePropagation,
) -> Result<DeleteResponse, tonic::Status> {
    retry(|| {
        api.delete(Request::new(DeleteRequest {
            key: Some(ObjectKey {
                kind: kind.into(),
                namespace: ns.into(),
                name: name.into(),
            }),
            propagation: propagation as i32,
            ..Default::default()
        }))
    })
    .await
    .map(|r| r.into_inner())
}

pub(super) async fn names(api: &ObjectApi, kind: &str, ns: &str) -> Vec<String> {
    retry(|| {
        api.list(Request::new(ListRequest {
            kind: kind.into(),
            namespace: ns.into(),
            ..Default::default()
        }))
    })
    .await
    .unwrap()
    .into_inner()
    .items
    .into_iter()
    .map(|e| e.key.unwrap().name)
    .collect()
}

pub(super) fn owned_cm(name: &str, ns: &str, owner: &Object) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\n  ownerReferences:\n  - {{apiVersion: v1, kind: {}, name: {}, uid: {}}}\ndata: {{k: v}}\n",
        owner.kind().name(),
        owner.metadata().name,
        owner.metadata().uid.clone().unwrap()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_selective_watch_sees_objects_enter_and_leave_its_selection() {
    use tokio_stream::StreamExt;
    let c = Cluster::start(3);
    let api = api(&c, c.leader().await);
    let cm = |tier: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cfg, labels: {{tier: {tier}}}}}\ndata: {{k: v}}\n"
        )
    };
    apply(&api, &cm("db")).await.unwrap();
    let listed = retry(|| {
        api.list(Request::new(ListRequest {
            kind: "ConfigMap".into(),
            label_selector: "tier=web".into(),
            ..Default::default()
        }))
    })
    .await
    .unwrap()
    .into_inner();
    assert!(listed.items.is_empty());
    let mut stream = api
        .watch(Request::new(WatchRequest {
            kind: "ConfigMap".into(),
            label_selector: "tier=web".into(),
            since_revision: listed.resource_version,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    for tier in ["web", "web-2", "web"] {
        apply(&api, &cm(tier)).await.unwrap();
    }
    let (_, _, rev) = apply(&api, &cm("db")).await.unwrap();
    let mut seen = Vec::new();
    while seen.last().map(|&(_, r)| r) != Some(rev) {
        let e = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
            .await
            .expect("the watch delivers within 10 s")
            .unwrap()
            .unwrap();
        seen.push((e.r#type(), e.revision));
    }
    let types: Vec<WatchEventType> = seen.iter().map(|&(t, _)| t).collect();
    use WatchEventType::*;
    assert_eq!(types, [Added, Deleted, Added, Deleted]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_that_falls_far_behind_misses_nothing() {
    use tokio_stream::StreamExt;
    let c = Cluster::start(3);
    let leader = c.leader().await;
    let api = ObjectApi::with_hub_backlog(c.handle(leader).unwrap(), 4);
    let mut slow = api
        .watch(Request::new(WatchRequest {
            kind: "ConfigMap".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    // More batches than the hub keeps for a watch that does not read (its stream holds
    // 256 events): it must catch up from the history by itself.
    let store = c.handle(leader).unwrap();
    let writes = 400;
    for i in 0..writes {
        let cmd = crate::store::runtime_tests::create(&format!("cm-{i}"));
        retry(|| async {
            store
                .propose(cmd.clone())
                .await
                .map_err(super::status::write)
        })
        .await
        .unwrap();
    }
    let mut names = Vec::new();
    while names.len() < writes {
        let e = tokio::time::timeout(std::time::Duration::from_secs(10), slow.next())
            .await
            .expect("events keep coming")
            .unwrap()
            .unwrap();
        names.push(e.object.unwrap().key.unwrap().name);
    }
    let expected: Vec<String> = (0..writes).map(|i| format!("cm-{i}")).collect();
    assert_eq!(names, expected, "every change once, in commit order");
}
