//! Authentication: who a request is from. A client certificate from the cluster CA names
//! its user and groups (the TLS layer verified it); without one, a bearer token
//! (`authorization: Bearer ...`): a ServiceAccount's, which must verify and name an
//! account that still exists, or a bootstrap token (`<id>.<secret>`, from a join token),
//! which must match a current record with uses left (`system:bootstrap:<id>`, in
//! `system:bootstrappers`), or a dashboard session's (`skiff-ui.`, see `ui::sessions`).
//! Anything else is `Unauthenticated`, before the request's body is read.

use std::sync::Arc;

use skiff_pki::Identity;
use skiff_pki::join::Bootstrap;
use skiff_pki::tokens::Verifier;
use skiff_pki::transport::PeerInfo;
use skiff_proto::model::bootstrap::{self, TokenRecord};
use skiff_proto::model::serviceaccount;
use skiff_proto::model::values::Time;
use skiff_proto::{Kind, Object};
use tonic::Status;

use super::rbac::AUTHENTICATED;
use crate::store::{StoreHandle, key};
use crate::ui::sessions::{Sessions, TOKEN_PREFIX};

/// The interceptor that authenticates every call to a member's client API.
#[derive(Clone)]
pub struct Authenticate {
    store: StoreHandle,
    tokens: Arc<Verifier>,
    ui: Arc<Sessions>,
}

fn unauthenticated(why: impl std::fmt::Display) -> Status {
    Status::unauthenticated(format!("Unauthenticated: {why}"))
}

impl Authenticate {
    pub fn new(store: StoreHandle, tokens: Verifier) -> Authenticate {
        Authenticate {
            store,
            tokens: Arc::new(tokens),
            ui: Arc::default(),
        }
    }

    /// The dashboard's logins on this member, whose tokens this accepts.
    pub fn ui_sessions(&self) -> Arc<Sessions> {
        self.ui.clone()
    }

    /// Who `token` is for, or why it is refused.
    pub fn token(&self, token: &str) -> Result<Identity, Status> {
        if token.starts_with(TOKEN_PREFIX) {
            // The identity was authenticated when its login code was made.
            return self.ui.identify(token).ok_or_else(|| {
                unauthenticated(
                    "the dashboard session expired, was logged out, or is from another member (or before it restarted): log in again with `skiff dashboard`",
                )
            });
        }
        if let Some(b) = Bootstrap::parse(token) {
            return self.bootstrap(&b);
        }
        let a = self.tokens.verify(token).map_err(unauthenticated)?;
        let k = key::make(Kind::ServiceAccount, &a.namespace, &a.name);
        let current = self
            .store
            .state()
            .get(&k)
            .map_err(|e| Status::internal(e.to_string()))?;
        match current.map(|s| s.object) {
            Some(Object::ServiceAccount(sa))
                if sa.metadata.uid.as_deref() == Some(a.uid.as_str()) => {}
            _ => {
                return Err(unauthenticated(format!(
                    "the token's ServiceAccount {}/{} no longer exists (it was deleted, or deleted and made again)",
                    a.namespace, a.name
                )));
            }
        }
        let mut groups: Vec<String> = serviceaccount::groups(&a.namespace).into();
        groups.push(AUTHENTICATED.into());
        Ok(Identity {
            user: serviceaccount::user_name(&a.namespace, &a.name),
            groups,
        })
    }
}

impl Authenticate {
    /// The joiner a bootstrap token names, if its record says it may still join.
    fn bootstrap(&self, b: &Bootstrap) -> Result<Identity, Status> {
        let record = current_record(&self.store, &b.id)?
            .filter(|(r, _)| b.matches(&r.secret_sha256))
            .map(|(r, _)| r)
            .ok_or_else(|| {
                unauthenticated("the join token is not one this cluster issued (or it was deleted)")
            })?;
        if record.expiration <= Time::now() {
            return Err(unauthenticated(format!(
                "the join token {} expired at {}; create another with `skiff token create`",
                b.id, record.expiration
            )));
        }
        if record.uses_left == Some(0) {
            return Err(unauthenticated(format!(
                "the join token {} has been used as many times as it allows; create another with `skiff token create --uses N`",
                b.id
            )));
        }
        let mut groups = vec![BOOTSTRAPPERS.to_owned(), AUTHENTICATED.to_owned()];
        groups.extend(
            record
                .usages
                .iter()
                .map(|u| format!("{BOOTSTRAPPERS}:{}", u.name())),
        );
        Ok(Identity {
            user: format!("system:bootstrap:{}", b.id),
            groups,
        })
    }
}

/// The group every holder of a bootstrap token is in (and `:node`, `:member` for what the
/// token allows).
pub const BOOTSTRAPPERS: &str = "system:bootstrappers";

/// Bootstrap token `id`'s record and the revision of its Secret, if there is one.
pub fn current_record(store: &StoreHandle, id: &str) -> Result<Option<(TokenRecord, u64)>, Status> {
    let k = key::make(
        Kind::Secret,
        bootstrap::NAMESPACE,
        &bootstrap::secret_name(id),
    );
    let found = store
        .state()
        .get(&k)
        .map_err(|e| Status::internal(e.to_string()))?;
    Ok(found.and_then(|s| match s.object {
        Object::Secret(secret) => TokenRecord::from_secret(&secret).map(|r| (r, s.revision)),
        _ => None,
    }))
}

/// The token of an `authorization: Bearer TOKEN` header value; `None` when there is none.
pub(crate) fn bearer(header: Option<&[u8]>) -> Result<Option<&str>, Status> {
    let Some(v) = header else {
        return Ok(None);
    };
    let v = std::str::from_utf8(v)
        .map_err(|_| unauthenticated("the authorization header is not text"))?;
    let token = v
        .strip_prefix("Bearer ")
        .ok_or_else(|| unauthenticated("the authorization header must be `Bearer TOKEN`"))?;
    Ok(Some(token.trim()))
}

impl Authenticate {
    /// Who a request is from: the identity of its client certificate (`cert`), else of
    /// the bearer token in its `authorization` header. Both front doors (gRPC and the
    /// Kubernetes REST API) call this.
    pub fn identify(
        &self,
        cert: Option<Identity>,
        authorization: Option<&[u8]>,
    ) -> Result<Identity, Status> {
        match (cert, bearer(authorization)?) {
            (Some(mut id), _) => {
                id.groups.push(AUTHENTICATED.into());
                Ok(id)
            }
            (None, Some(token)) => self.token(token),
            (None, None) => Err(unauthenticated(
                "present a client certificate from this cluster's CA or a bearer token (--credentials, --token)",
            )),
        }
    }
}

impl Authenticate {
    /// Who an HTTP request (the REST API, the dashboard) is from, as [`Self::identify`].
    pub fn identify_http<B>(&self, req: &http::Request<B>) -> Result<Identity, Status> {
        let cert = req
            .extensions()
            .get::<PeerInfo>()
            .and_then(|p| p.identity.clone());
        let header = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .map(|v| v.as_bytes());
        self.identify(cert, header)
    }
}

impl tonic::service::Interceptor for Authenticate {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        let cert = req
            .extensions()
            .get::<PeerInfo>()
            .and_then(|p| p.identity.clone());
        let header = req.metadata().get("authorization").map(|v| v.as_bytes());
        // A dashboard session is for the page's REST calls, not for gRPC (certificates,
        // raft, membership): a leaked browser token opens no more than the page could.
        if cert.is_none() && bearer(header)?.is_some_and(|t| t.starts_with(TOKEN_PREFIX)) {
            return Err(unauthenticated(
                "dashboard sessions work on the REST API only: use a certificate or a ServiceAccount token",
            ));
        }
        let id = self.identify(cert, header)?;
        req.extensions_mut().insert(id);
        Ok(req)
    }
}
