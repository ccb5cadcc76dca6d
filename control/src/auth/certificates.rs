//! The CertificateService. A joiner with a bootstrap token gets its first certificate (a
//! node's, or a member's together with the CA key, as the token allows), and the token
//! loses a use in the same compare-and-swap that proves it had one; a node or member
//! with its certificate gets a fresh one for the same identity. The caller's key stays
//! with it: it sends a certificate signing request.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use skiff_pki::{Ca, Identity, Issue, Role};
use skiff_proto::Object;
use skiff_proto::grpc::api::certificate_service_server::CertificateService;
use skiff_proto::grpc::api::{SignRequest, SignResponse};
use skiff_proto::model::bootstrap::Usage;
use skiff_proto::validate::names;
use tonic::{Request, Response, Status};

use super::attributes::{Attributes, verb};
use super::authn::{BOOTSTRAPPERS, current_record};
use super::{forbidden, requester};
use crate::api::ObjectApi;

/// The largest request a joiner may send.
const MAX_CSR_BYTES: usize = 16 * 1024;

pub struct CertificateApi {
    pub api: Arc<ObjectApi>,
    /// `None` on a member without the CA key: it cannot sign.
    pub ca: Option<Arc<Ca>>,
    /// How long the certificates it signs last.
    pub valid_for: Duration,
    /// Every request is audited (joins above all).
    pub audit: super::audit::Audit,
}

/// What `who` may get a certificate as, for `r`; and whether it joins with a token.
fn role_for(who: &Identity, r: &SignRequest) -> Result<(Role, Option<Usage>), Status> {
    if let Some(name) = who.node_name() {
        return Ok((Role::Node { name: name.into() }, None));
    }
    if let Some(id) = who.member_id() {
        return Ok((Role::Member { id }, None));
    }
    if !who.in_group(BOOTSTRAPPERS) {
        return Err(forbidden(
            who,
            "get a certificate (only nodes and members renewing theirs, and joiners with a token, may)",
        ));
    }
    let may = |u: Usage| who.in_group(&format!("{BOOTSTRAPPERS}:{}", u.name()));
    match (r.node_name.as_str(), r.member_id) {
        (name, 0) if !name.is_empty() => {
            if !may(Usage::Node) {
                return Err(forbidden(
                    who,
                    "join as a node: the token does not allow it",
                ));
            }
            names::dns_subdomain(name)
                .map_err(|why| Status::invalid_argument(format!("node name {name:?}: {why}")))?;
            Ok((Role::Node { name: name.into() }, Some(Usage::Node)))
        }
        ("", id) if id > 0 => {
            if !may(Usage::Member) {
                return Err(forbidden(
                    who,
                    "join as a control-plane member: the token does not allow it (`skiff token create --usages member`)",
                ));
            }
            Ok((Role::Member { id }, Some(Usage::Member)))
        }
        _ => Err(Status::invalid_argument(
            "say what to join as: a node name or a member id (one of them)",
        )),
    }
}

impl CertificateApi {
    /// Takes one use of the caller's bootstrap token, atomically: of two joiners racing
    /// for its last use, one is refused.
    async fn spend(&self, who: &Identity) -> Result<(), Status> {
        let id = who
            .user
            .strip_prefix("system:bootstrap:")
            .ok_or_else(|| Status::internal("a bootstrapper without a token id"))?;
        // Joiners racing for uses: whoever loses the compare-and-swap reads again.
        for _ in 0..SPEND_ATTEMPTS {
            let (mut record, revision) = current_record(&self.api.store, id)?.ok_or_else(|| {
                Status::unauthenticated("Unauthenticated: the join token was deleted")
            })?;
            let Some(left) = record.uses_left else {
                return Ok(());
            };
            if left == 0 {
                return Err(Status::unauthenticated(format!(
                    "Unauthenticated: the join token {id} has been used as many times as it allows"
                )));
            }
            record.uses_left = Some(left - 1);
            match self
                .api
                .update_object(
                    Object::Secret(record.to_secret()),
                    Some(revision),
                    &Default::default(),
                )
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if e.code() == tonic::Code::Aborted => {}
                Err(e) => return Err(e),
            }
        }
        Err(Status::aborted(format!(
            "the join token {id} kept being used by other joiners; try again"
        )))
    }
}

/// How many times a join reads its token again after losing a race for a use.
const SPEND_ATTEMPTS: usize = 16;

#[tonic::async_trait]
impl CertificateService for CertificateApi {
    async fn sign(&self, r: Request<SignRequest>) -> Result<Response<SignResponse>, Status> {
        let who = requester(r.extensions())?.clone();
        let from = crate::auth::audit::Origin::of(&r);
        let r = r.into_inner();
        let name = match (r.node_name.as_str(), r.member_id) {
            ("", 0) => who.user.clone(),
            ("", id) => format!("system:member:{id}"),
            (node, _) => format!("system:node:{node}"),
        };
        let a = Attributes {
            verb: verb::CREATE.into(),
            group: "certificates.k8s.io".into(),
            resource: "certificatesigningrequests".into(),
            subresource: String::new(),
            namespace: String::new(),
            name,
        };
        let result = self.signed(&who, r).await;
        self.audit
            .record(&who, &from, &a, None, result.as_ref().map(|_| ()), &[]);
        result.map(Response::new)
    }
}

impl CertificateApi {
    /// The certificate `who` asked for in `r`, if it may have it.
    async fn signed(&self, who: &Identity, r: SignRequest) -> Result<SignResponse, Status> {
        if r.csr_pem.len() > MAX_CSR_BYTES {
            return Err(Status::invalid_argument(format!(
                "the certificate signing request is {} bytes; at most {MAX_CSR_BYTES}",
                r.csr_pem.len()
            )));
        }
        let (role, joining) = role_for(who, &r)?;
        let addresses = r
            .addresses
            .iter()
            .map(|a| {
                a.parse::<IpAddr>().map_err(|_| {
                    Status::invalid_argument(format!("address {a:?} is not an IP address"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let Some(ca) = &self.ca else {
            return Err(Status::failed_precondition(
                "this member holds no CA key, so it cannot sign certificates; ask another member",
            ));
        };
        let issue = Issue {
            role,
            addresses,
            valid_for: self.valid_for,
        };
        // Check the request before the token loses a use on it.
        let cert_pem = ca
            .sign_request(&issue, &r.csr_pem)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        if joining.is_some() {
            self.spend(who).await?;
            tracing::info!(joiner = %who.user, role = ?issue.role, "signed a joiner's first certificate");
        }
        Ok(SignResponse {
            cert_pem,
            ca_pem: ca.cert_pem().to_owned(),
            ca_key_pem: if joining == Some(Usage::Member) {
                ca.key_pem()
            } else {
                String::new()
            },
        })
    }
}
