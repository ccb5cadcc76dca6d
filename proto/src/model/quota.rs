//! ResourceQuota and LimitRange: what a namespace may consume in all (pods, CPU and
//! memory requests and limits, objects of each kind), and the defaults and bounds of
//! each container's resources.

use skiff_proto_macros::model;
use std::collections::BTreeMap;

use super::meta::ObjectMeta;
use super::quantity::Quantity;

#[model]
pub struct ResourceQuota {
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: ResourceQuotaSpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<ResourceQuotaStatus>,
}

#[model]
pub struct ResourceQuotaSpec {
    /// Resource name (`pods`, `requests.cpu`, `limits.memory`, `count/secrets`, ...) →
    /// the most the namespace may use.
    #[serde(default)]
    pub hard: BTreeMap<String, Quantity>,
}

#[model]
pub struct ResourceQuotaStatus {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hard: BTreeMap<String, Quantity>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub used: BTreeMap<String, Quantity>,
}

#[model]
pub struct LimitRange {
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: LimitRangeSpec,
}

#[model]
pub struct LimitRangeSpec {
    #[serde(default)]
    pub limits: Vec<LimitRangeItem>,
}

/// Defaults and bounds for one container's (or one pod's) `cpu` and `memory`.
#[model]
pub struct LimitRangeItem {
    /// `Container` or `Pod`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The limits a container without limits gets.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub default: BTreeMap<String, Quantity>,
    /// The requests a container without requests gets.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub default_request: BTreeMap<String, Quantity>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub max: BTreeMap<String, Quantity>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub min: BTreeMap<String, Quantity>,
}
