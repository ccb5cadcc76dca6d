//! Who a certificate names. As Kubernetes reads client certificates: the subject's common
//! name (`CN`) is the user, each organization (`O`) a group. Members, nodes and the admin
//! have conventional names; a server is checked against a DNS name of its role, not the
//! address it was dialled at, so a node's certificate can never pass for a member's.

use x509_parser::prelude::{FromDer, X509Certificate};

use crate::Error;

/// The cluster's DNS suffix for the names servers are checked against.
pub const DOMAIN: &str = "skiff.internal";
/// The group every control-plane member is in.
pub const MEMBERS: &str = "system:members";
/// The group every node agent is in.
pub const NODES: &str = "system:nodes";
/// The group that may do anything (Kubernetes' name for it).
pub const MASTERS: &str = "system:masters";

/// An authenticated party: a user name and its groups.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    pub user: String,
    pub groups: Vec<String>,
}

impl Identity {
    pub fn in_group(&self, g: &str) -> bool {
        self.groups.iter().any(|x| x == g)
    }

    /// The member id, for a member's identity (`system:member:ID`).
    pub fn member_id(&self) -> Option<u64> {
        if !self.in_group(MEMBERS) {
            return None;
        }
        self.user.strip_prefix("system:member:")?.parse().ok()
    }

    /// The node name, for a node's identity (`system:node:NAME`).
    pub fn node_name(&self) -> Option<&str> {
        if !self.in_group(NODES) {
            return None;
        }
        self.user.strip_prefix("system:node:")
    }

    /// Who the leaf certificate (DER) names. Its chain was verified by the TLS layer.
    pub fn from_certificate(der: &[u8]) -> Result<Identity, Error> {
        Identity::from_leaf(der).map(|(who, _)| who)
    }

    /// Who the leaf certificate (DER) names, and when it expires (its NotAfter), from one
    /// parse: what the TLS accept loop keeps of each client.
    pub fn from_leaf(der: &[u8]) -> Result<(Identity, std::time::SystemTime), Error> {
        let (_, cert) = X509Certificate::from_der(der)
            .map_err(|e| Error::cert(format!("the peer's certificate does not parse: {e}")))?;
        let not_after = crate::credentials::at(cert.validity().not_after.timestamp());
        let subject = cert.subject();
        let user = subject
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .ok_or_else(|| Error::cert("the peer's certificate names no user (no CN)"))?
            .to_owned();
        let groups = subject
            .iter_organization()
            .filter_map(|o| o.as_str().ok().map(str::to_owned))
            .collect();
        Ok((Identity { user, groups }, not_after))
    }
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.user)
    }
}

/// The kinds of party the CA certifies, each with its subject and, for servers, the DNS
/// name clients check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// A control-plane member: serves the API and raft, and is a client of other members
    /// and of agents.
    Member { id: u64 },
    /// A node agent: serves its API and router, and is a client of the control plane and
    /// of other routers.
    Node { name: String },
    /// A user of the API (client only).
    User { name: String, groups: Vec<String> },
}

impl Role {
    /// The admin `skiff dev` and `skiff pki init` write a credential for.
    pub fn admin() -> Role {
        Role::User {
            name: "admin".into(),
            groups: vec![MASTERS.into()],
        }
    }

    pub fn identity(&self) -> Identity {
        match self {
            Role::Member { id } => Identity {
                user: format!("system:member:{id}"),
                groups: vec![MEMBERS.into()],
            },
            Role::Node { name } => Identity {
                user: format!("system:node:{name}"),
                groups: vec![NODES.into()],
            },
            Role::User { name, groups } => Identity {
                user: name.clone(),
                groups: groups.clone(),
            },
        }
    }

    /// The DNS name a client checks this party's serving certificate against (none for
    /// users, who do not serve).
    pub fn server_name(&self) -> Option<String> {
        match self {
            Role::Member { .. } => Some(member_server_name()),
            Role::Node { name } => Some(node_server_name(name)),
            Role::User { .. } => None,
        }
    }
}

/// Every member's serving certificate carries this name: a client reaches "the control
/// plane" at whichever member's address.
pub fn member_server_name() -> String {
    format!("control.{DOMAIN}")
}

/// Node `name`'s serving certificate carries this name.
pub fn node_server_name(name: &str) -> String {
    format!("{name}.nodes.{DOMAIN}")
}
