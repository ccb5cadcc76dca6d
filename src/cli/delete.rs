//! `skiff delete -f FILE | KIND NAME... | KIND -l SELECTOR [--cascade=background|foreground|orphan]
//! [--wait]`.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use skiff_proto::Kind;
use skiff_proto::grpc::api::{
    DeletePropagation, DeleteRequest, GetRequest, ListRequest, ObjectKey, ReadConsistency,
};
use tonic::Code;

use super::DeleteArgs;
use super::apply::{place, read_objects};
use super::client::{self, Failure, refused};
use super::get::namespace;

/// How long `--wait` waits for an object held by finalizers to go.
const WAIT_FOR: Duration = Duration::from_secs(60);

pub async fn run(a: &DeleteArgs) -> Result<ExitCode, Failure> {
    let propagation = match a.cascade.as_deref() {
        None | Some("background") => DeletePropagation::Background,
        Some("foreground") => DeletePropagation::Foreground,
        Some("orphan") => DeletePropagation::Orphan,
        Some(other) => {
            return Err(Failure::User(format!(
                "--cascade={other}: expected background, foreground or orphan"
            )));
        }
    };
    let mut api = client::connect(&client::server(&a.server)).await?;
    let flag_ns = a.server.namespace.as_deref();
    let mut targets: Vec<(Kind, String, String)> = Vec::new();
    if !a.files.filenames.is_empty() {
        if a.kind.is_some() {
            return Err(Failure::User(
                "give either -f FILE or KIND NAME..., not both".into(),
            ));
        }
        for mut o in read_objects(&a.files.filenames, a.files.recursive)? {
            place(&mut o, flag_ns)?;
            let ns = if o.kind().is_namespaced() && o.metadata().namespace.is_empty() {
                "default".to_owned()
            } else {
                o.metadata().namespace.clone()
            };
            targets.push((o.kind(), ns, o.metadata().name.clone()));
        }
    } else {
        let Some(word) = a.kind.as_deref() else {
            return Err(Failure::User(
                "what to delete: `skiff delete KIND NAME...`, `skiff delete KIND -l SELECTOR` or `skiff delete -f FILE`".into(),
            ));
        };
        let kind = client::kind(word)?;
        let ns = namespace(kind, flag_ns);
        match (&a.selector, a.names.is_empty()) {
            (Some(sel), true) => {
                let r = api
                    .list(ListRequest {
                        kind: kind.name().into(),
                        namespace: ns.clone(),
                        label_selector: sel.clone(),
                        consistency: ReadConsistency::Linearizable as i32,
                        ..Default::default()
                    })
                    .await
                    .map_err(|s| refused("listing what to delete", &s))?
                    .into_inner();
                for env in r.items {
                    if let Some(k) = env.key {
                        targets.push((kind, k.namespace, k.name));
                    }
                }
                if targets.is_empty() {
                    eprintln!("No resources found.");
                }
            }
            (None, false) => targets.extend(a.names.iter().map(|n| (kind, ns.clone(), n.clone()))),
            (Some(_), false) => {
                return Err(Failure::User("give names or -l SELECTOR, not both".into()));
            }
            (None, true) => {
                return Err(Failure::User(format!(
                    "which {}? give names, or -l SELECTOR",
                    kind.name().to_ascii_lowercase()
                )));
            }
        }
    }
    let mut failed = 0;
    for (kind, ns, name) in targets {
        let key = ObjectKey {
            kind: kind.name().into(),
            namespace: ns.clone(),
            name: name.clone(),
        };
        let what = format!("{} {name:?}", kind.name().to_ascii_lowercase());
        let r = api
            .delete(DeleteRequest {
                key: Some(key.clone()),
                expected_resource_version: None,
                propagation: propagation as i32,
                dry_run: false,
            })
            .await;
        match r {
            Ok(_) => println!("{what} deleted"),
            Err(s) if s.code() == Code::NotFound => {
                failed += 1;
                let place = if ns.is_empty() {
                    String::new()
                } else {
                    format!(" in namespace {ns:?}")
                };
                eprintln!("{what} not found{place}");
                continue;
            }
            Err(s) => {
                failed += 1;
                refused(&format!("deleting {what}"), &s).report();
                continue;
            }
        }
        if a.wait {
            let started = Instant::now();
            loop {
                let got = api
                    .get(GetRequest {
                        key: Some(key.clone()),
                        consistency: ReadConsistency::Linearizable as i32,
                    })
                    .await;
                match got {
                    Err(s) if s.code() == Code::NotFound => break,
                    _ if started.elapsed() > WAIT_FOR => {
                        return Err(Failure::User(format!(
                            "{what} is still there after {}s (finalizers may hold it: `skiff get {} {name} -o yaml`)",
                            WAIT_FOR.as_secs(),
                            kind.name().to_ascii_lowercase()
                        )));
                    }
                    _ => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
