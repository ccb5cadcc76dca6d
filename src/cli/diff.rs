//! `skiff diff -f FILE`: what `apply` would change, as a unified diff of each object's
//! YAML (the server's dry run against what it holds now). Exit 0 when nothing would
//! change, 1 when something would, as `kubectl diff`.

use std::process::ExitCode;

use similar::TextDiff;
use skiff_proto::Object;
use skiff_proto::grpc::api::{GetRequest, ObjectKey, ReadConsistency};
use tonic::Code;

use super::ApplyArgs;
use super::apply::{apply_request, prepare};
use super::client::{Failure, refused};
use super::get::object;

/// An object's YAML without what changes on every write.
fn comparable(o: &Object) -> String {
    let mut o = o.clone();
    let m = o.metadata_mut();
    m.resource_version = None;
    o.to_yaml().unwrap_or_default()
}

pub async fn run(a: &ApplyArgs) -> Result<ExitCode, Failure> {
    let (objects, mut api) = prepare(a, false).await?;
    let mut differs = false;
    for o in &objects {
        let (name, request) = apply_request(o, true, false)?;
        let after = api
            .apply(request)
            .await
            .map_err(|s| refused(&name, &s))?
            .into_inner();
        let after = match after.object {
            Some(env) => object(&env)?,
            None => continue,
        };
        let ns = if o.kind().is_namespaced() && after.metadata().namespace.is_empty() {
            "default".to_owned()
        } else {
            after.metadata().namespace.clone()
        };
        let before = api
            .get(GetRequest {
                key: Some(ObjectKey {
                    kind: o.kind().name().into(),
                    namespace: ns,
                    name: o.metadata().name.clone(),
                }),
                consistency: ReadConsistency::Linearizable as i32,
            })
            .await;
        let before = match before {
            Ok(r) => match r.into_inner().object {
                Some(env) => comparable(&object(&env)?),
                None => String::new(),
            },
            Err(s) if s.code() == Code::NotFound => String::new(),
            Err(s) => return Err(refused(&name, &s)),
        };
        let mut after = after;
        if before.is_empty() {
            // Not created yet: the server-set identity would be new anyway.
            let m = after.metadata_mut();
            m.uid = None;
            m.creation_timestamp = None;
        }
        let after = comparable(&after);
        if before != after {
            differs = true;
            let diff = TextDiff::from_lines(&before, &after);
            print!(
                "{}",
                diff.unified_diff()
                    .header(&format!("live/{name}"), &format!("applied/{name}"))
            );
        }
    }
    Ok(if differs {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
