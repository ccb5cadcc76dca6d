//! A container's `securityContext` (and its pod's), as a runtime applies it: who the
//! process runs as, whether the root filesystem is writable, which capabilities it keeps.
//! The Wasm runtime has nothing to apply: a guest has no users or capabilities.

/// What the container's and the pod's `securityContext` ask for (the container's
/// fields win).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Security {
    pub run_as_user: Option<u32>,
    pub run_as_group: Option<u32>,
    /// Refuse to start as uid 0.
    pub run_as_non_root: bool,
    pub supplemental_groups: Vec<u32>,
    pub read_only_root_filesystem: bool,
    pub privileged: bool,
    /// `None`: Kubernetes' default (allowed), which Skiff tightens to "not allowed"
    /// (`noNewPrivileges`) unless asked.
    pub allow_privilege_escalation: Option<bool>,
    /// Capability names as Kubernetes writes them (`NET_ADMIN`, without `CAP_`).
    pub add_capabilities: Vec<String>,
    pub drop_capabilities: Vec<String>,
}
