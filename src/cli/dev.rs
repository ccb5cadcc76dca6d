//! `skiff dev`: a one-process cluster for a new user. One control-plane member and one
//! node agent (named `dev`) share the process and a data folder; a client config beside
//! the data (`~/.skiff/config` for the default folder) points the client verbs at it; the
//! example app (`examples/hello/app.yaml`: a Deployment, its Service and an Ingress, with
//! the hello component, both built into the binary, so it works from any folder and with
//! no wasm toolchain) is applied, and once the router answers, what to curl for every
//! route.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use skiff_control::server::{self, DATABASE_FILE, MemberConfig};
use skiff_node::agent::{self, AgentConfig, BackoffPolicy, Capacity};
use skiff_proto::Object;
use skiff_proto::grpc::api::object_service_client::ObjectServiceClient;
use skiff_proto::grpc::api::{GetRequest, ObjectKey, ReadConsistency};

use skiff_pki::Role;

use super::DevArgs;
use super::apply::apply_request;
use super::pki::{self, CaSource};
use super::{artifacts, client};

/// The example app and its component, as shipped (`cargo xtask ship` rebuilds the
/// component from `examples/hello`; a test checks it matches its source).
const EXAMPLE: &str = "examples/hello/app.yaml";

/// Where `skiff dev` serves its metrics unless told (any free port when this one is taken).
const DEFAULT_METRICS: std::net::SocketAddr =
    std::net::SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 9464);
const EXAMPLE_APP: &str = include_str!("../../examples/hello/app.yaml");
const EXAMPLE_COMPONENT_PATH: &str = "dist/hello.wasm";
const EXAMPLE_COMPONENT: &[u8] = include_bytes!("../../examples/hello/dist/hello.wasm");

/// Writes the client config into the data folder (`~/.skiff/config` for the default
/// folder), so a cluster with another folder leaves the default one's config alone.
fn write_config(data_dir: &Path, api: &str, credentials: &Path) -> Result<PathBuf> {
    let path = data_dir.join("config");
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    std::fs::write(
        &path,
        format!(
            "# Written by `skiff dev`.\nserver: {api}\ncredentials: {}\n",
            credentials.display()
        ),
    )
    .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Waits until the API answers (the member elected itself).
async fn api_ready(api: &client::Target) -> Result<ObjectServiceClient<client::Conn>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(ch) = client::channel(api).await {
            let mut c = ObjectServiceClient::new(ch);
            let probe = c
                .list(skiff_proto::grpc::api::ListRequest {
                    kind: "Namespace".into(),
                    ..Default::default()
                })
                .await;
            if probe.is_ok() {
                return Ok(c);
            }
        }
        if Instant::now() > deadline {
            bail!(
                "the control-plane member at {} did not answer within 30 s",
                api.addr
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every Ingress and HTTPRoute, as `curl` arguments at the ingress `addr`.
async fn route_urls(
    api: &mut ObjectServiceClient<client::Conn>,
    addr: &str,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for kind in ["Ingress", "HTTPRoute"] {
        let Ok(list) = api
            .list(skiff_proto::grpc::api::ListRequest {
                kind: kind.into(),
                ..Default::default()
            })
            .await
        else {
            continue;
        };
        for env in &list.into_inner().items {
            let text = String::from_utf8_lossy(&env.json);
            let source = skiff_proto::manifest::Source::named("<server>");
            if let Ok(o) = skiff_proto::manifest::decode_one(&text, &source) {
                let name = format!("{}/{}", kind.to_lowercase(), o.metadata().name);
                for url in super::routes::curls(&o, addr) {
                    out.push((name.clone(), url));
                }
            }
        }
    }
    out
}

/// Whether the router at `addr` answers `GET /` for `host` with a 2xx (within 30 s).
async fn router_answers(addr: &str, host: &str) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(mut s) = tokio::net::TcpStream::connect(addr).await {
            let req = format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
            let mut buf = [0u8; 16];
            if s.write_all(req.as_bytes()).await.is_ok()
                && let Ok(n) = s.read(&mut buf).await
                && buf.get(..n).is_some_and(|b| b.starts_with(b"HTTP/1.1 2"))
            {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// Applies the example app (uploading its component); returns its Service's name.
async fn apply_example(api: &client::Target) -> Result<Option<String>> {
    let source = skiff_proto::manifest::Source::named(&format!("{EXAMPLE} (built in)"));
    let decoded = skiff_proto::manifest::decode(EXAMPLE_APP, &source);
    if !decoded.diagnostics.0.is_empty() {
        bail!(
            "the built-in example app is invalid:\n{}",
            decoded.diagnostics
        );
    }
    let mut objects = decoded.objects;
    let channel = client::channel(api)
        .await
        .map_err(|f| anyhow::anyhow!("{f:?}"))?;
    let digest = artifacts::upload_bytes(&channel, EXAMPLE_COMPONENT_PATH, EXAMPLE_COMPONENT)
        .await
        .map_err(|f| anyhow::anyhow!("{f:?}"))?;
    for o in &mut objects {
        artifacts::replace_image(o, EXAMPLE_COMPONENT_PATH, &digest);
    }
    let mut c = ObjectServiceClient::new(channel);
    let mut name = None;
    for o in &objects {
        let (n, request) = apply_request(o, false, true).map_err(|f| anyhow::anyhow!("{f:?}"))?;
        c.apply(request)
            .await
            .with_context(|| format!("applying {n}"))?;
        if let Object::Service(svc) = o {
            name = Some(svc.metadata.name.clone());
        }
    }
    Ok(name)
}

/// The ready addresses of the Service's Endpoints, once there are any (within 60 s).
async fn endpoints(api: &mut ObjectServiceClient<client::Conn>, name: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let got = api
            .get(GetRequest {
                key: Some(ObjectKey {
                    kind: "Endpoints".into(),
                    namespace: "default".into(),
                    name: name.into(),
                }),
                consistency: ReadConsistency::Serializable as i32,
            })
            .await;
        if let Ok(r) = got
            && let Some(env) = r.into_inner().object
            && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&env.json)
        {
            let mut out = Vec::new();
            for s in v["subsets"].as_array().into_iter().flatten() {
                let port = s["ports"][0]["port"].as_u64().unwrap_or(80);
                for a in s["addresses"].as_array().into_iter().flatten() {
                    if let Some(ip) = a["ip"].as_str() {
                        out.push(format!("{ip}:{port}"));
                    }
                }
            }
            if !out.is_empty() {
                return out;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Vec::new()
}

pub fn run(a: DevArgs) -> Result<ExitCode> {
    let control_dir = a.data_dir.join("control");
    let fresh = !control_dir.join(DATABASE_FILE).exists();
    let api = a.api_addr.to_string();
    // The CA, the member's and the node's certificates, and the admin credential the
    // client verbs use, all made on the first run.
    let addresses = pki::addresses([api.as_str()]);
    let (member_tls, ca) = pki::member_tls(
        &control_dir,
        1,
        addresses.clone(),
        CaSource::MakeOne,
        pki::VALID_FOR,
    )?;
    let ca = ca.context("the dev cluster's CA is missing from its data folder")?;
    let node_dir = a.data_dir.join("node").join("pki").join("node");
    if !skiff_pki::Credentials::exist(&node_dir) {
        pki::issue(
            &ca,
            Role::Node { name: "dev".into() },
            addresses.clone(),
            pki::VALID_FOR,
        )?
        .save(&node_dir)?;
    }
    let node_tls = skiff_pki::Tls::new(&skiff_pki::Credentials::load(&node_dir)?)?;
    let admin = pki::admin_dir(&control_dir);
    let target = client::Target {
        addr: api.clone(),
        credentials: Some(admin.clone()),
        token: None,
    };
    let ca = std::sync::Arc::new(ca);
    let renewals = [
        pki::renew(
            member_tls.clone(),
            pki::member_dir(&control_dir),
            pki::Signer::Local(ca.clone()),
            Role::Member { id: 1 },
            addresses.clone(),
            pki::VALID_FOR,
        ),
        pki::renew(
            node_tls.clone(),
            node_dir,
            pki::Signer::Local(ca.clone()),
            Role::Node { name: "dev".into() },
            addresses,
            pki::VALID_FOR,
        ),
    ];
    // The member and the agent share one registry, served at one address.
    let registry = super::metrics::registry();
    let member = MemberConfig {
        id: 1,
        data_dir: control_dir,
        listen: a.api_addr,
        advertise: None,
        initial_cluster: if fresh {
            [(1, api.clone())].into_iter().collect()
        } else {
            Default::default()
        },
        join: Vec::new(),
        tick: Duration::from_millis(50),
        controllers: Default::default(),
        tls: member_tls,
        ca: Some(ca),
        cert_validity: pki::VALID_FOR,
        pod_security_default: skiff_control::api::podsecurity::Level::Baseline,
        audit_log: None,
        encryption_key: std::env::var(skiff_control::encryption::kek::ENV).ok(),
        policies: Some(std::sync::Arc::new(super::policies::WasmPolicies::new()?)),
        metrics: registry.clone(),
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    let node = AgentConfig {
        name: "dev".into(),
        control: vec![api.clone()],
        data_dir: a.data_dir.join("node"),
        labels: Default::default(),
        capacity: Capacity {
            cpu_millis: cores * 1000,
            memory_bytes: 4 << 30,
            pods: 110,
            instances: 256,
        },
        address: "127.0.0.1".into(),
        listen: ([127, 0, 0, 1], 0).into(),
        logs: Default::default(),
        usage_interval: Duration::from_secs(10),
        heartbeat: Duration::from_secs(1),
        backoff: BackoffPolicy::default(),
        ingress: a.ingress_addr,
        peer_listen: ([127, 0, 0, 1], 0).into(),
        router: Default::default(),
        containers: a.containers.config(&a.data_dir.join("node"))?,
        tls: node_tls,
        metrics: registry.clone(),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let _renewing: Vec<_> = renewals
            .into_iter()
            .map(|r| super::control::AbortOnDrop(tokio::spawn(r)))
            .collect();
        let metrics = match a.metrics_addr {
            Some(addr) => super::metrics::listen(addr, registry.clone()).await?,
            None => match super::metrics::listen(DEFAULT_METRICS, registry.clone()).await {
                Ok(at) => at,
                Err(_) => super::metrics::listen(([127, 0, 0, 1], 0).into(), registry.clone()).await?,
            },
        };
        let control = tokio::spawn(server::run(member, stopped(stop_rx.clone())));
        let mut client_api = api_ready(&target).await?;
        let config = write_config(&a.data_dir, &api, &admin)?;
        let kubeconfig = super::kubeconfig::write(&a.data_dir, &api, &admin)?;
        let agent = tokio::spawn(agent::run(node, stopped(stop_rx.clone())));
        println!("Skiff is running: one control-plane member and one node (`dev`), data in {}.", a.data_dir.display());
        if Some(&config) == client::config_path().as_ref() {
            println!("  API     {api} (written to {}: `skiff get pods` talks to it)", config.display());
        } else {
            println!(
                "  API     {api} (written to {}: `export SKIFF_CONFIG={}` for `skiff get pods` to talk to it)",
                config.display(),
                config.display()
            );
        }
        println!(
            "  kubectl KUBECONFIG={} kubectl get pods",
            kubeconfig.display()
        );
        println!("  metrics http://{metrics}/metrics (for Prometheus)");
        match super::dashboard::login_url(&target).await {
            Ok(url) => println!("  web UI  {url} (logs a browser in as the admin, once; `skiff dashboard` prints another)"),
            Err(client::Failure::User(why) | client::Failure::Unreachable(why)) => println!("  web UI  not available: {why}"),
        }
        match apply_example(&target).await? {
            Some(name) => {
                let ready = endpoints(&mut client_api, &name).await;
                let ingress = a.ingress_addr.to_string();
                if ready.is_empty() || !router_answers(&ingress, "localhost").await {
                    println!("  example deployment/{name} applied; `skiff get pods` and `skiff describe pod NAME` say why it does not serve yet");
                } else {
                    println!("  example service/{name}: {} ready pod(s) behind the router at {ingress}", ready.len());
                }
                for (route, url) in route_urls(&mut client_api, &ingress).await {
                    println!("  {route:<24} curl {url}");
                }
            }
            None => println!("  the built-in example app names no Service: nothing to curl"),
        }
        println!("Stop with Ctrl-C.");
        let _ = tokio::signal::ctrl_c().await;
        let _ = stop_tx.send(true);
        let _ = agent.await;
        match control.await {
            Ok(r) => r.context("the control-plane member"),
            Err(e) => Err(anyhow::anyhow!("the control-plane member stopped: {e}")),
        }
    })?;
    Ok(ExitCode::SUCCESS)
}
