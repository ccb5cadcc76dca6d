//! `POST /ui/apply`: manifests pasted into the dashboard, applied as the logged-in user.
//! Every document is decoded and validated first, and if any is wrong nothing is sent: the
//! answer names each problem with its line, column and field, as `skiff apply` would.
//! Otherwise each object goes through server-side apply on the guarded API (RBAC,
//! admission, quotas, audit), as `skiff apply` sends it; each gets its own outcome.

use prost::Message as _;
use serde::{Deserialize, Serialize};
use skiff_pki::Identity;
use skiff_proto::grpc::api::object_service_server::ObjectService;
use skiff_proto::grpc::api::{ApplyOutcome, ApplyRequest, ErrorDetails};
use skiff_proto::manifest::{self, Diagnostic, Source};

use super::Ui;
use crate::auth::audit::Origin;

/// The name problems are reported under.
const PASTED: &str = "<pasted>";
/// The field manager the dashboard's applies write as.
pub const FIELD_MANAGER: &str = "skiff-ui";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Pasted {
    pub manifest: String,
    #[serde(default)]
    pub dry_run: bool,
}

/// One problem, placed: the document (1-based), line and column when known.
#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct Problem {
    #[serde(skip_serializing_if = "Option::is_none")]
    document: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    column: Option<u64>,
    #[serde(skip_serializing_if = "String::is_empty")]
    object: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    path: String,
    message: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    hint: String,
}

impl From<&Diagnostic> for Problem {
    fn from(d: &Diagnostic) -> Problem {
        Problem {
            document: Some(d.document),
            line: d.position.map(|p| p.0),
            column: d.position.map(|p| p.1),
            object: d.object.clone().unwrap_or_default(),
            path: d.path.to_string(),
            message: d.message.clone(),
            hint: d.hint.clone().unwrap_or_default(),
        }
    }
}

/// What happened to one object.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Applied {
    /// `kind/name` (with the namespace, `namespace/kind/name`, when it has one).
    object: String,
    /// `created`, `configured` or `unchanged`; absent when refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    problems: Vec<Problem>,
}

/// The answer: problems found before anything was sent, or each object's outcome.
#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct Outcome {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub applied: Vec<Applied>,
}

/// Decodes `p.manifest` and applies what it holds as `who` (audited as from `origin`).
pub(super) async fn apply(ui: &Ui, who: &Identity, origin: &Origin, p: &Pasted) -> Outcome {
    let decoded = manifest::decode(&p.manifest, &Source::named(PASTED));
    if !decoded.diagnostics.0.is_empty() {
        let problems = decoded.diagnostics.0.iter().map(Problem::from).collect();
        return Outcome {
            problems,
            ..Default::default()
        };
    }
    if decoded.objects.is_empty() {
        let message =
            "the text holds no object: paste one or more manifests, separated by `---` lines"
                .to_owned();
        return Outcome {
            problems: vec![Problem {
                message,
                ..Default::default()
            }],
            ..Default::default()
        };
    }
    let mut applied = Vec::new();
    for o in decoded.objects {
        let m = o.metadata();
        let object = match m.namespace.is_empty() {
            true => format!("{}/{}", o.kind().name().to_ascii_lowercase(), m.name),
            false => format!(
                "{}/{}/{}",
                m.namespace,
                o.kind().name().to_ascii_lowercase(),
                m.name
            ),
        };
        let manifest = match o.to_json() {
            Ok(j) => j.into_bytes(),
            Err(e) => {
                applied.push(refused(object, e.to_string(), Vec::new()));
                continue;
            }
        };
        let request = ApplyRequest {
            manifest,
            dry_run: p.dry_run,
            field_manager: FIELD_MANAGER.into(),
            force: false,
        };
        let mut r = tonic::Request::new(request);
        r.extensions_mut().insert(who.clone());
        r.extensions_mut().insert(origin.clone());
        match ui.objects.apply(r).await {
            Ok(reply) => {
                let outcome = match reply.into_inner().outcome() {
                    ApplyOutcome::Created => "created",
                    ApplyOutcome::Unchanged => "unchanged",
                    ApplyOutcome::Configured | ApplyOutcome::Unspecified => "configured",
                };
                applied.push(Applied {
                    object,
                    outcome: Some(outcome),
                    problems: Vec::new(),
                });
            }
            Err(s) => {
                let details = ErrorDetails::decode(s.details()).unwrap_or_default();
                let fields = details
                    .errors
                    .into_iter()
                    .map(|f| Problem {
                        path: f.path,
                        message: f.message,
                        hint: f.hint,
                        object: f.object,
                        ..Default::default()
                    })
                    .collect();
                applied.push(refused(object, s.message().to_owned(), fields));
            }
        }
    }
    Outcome {
        applied,
        ..Default::default()
    }
}

fn refused(object: String, message: String, mut fields: Vec<Problem>) -> Applied {
    fields.insert(
        0,
        Problem {
            message,
            ..Default::default()
        },
    );
    Applied {
        object,
        outcome: None,
        problems: fields,
    }
}
