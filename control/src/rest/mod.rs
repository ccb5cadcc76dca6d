//! The Kubernetes REST API, served beside the gRPC API on the same port, so kubectl,
//! client libraries and tools work against Skiff. Every request goes to the same guarded
//! API the gRPC front door uses (authentication, RBAC, admission, quotas and audit are one
//! path); this module only speaks Kubernetes' HTTP:
//!
//! - `paths`: URLs → what they name, from the table of kinds;
//! - `discovery`: `/version`, `/api`, `/apis` and the resource lists, legacy and
//!   aggregated;
//! - `bodies`: what a write carries, read and made ready (`fieldValidation`);
//! - `objects`: get, list (in pages: `limit`, `continue`), create, replace, delete;
//! - `collection`: deletecollection (DELETE on a collection, with selectors);
//! - `views`: a kind at a second group-version, read-only (`events.k8s.io/v1` Events);
//! - `patch`: JSON, merge and strategic merge patches, and server-side apply;
//! - `watch`: watch streams;
//! - `logs`: `pods/NAME/log`; `scale`: `deployments/NAME/scale`; `subresources`:
//!   `*/status` and `serviceaccounts/NAME/token`;
//! - `reviews`: SelfSubjectAccessReview and SelfSubjectReview (`kubectl auth`);
//! - `usage`: `metrics.k8s.io` PodMetrics and NodeMetrics (`kubectl top`);
//! - `openapi`: `/openapi/v3`, the OpenAPI documents made from the model's schemas;
//! - `tables`: server-side `Table`s for `kubectl get`;
//! - `errors`: gRPC statuses → Kubernetes `Status` objects;
//! - `reply`: responses and `Warning` headers.

mod bodies;
mod collection;
mod discovery;
mod errors;
pub use errors::code_and_reason;
pub use objects::query_map;
mod logs;
mod objects;
mod openapi;
mod patch;
mod paths;
mod reply;
mod reviews;
mod scale;
mod subresources;
mod tables;
mod usage;
mod views;
mod watch;

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::routing::any;

use crate::api::{LogApi, ObjectApi};
use crate::auth::audit::{ORIGIN, Origin};
use crate::auth::{AuthApi, Authenticate, Guarded};
use errors::{About, failure, refuse};
use paths::Target;
use reply::{Reply, bytes_reply};

/// What the REST front door calls.
pub struct Rest {
    pub objects: Arc<Guarded<ObjectApi>>,
    pub logs: Arc<Guarded<LogApi>>,
    pub usage: Arc<Guarded<crate::usage::api::MetricsApi>>,
    pub auth: Arc<AuthApi>,
    pub authenticate: Authenticate,
    /// This member's address, as `/api` reports it.
    pub server: String,
}

/// The parts of a request the handlers read.
#[derive(Clone)]
pub struct Call {
    pub method: String,
    pub query: HashMap<String, String>,
    pub accept: String,
    pub content_type: String,
    /// The `User-Agent` header, naming a write's field manager when it names none.
    pub user_agent: String,
}

impl Call {
    pub fn query_str(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }

    /// Who writes (`metadata.managedFields`): `fieldManager`, else the user agent's
    /// first word (`kubectl` of `kubectl/v1.36.4 (linux/amd64)`), as in Kubernetes.
    pub fn field_manager(&self) -> String {
        match self.query_str("fieldManager") {
            Some(m) if !m.is_empty() => m.to_owned(),
            _ => self
                .user_agent
                .split('/')
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned(),
        }
    }

    /// Whether the request only asks what would happen (`dryRun=All`).
    pub fn dry_run(&self) -> bool {
        self.query_str("dryRun") == Some("All")
    }

    /// A boolean query parameter, read as Go's `strconv.ParseBool` reads it (`watch=1`,
    /// `true`, `True`: the Python client sends the last).
    pub fn flag(&self, name: &str) -> bool {
        matches!(
            self.query_str(name),
            Some("1" | "t" | "T" | "true" | "TRUE" | "True")
        )
    }
}

/// The routes of the REST API (no fallback of its own: the server adds one).
pub fn router(rest: Arc<Rest>) -> axum::Router {
    axum::Router::new()
        .route("/version", any(handle))
        .route("/healthz", any(handle))
        .route("/livez", any(handle))
        .route("/readyz", any(handle))
        .route("/api", any(handle))
        .route("/api/{*rest}", any(handle))
        .route("/apis", any(handle))
        .route("/apis/{*rest}", any(handle))
        .route("/openapi/v2", any(handle))
        .route("/openapi/v3", any(handle))
        .route("/openapi/v3/{*rest}", any(handle))
        .with_state(rest)
}

/// A path neither front door serves: a Kubernetes 404 (gRPC clients get their own
/// `unimplemented` from tonic's routes first).
pub async fn not_found(req: axum::extract::Request) -> Reply {
    refuse(
        404,
        "NotFound",
        format!(
            "the server could not find the requested resource ({})",
            req.uri().path()
        ),
    )
}

async fn handle(State(rest): State<Arc<Rest>>, req: axum::extract::Request) -> Reply {
    let path = req.uri().path().to_owned();
    // Health and version are public, as in Kubernetes (`system:public-info-viewer`).
    match path.as_str() {
        "/healthz" | "/livez" | "/readyz" => return bytes_reply(200, "text/plain", b"ok".to_vec()),
        "/version" => return discovery::version(),
        _ => {}
    }
    let who = match rest.authenticate.identify_http(&req) {
        Ok(id) => id,
        Err(s) => return failure(&s, &About::default()),
    };
    let (accept, content_type, user_agent) = {
        let header = |name: http::header::HeaderName| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        (
            header(http::header::ACCEPT),
            header(http::header::CONTENT_TYPE),
            header(http::header::USER_AGENT),
        )
    };
    let call = Call {
        method: req.method().as_str().to_owned(),
        query: objects::query_map(req.uri().query()),
        accept,
        content_type,
        user_agent,
    };
    if path.starts_with("/openapi/") && call.method != "GET" {
        let why = format!("{} {path}: OpenAPI documents are read-only", call.method);
        return refuse(405, "MethodNotAllowed", why);
    }
    if path == "/openapi/v2" {
        return openapi::serve_v2(&call.accept);
    }
    if let Some(rest) = path.strip_prefix("/openapi/v3") {
        return openapi::serve(rest, call.query_str("hash")).unwrap_or_else(|| {
            let why = format!("no OpenAPI document at {path}: see /openapi/v3 for the list");
            refuse(404, "NotFound", why)
        });
    }
    // The audit log's requestURI, userAgent and sourceIPs for the API calls it makes.
    let origin = Origin::of_http(&req);
    if let Some(review) = reviews::at(&path) {
        let served = reviews::serve(&rest, who, review, &call, req.into_body());
        return ORIGIN
            .scope(origin, served)
            .await
            .unwrap_or_else(|s| failure(&s, &About::default()));
    }
    if let Some(at) = usage::at(&path) {
        let served = usage::serve(&rest, who, at, &call);
        return ORIGIN
            .scope(origin, served)
            .await
            .unwrap_or_else(|s| failure(&s, &About::default()));
    }
    let target = match paths::parse(&path) {
        Ok(t) => t,
        Err(paths::NotFound(why)) => return refuse(404, "NotFound", why),
    };
    let accept = call.accept.clone();
    let discovery_only = !matches!(target, Target::Objects(_));
    if discovery_only && req.method() != http::Method::GET {
        return refuse(
            405,
            "MethodNotAllowed",
            format!("{} {path}: discovery is read-only", req.method()),
        );
    }
    match target {
        Target::CoreVersions if discovery::wants_aggregated(&accept) => discovery::aggregated(true),
        Target::CoreVersions => discovery::core_versions(&rest.server),
        Target::Groups if discovery::wants_aggregated(&accept) => discovery::aggregated(false),
        Target::Groups => discovery::group_list(),
        Target::Group(g) => discovery::group(&g),
        Target::Resources { group, version } => discovery::resource_list(&group, &version),
        Target::Objects(at) => {
            let served = objects::serve(&rest, who, at, call, req.into_body());
            ORIGIN.scope(origin, served).await
        }
    }
}
