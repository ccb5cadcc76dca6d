//! What a pod asks for and what a node has left, in the four dimensions the scheduler
//! counts: CPU (millicores), memory (bytes), pods, and Wasm instance slots.

use std::collections::BTreeMap;
use std::ops::{AddAssign, SubAssign};

use skiff_proto::model::{PodSpec, Quantity};

/// The capacity name of Wasm instance slots (the agent's `--max-instances`).
pub const WASM_INSTANCES: &str = "wasm-instances";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Resources {
    pub milli_cpu: i64,
    pub memory: i64,
    pub pods: i64,
    pub wasm_instances: i64,
}

fn clamp(v: i128) -> i64 {
    i64::try_from(v.max(0)).unwrap_or(i64::MAX)
}

impl Resources {
    /// A node's allocatable resources (capacity when allocatable is not reported).
    pub fn of_node(allocatable: &BTreeMap<String, Quantity>) -> Resources {
        let get = |k: &str| allocatable.get(k);
        Resources {
            milli_cpu: get("cpu").map_or(0, |q| clamp(q.milli_value())),
            memory: get("memory").map_or(0, |q| clamp(q.value())),
            pods: get("pods").map_or(0, |q| clamp(q.value())),
            wasm_instances: get(WASM_INSTANCES).map_or(0, |q| clamp(q.value())),
        }
    }

    /// What a pod requests, as Kubernetes counts it: the sum over its containers, or the
    /// largest init container if that is more (they run one at a time, before the rest).
    /// Requests count, not limits. A Wasm pod takes one instance slot unless it asks for
    /// more with `requests: {wasm-instances: N}`.
    pub fn of_pod(spec: &PodSpec) -> Resources {
        let one = |requests: &BTreeMap<String, Quantity>| Resources {
            milli_cpu: requests.get("cpu").map_or(0, |q| clamp(q.milli_value())),
            memory: requests.get("memory").map_or(0, |q| clamp(q.value())),
            pods: 0,
            wasm_instances: requests.get(WASM_INSTANCES).map_or(0, |q| clamp(q.value())),
        };
        let mut sum = Resources::default();
        for c in &spec.containers {
            sum += one(&c.resources.requests);
        }
        for c in &spec.init_containers {
            let r = one(&c.resources.requests);
            sum.milli_cpu = sum.milli_cpu.max(r.milli_cpu);
            sum.memory = sum.memory.max(r.memory);
            sum.wasm_instances = sum.wasm_instances.max(r.wasm_instances);
        }
        sum.pods = 1;
        if spec.is_wasm() {
            sum.wasm_instances = sum.wasm_instances.max(1);
        } else {
            sum.wasm_instances = 0;
        }
        sum
    }

    /// The figures scoring uses: a pod that requests nothing still takes room (Kubernetes
    /// scores such pods as 100m CPU and 200 MB; a Wasm pod as 10m and 16 MiB, since it
    /// is far smaller), so spreading and packing see it.
    pub fn for_scoring(self, wasm: bool) -> Resources {
        let (cpu, mem) = if wasm {
            (10, 16 << 20)
        } else {
            (100, 200 * 1_000_000)
        };
        Resources {
            milli_cpu: if self.milli_cpu == 0 {
                cpu
            } else {
                self.milli_cpu
            },
            memory: if self.memory == 0 { mem } else { self.memory },
            ..self
        }
    }
}

impl AddAssign for Resources {
    fn add_assign(&mut self, o: Resources) {
        self.milli_cpu = self.milli_cpu.saturating_add(o.milli_cpu);
        self.memory = self.memory.saturating_add(o.memory);
        self.pods = self.pods.saturating_add(o.pods);
        self.wasm_instances = self.wasm_instances.saturating_add(o.wasm_instances);
    }
}

impl SubAssign for Resources {
    fn sub_assign(&mut self, o: Resources) {
        self.milli_cpu = self.milli_cpu.saturating_sub(o.milli_cpu);
        self.memory = self.memory.saturating_sub(o.memory);
        self.pods = self.pods.saturating_sub(o.pods);
        self.wasm_instances = self.wasm_instances.saturating_sub(o.wasm_instances);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_proto::model::{Container, ResourceRequirements};

    fn container(cpu: &str, mem: &str) -> Container {
        let mut requests = BTreeMap::new();
        requests.insert("cpu".into(), Quantity::parse(cpu).unwrap());
        requests.insert("memory".into(), Quantity::parse(mem).unwrap());
        Container {
            name: "c".into(),
            resources: ResourceRequirements {
                requests,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn requests_sum_containers_and_init_containers_take_the_max() {
        let spec = PodSpec {
            containers: vec![container("100m", "64Mi"), container("250m", "64Mi")],
            init_containers: vec![container("1", "16Mi")],
            ..Default::default()
        };
        let r = Resources::of_pod(&spec);
        assert_eq!(r.milli_cpu, 1000);
        assert_eq!(r.memory, 128 << 20);
        assert_eq!(r.pods, 1);
        assert_eq!(r.wasm_instances, 0);
        let wasm = PodSpec {
            runtime_class_name: Some("wasm".into()),
            ..spec
        };
        assert_eq!(Resources::of_pod(&wasm).wasm_instances, 1);
    }
}
