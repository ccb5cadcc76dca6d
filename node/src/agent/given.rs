//! What a container is given from the cluster before it starts, as the kubelet gives it:
//! environment variables (literal, `$(VAR)` references, from ConfigMaps, Secrets and the
//! pod's own fields, `envFrom`) and volumes (emptyDir, hostPath, and ConfigMap and Secret
//! keys as files, read-only), each at its mount path.
//!
//! A Wasm component's `wasi` grants become its host capabilities: `wasi.config`'s keys
//! (read as `envFrom`'s are) and its key-value buckets.
//!
//! ConfigMap and Secret volumes are written afresh each time the container starts (the
//! kubelet also refreshes them while it runs; Skiff does not yet). A failure is what
//! Kubernetes calls `CreateContainerConfigError`, with its message.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use skiff_proto::model::configmap::ConfigMap;
use skiff_proto::model::container::{Container, EnvFromSource, EnvVar, KeySelector};
use skiff_proto::model::pod::Pod;
use skiff_proto::model::secret::Secret;
use skiff_proto::model::volume::{KeyToPath, Volume};
use skiff_proto::{Kind, Object};

use super::Shared;
use crate::oci::Credentials;
use crate::runtime::{Grants, KeyValueAccess, Mount};

/// The env, folders and argv a container starts with.
pub struct Given {
    pub env: Vec<(String, String)>,
    pub mounts: Vec<Mount>,
    /// `command` and `args` with `$(VAR)` references to the env expanded.
    pub command: Vec<String>,
    pub args: Vec<String>,
    /// A Wasm component's host capabilities (`wasi`).
    pub grants: Arc<Grants>,
}

/// ConfigMaps and Secrets read for one container start (each read once).
#[derive(Default)]
struct Sources {
    config_maps: HashMap<String, Option<ConfigMap>>,
    secrets: HashMap<String, Option<Secret>>,
}

/// A source's keys and their bytes.
type Data = BTreeMap<String, Vec<u8>>;

impl Sources {
    async fn config_map(
        &mut self,
        shared: &Shared,
        ns: &str,
        name: &str,
    ) -> Result<Option<Data>, String> {
        if !self.config_maps.contains_key(name) {
            let o = shared
                .api
                .get(Kind::ConfigMap, ns, name)
                .await
                .map_err(|e| e.to_string())?;
            let cm = match o {
                Some(Object::ConfigMap(cm)) => Some(cm),
                _ => None,
            };
            self.config_maps.insert(name.to_owned(), cm);
        }
        Ok(self.config_maps[name].as_ref().map(|cm| {
            let mut d: Data = cm
                .data
                .iter()
                .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
                .collect();
            d.extend(cm.binary_data.iter().map(|(k, v)| (k.clone(), v.0.clone())));
            d
        }))
    }

    async fn secret(
        &mut self,
        shared: &Shared,
        ns: &str,
        name: &str,
    ) -> Result<Option<Data>, String> {
        if !self.secrets.contains_key(name) {
            let o = shared
                .api
                .get(Kind::Secret, ns, name)
                .await
                .map_err(|e| e.to_string())?;
            let s = match o {
                Some(Object::Secret(s)) => Some(s),
                _ => None,
            };
            self.secrets.insert(name.to_owned(), s);
        }
        Ok(self.secrets[name].as_ref().map(|s| {
            let mut d: Data = s
                .data
                .iter()
                .map(|(k, v)| (k.clone(), v.0.clone()))
                .collect();
            // `stringData` wins over `data`, as the API server merges them.
            d.extend(
                s.string_data
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone().into_bytes())),
            );
            d
        }))
    }

    /// The source a key selector or ref names (`configmap` or `secret`).
    async fn data(
        &mut self,
        shared: &Shared,
        ns: &str,
        secret: bool,
        name: &str,
    ) -> Result<Option<Data>, String> {
        if secret {
            self.secret(shared, ns, name).await
        } else {
            self.config_map(shared, ns, name).await
        }
    }
}

fn what(secret: bool) -> &'static str {
    if secret { "secret" } else { "configmap" }
}

/// One `valueFrom` key: its value, `None` when optional and missing.
async fn key_value(
    shared: &Shared,
    src: &mut Sources,
    ns: &str,
    secret: bool,
    k: &KeySelector,
) -> Result<Option<String>, String> {
    let optional = k.optional.unwrap_or(false);
    let Some(data) = src.data(shared, ns, secret, &k.name).await? else {
        return if optional {
            Ok(None)
        } else {
            Err(format!("{} {:?} not found", what(secret), k.name))
        };
    };
    match data.get(&k.key) {
        Some(v) => String::from_utf8(v.clone()).map(Some).map_err(|_| {
            format!(
                "key {} in {} {ns}/{} is not UTF-8 text, so it cannot be an environment variable",
                k.key,
                what(secret),
                k.name
            )
        }),
        None if optional => Ok(None),
        None => Err(format!(
            "couldn't find key {} in {} {ns}/{}",
            k.key,
            what(secret),
            k.name
        )),
    }
}

/// A field of the pod, as `fieldRef.fieldPath` names it.
fn field(pod: &Pod, path: &str, pod_ip: Option<&str>, host_ip: &str) -> Result<String, String> {
    let m = &pod.metadata;
    let in_map = |map: &BTreeMap<String, String>, prefix: &str| {
        path.strip_prefix(prefix)
            .and_then(|r| r.strip_suffix("']"))
            .map(|k| map.get(k).cloned().unwrap_or_default())
    };
    if let Some(v) = in_map(&m.labels, "metadata.labels['") {
        return Ok(v);
    }
    if let Some(v) = in_map(&m.annotations, "metadata.annotations['") {
        return Ok(v);
    }
    Ok(match path {
        "metadata.name" => m.name.clone(),
        "metadata.namespace" => m.namespace.clone(),
        "metadata.uid" => m.uid.clone().unwrap_or_default(),
        "spec.nodeName" => pod.spec.node_name.clone().unwrap_or_default(),
        "spec.serviceAccountName" => pod.spec.service_account_name.clone().unwrap_or_default(),
        "status.podIP" => pod_ip.unwrap_or_default().to_owned(),
        "status.hostIP" => host_ip.to_owned(),
        other => {
            return Err(format!(
                "fieldRef {other:?} is not a field Skiff gives: metadata.name, metadata.namespace, metadata.uid, metadata.labels['KEY'], metadata.annotations['KEY'], spec.nodeName, spec.serviceAccountName, status.podIP, status.hostIP"
            ));
        }
    })
}

/// `$(VAR)` replaced by the value of a variable defined before it; `$$(` stays `$(`;
/// an unknown reference stays as written, as Kubernetes does.
fn expand(text: &str, defined: &[(String, String)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(escaped) = after.strip_prefix("$(") {
            out.push_str("$(");
            rest = escaped;
        } else if let Some((name, tail)) = after.strip_prefix('(').and_then(|r| r.split_once(')')) {
            match defined.iter().rev().find(|(k, _)| k == name) {
                Some((_, v)) => out.push_str(v),
                None => {
                    out.push_str("$(");
                    out.push_str(name);
                    out.push(')');
                }
            }
            rest = tail;
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

fn set(env: &mut Vec<(String, String)>, name: &str, value: String) {
    match env.iter_mut().find(|(k, _)| k == name) {
        Some(slot) => slot.1 = value,
        None => env.push((name.to_owned(), value)),
    }
}

/// Every key of the ConfigMaps and Secrets `sources` name, later ones winning, each with
/// its source's prefix (values that are not UTF-8 are left out).
async fn whole(
    shared: &Shared,
    src: &mut Sources,
    ns: &str,
    sources: &[EnvFromSource],
) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for from in sources {
        let (secret, r) = match (&from.config_map_ref, &from.secret_ref) {
            (Some(r), _) => (false, r),
            (None, Some(r)) => (true, r),
            (None, None) => continue,
        };
        match src.data(shared, ns, secret, &r.name).await? {
            Some(data) => {
                let prefix = from.prefix.as_deref().unwrap_or_default();
                for (k, v) in data {
                    if let Ok(v) = String::from_utf8(v) {
                        set(&mut out, &format!("{prefix}{k}"), v);
                    }
                }
            }
            None if r.optional.unwrap_or(false) => {}
            None => return Err(format!("{} {:?} not found", what(secret), r.name)),
        }
    }
    Ok(out)
}

/// The container's environment: `envFrom` first, then `env` (which wins).
async fn env(
    shared: &Shared,
    src: &mut Sources,
    pod: &Pod,
    c: &Container,
    pod_ip: Option<&str>,
    host_ip: &str,
) -> Result<Vec<(String, String)>, String> {
    let mut out = whole(shared, src, &pod.metadata.namespace, &c.env_from).await?;
    for e in &c.env {
        if let Some(v) = one(shared, src, pod, e, pod_ip, host_ip).await? {
            let v = expand(&v, &out);
            set(&mut out, &e.name, v);
        }
    }
    Ok(out)
}

async fn one(
    shared: &Shared,
    src: &mut Sources,
    pod: &Pod,
    e: &EnvVar,
    pod_ip: Option<&str>,
    host_ip: &str,
) -> Result<Option<String>, String> {
    let ns = pod.metadata.namespace.as_str();
    let Some(from) = &e.value_from else {
        return Ok(Some(e.value.clone().unwrap_or_default()));
    };
    if let Some(k) = &from.config_map_key_ref {
        return key_value(shared, src, ns, false, k).await;
    }
    if let Some(k) = &from.secret_key_ref {
        return key_value(shared, src, ns, true, k).await;
    }
    if let Some(f) = &from.field_ref {
        return field(pod, &f.field_path, pod_ip, host_ip).map(Some);
    }
    Ok(None)
}

/// A relative path that stays inside its folder.
fn inside(path: &str) -> Result<&Path, String> {
    let p = Path::new(path);
    if path.is_empty() || !p.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(format!(
            "path {path:?} must be relative and must not contain '..'"
        ));
    }
    Ok(p)
}

/// Writes `data` (all keys, or the `items` chosen) as files in `dir`, replacing what was there.
fn project(dir: &Path, data: &Data, items: &[KeyToPath], mode: Option<i32>) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let io = |p: &Path, e: std::io::Error| format!("{}: {e}", p.display());
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| io(dir, e))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let chosen: Vec<(&str, &str, Option<i32>)> = if items.is_empty() {
        data.keys()
            .map(|k| (k.as_str(), k.as_str(), None))
            .collect()
    } else {
        items
            .iter()
            .map(|i| (i.key.as_str(), i.path.as_str(), i.mode))
            .collect()
    };
    for (key, path, item_mode) in chosen {
        let bytes = data
            .get(key)
            .ok_or_else(|| format!("couldn't find key {key}"))?;
        let file = dir.join(inside(path)?);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        std::fs::write(&file, bytes).map_err(|e| io(&file, e))?;
        let m = item_mode.or(mode).unwrap_or(0o644);
        let perms = std::fs::Permissions::from_mode(u32::try_from(m).unwrap_or(0o644) & 0o777);
        std::fs::set_permissions(&file, perms).map_err(|e| io(&file, e))?;
    }
    Ok(())
}

/// The host folder behind volume `v`, written first when it is a ConfigMap or Secret.
async fn volume(
    shared: &Shared,
    src: &mut Sources,
    pod: &Pod,
    v: &Volume,
    pod_dir: &Path,
) -> Result<(PathBuf, bool), String> {
    let ns = pod.metadata.namespace.as_str();
    let own = pod_dir.join("volumes").join(&v.name);
    if let Some(h) = &v.host_path {
        return Ok((PathBuf::from(&h.path), false));
    }
    if v.empty_dir.is_some() {
        std::fs::create_dir_all(&own).map_err(|e| format!("{}: {e}", own.display()))?;
        return Ok((own, false));
    }
    let (secret, name, items, mode, optional) = match (&v.config_map, &v.secret) {
        (Some(c), _) => (false, &c.name, &c.items, c.default_mode, c.optional),
        (None, Some(s)) => (true, &s.secret_name, &s.items, s.default_mode, s.optional),
        (None, None) => {
            return Err(format!(
                "volume {:?} has no source Skiff knows (emptyDir, hostPath, configMap, secret)",
                v.name
            ));
        }
    };
    let data = match src.data(shared, ns, secret, name).await? {
        Some(d) => d,
        None if optional.unwrap_or(false) => Data::new(),
        None => return Err(format!("{} {name:?} not found", what(secret))),
    };
    project(&own, &data, items, mode)
        .map_err(|e| format!("volume {:?} from {} {name:?}: {e}", v.name, what(secret)))?;
    Ok((own, true))
}

/// Everything container `c` of `pod` is given, or why it cannot start.
pub async fn resolve(
    shared: &Shared,
    pod: &Pod,
    c: &Container,
    pod_dir: &Path,
    pod_ip: Option<&str>,
) -> Result<Given, String> {
    let mut src = Sources::default();
    let env = env(shared, &mut src, pod, c, pod_ip, &shared.host_ip).await?;
    let mut mounts = Vec::new();
    for m in &c.volume_mounts {
        let v = pod
            .spec
            .volumes
            .iter()
            .find(|v| v.name == m.name)
            .ok_or_else(|| format!("volume {:?} is not in the pod's volumes", m.name))?;
        let (mut host, read_only) = volume(shared, &mut src, pod, v, pod_dir).await?;
        if let Some(sub) = m.sub_path.as_deref().filter(|s| !s.is_empty()) {
            host = host.join(inside(sub).map_err(|e| format!("subPath: {e}"))?);
        }
        mounts.push(Mount {
            host,
            path: m.mount_path.clone(),
            read_only: read_only || m.read_only.unwrap_or(false),
        });
    }
    let command = c.command.iter().map(|a| expand(a, &env)).collect();
    let args = c.args.iter().map(|a| expand(a, &env)).collect();
    let ns = pod.metadata.namespace.as_str();
    let grants = match &c.wasi {
        None => Grants::default(),
        Some(w) => Grants {
            config: match w.config.is_empty() {
                true => None,
                false => Some(Arc::new(whole(shared, &mut src, ns, &w.config).await?)),
            },
            keyvalue: w.keyvalue.as_ref().map(|grant| KeyValueAccess {
                store: shared.api.clone().key_values(ns),
                grant: grant.clone(),
            }),
        },
    };
    Ok(Given {
        env,
        mounts,
        command,
        args,
        grants: Arc::new(grants),
    })
}

/// The registry credentials of the pod's `imagePullSecrets`. A Secret that is missing or
/// not a `.dockerconfigjson` is skipped with a warning, and the pull goes on without it,
/// as the kubelet does.
pub async fn pull_credentials(shared: &Shared, pod: &Pod) -> Credentials {
    let mut creds = Credentials::default();
    let mut src = Sources::default();
    for r in &pod.spec.image_pull_secrets {
        let ns = &pod.metadata.namespace;
        let found = src.secret(shared, ns, &r.name).await;
        let json = match &found {
            Ok(Some(d)) => d.get(".dockerconfigjson").or_else(|| d.get(".dockercfg")),
            _ => None,
        };
        let Some(json) = json else {
            tracing::warn!(pod = %pod.metadata.name, secret = %r.name, "an image pull secret is missing or has no .dockerconfigjson; pulling without it");
            continue;
        };
        if let Err(e) = creds.add_docker_config(json) {
            tracing::warn!(pod = %pod.metadata.name, secret = %r.name, error = %e, "an image pull secret is not a docker config; pulling without it");
        }
    }
    creds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_expand_as_kubernetes_expands_them() {
        let defined = vec![
            ("A".to_owned(), "x".to_owned()),
            ("B".to_owned(), "y".to_owned()),
        ];
        assert_eq!(expand("$(A)-$(B)", &defined), "x-y");
        assert_eq!(expand("$(MISSING)", &defined), "$(MISSING)");
        assert_eq!(expand("$$(A) costs $5", &defined), "$(A) costs $5");
        assert_eq!(expand("$(A", &defined), "$(A");
    }

    #[test]
    fn projected_files_stay_inside_their_folder() {
        let dir = tempfile::tempdir().unwrap();
        let data: Data = [
            ("a".to_owned(), b"1".to_vec()),
            ("b".to_owned(), b"2".to_vec()),
        ]
        .into_iter()
        .collect();
        let out = dir.path().join("v");
        project(&out, &data, &[], None).unwrap();
        assert_eq!(std::fs::read(out.join("a")).unwrap(), b"1");
        let items = [KeyToPath {
            key: "b".into(),
            path: "sub/b.txt".into(),
            mode: Some(0o600),
        }];
        project(&out, &data, &items, None).unwrap();
        assert!(!out.join("a").exists(), "replaced, not merged");
        assert_eq!(std::fs::read(out.join("sub/b.txt")).unwrap(), b"2");
        let bad = [KeyToPath {
            key: "a".into(),
            path: "../escape".into(),
            mode: None,
        }];
        let e = project(&out, &data, &bad, None).unwrap_err();
        assert!(e.contains("must not contain '..'"), "{e}");
        assert!(!dir.path().join("escape").exists());
    }
}
