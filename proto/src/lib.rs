//! The contract every part of Skiff shares: the object model and the gRPC messages.
//!
//! ```
//! let text = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n";
//! let decoded = skiff_proto::manifest::decode(text, &skiff_proto::manifest::Source::named("ns.yaml"));
//! assert!(decoded.diagnostics.0.is_empty());
//! let stored = skiff_proto::stored::encode(&decoded.objects[0]).unwrap();
//! assert_eq!(skiff_proto::stored::decode(&stored).unwrap(), decoded.objects[0]);
//! ```
//!
//! # Layout
//! - [`model`]: one file per resource (Pod, Deployment, Service, ...) and the pieces they
//!   share (metadata, quantities, selectors). serde gives the YAML/JSON form users write,
//!   shaped like Kubernetes; rkyv gives the stored form.
//! - `kinds`: the one table of kinds (names, group/version, plural, short names, scope,
//!   subresources), from which [`Kind`] and [`Object`] are generated.
//! - [`object`]: what every [`Kind`] and [`Object`] says of itself, read from the table.
//! - [`printer`]: the columns `get` shows per kind, and an object's cells.
//! - [`lists`]: how each field's lists merge (by key, as a set, or whole).
//! - [`manifest`]: text → validated objects, or diagnostics naming file, line, field path
//!   and a fix.
//! - [`validate`]: the rules types cannot express (names, ranges, cross-field rules).
//! - [`artifact`]: what an `image` names: OCI reference, digest or local component file.
//! - [`schema`]: the kinds' JSON schemas in OpenAPI 3 form (for `/openapi/v3`, `kubectl
//!   explain` and finding unknown fields).
//! - [`stored`]: the rkyv stored form, validated on read.
//! - [`grpc`]: messages and services generated from `proto/*.proto`: the client API, the
//!   node protocol and the raft transport.
//! - `fuzzing` (tests and the `fuzzing` feature): what the fuzz targets in `fuzz/` run.

pub mod artifact;
mod error;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod grpc;
mod kinds;
pub mod lists;
pub mod manifest;
pub mod model;
pub mod object;
pub mod printer;
pub mod schema;
pub mod stored;
pub mod validate;

pub use error::Error;
pub use object::{Kind, Object};

#[cfg(test)]
mod roundtrip_tests;
