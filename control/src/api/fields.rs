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
}

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
    f
}

/// A pod's phase as the API writes it; a pod without status is `Pending`.
fn phase(p: Option<PodPhase>) -> String {
    format!("{:?}", p.unwrap_or_default())
}
