//! Tenancy: RBAC between two teams, no escalation through bindings, ServiceAccount
//! tokens, and the node authorizer, against one real member over mTLS.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use skiff_pki::{Credentials, Dialer, Role, Tls};
use skiff_proto::grpc::api::object_service_client::ObjectServiceClient;
use skiff_proto::grpc::api::*;
use tonic::Code;
use tonic::transport::Channel;

use crate::support;

/// One member, and the admin's client of it.
async fn member() -> (support::Members, ObjectServiceClient<Channel>) {
    let m = tokio::task::spawn_blocking(|| {
        let m = support::Members::start(1);
        m.leader(1);
        m
    })
    .await
    .unwrap();
    let mut admin = support::client(m.ports[0]).await;
    // A member makes the default ClusterRoles once it has a leader; wait for the last.
    let view = GetRequest {
        key: key("ClusterRoleBinding", "", "cluster-admin"),
        ..Default::default()
    };
    for _ in 0..100 {
        if admin.get(view.clone()).await.is_ok() {
            return (m, admin);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no default ClusterRoles after 5 s");
}

/// Credentials for user `name` in `groups` (under `dir`), and a client with them.
async fn user(
    m: &support::Members,
    name: &str,
    groups: &[&str],
    dir: &Path,
) -> (PathBuf, ObjectServiceClient<Channel>) {
    let role = Role::User {
        name: name.into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
    };
    let creds = support::pki::issue(role, Duration::from_secs(3600), &dir.join(name));
    let d = Dialer::new(Tls::new(&Credentials::load(&creds).unwrap()).unwrap());
    let c = ObjectServiceClient::new(d.member(&m.addr(1)).await.unwrap());
    (creds, c)
}

async fn apply(api: &mut ObjectServiceClient<Channel>, yaml: &str) -> Result<(), tonic::Status> {
    api.apply(ApplyRequest {
        manifest: yaml.as_bytes().to_vec(),
        ..Default::default()
    })
    .await
    .map(|_| ())
}

fn list(kind: &str, ns: &str) -> ListRequest {
    ListRequest {
        kind: kind.into(),
        namespace: ns.into(),
        ..Default::default()
    }
}

fn key(kind: &str, ns: &str, name: &str) -> Option<ObjectKey> {
    Some(ObjectKey {
        kind: kind.into(),
        namespace: ns.into(),
        name: name.into(),
    })
}

#[track_caller]
fn forbidden<T: std::fmt::Debug>(r: Result<T, tonic::Status>, says: &str) {
    let e = r.expect_err("allowed");
    assert_eq!(e.code(), Code::PermissionDenied, "{e}");
    assert!(
        e.message().contains(says),
        "{:?} does not say {says:?}",
        e.message()
    );
}

/// `skiff` as the holder of `creds` (and `token`, if given).
fn skiff(m: &support::Members, creds: &Path, token: Option<&str>) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_skiff"));
    c.env("SKIFF_SERVER", m.addr(1))
        .env("SKIFF_CREDENTIALS", creds)
        .env("HOME", creds);
    match token {
        Some(t) => c.env("SKIFF_TOKEN", t),
        None => c.env_remove("SKIFF_TOKEN"),
    };
    c
}

fn output(mut c: Command, args: &[&str]) -> (bool, String) {
    let out = c.args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

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
    // And nothing RBAC does not give it: no pods of its own making.
    forbidden(
        apply(&mut n1, &pod("p3", "n1", "s1")).await,
        "system:node:n1",
    );
}

fn pod_with(ns: &str, name: &str, extra_container: &str, extra_spec: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {ns}}}
spec:
  containers:
  - name: app
    image: registry.example/app:1
{extra_container}
{extra_spec}
"#
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn pod_security_levels_refuse_what_they_forbid_and_name_the_rule() {
    let (m, mut admin) = member().await;
    let ns = |name: &str, labels: &str| {
        format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {name}, labels: {{{labels}}}}}\n"
        )
    };
    apply(&mut admin, &ns("base", "")).await.unwrap();
    apply(
        &mut admin,
        &ns("open", "pod-security.kubernetes.io/enforce: privileged"),
    )
    .await
    .unwrap();
    apply(
        &mut admin,
        &ns("strict", "pod-security.kubernetes.io/enforce: restricted"),
    )
    .await
    .unwrap();
    apply(
        &mut admin,
        &ns("warned", "pod-security.kubernetes.io/warn: restricted"),
    )
    .await
    .unwrap();
    let e = apply(
        &mut admin,
        &ns("typo", "pod-security.kubernetes.io/enforce: strict"),
    )
    .await
    .unwrap_err();
    assert!(e.message().contains("unknown Pod Security level"), "{e}");

    let host = "  volumes: [{name: host, hostPath: {path: /etc}}]";
    // New namespaces are baseline: no hostPath, for pods and for workloads' templates.
    forbidden(
        apply(&mut admin, &pod_with("base", "h", "", host)).await,
        r#"violates PodSecurity "baseline:latest": hostPath volumes (volume "host")"#,
    );
    let deployment = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: d, namespace: base}
spec:
  selector: {matchLabels: {app: d}}
  template:
    metadata: {labels: {app: d}}
    spec:
      containers: [{name: app, image: registry.example/app:1}]
      volumes: [{name: host, hostPath: {path: /}}]
"#;
    forbidden(apply(&mut admin, deployment).await, "hostPath volumes");
    forbidden(
        apply(
            &mut admin,
            &pod_with("base", "p", "    securityContext: {privileged: true}", ""),
        )
        .await,
        r#"privileged (container "app" must not set securityContext.privileged=true)"#,
    );
    // A privileged namespace takes both.
    apply(&mut admin, &pod_with("open", "h", "", host))
        .await
        .unwrap();
    // Restricted asks for more than baseline, and says all of it.
    let e = apply(&mut admin, &pod_with("strict", "plain", "", ""))
        .await
        .unwrap_err();
    for rule in [
        "restricted:latest",
        "allowPrivilegeEscalation != false",
        "unrestricted capabilities",
        "runAsNonRoot != true",
    ] {
        assert!(e.message().contains(rule), "{rule}: {e}");
    }
    apply(
        &mut admin,
        &pod_with(
            "strict",
            "careful",
            "    securityContext: {allowPrivilegeEscalation: false, runAsNonRoot: true, capabilities: {drop: [ALL]}}",
            "",
        ),
    )
    .await
    .unwrap();
    // `warn` lets it in and says what enforcing would refuse.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pod.yaml");
    std::fs::write(&file, pod_with("warned", "plain", "", "")).unwrap();
    let (ok, text) = output(
        skiff(&m, &support::pki::admin(), None),
        &["apply", "-f", file.to_str().unwrap()],
    );
    assert!(ok, "{text}");
    assert!(
        text.contains(r#"Warning: would violate PodSecurity "restricted:latest""#),
        "{text}"
    );
    // `audit` lets it in and notes it in the audit log.
    apply(
        &mut admin,
        &ns("audited", "pod-security.kubernetes.io/audit: restricted"),
    )
    .await
    .unwrap();
    apply(&mut admin, &pod_with("audited", "plain", "", ""))
        .await
        .unwrap();
    let audit = m.dir.path().join("m1/audit.log");
    let noted = || {
        std::fs::read_to_string(&audit)
            .unwrap_or_default()
            .lines()
            .any(|l| l.contains(r#""pod-security.kubernetes.io/audit-violations":"would violate PodSecurity \"restricted:latest\""#))
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !noted() {
        assert!(std::time::Instant::now() < deadline, "no audit annotation");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
