//! Health probes: how the node agent decides a workload is alive, ready or started.

use serde::{Deserialize, Serialize};
use skiff_proto_macros::model;

use super::values::names_set;

use super::values::IntOrString;

/// One probe: exactly one handler plus its timing.
#[model]
pub struct Probe {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_get: Option<HttpGetAction>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_socket: Option<TcpSocketAction>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecAction>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grpc: Option<GrpcAction>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial_delay_seconds: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period_seconds: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success_threshold: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_threshold: Option<i32>,
}

impl Probe {
    /// The names of the handlers that are set (a valid probe has exactly one).
    pub fn handlers(&self) -> Vec<&'static str> {
        names_set([
            (self.http_get.is_some(), "httpGet"),
            (self.tcp_socket.is_some(), "tcpSocket"),
            (self.exec.is_some(), "exec"),
            (self.grpc.is_some(), "grpc"),
        ])
    }
}

#[model]
pub struct HttpGetAction {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// A port number or the name of a container port.
    pub port: IntOrString,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheme: Option<Scheme>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http_headers: Vec<HttpHeader>,
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "UPPERCASE")]
#[schemars(inline)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
pub enum Scheme {
    #[default]
    Http,
    Https,
}

#[model]
pub struct HttpHeader {
    pub name: String,
    pub value: String,
}

#[model]
pub struct TcpSocketAction {
    pub port: IntOrString,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

#[model]
pub struct ExecAction {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
}

#[model]
pub struct GrpcAction {
    pub port: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}
