//! Filters on the workload runtime: a Wasm pod needs a node that runs Wasm, a container
//! pod one that runs OCI containers.

use skiff_proto::model::Runtime;

use crate::scheduler::framework::{Cycle, Filter, Unfit};
use crate::scheduler::snapshot::NodeInfo;

pub struct RuntimeSupported;

impl Filter for RuntimeSupported {
    fn name(&self) -> &'static str {
        "RuntimeSupported"
    }

    fn filter(&self, cx: &Cycle<'_>, node: &NodeInfo) -> Result<(), Vec<Unfit>> {
        let (needed, phrase) = if cx.pod.wasm {
            (Runtime::Wasm, "did not run wasm")
        } else {
            (Runtime::Oci, "did not run oci containers")
        };
        if node.runtimes.contains(&needed) {
            Ok(())
        } else {
            Err(vec![Unfit(phrase.into())])
        }
    }
}
