//! Wasm OCI artifacts from a real registry (Debian's `docker-registry`, the CNCF
//! distribution registry, on a free loopback port): a component pushed as an artifact with
//! an `application/wasm` layer runs as a pod whose `image` names it, and a reference the
//! registry does not have leaves the pod waiting with `ErrImagePull`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod support;

use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use support::node::{NodeCluster, apply, get, wait_for};

/// The registry process, killed by its PID when dropped.
struct Registry {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Registry {
    fn start() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = support::free_port();
        let addr = format!("127.0.0.1:{port}");
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "docker-registry (Debian package docker-registry; `cargo xtask test` installs it)",
            );
        let r = Registry {
            child,
            addr,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&r.addr).is_err() {
            assert!(Instant::now() < deadline, "the registry never listened");
            std::thread::sleep(Duration::from_millis(100));
        }
        r
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Pushes `wasm` to `reference` as a Wasm OCI artifact.
fn push(registry: &str, reference: &str, wasm: Vec<u8>) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = Client::new(ClientConfig {
            protocol: ClientProtocol::HttpsExcept(vec![registry.to_owned()]),
            ..ClientConfig::default()
        });
        let r: Reference = reference.parse().unwrap();
        let layer = ImageLayer::new(wasm, "application/wasm".into(), None);
        let config = Config::new(
            b"{}".to_vec(),
            "application/vnd.wasm.config.v0+json".into(),
            None,
        );
        client
            .push(&r, &[layer], config, &RegistryAuth::Anonymous, None)
            .await
            .unwrap();
    });
}

#[test]
fn a_pod_runs_a_wasm_oci_artifact_pulled_from_a_registry() {
    let registry = Registry::start();
    let component = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/conformance/components/runwasi-hello_wasi_http.wasm"),
    )
    .unwrap();
    let image = format!("{}/skiff/hello-wasi-http:v1", registry.addr);
    push(&registry.addr, &image, component);

    let mut c = NodeCluster::start();
    let (s, dir) = (c.server.as_str(), &c.dir);
    let pod = |name: &str, image: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  nodeName: n1\n  runtimeClassName: wasm\n  containers:\n  - name: web\n    image: {image}\n"
        )
    };
    let manifests = dir.path().join("pods.yaml");
    let missing = format!("{}/skiff/nothing-here:v9", registry.addr);
    apply(
        s,
        &manifests,
        &[pod("from-registry", &image), pod("missing", &missing)].join("---\n"),
    );

    let p = wait_for(s, &["pod", "from-registry"], |p| {
        p["status"]["podIP"].is_string()
    });
    let ip = p["status"]["podIP"].as_str().unwrap();
    assert_eq!(
        get(&format!("{ip}:8080"), "/"),
        (
            200,
            "Hello, this is your first wasi:http/proxy world!\n".to_owned()
        )
    );
    let p = wait_for(s, &["pod", "missing"], |p| {
        p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "ErrImagePull"
    });
    let message = p["status"]["containerStatuses"][0]["state"]["waiting"]["message"]
        .as_str()
        .unwrap();
    assert!(message.contains("nothing-here"), "{message}");
    c.agent.stop();
}
