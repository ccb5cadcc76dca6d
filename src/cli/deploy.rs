//! `skiff deploy [PATH]`: the developer loop's one command. It builds the project
//! (`skiff build`), uploads the component, applies a Deployment, a Service and an
//! HTTPRoute named after it, waits until every replica runs the new build, and prints
//! the URL. Deploying again after a change is a rolling update: new pods are ready before
//! old ones stop, so no request fails.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use skiff_proto::grpc::api::object_service_client::ObjectServiceClient;
use skiff_proto::grpc::api::{GetRequest, ListRequest, ObjectKey};
use skiff_proto::manifest::{Source, decode_one};
use skiff_proto::{Kind, Object};

use super::ServerArgs;
use super::apply::{apply_request, place};
use super::client::{self, Conn, Failure, refused};

/// How long a deploy waits for its replicas.
const READY_WITHIN: Duration = Duration::from_secs(120);

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The project's folder (with its Cargo.toml).
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// The name of the Deployment, Service and route (default: the package's name).
    #[arg(long)]
    pub name: Option<String>,
    /// Replicas to run.
    #[arg(long, default_value_t = 1, conflicts_with = "scale_to_zero")]
    pub replicas: u32,
    /// Run no replica until a request arrives (the router wakes one), then follow the
    /// traffic: a HorizontalPodAutoscaler on requests in flight (10 per replica, up to
    /// 10 replicas), back to zero after a minute without requests.
    #[arg(long)]
    pub scale_to_zero: bool,
    /// The host name the route answers (default: NAME.local).
    #[arg(long)]
    pub host: Option<String>,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// The Deployment of `image` (with `replicas`, or, when `zero`, none until a request
/// wakes it and an autoscaler after that), its Service and the HTTPRoute for `host`, all
/// named `name` (also what `skiff new http` writes into skiff.yaml).
pub fn http_app(name: &str, image: &str, replicas: u32, zero: bool, host: &str) -> String {
    let replicas = if zero { 0 } else { replicas };
    let autoscaler = if zero {
        format!(
            "---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {{name: {name}, labels: {{app: {name}}}}}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: {name}}}
  minReplicas: 0
  maxReplicas: 10
  metrics:
  - type: Pods
    pods:
      metric: {{name: http_requests_in_flight}}
      target: {{type: AverageValue, averageValue: \"10\"}}
"
        )
    } else {
        String::new()
    };
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels: {{app: {name}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      runtimeClassName: wasm
      containers:
      - name: {name}
        image: {image}
---
apiVersion: v1
kind: Service
metadata: {{name: {name}, labels: {{app: {name}}}}}
spec:
  selector: {{app: {name}}}
  ports: [{{port: 80}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: {name}, labels: {{app: {name}}}}}
spec:
  hostnames: [{host}]
  rules:
  - backendRefs: [{{name: {name}, port: 80}}]
{autoscaler}"
    )
}

/// The Deployment once every replica runs its latest template (`Ok(None)`: not yet).
async fn rolled_out(
    api: &mut ObjectServiceClient<Conn>,
    ns: &str,
    name: &str,
    replicas: i32,
) -> Result<bool, Failure> {
    let r = api
        .get(GetRequest {
            key: Some(ObjectKey {
                kind: Kind::Deployment.name().into(),
                namespace: ns.into(),
                name: name.into(),
            }),
            ..Default::default()
        })
        .await
        .map_err(|s| refused(&format!("deployment/{name}"), &s))?;
    let Some(env) = r.into_inner().object else {
        return Ok(false);
    };
    let d: serde_json::Value = serde_json::from_slice(&env.json).unwrap_or_default();
    let s = &d["status"];
    let n = |f: &str| s[f].as_i64().unwrap_or(0);
    Ok(
        s["observedGeneration"].as_i64() >= d["metadata"]["generation"].as_i64()
            && n("updatedReplicas") == i64::from(replicas)
            && n("availableReplicas") == i64::from(replicas)
            && n("replicas") == i64::from(replicas),
    )
}

/// `http://ADDRESS:PORT` of some node's router.
async fn router_url(api: &mut ObjectServiceClient<Conn>) -> Option<String> {
    let r = api
        .list(ListRequest {
            kind: Kind::Node.name().into(),
            ..Default::default()
        })
        .await
        .ok()?;
    r.into_inner().items.iter().find_map(|env| {
        let n: serde_json::Value = serde_json::from_slice(&env.json).ok()?;
        let port = n["status"]["daemonEndpoints"]["routerEndpoint"]["port"].as_u64()?;
        let addr = n["status"]["addresses"]
            .as_array()
            .and_then(|a| a.iter().find_map(|x| x["address"].as_str()))
            .unwrap_or("127.0.0.1");
        Some(format!("http://{addr}:{port}"))
    })
}

pub async fn run(a: &DeployArgs) -> Result<ExitCode, Failure> {
    let built = super::build::build(&a.path).map_err(|e| Failure::User(format!("{e:#}")))?;
    let name = a.name.clone().unwrap_or_else(|| built.name.clone());
    if let Err(why) = skiff_proto::validate::names::dns_label(&name) {
        return Err(Failure::User(format!(
            "{name:?} cannot name a Deployment ({why}): give --name"
        )));
    }
    let host = a.host.clone().unwrap_or_else(|| format!("{name}.local"));
    let bytes = std::fs::read(&built.wasm)
        .map_err(|e| Failure::User(format!("reading {}: {e}", built.wasm.display())))?;
    let channel = client::channel(&client::server(&a.server)).await?;
    let digest =
        super::artifacts::upload_bytes(&channel, &built.wasm.display().to_string(), &bytes).await?;
    let mut api = ObjectServiceClient::new(channel);
    let text = http_app(&name, &digest, a.replicas, a.scale_to_zero, &host);
    let mut ns = a
        .server
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    for doc in text.split("---\n") {
        let mut o: Object = decode_one(doc, &Source::named("<skiff deploy>"))
            .map_err(|d| Failure::User(d.to_string()))?;
        place(&mut o, a.server.namespace.as_deref())?;
        ns = match o.metadata().namespace.as_str() {
            "" => ns,
            n => n.to_owned(),
        };
        let (what, request) = apply_request(&o, false, true)?;
        api.apply(request).await.map_err(|s| refused(&what, &s))?;
        println!("{what} applied");
    }
    if !a.scale_to_zero {
        let replicas = i32::try_from(a.replicas).unwrap_or(i32::MAX);
        let deadline = Instant::now() + READY_WITHIN;
        while !rolled_out(&mut api, &ns, &name, replicas).await? {
            if Instant::now() > deadline {
                return Err(Failure::User(format!(
                    "deployment/{name} did not roll out within {READY_WITHIN:?}: see `skiff describe deployment {name}` and `skiff get pods -l app={name}`"
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let url = router_url(&mut api)
        .await
        .unwrap_or_else(|| "http://NODE:ROUTER_PORT".into());
    println!("Deployed {name} ({digest}). Try:\n  curl -H 'Host: {host}' {url}/");
    Ok(ExitCode::SUCCESS)
}
