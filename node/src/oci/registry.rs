//! Talking to OCI registries (the distribution protocol through `oci-client`): a reference
//! resolved to the image manifest for this node's platform (through an index or a Docker
//! manifest list when there is one), its config, and blobs streamed to files and verified
//! by digest. Registries on a loopback address are spoken to over plain HTTP, as Docker
//! treats `127.0.0.0/8` as insecure by default; every other registry over HTTPS.
//! Credentials come from `imagePullSecrets` (`kubernetes.io/dockerconfigjson` Secrets).

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::manifest::{OciDescriptor, OciImageManifest, OciManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use tokio::io::AsyncWriteExt;

/// The platform this node runs, in the OCI's words (`GOOS`/`GOARCH`).
pub fn platform() -> (&'static str, &'static str) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    };
    ("linux", arch)
}

/// Whether `registry` (`host[:port]`) is on this machine.
pub fn local(registry: &str) -> bool {
    let host = registry.rsplit_once(':').map_or(registry, |(h, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            registry
        }
    });
    host == "localhost" || host.starts_with("127.") || host == "[::1]"
}

/// A client for `registry`: plain HTTP for a loopback registry, HTTPS for any other.
pub fn client(registry: &str) -> Client {
    // TLS uses rustls with the ring provider, installed once per process (a later call
    // finds it there; the HTTP client would panic without one).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let protocol = if local(registry) {
        ClientProtocol::HttpsExcept(vec![registry.to_owned()])
    } else {
        ClientProtocol::Https
    };
    Client::new(ClientConfig {
        protocol,
        ..ClientConfig::default()
    })
}

/// Registry credentials by registry host, from `.dockerconfigjson` documents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials(BTreeMap<String, (String, String)>);

impl Credentials {
    /// Adds the `auths` of a `.dockerconfigjson` document (`username` and `password`, or
    /// `auth` as base64 of `username:password`); `Err` says what is wrong with it.
    pub fn add_docker_config(&mut self, json: &[u8]) -> Result<(), String> {
        let doc: serde_json::Value =
            serde_json::from_slice(json).map_err(|e| format!("not JSON: {e}"))?;
        let auths = doc
            .get("auths")
            .and_then(|a| a.as_object())
            .ok_or("it has no `auths` object")?;
        for (server, entry) in auths {
            let text = |k: &str| entry.get(k).and_then(|v| v.as_str()).map(str::to_owned);
            let pair = match (text("username"), text("password"), text("auth")) {
                (Some(u), Some(p), _) => (u, p),
                (_, _, Some(auth)) => {
                    let raw = base64::engine::general_purpose::STANDARD
                        .decode(auth.trim())
                        .map_err(|e| format!("auths.{server}.auth is not base64: {e}"))?;
                    let raw = String::from_utf8(raw)
                        .map_err(|_| format!("auths.{server}.auth is not UTF-8"))?;
                    let (u, p) = raw
                        .split_once(':')
                        .ok_or_else(|| format!("auths.{server}.auth is not user:password"))?;
                    (u.to_owned(), p.to_owned())
                }
                _ => {
                    return Err(format!(
                        "auths.{server} has neither username/password nor auth"
                    ));
                }
            };
            self.0.insert(registry_host(server), pair);
        }
        Ok(())
    }

    /// What to present to `registry`.
    pub fn auth_for(&self, registry: &str) -> RegistryAuth {
        let host = registry_host(registry);
        let docker_hub = ["docker.io", "index.docker.io", "registry-1.docker.io"];
        let found = self.0.get(&host).or_else(|| {
            docker_hub
                .contains(&host.as_str())
                .then(|| docker_hub.iter().find_map(|h| self.0.get(*h)))
                .flatten()
        });
        match found {
            Some((u, p)) => RegistryAuth::Basic(u.clone(), p.clone()),
            None => RegistryAuth::Anonymous,
        }
    }

    /// Who `registry` sees: a digest of the credentials presented to it (`anonymous`
    /// without), so pulls under different credentials are told apart without keeping a
    /// password in the key.
    pub fn identity_for(&self, registry: &str) -> String {
        use sha2::{Digest, Sha256};
        match self.auth_for(registry) {
            RegistryAuth::Basic(user, password) => {
                let mut h = Sha256::new();
                h.update(user.as_bytes());
                h.update([0]);
                h.update(password.as_bytes());
                format!("{:x}", h.finalize())
            }
            _ => "anonymous".into(),
        }
    }
}

/// `https://index.docker.io/v1/` and `registry:5000/path` as the bare `host[:port]`.
fn registry_host(server: &str) -> String {
    let s = server
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    s.split('/').next().unwrap_or(s).to_ascii_lowercase()
}

/// The manifest of `r` for this node's platform, and its digest.
pub async fn manifest(
    client: &Client,
    r: &Reference,
    auth: &RegistryAuth,
) -> Result<(OciImageManifest, String), String> {
    let (m, digest) = client
        .pull_manifest(r, auth)
        .await
        .map_err(|e| format!("reading the manifest of {r}: {e}"))?;
    let index = match m {
        OciManifest::Image(m) => return Ok((m, digest)),
        OciManifest::ImageIndex(i) => i,
    };
    let (os, arch) = platform();
    let offered: Vec<String> = index
        .manifests
        .iter()
        .filter_map(|e| e.platform.as_ref())
        .map(|p| format!("{}/{}", p.os, p.architecture))
        .collect();
    let entry = index
        .manifests
        .iter()
        .find(|e| {
            e.platform
                .as_ref()
                .is_some_and(|p| p.os.to_string() == os && p.architecture.to_string() == arch)
        })
        .ok_or_else(|| {
            format!(
                "{r} has no image for {os}/{arch} (its index offers {}); build or push one for this node's platform",
                if offered.is_empty() {
                    "none".to_owned()
                } else {
                    offered.join(", ")
                }
            )
        })?;
    let by_digest = r.clone_with_digest(entry.digest.clone());
    match client
        .pull_manifest(&by_digest, auth)
        .await
        .map_err(|e| format!("reading the {os}/{arch} manifest of {r}: {e}"))?
    {
        (OciManifest::Image(m), digest) => Ok((m, digest)),
        (OciManifest::ImageIndex(_), _) => Err(format!(
            "{r}: the index entry for {os}/{arch} is another index; Skiff follows one level"
        )),
    }
}

/// A small blob (an image config) in memory, verified against its digest.
pub async fn small_blob(
    client: &Client,
    r: &Reference,
    d: &OciDescriptor,
    limit: i64,
) -> Result<Vec<u8>, String> {
    if d.size > limit {
        return Err(format!(
            "{r}: blob {} is {} bytes, more than the {limit} an image config may have",
            d.digest, d.size
        ));
    }
    let mut out = Vec::with_capacity(usize::try_from(d.size).unwrap_or(0));
    client
        .pull_blob(r, d, &mut out)
        .await
        .map_err(|e| format!("reading blob {} of {r}: {e}", d.digest))?;
    Ok(out)
}

/// Streams blob `d` of `r` to `path` (never whole in memory); `oci-client` checks the
/// bytes against the digest as they arrive, and the file is removed when they differ.
pub async fn blob_to_file(
    client: &Client,
    r: &Reference,
    d: &OciDescriptor,
    path: &Path,
) -> Result<(), String> {
    let file = tokio::fs::File::create(path)
        .await
        .map_err(|e| format!("creating {}: {e}", path.display()))?;
    let mut out = tokio::io::BufWriter::with_capacity(1 << 20, file);
    let pulled = client.pull_blob(r, d, &mut out).await;
    let flushed = out.flush().await;
    let done = match (pulled, flushed) {
        (Ok(()), Ok(())) => Ok(()),
        (Err(e), _) => Err(format!("layer {} of {r}: {e}", d.digest)),
        (_, Err(e)) => Err(format!("writing {}: {e}", path.display())),
    };
    if done.is_err() {
        let _ = tokio::fs::remove_file(path).await;
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries_are_local() {
        assert!(local("127.0.0.1:5000"));
        assert!(local("localhost:5000"));
        assert!(local("localhost"));
        assert!(!local("ghcr.io"));
        assert!(!local("registry.example.com:443"));
    }

    #[test]
    fn docker_config_credentials_in_both_forms() {
        let mut c = Credentials::default();
        let auth = base64::engine::general_purpose::STANDARD.encode("bob:s3cret");
        let doc = format!(
            r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{auth}"}},"127.0.0.1:5000":{{"username":"amy","password":"pw"}}}}}}"#
        );
        c.add_docker_config(doc.as_bytes()).unwrap();
        assert_eq!(
            c.auth_for("127.0.0.1:5000"),
            RegistryAuth::Basic("amy".into(), "pw".into())
        );
        assert_eq!(
            c.auth_for("docker.io"),
            RegistryAuth::Basic("bob".into(), "s3cret".into())
        );
        assert_eq!(c.auth_for("ghcr.io"), RegistryAuth::Anonymous);
        // Pulls are told apart by who they are made as, without the password in the key.
        assert_eq!(c.identity_for("ghcr.io"), "anonymous");
        let amy = c.identity_for("127.0.0.1:5000");
        assert_eq!(amy.len(), 64);
        assert!(!amy.contains("pw"));
        assert_ne!(amy, c.identity_for("docker.io"));
        let mut other = Credentials::default();
        other
            .add_docker_config(
                br#"{"auths":{"127.0.0.1:5000":{"username":"amy","password":"guess"}}}"#,
            )
            .unwrap();
        assert_ne!(amy, other.identity_for("127.0.0.1:5000"));
        for bad in [
            "[]",
            r#"{"auths":{"r":{}}}"#,
            r#"{"auths":{"r":{"auth":"!!"}}}"#,
        ] {
            assert!(
                Credentials::default()
                    .add_docker_config(bad.as_bytes())
                    .is_err(),
                "{bad}"
            );
        }
    }
}
