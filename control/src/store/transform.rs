//! A transformation of objects between their form in memory and their form in the store,
//! as Kubernetes' storage value transformers: applied before a command is proposed (so
//! the raft log, the records, the history and snapshots all hold the stored form) and
//! undone whenever a record is decoded. Encryption at rest is one (see `encryption`); by
//! default objects are stored as they are.

use skiff_proto::Object;

/// Why an object could not be transformed.
#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    /// The transformer has no key to write with yet: the record `.0` that gives it one
    /// must be written first ([`Transformer::first_keys`]).
    #[error("no encryption key to write with yet")]
    NeedsKeys,
    #[error("{0}")]
    Failed(String),
}

/// Between memory and the store.
pub trait Transformer: Send + Sync {
    /// The stored form of `o` (before it is proposed).
    fn seal(&self, o: &mut Object) -> Result<(), TransformError>;
    /// `o` as it was before [`Transformer::seal`] (after a record is decoded).
    fn unseal(&self, o: &mut Object) -> Result<(), TransformError>;
    /// The key of the record that configures this transformer (its keys), which the
    /// store shows it whenever it is written, restored or loaded.
    fn config_key(&self) -> Option<String>;
    /// Takes the configuration record (see [`Transformer::config_key`]).
    fn configure(&self, o: &Object);
    /// The configuration record to create when there is none ([`TransformError::NeedsKeys`]).
    fn first_keys(&self) -> Result<Object, TransformError>;
}

/// Stores objects as they are.
pub struct Plain;

impl Transformer for Plain {
    fn seal(&self, _: &mut Object) -> Result<(), TransformError> {
        Ok(())
    }

    fn unseal(&self, _: &mut Object) -> Result<(), TransformError> {
        Ok(())
    }

    fn config_key(&self) -> Option<String> {
        None
    }

    fn configure(&self, _: &Object) {}

    fn first_keys(&self) -> Result<Object, TransformError> {
        Err(TransformError::Failed("stored as is: no keys".into()))
    }
}
