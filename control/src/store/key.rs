//! Store keys: `Kind/namespace/name` (namespace empty for cluster-scoped kinds), so one
//! kind, or one kind in one namespace, is a contiguous range.

use skiff_proto::{Kind, Object};

/// The key of an object.
pub fn of(obj: &Object) -> String {
    let m = obj.metadata();
    make(obj.kind(), &m.namespace, &m.name)
}

pub fn make(kind: Kind, namespace: &str, name: &str) -> String {
    format!("{}/{namespace}/{name}", kind.name())
}

/// The key range holding every object of `kind` (in `namespace`, if given):
/// `[start, end)`.
pub fn range(kind: Kind, namespace: Option<&str>) -> (String, String) {
    let start = match namespace {
        Some(ns) => format!("{}/{ns}/", kind.name()),
        None => format!("{}/", kind.name()),
    };
    // '/' + 1 == '0': the first string after every key with this prefix.
    let mut end = start.clone();
    end.pop();
    end.push('0');
    (start, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_hold_exactly_their_keys() {
        let (s, e) = range(Kind::Pod, Some("default"));
        let inside = make(Kind::Pod, "default", "web");
        let outside = make(Kind::Pod, "default-2", "web");
        assert!(s <= inside && inside < e);
        assert!(!(s <= outside && outside < e));
        let (s, e) = range(Kind::Pod, None);
        assert!(s <= outside && outside < e);
    }
}
