//! `limit` and `continue`: a list in pages, as client libraries and `kubectl get` (500 at
//! a time) ask for it. Items come in key order (namespace, then name); a page ends with a
//! `continue` token naming the last key sent and the revision of the first page, which
//! every later page reports too, so a watch started from it misses nothing.
//!
//! The store reads a page from just after the token's key (see
//! [`crate::store::StateMachine::list_page`]): each page costs what it holds, not the
//! whole list. Unlike Kubernetes (which reads every page from one etcd snapshot), later
//! pages read the current objects: an object changed between pages is seen as it is now,
//! and the watch from the first page's revision replays that change.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as TOKEN;
use serde_json::json;
use skiff_proto::Kind;
use tonic::Status;

/// Where the next page starts.
#[derive(Debug, PartialEq)]
pub struct Continue {
    /// `namespace/name` of the last item sent.
    pub after: String,
    /// The first page's revision.
    pub revision: u64,
}

impl Continue {
    pub fn token(&self) -> String {
        TOKEN.encode(json!({"rv": self.revision, "after": self.after}).to_string())
    }

    /// A token this server gave; anything else is refused, saying what to do.
    pub fn read(token: &str) -> Result<Continue, Status> {
        let bad = || {
            Status::invalid_argument(format!(
                "continue {token:?} is not a token this server gave; list again without it"
            ))
        };
        let bytes = TOKEN.decode(token).map_err(|_| bad())?;
        let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        Ok(Continue {
            after: v["after"].as_str().ok_or_else(bad)?.to_owned(),
            revision: v["rv"].as_u64().ok_or_else(bad)?,
        })
    }

    /// The store key the next page starts after.
    pub fn key(&self, kind: Kind) -> String {
        format!("{}/{}", kind.name(), self.after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_strangers_are_refused() {
        let c = Continue {
            after: "default/web".into(),
            revision: 7,
        };
        assert_eq!(Continue::read(&c.token()).unwrap(), c);
        assert_eq!(c.key(Kind::ConfigMap), "ConfigMap/default/web");
        for bad in ["nope", "", &TOKEN.encode("{\"after\": 1}")] {
            let e = Continue::read(bad).unwrap_err();
            assert!(e.message().contains("list again"), "{e:?}");
        }
    }
}
