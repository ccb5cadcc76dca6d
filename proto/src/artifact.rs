//! What a container's `image` names: an OCI reference (`registry/repo:tag@sha256:...`), a
//! content digest in Skiff's artifact store (`sha256:<64 hex>`), or, for Wasm pods in
//! development, a local component file (absolute, or relative to the manifest's folder).

use std::fmt;

/// A parsed `image`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArtifactRef {
    /// An artifact in the control plane's content-addressed store, by its sha256 (hex).
    Digest(String),
    /// A component file on the client's machine, uploaded by `skiff apply`.
    Path(String),
    Oci(OciReference),
}

/// `[registry/]repository[:tag][@digest]`, as the OCI distribution spec names images.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciReference {
    /// Host (and port) of the registry; `None` means the default registry.
    pub registry: Option<String>,
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:<hex>`.
    pub digest: Option<String>,
}

impl fmt::Display for OciReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(r) = &self.registry {
            write!(f, "{r}/")?;
        }
        f.write_str(&self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Checks `sha256:<64 lowercase hex>` and returns the hex.
pub fn parse_digest(s: &str) -> Result<&str, String> {
    let hex = s
        .strip_prefix("sha256:")
        .ok_or_else(|| format!("digest {s:?} must start with `sha256:`"))?;
    if hex.len() != 64
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(format!(
            "digest {s:?} must be `sha256:` followed by 64 lowercase hex digits (it has {} characters after the colon)",
            hex.len()
        ));
    }
    Ok(hex)
}

/// Whether `image` is written as a file path rather than a reference.
pub fn looks_like_path(image: &str) -> bool {
    image.starts_with('/')
        || image.starts_with("./")
        || image.starts_with("../")
        || image.ends_with(".wasm")
}

/// Parses the `image` of a Wasm pod's container.
pub fn parse_wasm_image(image: &str) -> Result<ArtifactRef, String> {
    if image.starts_with("sha256:") {
        return parse_digest(image).map(|h| ArtifactRef::Digest(h.to_owned()));
    }
    if looks_like_path(image) {
        return Ok(ArtifactRef::Path(image.to_owned()));
    }
    parse_oci_reference(image).map(ArtifactRef::Oci)
}

/// Parses an OCI image reference, following the distribution spec's grammar.
pub fn parse_oci_reference(image: &str) -> Result<OciReference, String> {
    if image.is_empty() {
        return Err("the image is empty".into());
    }
    if image.len() > 255 + 128 + 72 {
        return Err("the image reference is too long".into());
    }
    let (rest, digest) = match image.split_once('@') {
        Some((r, d)) => {
            parse_digest(d)?;
            (r, Some(d.to_owned()))
        }
        None => (image, None),
    };
    // A tag is after the last ':' that comes after the last '/' (a ':' before it is a port).
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (
            &rest[..last_slash + i],
            Some(rest[last_slash + i + 1..].to_owned()),
        ),
        None => (rest, None),
    };
    if let Some(t) = &tag {
        let ok = !t.is_empty()
            && t.len() <= 128
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
            && !t.starts_with(['.', '-']);
        if !ok {
            return Err(format!(
                "tag {t:?} may hold only letters, digits, '_', '.', '-' (up to 128)"
            ));
        }
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    let registry = match parts.first() {
        Some(first) if parts.len() > 1 && (first.contains(['.', ':']) || *first == "localhost") => {
            let r = parts.remove(0);
            if r.is_empty()
                || !r
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'))
            {
                return Err(format!("registry {r:?} is not a host[:port]"));
            }
            Some(r.to_owned())
        }
        _ => None,
    };
    for p in &parts {
        let ok = !p.is_empty()
            && p.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
            })
            && p.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && p.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric());
        if !ok {
            return Err(format!(
                "repository part {p:?} must be lowercase letters and digits, separated by '.', '_' or '-'"
            ));
        }
    }
    Ok(OciReference {
        registry,
        repository: parts.join("/"),
        tag,
        digest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oci_references() {
        let r = parse_oci_reference("nginx:1.14.2").unwrap();
        assert_eq!(
            (r.registry, r.repository.as_str(), r.tag.as_deref()),
            (None, "nginx", Some("1.14.2"))
        );
        let r = parse_oci_reference("localhost:5000/team/app:v2").unwrap();
        assert_eq!(r.registry.as_deref(), Some("localhost:5000"));
        assert_eq!(r.repository, "team/app");
        let d = format!("sha256:{}", "a".repeat(64));
        let r = parse_oci_reference(&format!("quay.io/x/y@{d}")).unwrap();
        assert_eq!(r.digest, Some(d));
        assert!(parse_oci_reference("Nginx").is_err());
        assert!(parse_oci_reference("nginx:").is_err());
        assert!(parse_oci_reference("a//b").is_err());
    }

    #[test]
    fn wasm_images() {
        let d = format!("sha256:{}", "0f".repeat(32));
        assert!(matches!(parse_wasm_image(&d), Ok(ArtifactRef::Digest(_))));
        assert!(
            parse_wasm_image("sha256:xyz")
                .unwrap_err()
                .contains("64 lowercase hex")
        );
        assert!(matches!(
            parse_wasm_image("./app.wasm"),
            Ok(ArtifactRef::Path(_))
        ));
        assert!(matches!(
            parse_wasm_image("ghcr.io/acme/fn:1"),
            Ok(ArtifactRef::Oci(_))
        ));
    }
}
