//! Admission for tenants: Pod Security levels per namespace (enforce, warn, audit), and
//! ResourceQuotas charged atomically with LimitRange defaults, against one real member.

use std::time::Duration;

use skiff_proto::grpc::api::*;
use tonic::Code;

use super::common::*;
use crate::support;

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

#[tokio::test(flavor = "multi_thread")]
async fn quotas_hold_under_concurrent_creates_and_limit_ranges_fill_in_defaults() {
    let (_m, mut admin) = member().await;
    for doc in [
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: team-q}\n",
        "apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: q, namespace: team-q}\nspec: {hard: {pods: \"2\", requests.memory: 1Gi}}\n",
        r#"
apiVersion: v1
kind: LimitRange
metadata: {name: sizes, namespace: team-q}
spec:
  limits:
  - type: Container
    default: {memory: 256Mi, cpu: 500m}
    defaultRequest: {memory: 128Mi}
    max: {memory: 512Mi}
"#,
    ] {
        apply(&mut admin, doc).await.unwrap();
    }
    // Ten creates at once for two places: exactly two get in.
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let mut c = admin.clone();
            tokio::spawn(async move {
                apply(&mut c, &pod_with("team-q", &format!("p{i}"), "", "")).await
            })
        })
        .collect();
    let mut created = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => created += 1,
            Err(e) => {
                assert_eq!(e.code(), Code::PermissionDenied, "{e}");
                assert!(
                    e.message().contains(
                        "exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2"
                    ),
                    "{e}"
                );
            }
        }
    }
    assert_eq!(created, 2, "the quota allows two pods");
    let pods = admin
        .list(list("Pod", "team-q"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(pods.items.len(), 2);
    // The LimitRange's defaults are in the pods as stored.
    let pod: serde_json::Value = serde_json::from_slice(&pods.items[0].json).unwrap();
    let res = &pod["spec"]["containers"][0]["resources"];
    assert_eq!(res["requests"]["memory"], "128Mi", "{res}");
    assert_eq!(res["limits"]["memory"], "256Mi", "{res}");
    assert_eq!(res["limits"]["cpu"], "500m", "{res}");
    // Its bounds refuse a bigger container, naming the bound.
    forbidden(
        apply(
            &mut admin,
            &pod_with(
                "team-q",
                "big",
                "    resources: {limits: {memory: 1Gi}}",
                "",
            ),
        )
        .await,
        "maximum memory usage per Container is 512Mi, but limit is 1Gi",
    );
    // The quota's status says what is used.
    let q = quota(&mut admin).await;
    assert_eq!(q["status"]["used"]["pods"], "2", "{q}");
    // A pod deleted frees its place.
    let name: String = pod["metadata"]["name"].as_str().unwrap().into();
    admin
        .delete(DeleteRequest {
            key: key("Pod", "team-q", &name),
            ..Default::default()
        })
        .await
        .unwrap();
    // The leader brings the quota's usage back down after the deletion.
    let used = |q: &serde_json::Value| q["status"]["used"]["pods"].clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let q = quota(&mut admin).await;
        if used(&q) == "1" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "usage not refreshed: {q}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    apply(&mut admin, &pod_with("team-q", "later", "", ""))
        .await
        .unwrap();
}

/// The ResourceQuota `team-q/q`, as JSON.
async fn quota(
    admin: &mut object_service_client::ObjectServiceClient<tonic::transport::Channel>,
) -> serde_json::Value {
    let q = admin
        .get(GetRequest {
            key: key("ResourceQuota", "team-q", "q"),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    serde_json::from_slice(&q.object.unwrap().json).unwrap()
}
