//! Local Wasm components in manifests: a Wasm pod (or an HttpFilter or a
//! WasmAdmissionPolicy) whose `image` is a file path has that
//! file uploaded to the control plane's artifact store, and the object sent with the
//! file's digest (`sha256:<hex>`) instead, so every node can fetch it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::client::Conn;
use skiff_control::store::blobs::{CHUNK_BYTES, sha256_hex};
use skiff_proto::Object;
use skiff_proto::artifact::{ArtifactRef, parse_wasm_image};
use skiff_proto::grpc::api::artifact_service_client::ArtifactServiceClient;
use skiff_proto::grpc::api::{StatArtifactRequest, UploadArtifactRequest};
use tonic::Code;

use super::client::{Failure, refused};

/// Every image of `o` that is a Wasm component's file path: its Wasm pod spec's
/// containers', or a plugin's.
fn local_images(o: &mut Object) -> Vec<&mut String> {
    let images: Vec<&mut String> = match o {
        Object::HttpFilter(f) => vec![&mut f.spec.image],
        Object::WasmAdmissionPolicy(p) => vec![&mut p.spec.image],
        o => match o.pod_spec_mut().filter(|s| s.is_wasm()) {
            Some(spec) => spec
                .init_containers
                .iter_mut()
                .chain(spec.containers.iter_mut())
                .map(|c| &mut c.image)
                .collect(),
            None => Vec::new(),
        },
    };
    images
        .into_iter()
        .filter(|i| matches!(parse_wasm_image(i), Ok(ArtifactRef::Path(_))))
        .collect()
}

/// Makes relative component paths absolute, from the folder of the manifest they are in
/// (the current folder for stdin).
pub fn resolve_paths(o: &mut Object, base: Option<&Path>) {
    for image in local_images(o) {
        let p = Path::new(image.as_str());
        if p.is_relative()
            && let Some(full) = base.map(|b| b.join(p)).and_then(|f| f.canonicalize().ok())
        {
            *image = full.to_string_lossy().into_owned();
        }
    }
}

/// Replaces each local component path by its digest; with `upload`, first stores the file
/// in the artifact store (unless it is there already), printing what was uploaded.
pub async fn upload_local(
    objects: &mut [Object],
    channel: &Conn,
    upload: bool,
) -> Result<(), Failure> {
    // Path → digest: a file several objects name is read and sent once.
    let mut digests: BTreeMap<String, String> = BTreeMap::new();
    for o in objects.iter_mut() {
        let name = o.display_name();
        for image in local_images(o) {
            if !digests.contains_key(image.as_str()) {
                let bytes = std::fs::read(image.as_str()).map_err(|e| {
                    Failure::User(format!(
                        "{name}: reading the component {image}: {e}; build it first, or fix the path (relative paths are read from the manifest's folder)"
                    ))
                })?;
                let digest = format!("sha256:{}", sha256_hex(&bytes));
                if upload {
                    send(channel, &PathBuf::from(image.as_str()), &bytes, &digest).await?;
                }
                digests.insert(image.clone(), digest);
            }
            if let Some(d) = digests.get(image.as_str()) {
                *image = d.clone();
            }
        }
    }
    Ok(())
}

/// Uploads a component held in memory (named `name` in what is printed) unless the
/// store has it; its digest (`sha256:<hex>`).
pub async fn upload_bytes(channel: &Conn, name: &str, bytes: &[u8]) -> Result<String, Failure> {
    let digest = format!("sha256:{}", sha256_hex(bytes));
    send(channel, Path::new(name), bytes, &digest).await?;
    Ok(digest)
}

/// Points every Wasm container image of `o` that is `path` at `digest` instead.
pub fn replace_image(o: &mut Object, path: &str, digest: &str) {
    for image in local_images(o) {
        if image == path {
            *image = digest.to_owned();
        }
    }
}

/// Uploads `bytes` as `digest` unless the store has it.
async fn send(channel: &Conn, path: &Path, bytes: &[u8], digest: &str) -> Result<(), Failure> {
    let what = format!("artifact {digest} ({})", path.display());
    let mut api = ArtifactServiceClient::new(channel.clone());
    let stat = api
        .stat(StatArtifactRequest {
            digest: digest.to_owned(),
        })
        .await;
    match stat {
        Ok(_) => return Ok(()),
        Err(s) if s.code() == Code::NotFound => {}
        Err(s) => return Err(refused(&what, &s)),
    }
    let size = bytes.len() as u64;
    let messages: Vec<UploadArtifactRequest> = bytes
        .chunks(CHUNK_BYTES)
        .enumerate()
        .map(|(i, data)| UploadArtifactRequest {
            digest: if i == 0 {
                digest.to_owned()
            } else {
                String::new()
            },
            size: if i == 0 { size } else { 0 },
            data: data.to_vec(),
        })
        .collect();
    let messages = if messages.is_empty() {
        vec![UploadArtifactRequest {
            digest: digest.to_owned(),
            size: 0,
            data: Vec::new(),
        }]
    } else {
        messages
    };
    let r = api
        .upload(tokio_stream::iter(messages))
        .await
        .map_err(|s| refused(&what, &s))?
        .into_inner();
    if r.created {
        println!(
            "artifact {digest} uploaded ({size} bytes from {})",
            path.display()
        );
    }
    Ok(())
}
