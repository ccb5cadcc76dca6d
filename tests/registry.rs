//! Wasm OCI artifacts from a real registry (Debian's `docker-registry`, the CNCF
//! distribution registry, on a free loopback port): a component pushed as an artifact with
//! an `application/wasm` layer runs as a pod whose `image` names it, and a reference the
//! registry does not have leaves the pod waiting with `ErrImagePull` (then, between
//! attempts, `ImagePullBackOff`, as the kubelet shows it).

use std::path::Path;

mod support;

use support::node::{NodeCluster, apply, get, wait_for};
use support::registry::{Registry, push_wasm};

#[test]
fn a_pod_runs_a_wasm_oci_artifact_pulled_from_a_registry() {
    let registry = Registry::start();
    let component = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/conformance/components/runwasi-hello_wasi_http.wasm"),
    )
    .unwrap();
    let image = format!("{}/skiff/hello-wasi-http:v1", registry.addr);
    push_wasm(&registry.addr, &image, component);

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
        let reason = &p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"];
        reason == "ErrImagePull" || reason == "ImagePullBackOff"
    });
    let message = p["status"]["containerStatuses"][0]["state"]["waiting"]["message"]
        .as_str()
        .unwrap();
    assert!(message.contains("nothing-here"), "{message}");
    c.agent.stop();
}
