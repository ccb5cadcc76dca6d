//! Where a canary's traffic goes, written as Argo Rollouts writes it: each Service's
//! selector pinned to one revision with `pod-template-hash`, and the HTTPRoute's weights
//! split between the two Services (every rule that names both).

use skiff_proto::model::canary::CanaryStrategy;
use skiff_proto::model::{Deployment, HttpRoute, Service};
use skiff_proto::{Kind, Object};
use tonic::Status;

use super::history::TEMPLATE_HASH;
use crate::machinery::cache::Cache;
use crate::machinery::client::Client;

/// Why traffic cannot be shifted (the user's objects are missing or do not fit).
pub fn problem(cache: &Cache, d: &Deployment, c: &CanaryStrategy) -> Option<String> {
    let ns = &d.metadata.namespace;
    for name in [&c.stable_service, &c.canary_service] {
        if cache.get(Kind::Service, ns, name).is_none() {
            return Some(format!(
                "Service {ns}/{name} (spec.strategy.canary) does not exist: create it with \
                 the Deployment's selector"
            ));
        }
    }
    let Some(s) = cache.get(Kind::HttpRoute, ns, &c.http_route) else {
        return Some(format!(
            "HTTPRoute {ns}/{} (spec.strategy.canary.httpRoute) does not exist",
            c.http_route
        ));
    };
    let Object::HttpRoute(r) = &s.object else {
        return None;
    };
    if !r.spec.rules.iter().any(|rule| names_both(r, rule, c)) {
        return Some(format!(
            "HTTPRoute {ns}/{} has no rule with both {} and {} as backends",
            c.http_route, c.stable_service, c.canary_service
        ));
    }
    None
}

fn names(r: &HttpRoute, b: &skiff_proto::model::HttpBackendRef, service: &str) -> bool {
    b.name == service
        && b.kind.as_deref().is_none_or(|k| k == "Service")
        && b.group.as_deref().is_none_or(str::is_empty)
        && b.namespace
            .as_deref()
            .is_none_or(|n| n == r.metadata.namespace)
}

fn names_both(r: &HttpRoute, rule: &skiff_proto::model::HttpRouteRule, c: &CanaryStrategy) -> bool {
    let has = |s: &str| rule.backend_refs.iter().any(|b| names(r, b, s));
    has(&c.stable_service) && has(&c.canary_service)
}

/// Gives the canary `weight` percent of the route, then pins the Services to revisions
/// `stable` and `canary`. The weight goes first: a Service is re-pinned only when the
/// canary's weight is 0 (a new canary, a promotion), so no traffic is sent to a Service
/// whose new revision has no pods yet; the plan raises the weight only once the canary's
/// pods are available.
pub async fn apply(
    cache: &Cache,
    client: &Client,
    d: &Deployment,
    c: &CanaryStrategy,
    stable: &str,
    canary: &str,
    weight: i32,
) -> Result<(), Status> {
    let ns = &d.metadata.namespace;
    weigh(cache, client, ns, c, weight).await?;
    pin(cache, client, ns, &c.stable_service, stable).await?;
    pin(cache, client, ns, &c.canary_service, canary).await
}

/// The route's weights: `weight` to the canary Service, the rest to the stable one.
async fn weigh(
    cache: &Cache,
    client: &Client,
    ns: &str,
    c: &CanaryStrategy,
    weight: i32,
) -> Result<(), Status> {
    let Some(s) = cache.get(Kind::HttpRoute, ns, &c.http_route) else {
        return Ok(());
    };
    let Object::HttpRoute(r) = &s.object else {
        return Ok(());
    };
    let mut updated = r.clone();
    for rule in &mut updated.spec.rules {
        if !names_both(r, rule, c) {
            continue;
        }
        for b in &mut rule.backend_refs {
            if names(r, b, &c.stable_service) {
                b.weight = Some(100 - weight);
            } else if names(r, b, &c.canary_service) {
                b.weight = Some(weight);
            }
        }
    }
    if &updated != r {
        client
            .update(&Object::HttpRoute(updated), s.revision)
            .await?;
    }
    Ok(())
}

/// Unpins the Services of a Deployment that is no longer a canary (its strategy changed):
/// every Service in its namespace pinned to one of its revisions `hashes` selects all of
/// its pods again, so a RollingUpdate does not leave a Service on a revision scaled away.
pub async fn release(
    cache: &Cache,
    client: &Client,
    d: &Deployment,
    hashes: &[String],
) -> Result<(), Status> {
    for s in cache.list(Kind::Service, Some(&d.metadata.namespace)) {
        let Object::Service(svc) = &s.object else {
            continue;
        };
        if !svc
            .spec
            .selector
            .get(TEMPLATE_HASH)
            .is_some_and(|h| hashes.contains(h))
        {
            continue;
        }
        let mut freed = svc.clone();
        freed.spec.selector.remove(TEMPLATE_HASH);
        client.update(&Object::Service(freed), s.revision).await?;
    }
    Ok(())
}

/// Whether `d`'s canary strategy names the Service or HTTPRoute `kind`/`name`.
pub fn names_object(d: &Deployment, kind: Kind, name: &str) -> bool {
    let Some(c) = d.spec.strategy.as_ref().and_then(|s| s.canary.as_ref()) else {
        return false;
    };
    match kind {
        Kind::Service => c.stable_service == name || c.canary_service == name,
        Kind::HttpRoute => c.http_route == name,
        _ => false,
    }
}

/// Service `name`'s selector with `pod-template-hash: hash`.
async fn pin(
    cache: &Cache,
    client: &Client,
    ns: &str,
    name: &str,
    hash: &str,
) -> Result<(), Status> {
    let Some(s) = cache.get(Kind::Service, ns, name) else {
        return Ok(());
    };
    let Object::Service(svc) = &s.object else {
        return Ok(());
    };
    if svc.spec.selector.get(TEMPLATE_HASH).map(String::as_str) == Some(hash) {
        return Ok(());
    }
    let mut pinned: Service = svc.clone();
    pinned
        .spec
        .selector
        .insert(TEMPLATE_HASH.into(), hash.to_owned());
    client.update(&Object::Service(pinned), s.revision).await?;
    Ok(())
}
