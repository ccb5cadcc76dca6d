//! Pod volumes: scratch space, host folders, and ConfigMaps/Secrets as files. For Wasm
//! pods each mount is preopened in the guest at its mount path.

use skiff_proto_macros::model;

use super::values::names_set;

use super::quantity::Quantity;

/// A named volume; exactly one source is set.
#[model]
pub struct Volume {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub empty_dir: Option<EmptyDirSource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_path: Option<HostPathSource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_map: Option<ConfigMapVolumeSource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretVolumeSource>,
}

impl Volume {
    /// The names of the sources that are set (a valid volume has exactly one).
    pub fn sources(&self) -> Vec<&'static str> {
        names_set([
            (self.empty_dir.is_some(), "emptyDir"),
            (self.host_path.is_some(), "hostPath"),
            (self.config_map.is_some(), "configMap"),
            (self.secret.is_some(), "secret"),
        ])
    }
}

/// Scratch space that lives as long as the pod.
#[model]
pub struct EmptyDirSource {
    /// `""` (node disk) or `Memory` (tmpfs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub medium: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_limit: Option<Quantity>,
}

/// A folder or file of the node.
#[model]
pub struct HostPathSource {
    pub path: String,
    /// `Directory`, `DirectoryOrCreate`, `File`, `FileOrCreate`, ... as in Kubernetes.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
}

#[model]
pub struct ConfigMapVolumeSource {
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<KeyToPath>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_mode: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

#[model]
pub struct SecretVolumeSource {
    pub secret_name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<KeyToPath>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_mode: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// Projects one key to a relative file path inside the volume.
#[model]
pub struct KeyToPath {
    pub key: String,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<i32>,
}
