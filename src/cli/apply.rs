//! `skiff apply -f FILE|DIR|- [-R] [--dry-run=server]`: every manifest is checked locally
//! first (nothing is sent if any is wrong), then applied one object at a time, printing
//! `kind/name created|configured|unchanged`; with `--prune -l SELECTOR`, objects matching
//! the selector that the files no longer hold are deleted (`kind/name pruned`).

use std::process::ExitCode;

use std::collections::BTreeSet;

use super::client::Conn;
use skiff_proto::grpc::api::object_service_client::ObjectServiceClient;
use skiff_proto::grpc::api::{
    ApplyOutcome, ApplyRequest, DeleteRequest, ListRequest, ReadConsistency,
};
use skiff_proto::manifest;
use skiff_proto::{Kind, Object};

use super::artifacts;
use super::client::{self, Failure, refused};
use super::{ApplyArgs, files};

/// The objects in the files named by `-f`, or every problem found in them.
pub fn read_objects(names: &[std::path::PathBuf], recursive: bool) -> Result<Vec<Object>, Failure> {
    let inputs = files::read_all(names, recursive).map_err(|e| Failure::User(format!("{e:#}")))?;
    let mut objects = Vec::new();
    let mut problems = Vec::new();
    for input in &inputs {
        let decoded = manifest::decode(&input.text, &input.source);
        if decoded.diagnostics.0.is_empty() {
            let base = input
                .source
                .base_dir
                .clone()
                .or_else(|| std::env::current_dir().ok());
            for mut o in decoded.objects {
                artifacts::resolve_paths(&mut o, base.as_deref());
                objects.push(o);
            }
        } else {
            problems.push(decoded.diagnostics.to_string());
        }
    }
    if !problems.is_empty() {
        return Err(Failure::User(format!(
            "{}\nnothing was sent: fix the manifests above (`skiff validate -f` checks them offline)",
            problems.join("\n")
        )));
    }
    Ok(objects)
}

/// Puts namespaced objects without a namespace into `-n NAMESPACE`; refuses a manifest
/// that names another one, as kubectl does.
pub fn place(o: &mut Object, namespace: Option<&str>) -> Result<(), Failure> {
    let Some(ns) = namespace.filter(|_| o.kind().is_namespaced()) else {
        return Ok(());
    };
    let m = o.metadata_mut();
    if m.namespace.is_empty() {
        m.namespace = ns.to_owned();
    } else if m.namespace != ns {
        return Err(Failure::User(format!(
            "{}/{} is in namespace {:?} but -n says {ns:?}; drop -n or change the manifest",
            o.kind().name().to_ascii_lowercase(),
            o.metadata().name,
            o.metadata().namespace
        )));
    }
    Ok(())
}

/// The objects `-f` names, placed in `-n`, and the connection they go to. Local Wasm
/// components become digests; with `upload`, they are stored on the server first.
pub async fn prepare(
    args: &ApplyArgs,
    upload: bool,
) -> Result<(Vec<Object>, ObjectServiceClient<Conn>), Failure> {
    let mut objects = read_objects(&args.files.filenames, args.files.recursive)?;
    for o in &mut objects {
        place(o, args.server.namespace.as_deref())?;
    }
    let channel = client::channel(&client::server(&args.server)).await?;
    artifacts::upload_local(&mut objects, &channel, upload).await?;
    Ok((objects, ObjectServiceClient::new(channel)))
}

/// `o` as `kind/name` (for messages) and the Apply request that sends it. The server
/// merges it into the object as `skiff-cli`'s fields (server-side apply); `force` takes
/// fields other managers own instead of failing with a conflict.
pub fn apply_request(
    o: &Object,
    dry_run: bool,
    force: bool,
) -> Result<(String, ApplyRequest), Failure> {
    let name = format!(
        "{}/{}",
        o.kind().name().to_ascii_lowercase(),
        o.metadata().name
    );
    let manifest = o
        .to_json()
        .map_err(|e| Failure::User(format!("{name}: {e}")))?;
    let request = ApplyRequest {
        manifest: manifest.into_bytes(),
        dry_run,
        field_manager: "skiff-cli".into(),
        force,
    };
    Ok((name, request))
}

pub async fn run(args: &ApplyArgs) -> Result<ExitCode, Failure> {
    let dry_run = match args.dry_run.as_deref() {
        None | Some("none") => false,
        Some("server") => true,
        Some(other) => {
            return Err(Failure::User(format!(
                "--dry-run={other}: expected `server` (admission without writing) or `none`"
            )));
        }
    };
    let (mut objects, mut api) = prepare(args, !dry_run).await?;
    // Namespaces first: what goes in them can only be created once they exist.
    objects.sort_by_key(|o| o.kind() != Kind::Namespace);
    let mut failed = 0;
    for o in &objects {
        let (name, request) = apply_request(o, dry_run, args.force_conflicts)?;
        let r = api.apply(request).await;
        match r {
            Ok(r) => {
                // Kubernetes' warning headers (e.g. a namespace's Pod Security `warn`).
                for w in r.metadata().get_all("warning") {
                    eprintln!("Warning: {}", w.to_str().unwrap_or("(not text)"));
                }
                let outcome = match r.into_inner().outcome() {
                    ApplyOutcome::Created => "created",
                    ApplyOutcome::Configured => "configured",
                    ApplyOutcome::Unchanged | ApplyOutcome::Unspecified => "unchanged",
                };
                let note = if dry_run { " (server dry run)" } else { "" };
                println!("{name} {outcome}{note}");
            }
            Err(s) => {
                let f = refused(&name, &s);
                if matches!(f, Failure::Unreachable(_)) {
                    return Err(f);
                }
                failed += 1;
                f.report();
            }
        }
    }
    if args.prune && failed == 0 {
        failed += prune(&mut api, args, &objects, dry_run).await?;
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Deletes what matches `-l` in the namespaces the files touched (and cluster-scoped
/// kinds) but is not among `applied`; returns how many deletions failed.
async fn prune(
    api: &mut ObjectServiceClient<Conn>,
    args: &ApplyArgs,
    applied: &[Object],
    dry_run: bool,
) -> Result<usize, Failure> {
    let selector = args.selector.clone().unwrap_or_default();
    let keep: BTreeSet<(Kind, String, String)> = applied
        .iter()
        .map(|o| {
            let m = o.metadata();
            let ns = if o.kind().is_namespaced() && m.namespace.is_empty() {
                "default".to_owned()
            } else {
                m.namespace.clone()
            };
            (o.kind(), ns, m.name.clone())
        })
        .collect();
    let mut namespaces: BTreeSet<String> = keep
        .iter()
        .filter(|(k, _, _)| k.is_namespaced())
        .map(|(_, ns, _)| ns.clone())
        .collect();
    if namespaces.is_empty() {
        namespaces.insert(
            args.server
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into()),
        );
    }
    let mut failed = 0;
    for kind in Kind::ALL.into_iter().filter(|k| *k != Kind::Event) {
        let scopes: Vec<String> = if kind.is_namespaced() {
            namespaces.iter().cloned().collect()
        } else {
            vec![String::new()]
        };
        for ns in scopes {
            let listed = api
                .list(ListRequest {
                    kind: kind.name().into(),
                    namespace: ns.clone(),
                    label_selector: selector.clone(),
                    consistency: ReadConsistency::Linearizable as i32,
                    ..Default::default()
                })
                .await
                .map_err(|s| refused("listing what to prune", &s))?
                .into_inner();
            for env in listed.items {
                let Some(k) = env.key else { continue };
                if keep.contains(&(kind, k.namespace.clone(), k.name.clone())) {
                    continue;
                }
                let name = format!("{}/{}", kind.name().to_ascii_lowercase(), k.name);
                let r = api
                    .delete(DeleteRequest {
                        key: Some(k),
                        dry_run,
                        ..Default::default()
                    })
                    .await;
                match r {
                    Ok(_) => println!(
                        "{name} pruned{}",
                        if dry_run { " (server dry run)" } else { "" }
                    ),
                    Err(s) => {
                        failed += 1;
                        refused(&format!("pruning {name}"), &s).report();
                    }
                }
            }
        }
    }
    Ok(failed)
}
