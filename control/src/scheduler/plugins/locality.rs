//! Scores by artifact locality: a node that already has the pod's components or images
//! (cached, or run by pods there) starts it without a pull or a compile. The score is
//! at most half of a full one: it breaks ties and near ties, but a node much emptier
//! (when spreading) or replicas kept apart still win, as Kubernetes' ImageLocality
//! stays small for all but large images.

use crate::scheduler::framework::{Cycle, Score};
use crate::scheduler::snapshot::NodeInfo;

pub struct ArtifactLocality;

impl Score for ArtifactLocality {
    fn name(&self) -> &'static str {
        "ArtifactLocality"
    }

    fn weight(&self) -> i64 {
        1
    }

    fn score(&self, cx: &Cycle<'_>, node: &NodeInfo) -> i64 {
        let (mut have, mut all) = (0, 0);
        for i in cx.pod.images() {
            all += 1;
            if node.has_image(i) {
                have += 1;
            }
        }
        if all == 0 { 0 } else { have * 50 / all }
    }
}
