//! The authorizer chain, as a Kubernetes apiserver runs it: members and `system:masters`
//! may do anything; a node's requests go to the node authorizer; everything else (and
//! what the node authorizer has no opinion on) to RBAC. Deny by default.

use std::sync::Arc;

use skiff_pki::Identity;
use skiff_pki::identity::MASTERS;
use tonic::Status;

use super::attributes::Attributes;
use super::node::{self, Verdict};
use super::rbac::{Cache, Policy};
use crate::api::status;
use crate::store::StoreHandle;

/// Decides requests against the member's store (cheap to clone).
#[derive(Clone)]
pub struct Authorizer {
    store: StoreHandle,
    rbac: Arc<Cache>,
}

/// A decision and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// What allowed or refused it (a node rule, RBAC).
    pub reason: String,
}

/// Whether `id` may do anything: a member, or in `system:masters`.
pub fn is_privileged(id: &Identity) -> bool {
    id.member_id().is_some() || id.in_group(MASTERS)
}

impl Authorizer {
    pub fn new(store: StoreHandle) -> Authorizer {
        Authorizer {
            store,
            rbac: Arc::default(),
        }
    }

    /// The store it reads.
    pub fn store(&self) -> &StoreHandle {
        &self.store
    }

    /// The RBAC policy in force.
    pub fn policy(&self) -> Result<Arc<Policy>, Status> {
        self.rbac.policy(self.store.state()).map_err(status::store)
    }

    /// Whether `who` may do `a`.
    pub fn decide(&self, who: &Identity, a: &Attributes) -> Result<Decision, Status> {
        if is_privileged(who) {
            return Ok(Decision {
                allowed: true,
                reason: "a member or in system:masters".into(),
            });
        }
        if let Some(n) = who.node_name() {
            match node::decide(self.store.state(), n, a).map_err(status::store)? {
                Verdict::Allow => {
                    return Ok(Decision {
                        allowed: true,
                        reason: "the node authorizer".into(),
                    });
                }
                Verdict::Deny(why) => {
                    return Ok(Decision {
                        allowed: false,
                        reason: why,
                    });
                }
                Verdict::NoOpinion => {}
            }
        }
        let allowed = self.policy()?.allows(who, a);
        Ok(Decision {
            allowed,
            reason: if allowed {
                "RBAC".into()
            } else {
                "no RBAC rule allows it".into()
            },
        })
    }

    /// `Ok` when `who` may do `a`; else `Forbidden: User "alice" cannot ...`.
    pub fn check(&self, who: &Identity, a: &Attributes) -> Result<(), Status> {
        let d = self.decide(who, a)?;
        if d.allowed {
            return Ok(());
        }
        Err(Authorizer::refusal(who, a, &d))
    }

    /// The refusal of `a` to `who` that decision `d` made.
    pub fn refusal(who: &Identity, a: &Attributes, d: &Decision) -> Status {
        forbidden(who, &format!("{}: {}", a.describe(), d.reason))
    }
}

/// Kubernetes' wording for a refusal.
pub fn forbidden(who: &Identity, what: &str) -> Status {
    skiff_pki::transport::forbidden(who, what)
}
