//! Errors → `tonic::Status`, in one place: each says what was wrong and what to do.

use prost::Message as _;
use skiff_proto::grpc::api::{ErrorDetails, FieldError};
use skiff_proto::manifest::Diagnostics;
use tonic::{Code, Status};

use crate::Error;
use crate::store::{Rejection, WriteError};

pub fn write(e: WriteError) -> Status {
    match e {
        WriteError::Rejected(r) => rejection(r),
        WriteError::NoLeader | WriteError::Unknown => Status::unavailable(e.to_string()),
        WriteError::Stopped => Status::internal(e.to_string()),
    }
}

fn rejection(r: Rejection) -> Status {
    let code = match r {
        Rejection::AlreadyExists(_) => Code::AlreadyExists,
        Rejection::NotFound(_) => Code::NotFound,
        Rejection::Conflict { .. } => Code::Aborted,
        Rejection::Malformed(_) | Rejection::BadArtifact(_) => Code::InvalidArgument,
    };
    Status::new(code, r.to_string())
}

pub fn store(e: Error) -> Status {
    match e {
        Error::Compacted { .. } => Status::out_of_range(e.to_string()),
        other => Status::internal(other.to_string()),
    }
}

/// A manifest that did not decode: every problem, also as structured details.
pub fn invalid(d: &Diagnostics) -> Status {
    let details = ErrorDetails {
        errors: d
            .0
            .iter()
            .map(|x| FieldError {
                path: x.path.to_string(),
                message: x.message.clone(),
                hint: x.hint.clone().unwrap_or_default(),
                line: x.position.map_or(0, |p| p.0 as u32),
                column: x.position.map_or(0, |p| p.1 as u32),
                object: x.object.clone().unwrap_or_default(),
            })
            .collect(),
    };
    Status::with_details(
        Code::InvalidArgument,
        d.to_string(),
        details.encode_to_vec().into(),
    )
}
