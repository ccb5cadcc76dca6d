//! Syntax of names, label keys and values, as Kubernetes defines them, so objects move
//! between Skiff and Kubernetes unchanged.

/// DNS-1123 label: at most 63 lowercase alphanumerics or `-`, starting and ending
/// alphanumeric. Namespaces, Services, container and port names.
pub fn dns_label(s: &str) -> Result<(), String> {
    dns_name(s, 63, false)
}

/// DNS-1035 label: a DNS-1123 label that starts with a letter. Names Kubernetes turns
/// into DNS names of Services, such as an Ingress backend's.
pub fn dns_1035_label(s: &str) -> Result<(), String> {
    dns_label(s)?;
    if !s.bytes().next().is_some_and(|b| b.is_ascii_lowercase()) {
        return Err("it must start with a letter".into());
    }
    Ok(())
}

/// DNS-1123 subdomain: at most 253 characters, dot-separated labels. Most object names.
pub fn dns_subdomain(s: &str) -> Result<(), String> {
    dns_name(s, 253, true)
}

fn dns_name(s: &str, max: usize, dots: bool) -> Result<(), String> {
    if s.is_empty() {
        return Err("it is empty".into());
    }
    if s.len() > max {
        return Err(format!(
            "it is {} characters long; the limit is {max}",
            s.len()
        ));
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || (dots && b == b'.'))
    {
        return Err(if dots {
            "it may contain only lowercase letters, digits, '-' and '.'".into()
        } else {
            "it may contain only lowercase letters, digits and '-'".into()
        });
    }
    let edge_ok = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !edge_ok(s.bytes().next()) || !edge_ok(s.bytes().last()) {
        return Err("it must start and end with a letter or digit".into());
    }
    Ok(())
}

/// A label value (or the name part of a label key): at most 63 alphanumerics, `-`, `_`,
/// `.`, starting and ending alphanumeric; values may also be empty.
fn qualified_part(s: &str) -> Result<(), String> {
    if s.len() > 63 {
        return Err(format!(
            "it is {} characters long; the limit is 63",
            s.len()
        ));
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err("it may contain only letters, digits, '-', '_' and '.'".into());
    }
    let edge_ok = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_alphanumeric());
    if !s.is_empty() && (!edge_ok(s.bytes().next()) || !edge_ok(s.bytes().last())) {
        return Err("it must start and end with a letter or digit".into());
    }
    Ok(())
}

/// A label or annotation key: `[prefix/]name`, prefix a DNS subdomain.
/// An RBAC object's name, as Kubernetes allows (`system:node`): one path segment.
pub fn path_segment(s: &str) -> Result<(), String> {
    if s == "." || s == ".." {
        return Err("must not be `.` or `..`".into());
    }
    if let Some(c) = s.chars().find(|c| matches!(c, '/' | '%')) {
        return Err(format!("must not contain `{c}`"));
    }
    if s.len() > 253 {
        return Err("must be no more than 253 characters".into());
    }
    Ok(())
}

pub fn label_key(s: &str) -> Result<(), String> {
    let (prefix, name) = match s.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    if let Some(p) = prefix {
        dns_subdomain(p).map_err(|e| format!("its prefix {p:?} is not a DNS subdomain: {e}"))?;
    }
    if name.is_empty() {
        return Err("its name part is empty".into());
    }
    qualified_part(name)
}

pub fn label_value(s: &str) -> Result<(), String> {
    qualified_part(s)
}

/// An IANA service name, used for port names: at most 15 characters, lowercase
/// alphanumerics and `-`, at least one letter, no `--`.
pub fn port_name(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 15 {
        return Err("it must be 1 to 15 characters long".into());
    }
    dns_label(s)?;
    if !s.bytes().any(|b| b.is_ascii_lowercase()) || s.contains("--") {
        return Err("it must contain a letter and no '--'".into());
    }
    Ok(())
}

/// A ConfigMap or Secret key: alphanumerics, `-`, `_`, `.`; becomes a file name.
pub fn config_key(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 253 {
        return Err("it must be 1 to 253 characters long".into());
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err("it may contain only letters, digits, '-', '_' and '.'".into());
    }
    if s == "." || s == ".." {
        return Err("it may not be '.' or '..'".into());
    }
    Ok(())
}

/// An environment variable name: printable, no `=`.
pub fn env_name(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("it is empty".into());
    }
    if s.contains('=') || s.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("it may not contain '=', spaces or control characters".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_kubernetes() {
        assert!(dns_label("web-1").is_ok());
        assert!(dns_label("Web").is_err());
        assert!(dns_label("-web").is_err());
        assert!(dns_label(&"a".repeat(64)).is_err());
        assert!(dns_1035_label("web-1").is_ok());
        assert!(dns_1035_label("1web").is_err());
        assert!(dns_subdomain("web.example.com").is_ok());
        assert!(dns_subdomain("web_1").is_err());
        assert!(label_key("app.kubernetes.io/name").is_ok());
        assert!(label_key("release stage").is_err());
        assert!(label_key("Bad_Prefix/x").is_err());
        assert!(label_value("").is_ok());
        assert!(label_value("my web app").is_err());
        assert!(port_name("http").is_ok());
        assert!(port_name("8080").is_err());
        assert!(config_key("game.properties").is_ok());
        assert!(config_key("a/b").is_err());
    }
}
