//! `skiff describe KIND NAME`: who the object is, its desired state and status, and its
//! recent events, as kubectl describe shows them.

use std::process::ExitCode;

use skiff_proto::Object;
use skiff_proto::grpc::api::{GetRequest, ListRequest, ObjectKey, ReadConsistency};
use skiff_proto::model::values::Time;
use tonic::Code;

use super::DescribeArgs;
use super::client::{self, Failure, refused};
use super::get::{namespace, object};
use super::table::age;

pub async fn run(a: &DescribeArgs) -> Result<ExitCode, Failure> {
    let kind = client::kind(&a.kind)?;
    let ns = namespace(kind, a.server.namespace.as_deref());
    let mut api = client::connect(&client::server(&a.server)).await?;
    let r = api
        .get(GetRequest {
            key: Some(ObjectKey {
                kind: kind.name().into(),
                namespace: ns.clone(),
                name: a.name.clone(),
            }),
            consistency: ReadConsistency::Linearizable as i32,
        })
        .await;
    let env = match r {
        Ok(r) => r.into_inner().object,
        Err(s) if s.code() == Code::NotFound => {
            return Err(Failure::User(format!(
                "{} {:?} not found",
                kind.name().to_ascii_lowercase(),
                a.name
            )));
        }
        Err(s) => return Err(refused("describing", &s)),
    };
    let Some(env) = env else {
        return Err(Failure::User("the server sent no object".into()));
    };
    let o = object(&env)?;
    // The events about it, from its namespace (Event objects live beside what they describe).
    let events = api
        .list(ListRequest {
            kind: "Event".into(),
            namespace: if ns.is_empty() {
                "default".into()
            } else {
                ns.clone()
            },
            ..Default::default()
        })
        .await
        .map_err(|s| refused("listing events", &s))?
        .into_inner();
    let mut about = Vec::new();
    for e in &events.items {
        if let Object::Event(ev) = object(e)? {
            let i = &ev.involved_object;
            if i.kind == kind.name() && i.name == a.name {
                about.push(ev);
            }
        }
    }
    print!("{}", render(&o, &about));
    Ok(ExitCode::SUCCESS)
}

/// The description: identity, then the rest of the object, then events.
pub fn render(o: &Object, events: &[skiff_proto::model::Event]) -> String {
    let m = o.metadata();
    let now = Time::now().unix_seconds;
    let pairs = |map: &std::collections::BTreeMap<String, String>| {
        if map.is_empty() {
            "<none>".to_owned()
        } else {
            map.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("\n              ")
        }
    };
    let mut out = String::new();
    let mut line = |k: &str, v: String| out.push_str(&format!("{:<14}{v}\n", format!("{k}:")));
    line("Name", m.name.clone());
    if !m.namespace.is_empty() {
        line("Namespace", m.namespace.clone());
    }
    line("Kind", o.kind().name().to_owned());
    line("Labels", pairs(&m.labels));
    line("Annotations", pairs(&m.annotations));
    if let Some(t) = m.creation_timestamp {
        line(
            "Created",
            format!("{t} ({} ago)", age(now.saturating_sub(t.unix_seconds))),
        );
    }
    if let Some(u) = &m.uid {
        line("UID", u.clone());
    }
    if let Some(g) = m.generation {
        line("Generation", g.to_string());
    }
    if let Some(r) = m.resource_version {
        line("Version", r.to_string());
    }
    if let Some(t) = m.deletion_timestamp {
        line("Deleting", format!("since {t}"));
    }
    if !m.finalizers.is_empty() {
        line("Finalizers", m.finalizers.join(", "));
    }
    for r in &m.owner_references {
        line("Owned by", format!("{}/{}", r.kind, r.name));
    }
    // Everything but apiVersion, kind and metadata, as YAML, in the object's field order.
    let yaml = o.to_yaml().unwrap_or_default();
    let mut skipping = true;
    for l in yaml.lines() {
        if !l.starts_with([' ', '-']) {
            let (k, rest) = l.split_once(':').unwrap_or((l, ""));
            skipping = matches!(k, "apiVersion" | "kind" | "metadata");
            if !skipping {
                let mut title = k.to_owned();
                if let Some(first) = title.get_mut(0..1) {
                    first.make_ascii_uppercase();
                }
                out.push_str(&format!("{title}:{rest}\n"));
            }
        } else if !skipping {
            out.push_str(&format!("  {l}\n"));
        }
    }
    out.push_str("Events:");
    if events.is_empty() {
        out.push_str("        <none>\n");
        return out;
    }
    out.push('\n');
    out.push_str("  TYPE      REASON              AGE    FROM                MESSAGE\n");
    for e in events {
        let ago = |t: Option<Time>| t.map(|t| age(now.saturating_sub(t.unix_seconds)));
        let last = ago(e.last_timestamp.or(e.first_timestamp)).unwrap_or_else(|| "-".into());
        // A repeated event reads as kubectl shows it: `2m (x3 over 10m)`.
        let when = match (e.count, ago(e.first_timestamp)) {
            (Some(n), Some(first)) if n > 1 => format!("{last} (x{n} over {first})"),
            _ => last,
        };
        out.push_str(&format!(
            "  {:<9} {:<19} {:<6} {:<19} {}\n",
            format!("{:?}", e.type_.unwrap_or_default()),
            e.reason.clone().unwrap_or_default(),
            when,
            e.source
                .as_ref()
                .and_then(|s| s.component.clone())
                .unwrap_or_default(),
            e.message.clone().unwrap_or_default()
        ));
    }
    out
}
