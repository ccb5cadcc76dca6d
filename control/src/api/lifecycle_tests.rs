//! Lifecycles on the in-process three-member cluster: deletion with its propagation
//! policies and finalizers, namespaces (missing, terminating, `default`), and the events
//! that say what a deletion waits for.

use skiff_proto::Object;
use skiff_proto::grpc::api::object_service_server::ObjectService;
use skiff_proto::grpc::api::*;
use tonic::{Code, Request};

use super::ObjectApi;
use super::api_tests::{api, apply, delete, get, names, owned_cm, retry};
use crate::store::runtime_tests::Cluster;

fn cm(name: &str, ns: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: {ns}}}\ndata: {{k: v}}\n"
    )
}

fn held_cm(name: &str, ns: &str, owner: Option<&Object>) -> String {
    let mut s = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\n  finalizers: [example.com/hold]\n"
    );
    if let Some(o) = owner {
        s += &format!(
            "  ownerReferences:\n  - {{apiVersion: v1, kind: {}, name: {}, uid: {}}}\n",
            o.kind().name(),
            o.metadata().name,
            o.metadata().uid.clone().unwrap()
        );
    }
    s + "data: {k: v}\n"
}

/// The events about `name` in `ns`: (reason, message, count).
async fn events_about(api: &ObjectApi, ns: &str, name: &str) -> Vec<(String, String, i32)> {
    let items = retry(|| {
        api.list(Request::new(ListRequest {
            kind: "Event".into(),
            namespace: ns.into(),
            ..Default::default()
        }))
    })
    .await
    .unwrap()
    .into_inner()
    .items;
    items
        .into_iter()
        .filter_map(|e| {
            let v: serde_json::Value = serde_json::from_slice(&e.json).unwrap();
            (v["involvedObject"]["name"] == name).then(|| {
                (
                    v["reason"].as_str().unwrap_or_default().to_owned(),
                    v["message"].as_str().unwrap_or_default().to_owned(),
                    v["count"].as_i64().unwrap_or_default() as i32,
                )
            })
        })
        .collect()
}

/// `name` in `ns` with its finalizers removed (an update, as a controller would make it).
async fn release(api: &ObjectApi, kind: &str, ns: &str, name: &str) {
    let o = retry(|| {
        api.get(Request::new(GetRequest {
            key: Some(ObjectKey {
                kind: kind.into(),
                namespace: ns.into(),
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
    let mut v: serde_json::Value = serde_json::from_slice(&o.json).unwrap();
    v["metadata"]["finalizers"] = serde_json::json!([]);
    retry(|| {
        api.update(Request::new(UpdateRequest {
            manifest: v.to_string().into_bytes(),
            expected_resource_version: None,
            ..Default::default()
        }))
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_cascades_orphans_waits_for_finalizers_and_empties_namespaces() {
    let c = Cluster::start(3);
    let api = api(&c, c.leader().await);

    // root ← child ← grandchild: deleting root takes both along, in one transaction.
    let (_, root, _) = apply(&api, &cm("root", "default")).await.unwrap();
    let (_, child, _) = apply(&api, &owned_cm("child", "default", &root))
        .await
        .unwrap();
    apply(&api, &owned_cm("grandchild", "default", &child))
        .await
        .unwrap();
    apply(&api, &cm("bystander", "default")).await.unwrap();
    delete(
        &api,
        "ConfigMap",
        "default",
        "root",
        DeletePropagation::Background,
    )
    .await
    .unwrap();
    assert_eq!(names(&api, "ConfigMap", "default").await, ["bystander"]);

    // Orphan: the dependent stays, without its owner reference.
    let (_, root, _) = apply(&api, &cm("root", "default")).await.unwrap();
    apply(&api, &owned_cm("child", "default", &root))
        .await
        .unwrap();
    delete(
        &api,
        "ConfigMap",
        "default",
        "root",
        DeletePropagation::Orphan,
    )
    .await
    .unwrap();
    let (child, _) = get(&api, "ConfigMap", "child").await;
    assert!(child.metadata().owner_references.is_empty());

    // A finalizer holds the object (marked) until an update removes it.
    let held = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  finalizers: [example.com/hold]\ndata: {k: v}\n";
    apply(&api, held).await.unwrap();
    let r = delete(
        &api,
        "ConfigMap",
        "default",
        "held",
        DeletePropagation::Background,
    )
    .await
    .unwrap();
    assert!(r.object.is_some());
    let (o, _) = get(&api, "ConfigMap", "held").await;
    assert!(
        o.metadata().deletion_timestamp.is_some(),
        "marked for deletion"
    );
    let released = held.replace("  finalizers: [example.com/hold]\n", "");
    apply(&api, &released).await.unwrap();
    assert!(
        !names(&api, "ConfigMap", "default")
            .await
            .contains(&"held".to_owned())
    );

    // A dry run deletes nothing.
    let r = retry(|| {
        api.delete(Request::new(DeleteRequest {
            key: Some(ObjectKey {
                kind: "ConfigMap".into(),
                namespace: "default".into(),
                name: "child".into(),
            }),
            dry_run: true,
            ..Default::default()
        }))
    })
    .await;
    assert!(r.is_ok());
    assert!(
        names(&api, "ConfigMap", "default")
            .await
            .contains(&"child".to_owned())
    );

    // A namespace takes its contents along, and nothing else.
    apply(
        &api,
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n",
    )
    .await
    .unwrap();
    apply(&api, &cm("a", "team")).await.unwrap();
    apply(&api, "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: team}\nspec:\n  containers: [{name: app, image: registry.example/app:v1}]\n").await.unwrap();
    delete(&api, "Namespace", "", "team", DeletePropagation::Background)
        .await
        .unwrap();
    assert!(names(&api, "ConfigMap", "team").await.is_empty());
    assert!(names(&api, "Pod", "team").await.is_empty());
    assert!(names(&api, "Namespace", "").await.is_empty());
    assert_eq!(
        names(&api, "ConfigMap", "default").await,
        ["bystander", "child"]
    );

    let gone = delete(
        &api,
        "ConfigMap",
        "default",
        "nothing",
        DeletePropagation::Background,
    )
    .await
    .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreground_deletion_waits_for_held_dependents_and_says_so() {
    let c = Cluster::start(3);
    let api = api(&c, c.leader().await);
    // root ← mid ← leaf (held), and root ← free: the chain to the held leaf waits.
    let (_, root, _) = apply(&api, &cm("root", "default")).await.unwrap();
    let (_, mid, _) = apply(&api, &owned_cm("mid", "default", &root))
        .await
        .unwrap();
    apply(&api, &held_cm("leaf", "default", Some(&mid)))
        .await
        .unwrap();
    apply(&api, &owned_cm("free", "default", &root))
        .await
        .unwrap();
    let r = delete(
        &api,
        "ConfigMap",
        "default",
        "root",
        DeletePropagation::Foreground,
    )
    .await
    .unwrap();
    let shown: serde_json::Value = serde_json::from_slice(&r.object.unwrap().json).unwrap();
    assert_eq!(
        shown["metadata"]["finalizers"],
        serde_json::json!(["foregroundDeletion"])
    );
    assert_eq!(
        names(&api, "ConfigMap", "default").await,
        ["leaf", "mid", "root"]
    );
    for name in ["root", "mid", "leaf"] {
        let (o, _) = get(&api, "ConfigMap", name).await;
        assert!(
            o.metadata().deletion_timestamp.is_some(),
            "{name} is marked"
        );
    }
    let events = events_about(&api, "default", "root").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].0, "DeletingDependents");
    assert!(
        events[0].1.contains("configmap/leaf (example.com/hold)"),
        "{events:?}"
    );

    // The leaf's finalizer goes: so does the chain that waited for it, in that write.
    release(&api, "ConfigMap", "default", "leaf").await;
    assert!(names(&api, "ConfigMap", "default").await.is_empty());

    // A held owner deleted in the background keeps its dependents until it goes; then
    // they go with it.
    let (_, owner, _) = apply(&api, &held_cm("owner", "default", None))
        .await
        .unwrap();
    apply(&api, &owned_cm("dep", "default", &owner))
        .await
        .unwrap();
    delete(
        &api,
        "ConfigMap",
        "default",
        "owner",
        DeletePropagation::Background,
    )
    .await
    .unwrap();
    assert_eq!(names(&api, "ConfigMap", "default").await, ["dep", "owner"]);
    release(&api, "ConfigMap", "default", "owner").await;
    assert!(names(&api, "ConfigMap", "default").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_must_exist_stay_terminating_while_held_and_default_stays() {
    let c = Cluster::start(3);
    let api = api(&c, c.leader().await);
    let e = apply(&api, &cm("a", "nowhere")).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    assert!(
        e.message().contains("namespace \"nowhere\" not found"),
        "{}",
        e.message()
    );
    assert!(names(&api, "ConfigMap", "nowhere").await.is_empty());

    apply(
        &api,
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n",
    )
    .await
    .unwrap();
    apply(&api, &cm("free", "team")).await.unwrap();
    apply(&api, &held_cm("held", "team", None)).await.unwrap();
    let r = delete(&api, "Namespace", "", "team", DeletePropagation::Background)
        .await
        .unwrap();
    let ns: serde_json::Value = serde_json::from_slice(&r.object.unwrap().json).unwrap();
    assert_eq!(ns["status"]["phase"], "Terminating");
    assert_eq!(names(&api, "ConfigMap", "team").await, ["held"]);
    assert_eq!(names(&api, "Namespace", "").await, ["team"]);
    let events = events_about(&api, "default", "team").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].0, "Terminating");
    // Deleting again repeats nothing but the answer.
    delete(&api, "Namespace", "", "team", DeletePropagation::Background)
        .await
        .unwrap();

    let e = apply(&api, &cm("late", "team")).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(e.message().contains("being deleted"), "{}", e.message());

    release(&api, "ConfigMap", "team", "held").await;
    assert!(names(&api, "ConfigMap", "team").await.is_empty());
    assert!(
        names(&api, "Namespace", "").await.is_empty(),
        "the namespace went with its last object"
    );

    let e = delete(
        &api,
        "Namespace",
        "",
        "default",
        DeletePropagation::Background,
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_aggregate_repeats_and_expire() {
    let c = Cluster::start(3);
    let leader = c.leader().await;
    let api = api(&c, leader);
    let (_, o, _) = apply(&api, &cm("subject", "default")).await.unwrap();
    let store = c.handle(leader).unwrap();
    for _ in 0..3 {
        let op = super::record_event(
            store.state(),
            &o,
            skiff_proto::model::event::EventType::Warning,
            "BackOff",
            "restarting failed container",
        )
        .unwrap();
        retry(|| async {
            store
                .propose(crate::store::Command {
                    ops: vec![op.clone()],
                })
                .await
                .map_err(super::status::write)
        })
        .await
        .unwrap();
    }
    let events = events_about(&api, "default", "subject").await;
    assert_eq!(
        events,
        [(
            "BackOff".to_owned(),
            "restarting failed container".to_owned(),
            3
        )]
    );
    let later = skiff_proto::model::values::Time {
        unix_seconds: skiff_proto::model::values::Time::now().unix_seconds + 2 * 3600,
    };
    let expired = super::events::expired(store.state(), later, super::EVENT_TTL).unwrap();
    assert_eq!(expired.len(), 1);
    let now = super::events::expired(
        store.state(),
        skiff_proto::model::values::Time::now(),
        super::EVENT_TTL,
    )
    .unwrap();
    assert!(now.is_empty(), "a fresh event is kept");
}
