//! ServiceAccount: an identity for workloads and tools, `system:serviceaccount:NS:NAME`,
//! which authenticates with signed bearer tokens (`skiff create token`).

use serde::{Deserialize, Serialize};

use super::meta::ObjectMeta;

#[derive(
    Debug,
    Clone,
    PartialEq,
    Default,
    Serialize,
    Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
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
