//! Wasm OCI artifacts from registries: a manifest whose layer is a component or module
//! (`application/wasm`, as the CNCF Wasm OCI artifact layout and wkg push them), pulled
//! with `oci-client` and verified against the layer's digest.
//!
//! Registries on a loopback address are spoken to over plain HTTP, as Docker treats
//! `127.0.0.0/8` as insecure by default; every other registry over HTTPS. The pod's
//! `imagePullSecrets` are presented as for container images.

use oci_client::Reference;
use skiff_proto::artifact::OciReference;

use crate::runtime::NotStarted;
use crate::wasm::sha256_hex;

/// Layer media types that hold a Wasm binary.
pub const WASM_LAYER_TYPES: [&str; 3] = [
    "application/wasm",
    "application/vnd.wasm.content.layer.v1+wasm",
    "application/vnd.bytecodealliance.wasm.component.layer.v0+wasm",
];

/// Pulls `r` and returns its Wasm layer: (sha256 hex of the bytes, the bytes).
pub async fn pull(
    r: &OciReference,
    credentials: &crate::oci::Credentials,
) -> Result<(String, Vec<u8>), NotStarted> {
    let text = r.to_string();
    let reference: Reference = text
        .parse()
        .map_err(|e| NotStarted::new("InvalidImageName", format!("{text}: {e}")))?;
    let registry = reference.resolve_registry().to_owned();
    let client = crate::oci::client(&registry);
    let image = client
        .pull(
            &reference,
            &credentials.auth_for(&registry),
            WASM_LAYER_TYPES.to_vec(),
        )
        .await
        .map_err(|e| {
            NotStarted::new(
                "ErrImagePull",
                format!(
                    "pulling {text} from {registry}: {e}; a Wasm OCI artifact has one layer of media type application/wasm"
                ),
            )
        })?;
    let mut layers = image.layers.into_iter();
    let (Some(layer), None) = (layers.next(), layers.next()) else {
        return Err(NotStarted::new(
            "ErrImagePull",
            format!("{text}: a Wasm OCI artifact has exactly one layer"),
        ));
    };
    let bytes = layer.data.to_vec();
    Ok((sha256_hex(&bytes), bytes))
}
