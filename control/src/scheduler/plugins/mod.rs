//! The filters and scores, one small unit per file, and the default profile that puts
//! them in order.
//!
//! Filters run cheapest and most selective first, so most nodes are ruled out by a flag
//! or a label before resources are added up.

pub mod allocation;
pub mod anti_affinity;
pub mod fit;
pub mod locality;
pub mod node_affinity;
pub mod node_ready;
pub mod runtime;
pub mod spread;
pub mod taints;

use super::framework::{Profile, Sampling};

/// The default stack.
pub fn default_profile(sampling: Sampling) -> Profile {
    Profile {
        filters: vec![
            Box::new(node_ready::NodeReady),
            Box::new(node_ready::NodeUnschedulable),
            Box::new(runtime::RuntimeSupported),
            Box::new(node_affinity::NodeAffinity),
            Box::new(taints::TaintToleration),
            Box::new(fit::ResourcesFit),
            Box::new(anti_affinity::PodAntiAffinity),
            Box::new(spread::TopologySpread),
        ],
        scores: vec![
            Box::new(allocation::Allocation),
            Box::new(node_affinity::NodeAffinity),
            Box::new(taints::TaintToleration),
            Box::new(spread::TopologySpread),
            Box::new(locality::ArtifactLocality),
        ],
        sampling,
    }
}
