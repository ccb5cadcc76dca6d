//! The AuthService: `skiff auth whoami`, `skiff auth can-i` and `skiff create token`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use skiff_pki::Identity;
use skiff_pki::tokens::{Account, Issuer};
use skiff_proto::grpc::api::auth_service_server::AuthService;
use skiff_proto::grpc::api::*;
use skiff_proto::{Kind, Object};
use tonic::{Request, Response, Status};

use super::attributes::{Attributes, verb};
use super::authorizer::Authorizer;
use super::rbac::AUTHENTICATED;
use super::requester;
use crate::store::key;

/// How long a token lasts when the request does not say.
const DEFAULT_TOKEN_LIFE: Duration = Duration::from_secs(3600);
/// The longest a token may last.
const MAX_TOKEN_LIFE: Duration = Duration::from_secs(48 * 3600);

pub struct AuthApi {
    pub authz: Authorizer,
    /// Signs tokens; `None` on a member without the CA key.
    pub issuer: Option<Arc<Issuer>>,
    /// Tokens made are audited.
    pub audit: super::audit::Audit,
}

fn review_attributes(r: &AccessReviewRequest) -> Attributes {
    Attributes {
        verb: r.verb.clone(),
        group: r.group.clone(),
        resource: r.resource.clone(),
        subresource: r.subresource.clone(),
        namespace: r.namespace.clone(),
        name: r.name.clone(),
    }
}

#[tonic::async_trait]
impl AuthService for AuthApi {
    async fn who_am_i(&self, r: Request<WhoAmIRequest>) -> Result<Response<UserInfo>, Status> {
        let who = requester(r.extensions())?;
        Ok(Response::new(UserInfo {
            user: who.user.clone(),
            groups: who.groups.clone(),
        }))
    }

    async fn review(
        &self,
        r: Request<AccessReviewRequest>,
    ) -> Result<Response<AccessReviewResponse>, Status> {
        let caller = requester(r.extensions())?.clone();
        let q = r.into_inner();
        if q.verb.is_empty() || q.resource.is_empty() {
            return Err(Status::invalid_argument(
                "an access review needs a verb and a resource, e.g. `skiff auth can-i list pods`",
            ));
        }
        let subject = if q.user.is_empty() || q.user == caller.user {
            caller
        } else {
            // Asking about someone else is Kubernetes' SubjectAccessReview.
            let review = Attributes {
                verb: verb::CREATE.into(),
                group: "authorization.k8s.io".into(),
                resource: "subjectaccessreviews".into(),
                subresource: String::new(),
                namespace: String::new(),
                name: String::new(),
            };
            self.authz.check(&caller, &review)?;
            let mut groups = q.groups.clone();
            groups.push(AUTHENTICATED.into());
            Identity {
                user: q.user.clone(),
                groups,
            }
        };
        let d = self.authz.decide(&subject, &review_attributes(&q))?;
        Ok(Response::new(AccessReviewResponse {
            allowed: d.allowed,
            reason: d.reason,
        }))
    }

    async fn create_token(
        &self,
        r: Request<TokenRequest>,
    ) -> Result<Response<TokenResponse>, Status> {
        let who = requester(r.extensions())?.clone();
        let from = crate::auth::audit::Origin::of(&r);
        let q = r.into_inner();
        let ns = if q.namespace.is_empty() {
            "default".to_owned()
        } else {
            q.namespace.clone()
        };
        let a = Attributes::kind(verb::CREATE, Kind::ServiceAccount, &ns, &q.service_account)
            .subresource("token");
        let d = self.authz.decide(&who, &a)?;
        let result = if d.allowed {
            self.token(&ns, &q).await
        } else {
            Err(Authorizer::refusal(&who, &a, &d))
        };
        self.audit.record(
            &who,
            &from,
            &a,
            Some((d.allowed, &d.reason)),
            result.as_ref().map(|_| ()),
            &[],
        );
        result.map(Response::new)
    }
}

impl AuthApi {
    /// A token for ServiceAccount `q.service_account` in `ns` (the caller may have one).
    async fn token(&self, ns: &str, q: &TokenRequest) -> Result<TokenResponse, Status> {
        let life = match q.expiration_seconds {
            0 => DEFAULT_TOKEN_LIFE,
            s if s < 0 || s as u64 > MAX_TOKEN_LIFE.as_secs() => {
                return Err(Status::invalid_argument(format!(
                    "--duration {s}s: a token lasts from 1 s to {} h",
                    MAX_TOKEN_LIFE.as_secs() / 3600
                )));
            }
            s => Duration::from_secs(s as u64),
        };
        let Some(issuer) = &self.issuer else {
            return Err(Status::failed_precondition(
                "this member holds no CA key, so it cannot sign tokens; ask a member that does (one started with --pki, or the founder)",
            ));
        };
        let k = key::make(Kind::ServiceAccount, ns, &q.service_account);
        let sa = self
            .authz
            .store()
            .state()
            .get(&k)
            .map_err(crate::api::status::store)?;
        let Some(Object::ServiceAccount(sa)) = sa.map(|s| s.object) else {
            return Err(Status::not_found(format!(
                "serviceaccount {ns}/{} not found; create it first (`kind: ServiceAccount`)",
                q.service_account
            )));
        };
        let account = Account {
            namespace: ns.to_owned(),
            name: q.service_account.clone(),
            uid: sa.metadata.uid.unwrap_or_default(),
        };
        let (token, exp) = issuer
            .issue(&account, SystemTime::now(), life)
            .map_err(|e| Status::internal(e.to_string()))?;
        Ok(TokenResponse {
            token,
            expiration_timestamp: humantime::format_rfc3339_seconds(exp).to_string(),
        })
    }
}
