//! Secrets encrypted at rest: envelope encryption as Kubernetes' KMS v2 does it.
//!
//! Each Secret's data is sealed with AES-256-GCM under a data-encryption key (DEK), bound
//! to the Secret's key in the store (its additional data), before the write is proposed:
//! the raft log, the records, the history and snapshots never hold it in plaintext. The
//! DEKs live in the store too (`skiff-system/encryption-keys`), each wrapped under the
//! key-encryption key (KEK), which never leaves a member: derived from the cluster CA's
//! key that every member holds, or given in `SKIFF_ENCRYPTION_KEY`.
//!
//! # Layout
//! - `kek`: the key-encryption key and wrapping DEKs under it.
//! - `keys`: the record of DEKs (which is active, each wrapped).
//! - `sealer`: the store transformer that seals and unseals Secrets.
//! - `rotate`: `skiff secrets rotate-key`: a new DEK, every Secret sealed again, the old
//!   ones removed once nothing uses them.

pub mod kek;
pub mod keys;
pub mod rotate;
pub mod sealer;

pub use kek::Kek;
pub use rotate::EncryptionApi;
pub use sealer::Sealer;
