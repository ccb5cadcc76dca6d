//! `limit` and `continue`: a list in pages, as client libraries and `kubectl get` (500 at
//! a time) ask for it. Items come in key order (namespace, then name); a page ends with a
//! `continue` token naming the last key sent and the revision of the first page, which
//! every later page reports too, so a watch started from it misses nothing.
//!
//! Unlike Kubernetes (which reads every page from one etcd snapshot), later pages read
//! the current objects after the last key: an object changed between pages is seen as it
//! is now, and the watch from the first page's revision replays that change.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as TOKEN;
use serde_json::json;
use skiff_proto::grpc::api::ObjectEnvelope;
use tonic::Status;

use super::Call;

/// One page of a list.
pub struct Page {
    pub items: Vec<ObjectEnvelope>,
    /// The revision the page reports (the first page's, for later pages).
    pub revision: u64,
    /// Set when more items remain.
    pub next: Option<String>,
    pub remaining: usize,
}

fn key(e: &ObjectEnvelope) -> String {
    let k = e.key.clone().unwrap_or_default();
    format!("{}/{}", k.namespace, k.name)
}

/// The page of `items` (the whole list, read at `revision`) that `call` asks for.
pub fn page(items: Vec<ObjectEnvelope>, revision: u64, call: &Call) -> Result<Page, Status> {
    let limit = match call.query_str("limit") {
        None | Some("") => 0,
        Some(l) => l
            .parse::<usize>()
            .map_err(|_| Status::invalid_argument(format!("limit {l:?} is not a number")))?,
    };
    let (after, revision) = match call.query_str("continue") {
        None | Some("") => (None, revision),
        Some(token) => {
            let (after, first) = read_token(token)?;
            (Some(after), first)
        }
    };
    let mut items: Vec<ObjectEnvelope> = match &after {
        Some(after) => items.into_iter().filter(|e| key(e) > *after).collect(),
        None => items,
    };
    if limit == 0 || items.len() <= limit {
        return Ok(Page {
            items,
            revision,
            next: None,
            remaining: 0,
        });
    }
    let remaining = items.len() - limit;
    items.truncate(limit);
    let last = items.last().map(key).unwrap_or_default();
    let token = TOKEN.encode(json!({"rv": revision, "after": last}).to_string());
    Ok(Page {
        items,
        revision,
        next: Some(token),
        remaining,
    })
}

fn read_token(token: &str) -> Result<(String, u64), Status> {
    let bad = || {
        Status::invalid_argument(format!(
            "continue {token:?} is not a token this server gave; list again without it"
        ))
    };
    let bytes = TOKEN.decode(token).map_err(|_| bad())?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let after = v["after"].as_str().ok_or_else(bad)?.to_owned();
    let rv = v["rv"].as_u64().ok_or_else(bad)?;
    Ok((after, rv))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use skiff_proto::grpc::api::ObjectKey;

    use super::*;

    fn items(n: usize) -> Vec<ObjectEnvelope> {
        (0..n)
            .map(|i| ObjectEnvelope {
                key: Some(ObjectKey {
                    kind: "ConfigMap".into(),
                    namespace: "default".into(),
                    name: format!("c{i:02}"),
                }),
                resource_version: i as u64,
                json: Vec::new(),
            })
            .collect()
    }

    fn call(q: &[(&str, &str)]) -> Call {
        Call {
            method: "GET".into(),
            query: q
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<HashMap<_, _>>(),
            accept: String::new(),
            content_type: String::new(),
            user_agent: String::new(),
        }
    }

    #[test]
    fn pages_cover_every_item_once_at_the_first_pages_revision() {
        let mut seen = Vec::new();
        let mut token = String::new();
        let mut rounds = 0;
        loop {
            let mut q = vec![("limit", "2")];
            if !token.is_empty() {
                q.push(("continue", token.as_str()));
            }
            // Later pages read a newer list (revision 99): they report the first's.
            let revision = if rounds == 0 { 7 } else { 99 };
            let p = page(items(5), revision, &call(&q)).unwrap();
            assert_eq!(p.revision, 7);
            seen.extend(p.items.iter().map(key));
            rounds += 1;
            match p.next {
                Some(t) => {
                    assert_eq!(p.remaining, 5 - seen.len());
                    token = t;
                }
                None => break,
            }
        }
        assert_eq!(rounds, 3);
        assert_eq!(seen, items(5).iter().map(key).collect::<Vec<_>>());
        assert_eq!(page(items(5), 1, &call(&[])).unwrap().items.len(), 5);
        let bad = page(items(1), 1, &call(&[("continue", "nope")]))
            .err()
            .unwrap();
        assert!(bad.message().contains("list again"), "{bad:?}");
    }
}
