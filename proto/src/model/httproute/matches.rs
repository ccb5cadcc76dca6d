//! The matching part of an HTTPRoute rule: paths, headers, query parameters, methods.

use serde::{Deserialize, Serialize};
use skiff_proto_macros::model;

/// One match: a request must satisfy every condition given.
#[model]
pub struct HttpRouteMatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<HttpPathMatch>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<HttpHeaderMatch>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query_params: Vec<HttpQueryParamMatch>,
    /// `GET`, `POST`, ...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
}

/// A path match; written without fields it is `PathPrefix` `/` (every path).
#[derive(
    Debug,
    Clone,
    PartialEq,
    Serialize,
    Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
pub struct HttpPathMatch {
    #[serde(rename = "type", default)]
    pub type_: PathMatchType,
    #[serde(default = "root_path")]
    pub value: String,
}

fn root_path() -> String {
    "/".to_owned()
}

impl Default for HttpPathMatch {
    fn default() -> Self {
        HttpPathMatch {
            type_: PathMatchType::default(),
            value: root_path(),
        }
    }
}

#[model]
pub enum PathMatchType {
    Exact,
    /// Whole `/`-separated segments: `/foo` matches `/foo` and `/foo/bar`, not `/foobar`.
    #[default]
    PathPrefix,
    /// Not served by Skiff (validation rejects it).
    RegularExpression,
}

/// A header the request must carry (names compare case-insensitively).
#[model]
pub struct HttpHeaderMatch {
    /// `None`: `Exact`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<MatchType>,
    pub name: String,
    pub value: String,
}

/// A query parameter the request must carry.
#[model]
pub struct HttpQueryParamMatch {
    /// `None`: `Exact`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<MatchType>,
    pub name: String,
    pub value: String,
}

#[model]
pub enum MatchType {
    #[default]
    Exact,
    /// Not served by Skiff (validation rejects it).
    RegularExpression,
}
