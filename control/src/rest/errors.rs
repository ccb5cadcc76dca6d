//! Errors as Kubernetes sends them: a `Status` object with a reason and an HTTP code
//! (NotFound 404, AlreadyExists and Conflict 409, Invalid 422, Forbidden 403,
//! Unauthorized 401, Expired 410, ...), so kubectl prints `Error from server (NotFound):
//! pods "web" not found` and client libraries raise their usual exceptions. The API's
//! own errors are gRPC statuses; they are turned into these here, at the edge.

use prost::Message as _;
use serde_json::{Value, json};
use skiff_proto::grpc::api::{ErrorDetails, FieldError};
use tonic::{Code, Status};

use super::reply::{Reply, json_reply};

/// What a failed request was about, for the `details` of its Status.
#[derive(Debug, Clone, Default)]
pub struct About {
    /// The resource (`pods`).
    pub resource: String,
    pub group: String,
    pub name: String,
}

/// How a refused body type's message starts (see [`unsupported_body`]): it is a 415.
const UNSUPPORTED_BODY: &str = "the body's type";

/// A body of a type the server does not read (protobuf, CBOR): 415, so clients send JSON.
pub fn unsupported_body(content_type: &str) -> Status {
    Status::unimplemented(format!(
        "{UNSUPPORTED_BODY} {content_type:?} is not served (send application/json)"
    ))
}

/// The metadata key that marks an invalid argument as a 400 (see [`bad_request`]).
const BAD_REQUEST: &str = "x-skiff-bad-request";

/// A request that cannot be served as asked, though nothing in it is an invalid field (no
/// previous run to read, say): 400 BadRequest, as Kubernetes answers it.
pub fn bad_request(message: impl Into<String>) -> Status {
    let mut s = Status::invalid_argument(message);
    s.metadata_mut().insert(
        BAD_REQUEST,
        tonic::metadata::MetadataValue::from_static("1"),
    );
    s
}

fn is_bad_request(s: &Status) -> bool {
    s.code() == Code::InvalidArgument && s.metadata().contains_key(BAD_REQUEST)
}

/// The HTTP code and Kubernetes reason of a status.
fn of(s: &Status) -> (u16, &'static str) {
    if s.code() == Code::Unimplemented && s.message().starts_with(UNSUPPORTED_BODY) {
        return (415, "UnsupportedMediaType");
    }
    if is_bad_request(s) {
        return (400, "BadRequest");
    }
    code_and_reason(s.code())
}

/// The HTTP code and Kubernetes reason of a gRPC code.
pub fn code_and_reason(code: Code) -> (u16, &'static str) {
    match code {
        Code::NotFound => (404, "NotFound"),
        Code::AlreadyExists => (409, "AlreadyExists"),
        Code::Aborted | Code::FailedPrecondition => (409, "Conflict"),
        Code::InvalidArgument => (422, "Invalid"),
        Code::PermissionDenied => (403, "Forbidden"),
        // Kubernetes refuses a write over quota as Forbidden.
        Code::ResourceExhausted => (403, "Forbidden"),
        Code::Unauthenticated => (401, "Unauthorized"),
        Code::OutOfRange => (410, "Expired"),
        Code::Unavailable => (503, "ServiceUnavailable"),
        Code::DeadlineExceeded => (504, "Timeout"),
        Code::Unimplemented => (405, "MethodNotAllowed"),
        _ => (500, "InternalError"),
    }
}

/// The `Status` object for `s`, with Kubernetes' wording for the common cases.
pub fn status_json(s: &Status, about: &About) -> (u16, Value) {
    let (code, reason) = of(s);
    let what = if about.group.is_empty() {
        about.resource.clone()
    } else {
        format!("{}.{}", about.resource, about.group)
    };
    let message = match s.code() {
        Code::NotFound if !about.name.is_empty() => format!("{what} {:?} not found", about.name),
        Code::AlreadyExists if !about.name.is_empty() => {
            format!("{what} {:?} already exists", about.name)
        }
        _ => s.message().to_owned(),
    };
    let mut details = json!({});
    if !about.name.is_empty() {
        details["name"] = json!(about.name);
    }
    if !about.resource.is_empty() {
        details["kind"] = json!(about.resource);
    }
    if !about.group.is_empty() {
        details["group"] = json!(about.group);
    }
    // kubectl prints an Invalid object's causes, not its message: one per field at
    // fault when the API said which, else the message as one.
    let mut message = message;
    if s.code() == Code::InvalidArgument && !is_bad_request(s) {
        let fields = ErrorDetails::decode(s.details())
            .map(|d| d.errors)
            .unwrap_or_default();
        if let Some((kind, name)) = fields.first().and_then(|f| f.object.split_once('/')) {
            // `Kind/name` or `Kind/namespace/name`: Kubernetes names the kind here.
            let name = name.rsplit('/').next().unwrap_or(name);
            details["kind"] = json!(kind);
            details["name"] = json!(name);
            let list: Vec<String> = fields.iter().map(cause_text).collect();
            message = format!("{kind} {name:?} is invalid: {}", list.join(", "));
        }
        details["causes"] = if fields.is_empty() {
            json!([{"reason": "FieldValueInvalid", "message": s.message()}])
        } else {
            fields
                .iter()
                .map(|f| {
                    let mut text = f.message.clone();
                    if !f.hint.is_empty() {
                        text = format!("{text} ({})", f.hint);
                    }
                    json!({"reason": cause_reason(&f.message), "message": text, "field": f.path})
                })
                .collect()
        };
    }
    // A server-side apply conflict: one cause per field, as kubectl prints them.
    if s.code() == Code::FailedPrecondition {
        let fields = ErrorDetails::decode(s.details())
            .map(|d| d.errors)
            .unwrap_or_default();
        let causes: Vec<Value> = fields
            .iter()
            .filter(|f| f.message.starts_with("conflict with"))
            .map(|f| json!({"reason": "FieldManagerConflict", "message": f.message, "field": f.path}))
            .collect();
        if !causes.is_empty() {
            details["causes"] = Value::Array(causes);
        }
    }
    (
        code,
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "details": details,
            "code": code,
        }),
    )
}

/// A field error as one line of an Invalid message (`spec.replicas: must be ≥ 0`).
fn cause_text(f: &FieldError) -> String {
    format!("{}: {}", f.path, f.message)
}

/// Kubernetes' word for what is wrong with a field.
fn cause_reason(message: &str) -> &'static str {
    if message.starts_with("unknown field") {
        "FieldValueNotSupported"
    } else if message.starts_with("missing field") {
        "FieldValueRequired"
    } else {
        "FieldValueInvalid"
    }
}

/// The reply for a failed request.
pub fn failure(s: &Status, about: &About) -> Reply {
    let (code, body) = status_json(s, about);
    json_reply(code, &body)
}

/// A request Skiff does not serve (a path, a method, a body type), as a Status.
pub fn refuse(code: u16, reason: &str, message: impl Into<String>) -> Reply {
    json_reply(
        code,
        &json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message.into(),
            "reason": reason,
            "code": code,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_reads_as_kubernetes_says_it() {
        let about = About {
            resource: "deployments".into(),
            group: "apps".into(),
            name: "web".into(),
        };
        let (code, body) = status_json(&Status::not_found("Deployment/default/web"), &about);
        assert_eq!(code, 404);
        assert_eq!(body["reason"], "NotFound");
        assert_eq!(body["message"], "deployments.apps \"web\" not found");
        assert_eq!(body["details"]["kind"], "deployments");
        let (code, body) = status_json(&Status::permission_denied("no"), &About::default());
        assert_eq!((code, body["reason"].as_str()), (403, Some("Forbidden")));
        assert_eq!(code_and_reason(Code::OutOfRange), (410, "Expired"));
        let (code, body) = status_json(
            &unsupported_body("application/vnd.kubernetes.protobuf"),
            &About::default(),
        );
        assert_eq!(
            (code, body["reason"].as_str()),
            (415, Some("UnsupportedMediaType"))
        );
    }
}
