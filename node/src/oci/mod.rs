//! OCI container images: pulled from registries, unpacked once into a content-addressed
//! layer store, and stacked by overlay mounts for each container (the container runtime
//! does the mounting).
//!
//! # Modules
//! - `registry`: the distribution protocol (through `oci-client`): the manifest for this
//!   node's platform, configs, blobs streamed to disk and verified; credentials from
//!   `imagePullSecrets`.
//! - `layers`: a layer blob unpacked into a folder, whiteouts as overlayfs reads them,
//!   checked against its `diff_id`.
//! - `zstd`: a zstd-compressed layer read frame by frame.
//! - `store`: [`ImageStore`], the images on this node: pull policies, records on disk,
//!   garbage collection.

mod layers;
mod registry;
mod store;
mod zstd;

pub use registry::{Credentials, client, local, platform};
pub use store::{Held, Image, ImageStore};
