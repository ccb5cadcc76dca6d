//! Wasm OCI artifacts from registries: a manifest whose layer is a component or module
//! (`application/wasm`, as the CNCF Wasm OCI artifact layout and wkg push them), pulled
//! with `oci-client` and verified against the layer's digest.
//!
//! Registries on a loopback address are spoken to over plain HTTP, as Docker treats
//! `127.0.0.0/8` as insecure by default; every other registry over HTTPS. Pulls are
//! anonymous for now (no image pull secrets yet).

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use skiff_proto::artifact::OciReference;

use crate::runtime::NotStarted;
use crate::wasm::sha256_hex;

/// Layer media types that hold a Wasm binary.
pub const WASM_LAYER_TYPES: [&str; 3] = [
    "application/wasm",
    "application/vnd.wasm.content.layer.v1+wasm",
    "application/vnd.bytecodealliance.wasm.component.layer.v0+wasm",
];

/// Whether `registry` (`host[:port]`) is on this machine.
fn local(registry: &str) -> bool {
    let host = registry.rsplit_once(':').map_or(registry, |(h, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            registry
        }
    });
    host == "localhost" || host.starts_with("127.") || host == "[::1]"
}

/// Pulls `r` and returns its Wasm layer: (sha256 hex of the bytes, the bytes).
pub async fn pull(r: &OciReference) -> Result<(String, Vec<u8>), NotStarted> {
    let text = r.to_string();
    let reference: Reference = text
        .parse()
        .map_err(|e| NotStarted::new("InvalidImageName", format!("{text}: {e}")))?;
    // TLS uses rustls with the ring provider, installed once per process (a later call
    // finds it there; the HTTP client would panic without one).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let registry = reference.resolve_registry().to_owned();
    let protocol = if local(&registry) {
        ClientProtocol::HttpsExcept(vec![registry.clone()])
    } else {
        ClientProtocol::Https
    };
    let client = Client::new(ClientConfig {
        protocol,
        ..ClientConfig::default()
    });
    let image = client
        .pull(&reference, &RegistryAuth::Anonymous, WASM_LAYER_TYPES.to_vec())
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
}
