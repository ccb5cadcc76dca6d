//! The web dashboard, served at `/ui/` on every member's API address beside the gRPC and
//! Kubernetes REST APIs. The browser reads the cluster through the REST API as the
//! logged-in user, so authentication, RBAC and audit are the API's own; this module serves
//! the page and its logins only:
//!
//! - `assets`: the page, its script and its style, compiled into the binary (no build
//!   step, no CDN), each with its content type;
//! - `sessions`: one-time login codes and the sessions they open;
//! - `apply`: manifests pasted into the page, checked, then applied as the user.
//!
//! Routes: `GET /ui/` (the page) and `/ui/assets/*`; `POST /ui/login-codes` (an
//! authenticated caller gets a code that logs a browser in as them: `skiff dashboard`);
//! `POST /ui/sessions` (a code, once, for a session token) and `DELETE /ui/sessions`
//! (log out); `GET /ui/members` (the control-plane members, as `skiff members` shows
//! them); `GET /ui/routes` (each route's counts, summed over the nodes' routers) and
//! `GET /ui/nodes` (each node's usage, running pods and requests), both in `usage`;
//! `POST /ui/apply` (pasted manifests: every problem at its line, or each one applied).
//! Every response forbids framing, sniffing and scripts from elsewhere.

mod apply;
mod assets;
pub mod sessions;
mod usage;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};
use skiff_pki::transport::PeerInfo;

use std::sync::Arc;

use crate::api::ObjectApi;
use crate::auth::audit::Origin;
use crate::auth::{Authenticate, Guarded};
use crate::store::StoreHandle;
use crate::usage::api::MetricsApi;
use sessions::LoginError;

/// The page's scripts, styles and calls all come from the member itself.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
/// The largest body `POST /ui/sessions` reads.
const MAX_BODY: usize = 4096;
/// The largest paste `POST /ui/apply` takes (the API's own limit on a manifest is larger;
/// this is about what a person pastes).
const MAX_PASTE: usize = 1 << 20;

/// What the routes read: who is calling, and this member's raft view.
#[derive(Clone)]
pub struct Ui {
    pub authenticate: Authenticate,
    pub store: StoreHandle,
    /// The API as the logged-in user may use it (pasted manifests go through it).
    pub objects: Arc<Guarded<ObjectApi>>,
    /// The metrics API as the logged-in user may use it (route figures).
    pub usage: Arc<Guarded<MetricsApi>>,
}

/// The routes under `/ui`.
pub fn router(ui: Ui) -> Router {
    Router::new()
        .route("/ui", get(|| async { redirect("/ui/") }))
        .route("/ui/", get(|| async { asset("index.html") }))
        .route(
            "/ui/assets/{name}",
            get(|Path(name): Path<String>| async move { asset(&name) }),
        )
        .route("/ui/login-codes", post(login_code))
        .route("/ui/sessions", post(open_session).delete(end_session))
        .route("/ui/members", get(members))
        .route("/ui/routes", get(usage::routes))
        .route("/ui/nodes", get(usage::nodes))
        .route("/ui/apply", post(apply_pasted))
        .layer(axum::middleware::map_response(harden))
        .with_state(ui)
}

async fn harden(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    r
}

fn redirect(to: &'static str) -> Response {
    (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, to)]).into_response()
}

fn asset(name: &str) -> Response {
    match assets::get(name) {
        Some((content_type, body)) => (
            [
                (header::CONTENT_TYPE, content_type),
                // Revalidated on every load: a new build's page never mixes with an old script.
                (header::CACHE_CONTROL, "no-cache"),
            ],
            body,
        )
            .into_response(),
        None => failure(
            StatusCode::NOT_FOUND,
            format!("the dashboard has no file {name:?}"),
        ),
    }
}

/// An error as `{"message": ...}`, the field a Kubernetes `Status` carries it in.
pub(super) fn failure(status: StatusCode, message: String) -> Response {
    json(status, &serde_json::json!({ "message": message }))
}

pub(super) fn json(status: StatusCode, body: &impl Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(b) => (status, [(header::CONTENT_TYPE, "application/json")], b).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

fn login_failure(e: LoginError) -> Response {
    let status = match e {
        LoginError::BadCode => StatusCode::UNAUTHORIZED,
        LoginError::Full => StatusCode::TOO_MANY_REQUESTS,
        LoginError::Random => StatusCode::INTERNAL_SERVER_ERROR,
    };
    failure(status, e.to_string())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LoginCode {
    code: String,
    /// Where to send the browser, on this member.
    path: String,
    expires_in_seconds: u64,
}

/// A login code for a person who asks with their client certificate: it opens a session as
/// them. Tokens do not make codes: a ServiceAccount's token can be pasted into the page
/// itself (and stays revocable, as each call checks it), and a session must not outlive
/// the credential it came from. Nodes and members are not people.
async fn login_code(
    State(Ui {
        authenticate: auth, ..
    }): State<Ui>,
    req: Request,
) -> Response {
    let peer = req.extensions().get::<PeerInfo>();
    let not_after = peer.and_then(|p| p.not_after);
    let Some(cert) = peer.and_then(|p| p.identity.clone()) else {
        return failure(
            StatusCode::FORBIDDEN,
            "login links are made for client certificates (as `skiff dashboard` sends them); with a ServiceAccount token, paste the token into the page instead".into(),
        );
    };
    if cert.member_id().is_some() || cert.in_group(skiff_pki::identity::NODES) {
        return failure(
            StatusCode::FORBIDDEN,
            format!(
                "{} is a node or member, not a person: log in with a user's certificate",
                cert.user
            ),
        );
    }
    let who = match auth.identify_http(&req) {
        Ok(who) => who,
        Err(s) => return unauthenticated(&s),
    };
    match auth.ui_sessions().mint_code(who, not_after) {
        Ok((code, lasts)) => json(
            StatusCode::OK,
            &LoginCode {
                path: format!("/ui/#login={code}"),
                code,
                expires_in_seconds: lasts.as_secs(),
            },
        ),
        Err(e) => login_failure(e),
    }
}

fn missing_type(req: &Request) -> Option<Response> {
    match req.headers().contains_key(header::CONTENT_TYPE) {
        true => None,
        false => Some(failure(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send JSON with content-type: application/json".into(),
        )),
    }
}

pub(super) fn unauthenticated(s: &tonic::Status) -> Response {
    failure(StatusCode::UNAUTHORIZED, s.message().to_owned())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MemberView {
    id: u64,
    address: String,
    role: &'static str,
    /// This member's own figures; the others' are known to them.
    #[serde(skip_serializing_if = "Option::is_none")]
    term: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    applied: Option<u64>,
    /// On the leader: how many committed entries the member has yet to take.
    #[serde(skip_serializing_if = "Option::is_none")]
    behind: Option<u64>,
}

/// The control-plane members as this member sees them (`skiff members`, for anyone
/// authenticated, as there).
async fn members(State(ui): State<Ui>, req: Request) -> Response {
    if let Err(s) = ui.authenticate.identify_http(&req) {
        return unauthenticated(&s);
    }
    let (list, status) = match (
        crate::peer::members_now(&ui.store).await,
        ui.store.status().await,
    ) {
        (Ok(l), Ok(s)) => (l, s),
        (Err(e), _) => return failure(StatusCode::SERVICE_UNAVAILABLE, e.message().to_owned()),
        (_, Err(e)) => return failure(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    };
    let view: Vec<MemberView> = list
        .into_iter()
        .map(|m| {
            let me = m.id == status.id;
            MemberView {
                id: m.id,
                role: m.role().as_str_name(),
                address: m.address,
                term: me.then_some(status.term),
                applied: me.then_some(status.applied),
                behind: status
                    .matched
                    .get(&m.id)
                    .map(|&at| status.commit.saturating_sub(at)),
            }
        })
        .collect();
    let body = serde_json::json!({
        "servedBy": status.id,
        "leader": status.leader,
        "members": view,
    });
    json(StatusCode::OK, &body)
}

/// Manifests pasted into the page: `{"manifest": "...", "dryRun": false}`.
/// Refuses a body that is not declared JSON: a cross-site form cannot send that without a
/// CORS preflight, which this server never grants.
fn not_json(req: &Request) -> Option<Response> {
    let t = req.headers().get(header::CONTENT_TYPE)?.to_str().ok()?;
    if t.split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
    {
        return None;
    }
    Some(failure(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        format!("send JSON (content-type: application/json), not {t:?}"),
    ))
}

async fn apply_pasted(State(ui): State<Ui>, req: Request) -> Response {
    if let Some(r) = not_json(&req).or_else(|| missing_type(&req)) {
        return r;
    }
    let who = match ui.authenticate.identify_http(&req) {
        Ok(who) => who,
        Err(s) => return unauthenticated(&s),
    };
    let origin = Origin::of_http(&req);
    let body = match axum::body::to_bytes(req.into_body(), MAX_PASTE).await {
        Ok(b) => b,
        Err(_) => {
            let why = format!("paste at most {} KiB of manifests at once", MAX_PASTE >> 10);
            return failure(StatusCode::PAYLOAD_TOO_LARGE, why);
        }
    };
    let Ok(pasted) = serde_json::from_slice::<apply::Pasted>(&body) else {
        let why = "the body must be JSON: {\"manifest\": \"...\", \"dryRun\": false}".to_owned();
        return failure(StatusCode::BAD_REQUEST, why);
    };
    // Problems in what was pasted are the answer to a check, not a failed request.
    json(
        StatusCode::OK,
        &apply::apply(&ui, &who, &origin, &pasted).await,
    )
}

#[derive(Deserialize)]
struct Redeem {
    code: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Session {
    token: String,
    user: String,
    groups: Vec<String>,
    expires_in_seconds: u64,
}

/// A login code, once, for a session token.
async fn open_session(
    State(Ui {
        authenticate: auth, ..
    }): State<Ui>,
    req: Request,
) -> Response {
    if let Some(r) = not_json(&req).or_else(|| missing_type(&req)) {
        return r;
    }
    let body = match axum::body::to_bytes(req.into_body(), MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            let why =
                format!("the body must be JSON of at most {MAX_BODY} bytes: {{\"code\": \"...\"}}");
            return failure(StatusCode::PAYLOAD_TOO_LARGE, why);
        }
    };
    let Ok(r) = serde_json::from_slice::<Redeem>(&body) else {
        let why = "the body must be JSON naming the login code: {\"code\": \"...\"}".to_owned();
        return failure(StatusCode::BAD_REQUEST, why);
    };
    match auth.ui_sessions().redeem(&r.code) {
        Ok((token, who, lasts)) => {
            tracing::info!(user = %who.user, "dashboard login");
            let s = Session {
                token,
                user: who.user,
                groups: who.groups,
                expires_in_seconds: lasts.as_secs(),
            };
            json(StatusCode::CREATED, &s)
        }
        Err(e) => login_failure(e),
    }
}

/// Logs the session in the `authorization` header out.
async fn end_session(
    State(Ui {
        authenticate: auth, ..
    }): State<Ui>,
    req: Request,
) -> Response {
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    match crate::auth::bearer(header).ok().flatten() {
        Some(t) if auth.ui_sessions().end(t) => StatusCode::NO_CONTENT.into_response(),
        _ => failure(
            StatusCode::UNAUTHORIZED,
            "send the session to end as `authorization: Bearer skiff-ui...`; this one is not open"
                .into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_the_page_names_is_served() {
        let page = assets::get("index.html").unwrap().1;
        let page = std::str::from_utf8(page).unwrap();
        for name in ["app.js", "app.css", "icon.svg"] {
            assert!(page.contains(&format!("/ui/assets/{name}")), "{name}");
            assert!(assets::get(name).is_some(), "{name}");
        }
        // Every module a script imports is served too.
        for (name, _, body) in assets::FILES {
            let Ok(text) = std::str::from_utf8(body) else {
                continue;
            };
            for import in text.split("from \"./").skip(1) {
                let file = import.split('"').next().unwrap();
                assert!(assets::get(file).is_some(), "{name} imports {file}");
            }
        }
        assert!(assets::get("../mod.rs").is_none());
        assert!(assets::get("missing.js").is_none());
    }
}
