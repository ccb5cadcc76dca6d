//! Who is calling, and whether they may.
//!
//! Every connection to a member is TLS 1.3; the accept loop puts the peer's `PeerInfo`
//! (with the identity its client certificate names) in each request's extensions, and
//! [`Authenticate`] turns it (or a bearer token) into the request's [`Identity`] before
//! anything is decoded.
//!
//! # Layout
//! - `authn`: who a request is from: a client certificate, or a ServiceAccount's token.
//! - `service`: the AuthService (whoami, access reviews, tokens).
//! - `attributes`: a request as an authorizer sees it (verb, resource, namespace, name).
//! - `authorizer`: the chain: members and `system:masters`, then the node authorizer,
//!   then RBAC; deny by default.
//! - `rules`: how one RBAC rule matches, and when rules cover others.
//! - `rbac`: the bindings that name a caller and the rules they give, cached per change.
//! - `node`: what a node agent may read and write.
//! - `escalation`: no Role or binding gives more than its writer holds.
//! - `guard`: the client API's services behind the authorizer, every call audited.
//! - `audit`: the audit log, one JSON line per call (Kubernetes' audit events).
//! - `defaults`: the default ClusterRoles (`cluster-admin`, `admin`, `edit`, `view`).
//! - `certificates`: the CertificateService: first certificates for joiners with a
//!   bootstrap token, renewals for nodes and members.

pub mod attributes;
pub mod audit;
mod authn;
pub mod authorizer;
mod certificates;
pub mod defaults;
mod escalation;
pub mod guard;
mod node;
pub mod rbac;
mod rules;
mod service;

pub use attributes::Attributes;
pub use authn::Authenticate;
pub(crate) use authn::bearer;
pub use authorizer::{Authorizer, Decision, is_privileged};
pub use certificates::CertificateApi;
pub use guard::Guarded;
pub use service::AuthApi;
use skiff_pki::Identity;
pub use skiff_pki::transport::{caller, forbidden};
use tonic::Status;

/// A gRPC interceptor that lets only members through: raft messages from anyone else are
/// refused before they are parsed.
pub fn members_only(req: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
    let id = caller(req.extensions())?;
    if id.member_id().is_none() {
        return Err(forbidden(
            id,
            "send raft messages (only control-plane members may)",
        ));
    }
    Ok(req)
}

/// The authenticated caller of a request (see [`Authenticate`]).
pub fn requester(ext: &tonic::Extensions) -> Result<&Identity, Status> {
    ext.get::<Identity>().ok_or_else(|| {
        Status::unauthenticated(
            "Unauthenticated: present a client certificate from this cluster's CA or a bearer token",
        )
    })
}

/// Whether `id` is a member or in `system:masters`.
pub fn is_member_or_admin(id: &Identity) -> bool {
    is_privileged(id)
}
