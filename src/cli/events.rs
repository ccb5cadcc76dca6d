//! `skiff events [--for KIND/NAME] [--types Warning] [-n NS | -A] [-w]`: what happened, as
//! `kubectl events` shows it: oldest first, a repeated event once with its count
//! (`2m (x3 over 10m)`), then (with `-w`) each new one or new count as it happens.

use std::process::ExitCode;

use clap::Args;
use skiff_proto::grpc::api::{ListRequest, ReadConsistency, WatchEventType, WatchRequest};
use skiff_proto::model::event::Event;
use skiff_proto::model::values::Time;
use skiff_proto::{Kind, Object};

use super::client::{self, Failure, refused};
use super::get::object;
use super::{ServerArgs, table};

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Only events about this object: `KIND/NAME` (`pod/web-1`, `deploy/web`, `node/n1`).
    #[arg(long = "for", value_name = "KIND/NAME")]
    pub about: Option<String>,
    /// Only events of these types: `Normal`, `Warning` (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub types: Vec<String>,
    /// Events of every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Keep printing events as they happen (Ctrl-C to stop).
    #[arg(short, long)]
    pub watch: bool,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// The field selector of `--for KIND/NAME`.
fn about_selector(arg: &str) -> Result<String, Failure> {
    let (kind, name) = arg.split_once('/').ok_or_else(|| {
        Failure::User(format!(
            "--for {arg:?}: expected KIND/NAME, e.g. pod/web-1 or deployment/web"
        ))
    })?;
    let kind = Kind::lookup(kind).ok_or_else(|| {
        Failure::User(format!(
            "--for {arg:?}: {kind:?} is not a kind this cluster serves (`skiff get` lists them)"
        ))
    })?;
    if name.is_empty() {
        return Err(Failure::User(format!("--for {arg:?}: the name is missing")));
    }
    Ok(format!(
        "involvedObject.kind={},involvedObject.name={name}",
        kind.name()
    ))
}

/// Which types to show (`None`: all); refuses a type Kubernetes does not have.
fn types(asked: &[String]) -> Result<Option<Vec<String>>, Failure> {
    if asked.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for t in asked {
        match t.to_ascii_lowercase().as_str() {
            "normal" => out.push("Normal".to_owned()),
            "warning" => out.push("Warning".to_owned()),
            _ => {
                return Err(Failure::User(format!(
                    "--types {t:?}: an event is Normal or Warning"
                )));
            }
        }
    }
    Ok(Some(out))
}

fn type_of(e: &Event) -> String {
    format!("{:?}", e.type_.unwrap_or_default())
}

fn last_seen(e: &Event) -> u64 {
    e.last_timestamp
        .or(e.first_timestamp)
        .or(e.metadata.creation_timestamp)
        .map_or(0, |t| t.unix_seconds)
}

/// One row: LAST SEEN (with the count when repeated), TYPE, REASON, OBJECT, MESSAGE.
fn row(e: &Event, namespaces: bool, now: Time) -> Vec<String> {
    let ago = |t: u64| table::age(now.unix_seconds.saturating_sub(t));
    let mut seen = ago(last_seen(e));
    if let (Some(n), Some(first)) = (e.count.filter(|n| *n > 1), e.first_timestamp) {
        seen = format!("{seen} (x{n} over {})", ago(first.unix_seconds));
    }
    let o = &e.involved_object;
    let mut r = vec![
        seen,
        type_of(e),
        e.reason.clone().unwrap_or_default(),
        format!("{}/{}", o.kind.to_ascii_lowercase(), o.name),
        e.message.clone().unwrap_or_default(),
    ];
    if namespaces {
        r.insert(0, e.metadata.namespace.clone());
    }
    r
}

fn header(namespaces: bool) -> Vec<String> {
    let mut h: Vec<String> = ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
        .map(String::from)
        .to_vec();
    if namespaces {
        h.insert(0, "NAMESPACE".into());
    }
    h
}

pub async fn run(a: &EventsArgs) -> Result<ExitCode, Failure> {
    let selector = a.about.as_deref().map(about_selector).transpose()?;
    let wanted = types(&a.types)?;
    let shown = |e: &Event| wanted.as_ref().is_none_or(|w| w.contains(&type_of(e)));
    let ns = a.server.namespace_or_all(a.all_namespaces);
    let mut api = client::connect(&client::server(&a.server)).await?;
    let list = api
        .list(ListRequest {
            kind: Kind::Event.name().into(),
            namespace: ns.clone(),
            field_selector: selector.clone().unwrap_or_default(),
            consistency: ReadConsistency::Linearizable as i32,
            ..Default::default()
        })
        .await
        .map_err(|s| refused("listing events", &s))?
        .into_inner();
    let mut events: Vec<Event> = Vec::new();
    for env in &list.items {
        if let Object::Event(e) = object(env)? {
            events.push(e);
        }
    }
    events.retain(|e| shown(e));
    events.sort_by_key(|e| (last_seen(e), e.metadata.name.clone()));
    let now = Time::now();
    if events.is_empty() && !a.watch {
        let place = if ns.is_empty() {
            String::new()
        } else {
            format!(" in namespace {ns}")
        };
        eprintln!("No events found{place}.");
    } else if !events.is_empty() {
        let mut rows = vec![header(a.all_namespaces)];
        rows.extend(events.iter().map(|e| row(e, a.all_namespaces, now)));
        print!("{}", table::align(rows));
    }
    if !a.watch {
        return Ok(ExitCode::SUCCESS);
    }
    let mut stream = api
        .watch(WatchRequest {
            kind: Kind::Event.name().into(),
            namespace: ns,
            field_selector: selector.unwrap_or_default(),
            since_revision: list.resource_version,
            ..Default::default()
        })
        .await
        .map_err(|s| refused("watching events", &s))?
        .into_inner();
    let mut header_printed = !events.is_empty();
    loop {
        let next = tokio::select! {
            m = stream.message() => m,
            _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
        };
        let Some(ev) = next.map_err(|s| refused("watching events", &s))? else {
            return Ok(ExitCode::SUCCESS);
        };
        if ev.r#type == WatchEventType::Deleted as i32 {
            continue;
        }
        let Some(env) = ev.object.as_ref() else {
            continue;
        };
        let Object::Event(e) = object(env)? else {
            continue;
        };
        if !shown(&e) {
            continue;
        }
        // Columns fixed by the header (or a nominal width) so rows line up as they come.
        let mut rows = vec![
            header(a.all_namespaces),
            row(&e, a.all_namespaces, Time::now()),
        ];
        let text = table::align(std::mem::take(&mut rows));
        let mut lines = text.lines();
        let head = lines.next().unwrap_or_default();
        if !header_printed {
            println!("{head}");
            header_printed = true;
        }
        for l in lines {
            println!("{l}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn for_names_the_object_by_kind_and_name() {
        assert_eq!(
            about_selector("deploy/web").unwrap(),
            "involvedObject.kind=Deployment,involvedObject.name=web"
        );
        assert_eq!(
            about_selector("pod/web-1").unwrap(),
            "involvedObject.kind=Pod,involvedObject.name=web-1"
        );
        for bad in ["web", "nosuchkind/x", "pod/"] {
            assert!(about_selector(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn types_are_normal_or_warning() {
        assert_eq!(types(&[]).unwrap(), None);
        assert_eq!(
            types(&["warning".into()]).unwrap(),
            Some(vec!["Warning".to_owned()])
        );
        assert!(types(&["Info".into()]).is_err());
    }

    #[test]
    fn a_repeated_event_shows_its_count() {
        let at = |unix_seconds| Time { unix_seconds };
        let now = at(1000);
        let e = Event {
            count: Some(3),
            first_timestamp: Some(at(400)),
            last_timestamp: Some(at(880)),
            reason: Some("BackOff".into()),
            ..Default::default()
        };
        assert_eq!(row(&e, false, now)[0], "2m (x3 over 10m)");
    }
}
