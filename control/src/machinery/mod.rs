//! What the scheduler and the controllers are built on, on the leader:
//! - `cache`: the informer cache of objects, moved on by the store's history, with each
//!   batch of changes published;
//! - `queue`: a de-duplicating work queue with per-key back-off;
//! - `client`: the member's own API, called in-process (admission included);
//! - `leader`: running work only while this member leads;
//! - `recorder`: the controllers' events, written in the background in batches.
//! - `correlator`: which of those events are written, and how similar ones combine.

pub mod cache;
pub mod client;
pub mod correlator;
pub mod leader;
pub mod queue;
pub mod recorder;
