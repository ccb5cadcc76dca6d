//! Field selectors (`--field-selector spec.nodeName=node-1,status.phase!=Running`): the
//! fields Kubernetes lets a list or watch filter on, with `=`, `==` and `!=`.

use skiff_proto::model::pod::PodPhase;
use skiff_proto::{Kind, Object};
use tonic::Status;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Field {
    Name,
    Namespace,
    NodeName,
    Phase,
    /// An Event's `involvedObject.*` (what `kubectl describe` selects events by), its
    /// `reason`, `type` and `source`.
    Involved(Involved),
    Reason,
    EventType,
    Source,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Involved {
    Kind,
    Namespace,
    Name,
    Uid,
    ApiVersion,
    ResourceVersion,
}

/// The fields an Event can be selected by, beyond every kind's.
const EVENT_FIELDS: [(&str, Field); 9] = [
    ("involvedObject.kind", Field::Involved(Involved::Kind)),
    (
        "involvedObject.namespace",
        Field::Involved(Involved::Namespace),
    ),
    ("involvedObject.name", Field::Involved(Involved::Name)),
    ("involvedObject.uid", Field::Involved(Involved::Uid)),
    (
        "involvedObject.apiVersion",
        Field::Involved(Involved::ApiVersion),
    ),
    (
        "involvedObject.resourceVersion",
        Field::Involved(Involved::ResourceVersion),
    ),
    ("reason", Field::Reason),
    ("type", Field::EventType),
    ("source", Field::Source),
];

/// Requirements that must all hold.
#[derive(Debug, Clone, Default)]
pub struct FieldSelector(Vec<(Field, bool, String)>);

impl FieldSelector {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Parses `text` for lists of `kind`; the error names the field and what is supported.
    pub fn parse(text: &str, kind: Kind) -> Result<Self, Status> {
        let mut reqs = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, equal, value) = if let Some((n, v)) = part.split_once("!=") {
                (n, false, v)
            } else if let Some((n, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                (n, true, v)
            } else {
                return Err(Status::invalid_argument(format!(
                    "field selector {part:?}: expected FIELD=VALUE or FIELD!=VALUE"
                )));
            };
            let supported = supported(kind);
            let field = match name.trim() {
                "metadata.name" => Field::Name,
                "metadata.namespace" => Field::Namespace,
                "spec.nodeName" if kind == Kind::Pod => Field::NodeName,
                "status.phase" if kind == Kind::Pod => Field::Phase,
                other if kind == Kind::Event && EVENT_FIELDS.iter().any(|(n, _)| *n == other) => {
                    EVENT_FIELDS
                        .iter()
                        .find(|(n, _)| *n == other)
                        .map(|(_, f)| *f)
                        .unwrap_or(Field::Name)
                }
                other => {
                    return Err(Status::invalid_argument(format!(
                        "field selector {part:?}: {other:?} is not a field {kind} can be selected by; \
                         supported: {}",
                        supported.join(", ")
                    )));
                }
            };
            reqs.push((field, equal, value.trim().to_owned()));
        }
        Ok(FieldSelector(reqs))
    }

    pub fn matches(&self, o: &Object) -> bool {
        self.0.iter().all(|(field, equal, value)| {
            let actual = match field {
                Field::Name => o.metadata().name.clone(),
                Field::Namespace => o.metadata().namespace.clone(),
                Field::NodeName => match o {
                    Object::Pod(p) => p.spec.node_name.clone().unwrap_or_default(),
                    _ => String::new(),
                },
                Field::Phase => match o {
                    Object::Pod(p) => phase(p.status.as_ref().map(|s| s.phase)),
                    _ => String::new(),
                },
                f => match o {
                    Object::Event(e) => event_field(e, *f),
                    _ => String::new(),
                },
            };
            (actual == *value) == *equal
        })
    }
}

fn supported(kind: Kind) -> Vec<&'static str> {
    let mut f = vec!["metadata.name", "metadata.namespace"];
    if kind == Kind::Pod {
        f.extend(["spec.nodeName", "status.phase"]);
    }
    if kind == Kind::Event {
        f.extend(EVENT_FIELDS.iter().map(|(n, _)| *n));
    }
    f
}

/// The value of an Event's field `f`, as Kubernetes compares it (empty when unset).
fn event_field(e: &skiff_proto::model::event::Event, f: Field) -> String {
    let o = &e.involved_object;
    match f {
        Field::Involved(Involved::Kind) => o.kind.clone(),
        Field::Involved(Involved::Namespace) => o.namespace.clone(),
        Field::Involved(Involved::Name) => o.name.clone(),
        Field::Involved(Involved::Uid) => o.uid.clone().unwrap_or_default(),
        Field::Involved(Involved::ApiVersion) => o.api_version.clone().unwrap_or_default(),
        Field::Involved(Involved::ResourceVersion) => o
            .resource_version
            .map(|v| v.to_string())
            .unwrap_or_default(),
        Field::Reason => e.reason.clone().unwrap_or_default(),
        Field::EventType => e.type_.map(|t| format!("{t:?}")).unwrap_or_default(),
        Field::Source => e
            .source
            .as_ref()
            .and_then(|s| s.component.clone())
            .unwrap_or_default(),
        _ => String::new(),
    }
}

/// A pod's phase as the API writes it; a pod without status is `Pending`.
fn phase(p: Option<PodPhase>) -> String {
    format!("{:?}", p.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use skiff_proto::model::ObjectMeta;
    use skiff_proto::model::event::{Event, EventType};
    use skiff_proto::model::meta::ObjectReference;

    use super::*;

    #[test]
    fn events_are_selected_by_what_they_are_about() {
        let e = Object::Event(Event {
            metadata: ObjectMeta {
                name: "web.1".into(),
                ..Default::default()
            },
            involved_object: ObjectReference {
                kind: "Pod".into(),
                namespace: "default".into(),
                name: "web".into(),
                uid: Some("u1".into()),
                ..Default::default()
            },
            reason: Some("Started".into()),
            type_: Some(EventType::Warning),
            ..Default::default()
        });
        let sel = |t: &str| FieldSelector::parse(t, Kind::Event).unwrap().matches(&e);
        assert!(sel(
            "involvedObject.name=web,involvedObject.namespace=default,involvedObject.uid=u1"
        ));
        assert!(sel("involvedObject.kind=Pod,reason=Started,type=Warning"));
        assert!(!sel("involvedObject.name=other"));
        let err = FieldSelector::parse("involvedObject.name=web", Kind::Pod).unwrap_err();
        assert!(
            err.message().contains("supported: metadata.name"),
            "{}",
            err.message()
        );
    }
}
