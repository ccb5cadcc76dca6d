//! Tenancy: RBAC between two teams, no escalation through bindings, ServiceAccount
//! tokens, and the node authorizer, against one real member over mTLS.

use std::time::Duration;

use skiff_pki::{Credentials, Dialer, Tls};
use skiff_proto::grpc::api::object_service_client::ObjectServiceClient;
use skiff_proto::grpc::api::*;
use tonic::Code;

use super::common::*;
use crate::support;

const TEAMS: &str = "
apiVersion: v1
kind: Namespace
metadata: {name: team-a}
---
apiVersion: v1
kind: Namespace
metadata: {name: team-b}
";

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_sees_only_her_namespace_and_cannot_grant_herself_more() {
    let (m, mut admin) = member().await;
    for doc in TEAMS.split("---") {
        apply(&mut admin, doc).await.unwrap();
    }
    apply(
        &mut admin,
        "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: team-b}\nstringData: {password: hunter2}\n",
    )
    .await
    .unwrap();
    // alice may work with pods and secrets in team-a, and bind her own role there.
    apply(
        &mut admin,
        r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: dev, namespace: team-a}
rules:
- apiGroups: [""]
  resources: [pods, secrets, events]
  verbs: [get, list, watch, create]
- apiGroups: [rbac.authorization.k8s.io]
  resources: [rolebindings, roles]
  verbs: [create, get]
"#,
    )
    .await
    .unwrap();
    apply(
        &mut admin,
        r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice-dev, namespace: team-a}
subjects: [{kind: User, name: alice, apiGroup: rbac.authorization.k8s.io}]
roleRef: {kind: Role, name: dev, apiGroup: rbac.authorization.k8s.io}
"#,
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (alice_creds, mut alice) = user(&m, "alice", &["devs"], dir.path()).await;

    // Her own namespace works.
    alice.list(list("Secret", "team-a")).await.unwrap();
    apply(
        &mut alice,
        "apiVersion: v1\nkind: Secret\nmetadata: {name: mine, namespace: team-a}\nstringData: {k: v}\n",
    )
    .await
    .unwrap();
    // team-b's Secrets, by every way there is: refused, in Kubernetes' words.
    forbidden(
        alice.list(list("Secret", "team-b")).await,
        r#"Forbidden: User "alice" cannot list resource "secrets" in namespace "team-b""#,
    );
    forbidden(
        alice
            .get(GetRequest {
                key: key("Secret", "team-b", "db"),
                ..Default::default()
            })
            .await,
        r#"cannot get resource "secrets" named "db" in namespace "team-b""#,
    );
    let watch = |ns: &str| WatchRequest {
        kind: "Secret".into(),
        namespace: ns.into(),
        ..Default::default()
    };
    forbidden(alice.watch(watch("team-b")).await, "cannot watch");
    // Every namespace at once is the cluster scope, which she has nothing in.
    forbidden(alice.watch(watch("")).await, "at the cluster scope");
    forbidden(alice.list(list("Secret", "")).await, "at the cluster scope");
    forbidden(alice.list(list("Event", "team-b")).await, "events");
    forbidden(alice.list(list("HTTPRoute", "team-b")).await, "httproutes");
    let logs = skiff_proto::grpc::api::log_service_client::LogServiceClient::new(
        Dialer::new(Tls::new(&Credentials::load(&alice_creds).unwrap()).unwrap())
            .member(&m.addr(1))
            .await
            .unwrap(),
    )
    .logs(LogsRequest {
        namespace: "team-b".into(),
        pod: "web".into(),
        ..Default::default()
    })
    .await;
    forbidden(logs, r#"cannot get resource "pods/log""#);
    forbidden(
        alice
            .delete(DeleteRequest {
                key: key("Secret", "team-b", "db"),
                ..Default::default()
            })
            .await,
        "cannot delete",
    );

    // No escalation: a binding to a bigger role, or a role with more than she holds.
    forbidden(
        apply(
            &mut alice,
            r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice-admin, namespace: team-a}
subjects: [{kind: User, name: alice}]
roleRef: {kind: ClusterRole, name: cluster-admin, apiGroup: rbac.authorization.k8s.io}
"#,
        )
        .await,
        "does not hold",
    );
    forbidden(
        apply(
            &mut alice,
            r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: everything, namespace: team-a}
rules: [{apiGroups: ["*"], resources: ["*"], verbs: ["*"]}]
"#,
        )
        .await,
        "does not hold",
    );
    forbidden(
        apply(
            &mut alice,
            r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: alice-everywhere}
subjects: [{kind: User, name: alice}]
roleRef: {kind: ClusterRole, name: view, apiGroup: rbac.authorization.k8s.io}
"#,
        )
        .await,
        "clusterrolebindings",
    );
    // A route in team-a cannot send to team-b's Services (no ReferenceGrant), whoever
    // writes it.
    let e = apply(
        &mut admin,
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: steal, namespace: team-a}
spec:
  rules:
  - backendRefs: [{name: db, namespace: team-b, port: 80}]
"#,
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e}");
    assert!(e.message().contains("ReferenceGrant"), "{e}");

    // What she holds she may pass on: bob gets her role in team-a.
    apply(
        &mut alice,
        r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: bob-dev, namespace: team-a}
subjects: [{kind: User, name: bob}]
roleRef: {kind: Role, name: dev, apiGroup: rbac.authorization.k8s.io}
"#,
    )
    .await
    .unwrap();
    let (_, mut bob) = user(&m, "bob", &[], dir.path()).await;
    bob.list(list("Pod", "team-a")).await.unwrap();
    forbidden(bob.list(list("Pod", "team-b")).await, "User \"bob\"");

    // The CLI: whoami and can-i, for herself and (as the admin) for her.
    let (ok, text) = output(skiff(&m, &alice_creds, None), &["auth", "whoami"]);
    assert!(
        ok && text.contains("alice") && text.contains("devs"),
        "{text}"
    );
    let (ok, text) = output(
        skiff(&m, &alice_creds, None),
        &["auth", "can-i", "list", "secrets", "-n", "team-b"],
    );
    assert!(!ok && text.trim() == "no", "{text}");
    let (ok, text) = output(
        skiff(&m, &alice_creds, None),
        &["auth", "can-i", "create", "secrets", "-n", "team-a"],
    );
    assert!(ok && text.trim() == "yes", "{text}");
    let admin_dir = support::pki::admin();
    let (ok, text) = output(
        skiff(&m, &admin_dir, None),
        &[
            "auth", "can-i", "get", "secrets", "-n", "team-b", "--as", "alice",
        ],
    );
    assert!(!ok && text.trim() == "no", "{text}");
    // Asking about others is for those allowed to review access.
    let (ok, text) = output(
        skiff(&m, &alice_creds, None),
        &["auth", "can-i", "get", "pods", "--as", "bob"],
    );
    assert!(!ok && text.contains("subjectaccessreviews"), "{text}");

    // The audit log has who did what, and the verdict: her refused list, her secret.
    let audit = m.dir.path().join("m1/audit.log");
    let events = |want: &dyn Fn(&serde_json::Value) -> bool| -> usize {
        std::fs::read_to_string(&audit)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|e| want(e))
            .count()
    };
    let refused_list = |e: &serde_json::Value| {
        e["user"]["username"] == "alice"
            && e["verb"] == "list"
            && e["objectRef"]["resource"] == "secrets"
            && e["objectRef"]["namespace"] == "team-b"
            && e["annotations"]["authorization.k8s.io/decision"] == "forbid"
            && e["responseStatus"]["code"] == 403
            && e["requestURI"] == "/skiff.api.v1.ObjectService/List"
            && e["sourceIPs"][0] == "127.0.0.1"
    };
    let created = |e: &serde_json::Value| {
        e["user"]["username"] == "alice"
            && e["verb"] == "create"
            && e["objectRef"]["name"] == "mine"
            && e["annotations"]["authorization.k8s.io/decision"] == "allow"
            && e["responseStatus"]["code"] == 200
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while events(&refused_list) == 0 || events(&created) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "not in the audit log:\n{}",
            std::fs::read_to_string(&audit).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_account_token_works_until_it_expires_or_its_account_goes() {
    let (m, mut admin) = member().await;
    for doc in TEAMS.split("---") {
        apply(&mut admin, doc).await.unwrap();
    }
    for doc in [
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: bot, namespace: team-a}\n",
        r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: bot-view, namespace: team-a}
subjects: [{kind: ServiceAccount, name: bot}]
roleRef: {kind: ClusterRole, name: view, apiGroup: rbac.authorization.k8s.io}
"#,
    ] {
        apply(&mut admin, doc).await.unwrap();
    }
    let admin_dir = support::pki::admin();
    let token = |duration: &str| {
        let (ok, text) = output(
            skiff(&m, &admin_dir, None),
            &[
                "create",
                "token",
                "bot",
                "-n",
                "team-a",
                "--duration",
                duration,
            ],
        );
        assert!(ok, "{text}");
        text.trim().to_owned()
    };
    let short = token("2s");
    let long = token("1h");
    // The token's holder has only the CA certificate, no key of its own.
    let ca_only = tempfile::tempdir().unwrap();
    std::fs::copy(admin_dir.join("ca.crt"), ca_only.path().join("ca.crt")).unwrap();
    let as_bot = |t: &str, args: &[&str]| output(skiff(&m, ca_only.path(), Some(t)), args);

    let (ok, text) = as_bot(&short, &["auth", "whoami"]);
    assert!(
        ok && text.contains("system:serviceaccount:team-a:bot"),
        "{text}"
    );
    assert!(text.contains("system:serviceaccounts:team-a"), "{text}");
    let (ok, text) = as_bot(&short, &["get", "pods", "-n", "team-a"]);
    assert!(ok, "{text}");
    // `view` reads no Secrets, and nothing outside team-a.
    let (ok, text) = as_bot(&short, &["get", "secrets", "-n", "team-a"]);
    assert!(!ok && text.contains("Forbidden"), "{text}");
    let (ok, text) = as_bot(&short, &["get", "pods", "-n", "team-b"]);
    assert!(!ok && text.contains("Forbidden"), "{text}");

    // Expired (2 s, and the verifier's 5 s of leeway for clock skew): refused.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let (ok, text) = as_bot(&short, &["get", "pods", "-n", "team-a"]);
    assert!(
        !ok && text.contains("Unauthenticated") && text.contains("expired"),
        "{text}"
    );
    let (ok, text) = as_bot(&long, &["get", "pods", "-n", "team-a"]);
    assert!(ok, "{text}");

    // Forged, truncated, garbage and oversized tokens: a clear refusal each.
    let parts: Vec<&str> = long.split('.').collect();
    let bad = [
        format!("{}.{}.{}", parts[0], parts[1], "AAAA"),
        long[..long.len() / 2].to_owned(),
        "not-a-token".to_owned(),
        "a".repeat(9000),
    ];
    for t in &bad {
        let (ok, text) = as_bot(t, &["get", "pods", "-n", "team-a"]);
        assert!(!ok && text.contains("Unauthenticated"), "{t:.40}: {text}");
    }
    // 100 KiB of header is refused by the HTTP/2 layer, and the member goes on.
    let (ok, text) = as_bot(&"a".repeat(100 << 10), &["get", "pods", "-n", "team-a"]);
    assert!(!ok, "{text:.200}");
    let (ok, text) = as_bot(&long, &["get", "pods", "-n", "team-a"]);
    assert!(ok, "{text}");

    // The account deleted: its tokens die with it.
    admin
        .delete(DeleteRequest {
            key: key("ServiceAccount", "team-a", "bot"),
            ..Default::default()
        })
        .await
        .unwrap();
    let (ok, text) = as_bot(&long, &["get", "pods", "-n", "team-a"]);
    assert!(!ok && text.contains("no longer exists"), "{text}");
    // Who made the tokens is in the audit log.
    let audit = std::fs::read_to_string(m.dir.path().join("m1/audit.log")).unwrap();
    let made = audit
        .lines()
        .filter(|l| {
            l.contains(r#""username":"admin""#)
                && l.contains(r#""resource":"serviceaccounts","subresource":"token""#)
                && l.contains(r#""code":200"#)
        })
        .count();
    assert_eq!(made, 2, "{audit}");
    drop(m);
}

fn pod(name: &str, node: &str, secret: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: default}}
spec:
  nodeName: {node}
  containers:
  - name: app
    image: registry.example/app:1
    env:
    - name: PASSWORD
      valueFrom: {{secretKeyRef: {{name: {secret}, key: k}}}}
"#
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_reads_only_its_pods_secrets_and_writes_only_its_own_status() {
    let (m, mut admin) = member().await;
    for s in ["s1", "s2", "unused"] {
        apply(
            &mut admin,
            &format!(
                "apiVersion: v1\nkind: Secret\nmetadata: {{name: {s}}}\nstringData: {{k: v}}\n"
            ),
        )
        .await
        .unwrap();
    }
    apply(&mut admin, &pod("p1", "n1", "s1")).await.unwrap();
    apply(&mut admin, &pod("p2", "n2", "s2")).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let creds = support::pki::node("n1", &dir.path().join("n1"));
    let d = Dialer::new(Tls::new(&Credentials::load(&creds).unwrap()).unwrap());
    let mut n1 = ObjectServiceClient::new(d.member(&m.addr(1)).await.unwrap());
    let get = |name: &str| GetRequest {
        key: key("Secret", "default", name),
        ..Default::default()
    };
    n1.get(get("s1")).await.unwrap();
    forbidden(
        n1.get(get("s2")).await,
        "no pod bound to node n1 uses Secret default/s2",
    );
    forbidden(n1.get(get("unused")).await, "no pod bound to node n1");
    forbidden(n1.list(list("Secret", "default")).await, "system:node:n1");

    let status = |name: &str| UpdateStatusRequest {
        key: key("Pod", "default", name),
        expected_resource_version: 0,
        status_json: br#"{"phase":"Running"}"#.to_vec(),
    };
    n1.update_status(status("p1")).await.unwrap();
    forbidden(
        n1.update_status(status("p2")).await,
        "pod default/p2 is not bound to node n1",
    );
    // Its own Node, yes; another's, no.
    apply(
        &mut n1,
        "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\n",
    )
    .await
    .unwrap();
    forbidden(
        apply(
            &mut n1,
            "apiVersion: v1\nkind: Node\nmetadata: {name: n2}\n",
        )
        .await,
        "only change its own Node",
    );
    // Key-value entries: only of the buckets its pods are granted.
    apply(
        &mut admin,
        r#"
apiVersion: v1
kind: Pod
metadata: {name: counter, namespace: default}
spec:
  nodeName: n1
  runtimeClassName: wasm
  containers:
  - name: app
    image: sha256:0000000000000000000000000000000000000000000000000000000000000000
    wasi: {keyvalue: {buckets: [counter]}}
"#,
    )
    .await
    .unwrap();
    let entry = |bucket: &str| {
        format!(
            "apiVersion: skiff.dev/v1\nkind: KeyValue\nmetadata: {{name: {}, namespace: default, labels: {{keyvalue.skiff.dev/bucket: {bucket}}}}}\nbucket: {bucket}\nkey: hits\nvalue: MQ==\n",
            skiff_proto::model::KeyValue::object_name(bucket, "hits")
        )
    };
    apply(&mut n1, &entry("counter")).await.unwrap();
    n1.get(GetRequest {
        key: key(
            "KeyValue",
            "default",
            &skiff_proto::model::KeyValue::object_name("counter", "hits"),
        ),
        ..Default::default()
    })
    .await
    .unwrap();
    n1.list(list("KeyValue", "default")).await.unwrap();
    forbidden(
        apply(&mut n1, &entry("other")).await,
        "no pod bound to node n1 uses key-value bucket default/other",
    );
    forbidden(
        n1.list(list("KeyValue", "kube-system")).await,
        "no pod bound to node n1 uses the key-value buckets of namespace kube-system",
    );
    // And nothing RBAC does not give it: no pods of its own making.
    forbidden(
        apply(&mut n1, &pod("p3", "n1", "s1")).await,
        "system:node:n1",
    );
}
