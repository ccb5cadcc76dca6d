//! What the verbs that change one object share (`scale`, `rollout`, `cordon`, ...):
//! naming it (`KIND/NAME` or `KIND NAME`), reading it, and changing it with a
//! compare-and-swap that reads again and retries when someone else wrote in between.

use super::client::Conn;
use skiff_proto::grpc::api::object_service_client::ObjectServiceClient;
use skiff_proto::grpc::api::{GetRequest, ObjectKey, ReadConsistency, UpdateRequest};
use skiff_proto::{Kind, Object};
use tonic::Code;

use super::client::{self, Failure, refused};
use super::get::{namespace, object};

/// One object, named.
#[derive(Debug, Clone)]
pub struct Target {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
}

impl Target {
    /// `KIND/NAME`, or `KIND` and `NAME` as two words.
    pub fn parse(first: &str, second: Option<&str>, ns: Option<&str>) -> Result<Target, Failure> {
        let (kind, name) = match (first.split_once('/'), second) {
            (Some((k, n)), None) => (k, n),
            (None, Some(n)) => (first, n),
            _ => {
                return Err(Failure::User(format!(
                    "name one object as KIND/NAME (e.g. deployment/web), not {first:?}{}",
                    second.map(|s| format!(" {s:?}")).unwrap_or_default()
                )));
            }
        };
        if name.is_empty() {
            return Err(Failure::User(format!("{first:?}: the name is missing")));
        }
        let kind = client::kind(kind)?;
        Ok(Target {
            kind,
            namespace: namespace(kind, ns),
            name: name.to_owned(),
        })
    }

    /// The kind as kubectl prints it in messages: `deployment.apps/web`.
    pub fn display(&self) -> String {
        let group = match self.kind.api_version().split_once('/') {
            Some((g, _)) => format!(".{g}"),
            None => String::new(),
        };
        format!(
            "{}{group}/{}",
            self.kind.name().to_ascii_lowercase(),
            self.name
        )
    }

    fn key(&self) -> ObjectKey {
        ObjectKey {
            kind: self.kind.name().into(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }

    /// The object and its revision, read linearizably.
    pub async fn fetch(
        &self,
        api: &mut ObjectServiceClient<Conn>,
    ) -> Result<(Object, u64), Failure> {
        let r = api
            .get(GetRequest {
                key: Some(self.key()),
                consistency: ReadConsistency::Linearizable as i32,
            })
            .await
            .map_err(|s| refused(&format!("reading {}", self.display()), &s))?;
        let env = r
            .into_inner()
            .object
            .ok_or_else(|| Failure::User("the server answered without an object".into()))?;
        Ok((object(&env)?, env.resource_version))
    }

    /// Applies `change` to the current object and writes it if it changed (`change`
    /// returns false for "nothing to do"); reads again and retries when another writer
    /// got in first. Returns the object as written (or as it was, unchanged).
    pub async fn modify(
        &self,
        api: &mut ObjectServiceClient<Conn>,
        mut change: impl FnMut(&mut Object) -> Result<bool, Failure>,
    ) -> Result<(Object, bool), Failure> {
        for _ in 0..10 {
            let (mut o, rev) = self.fetch(api).await?;
            if !change(&mut o)? {
                return Ok((o, false));
            }
            let json = o
                .to_json()
                .map_err(|e| Failure::User(format!("encoding {}: {e}", self.display())))?;
            match api
                .update(UpdateRequest {
                    manifest: json.into_bytes(),
                    expected_resource_version: Some(rev),
                    ..Default::default()
                })
                .await
            {
                Ok(r) => {
                    let env = r.into_inner().object;
                    let written = match env {
                        Some(e) => object(&e)?,
                        None => o,
                    };
                    return Ok((written, true));
                }
                Err(s) if s.code() == Code::Aborted => continue,
                Err(s) => return Err(refused(&format!("updating {}", self.display()), &s)),
            }
        }
        Err(Failure::User(format!(
            "{} kept changing while it was updated; try again",
            self.display()
        )))
    }
}
