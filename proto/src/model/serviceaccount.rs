//! ServiceAccount: an identity for workloads and tools, `system:serviceaccount:NS:NAME`,
//! which authenticates with signed bearer tokens (`skiff create token`).

use skiff_proto_macros::model;

use super::meta::ObjectMeta;

#[model]
pub struct ServiceAccount {
    pub metadata: ObjectMeta,
    /// Whether pods running as this account get a token mounted (kept as written).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub automount_service_account_token: Option<bool>,
}

/// The user name a ServiceAccount authenticates as.
pub fn user_name(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

/// The groups every ServiceAccount is in (besides `system:authenticated`).
pub fn groups(namespace: &str) -> [String; 2] {
    [
        "system:serviceaccounts".to_owned(),
        format!("system:serviceaccounts:{namespace}"),
    ]
}
