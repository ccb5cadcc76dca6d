//! What the tenancy and admission tests share: one real member, clients as users, and
//! the CLI as whoever holds some credentials.

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
pub async fn member() -> (support::Members, ObjectServiceClient<Channel>) {
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
pub async fn user(
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

pub async fn apply(
    api: &mut ObjectServiceClient<Channel>,
    yaml: &str,
) -> Result<(), tonic::Status> {
    api.apply(ApplyRequest {
        manifest: yaml.as_bytes().to_vec(),
        ..Default::default()
    })
    .await
    .map(|_| ())
}

pub fn list(kind: &str, ns: &str) -> ListRequest {
    ListRequest {
        kind: kind.into(),
        namespace: ns.into(),
        ..Default::default()
    }
}

pub fn key(kind: &str, ns: &str, name: &str) -> Option<ObjectKey> {
    Some(ObjectKey {
        kind: kind.into(),
        namespace: ns.into(),
        name: name.into(),
    })
}

#[track_caller]
pub fn forbidden<T: std::fmt::Debug>(r: Result<T, tonic::Status>, says: &str) {
    let e = r.expect_err("allowed");
    assert_eq!(e.code(), Code::PermissionDenied, "{e}");
    assert!(
        e.message().contains(says),
        "{:?} does not say {says:?}",
        e.message()
    );
}

/// `skiff` as the holder of `creds` (and `token`, if given).
pub fn skiff(m: &support::Members, creds: &Path, token: Option<&str>) -> Command {
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

pub fn output(mut c: Command, args: &[&str]) -> (bool, String) {
    let out = c.args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

pub fn pod_with(ns: &str, name: &str, extra_container: &str, extra_spec: &str) -> String {
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
