//! `skiff get KIND [NAME...] [-o wide|yaml|json|name] [-l SELECTOR] [--field-selector F]
//! [-n NS | -A] [--watch]`: tables as kubectl prints them, or the objects themselves.

use std::process::ExitCode;

use skiff_proto::grpc::api::{
    GetRequest, ListRequest, ObjectEnvelope, ObjectKey, ReadConsistency, WatchEventType,
    WatchRequest,
};
use skiff_proto::manifest::{Source, decode_one};
use skiff_proto::{Kind, Object};
use tonic::Code;

use super::GetArgs;
use super::client::{self, Failure, refused};
use super::table;

/// An object as the server sent it.
pub fn object(env: &ObjectEnvelope) -> Result<Object, Failure> {
    let text = std::str::from_utf8(&env.json)
        .map_err(|_| Failure::User("the server sent an object that is not UTF-8".into()))?;
    decode_one(text, &Source::named("<server>")).map_err(|d| {
        Failure::User(format!(
            "the server sent an object this client cannot read: {d}"
        ))
    })
}

/// The namespace a verb acts in: `-n`, or `default`; none for cluster-scoped kinds.
pub fn namespace(kind: Kind, flag: Option<&str>) -> String {
    if kind.is_namespaced() {
        flag.unwrap_or("default").to_owned()
    } else {
        String::new()
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Output {
    Table { wide: bool },
    Yaml,
    Json,
    Name,
}

fn output(o: Option<&str>) -> Result<Output, Failure> {
    Ok(match o {
        None => Output::Table { wide: false },
        Some("wide") => Output::Table { wide: true },
        Some("yaml") => Output::Yaml,
        Some("json") => Output::Json,
        Some("name") => Output::Name,
        Some(other) => {
            return Err(Failure::User(format!(
                "-o {other}: expected wide, yaml, json or name"
            )));
        }
    })
}

fn print(objects: &[Object], out: Output, all: bool, single: bool) -> Result<(), Failure> {
    let fail = |e: String| Failure::User(format!("printing: {e}"));
    match out {
        Output::Table { wide } => print!("{}", table::render(objects, wide, all)),
        Output::Name => {
            for o in objects {
                println!(
                    "{}/{}",
                    o.kind().name().to_ascii_lowercase(),
                    o.metadata().name
                );
            }
        }
        Output::Yaml => {
            for (i, o) in objects.iter().enumerate() {
                if i > 0 {
                    println!("---");
                }
                print!("{}", o.to_yaml().map_err(|e| fail(e.to_string()))?);
            }
        }
        Output::Json if single => {
            let v = serde_json::to_string_pretty(&objects[0]).map_err(|e| fail(e.to_string()))?;
            println!("{v}");
        }
        Output::Json => {
            let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": objects});
            let v = serde_json::to_string_pretty(&list).map_err(|e| fail(e.to_string()))?;
            println!("{v}");
        }
    }
    Ok(())
}

pub async fn run(a: &GetArgs) -> Result<ExitCode, Failure> {
    let kind = client::kind(&a.kind)?;
    let out = output(a.output.as_deref())?;
    if a.all_namespaces && !a.names.is_empty() {
        return Err(Failure::User(
            "-A lists every namespace; to get objects by name, give -n NAMESPACE instead".into(),
        ));
    }
    let ns = if a.all_namespaces {
        String::new()
    } else {
        namespace(kind, a.server.namespace.as_deref())
    };
    let mut api = client::connect(&client::server(&a.server)).await?;
    let mut objects = Vec::new();
    let mut missing = 0;
    let mut revision = 0;
    if a.names.is_empty() {
        let r = api
            .list(ListRequest {
                kind: kind.name().into(),
                namespace: ns.clone(),
                label_selector: a.selector.clone().unwrap_or_default(),
                field_selector: a.field_selector.clone().unwrap_or_default(),
                consistency: ReadConsistency::Linearizable as i32,
                ..Default::default()
            })
            .await
            .map_err(|s| refused(&format!("listing {}", kind.name()), &s))?
            .into_inner();
        revision = r.resource_version;
        for env in &r.items {
            objects.push(object(env)?);
        }
    } else {
        for name in &a.names {
            let r = api
                .get(GetRequest {
                    key: Some(ObjectKey {
                        kind: kind.name().into(),
                        namespace: ns.clone(),
                        name: name.clone(),
                    }),
                    consistency: ReadConsistency::Linearizable as i32,
                })
                .await;
            match r {
                Ok(r) => {
                    if let Some(env) = r.into_inner().object {
                        objects.push(object(&env)?);
                    }
                }
                Err(s) if s.code() == Code::NotFound => {
                    missing += 1;
                    let place = if ns.is_empty() {
                        String::new()
                    } else {
                        format!(" in namespace {ns:?}")
                    };
                    eprintln!(
                        "{} {name:?} not found{place}",
                        kind.name().to_ascii_lowercase()
                    );
                }
                Err(s) => return Err(refused(&format!("getting {name}"), &s)),
            }
        }
    }
    if objects.is_empty() && missing == 0 && !a.watch {
        let place = if ns.is_empty() {
            String::new()
        } else {
            format!(" in namespace {ns}")
        };
        eprintln!("No resources found{place}.");
    }
    print(&objects, out, a.all_namespaces, a.names.len() == 1)?;
    if a.watch {
        watch(&mut api, kind, &ns, a, out, revision, objects).await?;
    }
    Ok(if missing == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Prints every change after `revision` until the server ends the stream or Ctrl-C.
async fn watch(
    api: &mut skiff_proto::grpc::api::object_service_client::ObjectServiceClient<client::Conn>,
    kind: Kind,
    ns: &str,
    a: &GetArgs,
    out: Output,
    revision: u64,
    listed: Vec<Object>,
) -> Result<(), Failure> {
    // Rows line up with the table printed before: each is rendered beside those objects.
    let mut header = !listed.is_empty();
    let mut beside = listed;
    let mut stream = api
        .watch(WatchRequest {
            kind: kind.name().into(),
            namespace: ns.into(),
            label_selector: a.selector.clone().unwrap_or_default(),
            field_selector: a.field_selector.clone().unwrap_or_default(),
            since_revision: revision,
        })
        .await
        .map_err(|s| refused("watching", &s))?
        .into_inner();
    loop {
        let next = tokio::select! {
            m = stream.message() => m,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let Some(ev) = next.map_err(|s| refused("watching", &s))? else {
            return Ok(());
        };
        let Some(env) = ev.object.as_ref() else {
            continue;
        };
        if !a.names.is_empty()
            && !a
                .names
                .iter()
                .any(|n| env.key.as_ref().is_some_and(|k| &k.name == n))
        {
            continue;
        }
        let o = object(env)?;
        match out {
            Output::Table { wide } => {
                beside.push(o);
                let t = table::render(&beside, wide, a.all_namespaces);
                let line = t.lines().last().unwrap_or_default().to_owned();
                beside.pop();
                if !header {
                    println!("{}", t.lines().next().unwrap_or_default());
                    header = true;
                }
                let deleted = ev.r#type == WatchEventType::Deleted as i32;
                println!("{line}{}", if deleted { "   (deleted)" } else { "" });
            }
            other => print(std::slice::from_ref(&o), other, a.all_namespaces, true)?,
        }
    }
}
