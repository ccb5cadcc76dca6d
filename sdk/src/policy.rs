//! Admission policies: a component the API server runs on each write a
//! `WasmAdmissionPolicy` matches (by kind, namespace, labels and operation), before the
//! write is stored. It allows the write, denies it with a message the writer sees, or
//! changes the object with a JSON merge patch. It gets a fresh instance per write under
//! the policy's deadline and memory limit (100 ms and 32 MiB unless it says otherwise);
//! one that fails refuses the write (`failurePolicy: Fail`, the default) or lets it
//! through (`Ignore`).
//!
//! ```ignore
//! use skiff_sdk::policy::{Request, Verdict};
//!
//! #[skiff_sdk::policy]
//! fn require_team(req: &Request) -> Verdict {
//!     match req.label("team") {
//!         Some(_) => Verdict::Allow,
//!         None => Verdict::Deny(format!("{} {} has no `team` label", req.kind, req.name)),
//!     }
//! }
//! ```

#[doc(hidden)]
pub mod __bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "skiff:admission/admission-policy",
        pub_export_macro: true,
        export_macro_name: "export_policy",
        default_bindings_module: "skiff_sdk::policy::__bindings",
        with: {
            "wasi:logging/logging@0.1.0-draft": crate::bindings::wasi::logging::logging,
            "wasi:config/store@0.2.0-rc.1": crate::bindings::wasi::config::store,
        },
    });
}

pub use __bindings::exports::skiff::admission::policy::{Guest, Request, Verdict};

impl Request {
    /// The value of label `key` of the object written.
    pub fn label(&self, key: &str) -> Option<String> {
        json_field(&self.object, &["metadata", "labels", key])
    }
}

/// The string at `path` of the JSON object `json`, found without a JSON parser (which
/// would double a policy's size): enough for the common fields; a policy that needs more
/// may parse `object` itself.
fn json_field(json: &str, path: &[&str]) -> Option<String> {
    let mut rest = json;
    for (depth, key) in path.iter().enumerate() {
        let quoted = format!("\"{key}\"");
        let at = find_key(rest, &quoted)?;
        rest = rest[at + quoted.len()..]
            .trim_start()
            .strip_prefix(':')?
            .trim_start();
        if depth + 1 == path.len() {
            let s = rest.strip_prefix('"')?;
            let end = s.find('"')?;
            return Some(s[..end].to_owned());
        }
        if !rest.starts_with('{') {
            return None;
        }
        rest = object_body(rest)?;
    }
    None
}

/// Where `quoted` appears as a key at the top level of the object body `s`.
fn find_key(s: &str, quoted: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let (mut depth, mut in_str, mut i) = (0i32, false, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if in_str => i += 1,
            b'"' if !in_str && depth <= 1 && s[i..].starts_with(quoted) => {
                let after = s[i + quoted.len()..].trim_start();
                if after.starts_with(':') {
                    return Some(i);
                }
                in_str = true;
            }
            b'"' => in_str = !in_str,
            b'{' | b'[' if !in_str => depth += 1,
            b'}' | b']' if !in_str => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

/// The object starting at `s` (which begins with `{`), braces included.
fn object_body(s: &str) -> Option<&str> {
    let bytes = s.as_bytes();
    let (mut depth, mut in_str, mut i) = (0i32, false, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if in_str => i += 1,
            b'"' => in_str = !in_str,
            b'{' if !in_str => depth += 1,
            b'}' if !in_str => {
                depth -= 1;
                if depth == 0 {
                    return Some(&s[..=i]);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::json_field;

    #[test]
    fn labels_are_found_at_their_depth_only() {
        let o = r#"{"kind":"Deployment","metadata":{"name":"web","labels":{"team":"blue","app":"x"}},"spec":{"template":{"metadata":{"labels":{"team":"red"}}}}}"#;
        assert_eq!(
            json_field(o, &["metadata", "labels", "team"]).as_deref(),
            Some("blue")
        );
        assert_eq!(json_field(o, &["metadata", "labels", "owner"]), None);
        assert_eq!(json_field(o, &["metadata", "name"]).as_deref(), Some("web"));
        let unlabelled = r#"{"metadata":{"name":"web"},"spec":{"template":{"metadata":{"labels":{"team":"red"}}}}}"#;
        assert_eq!(
            json_field(unlabelled, &["metadata", "labels", "team"]),
            None
        );
    }
}
