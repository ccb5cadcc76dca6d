//! The one error type of this crate.

use crate::manifest::Diagnostics;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A manifest did not decode or validate; each diagnostic names the field and a fix.
    #[error("{0}")]
    Invalid(#[from] Diagnostics),
    /// An object could not be encoded into its stored form.
    #[error("encoding the stored form failed: {0}")]
    Encode(String),
    /// A stored record failed validation when read back.
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
}
