//! Who is calling, and whether they may. Every connection to a member is TLS 1.3 with a
//! client certificate from the cluster CA (see `skiff-pki`); the accept loop puts the
//! peer's `PeerInfo` in each request's extensions (read by `caller`, shared with the node
//! agent through `skiff-pki`), and the checks here run before a request's body is decoded.

use skiff_pki::Identity;
use skiff_pki::identity::MASTERS;
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

/// A gRPC interceptor that lets any authenticated caller through.
pub fn authenticated(req: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
    caller(req.extensions())?;
    Ok(req)
}

/// Whether `id` is a member or in `system:masters`.
pub fn is_member_or_admin(id: &Identity) -> bool {
    id.member_id().is_some() || id.in_group(MASTERS)
}
