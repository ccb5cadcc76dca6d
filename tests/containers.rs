//! OCI containers on Skiff nodes, with real runc, a real registry and the CNI plugins, in
//! a network namespace each test makes for itself: a busybox image pulled and run as
//! the kubelet would run it, reached at its pod address, and removed without a trace.

mod support;

use std::time::Duration;

use support::containers::{ContainerCluster, eventually, links, mounts_under, pod_cgroups};
use support::http::Http;
use support::node::{apply, get, ingress, skiff, wait_for};
use support::routing::echo;

fn httpd_pod(name: &str, image: &str, extra: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, labels: {{app: {name}}}}}\nspec:\n  nodeName: n1\n  terminationGracePeriodSeconds: 5\n{extra}  containers:\n  - name: web\n    image: {image}\n    command: [httpd, -f, -p, '80', -h, /www]\n    ports: [{{containerPort: 80}}]\n"
    )
}

#[test]
fn a_busybox_pod_serves_at_its_address_and_leaves_nothing_when_deleted() {
    let c = ContainerCluster::start(&["n1"]);
    let s = c.server.as_str();
    let file = c.dir.path().join("pod.yaml");
    apply(s, &file, &httpd_pod("web", &c.busybox, ""));
    let p = wait_for(s, &["pod", "web"], |p| {
        p["status"]["containerStatuses"][0]["state"]["running"].is_object()
            && p["status"]["podIP"].is_string()
    });
    let ip = p["status"]["podIP"].as_str().unwrap().to_owned();
    assert!(ip.starts_with("10.88."), "{ip}");
    let (status, body) = get(&format!("{ip}:80"), "/index.html");
    assert_eq!((status, body.as_str()), (200, "hello from a container\n"));

    let uid = p["metadata"]["uid"].as_str().unwrap().to_owned();
    let data = c.data("n1");
    let out = skiff(s, &["delete", "pod", "web"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let traces = || {
        let mut t: Vec<String> = pod_cgroups(&uid)
            .iter()
            .map(|c| format!("cgroup {}", c.display()))
            .collect();
        t.extend(mounts_under(&data.display().to_string()));
        if data.join("containers/pods").join(&uid).exists() {
            t.push("the pod's folder".into());
        }
        t
    };
    eventually("the pod's traces to go", Duration::from_secs(30), || {
        let t = traces();
        if !t.is_empty() {
            eprintln!("left: {t:?}");
        }
        t.is_empty()
    });
    // The bridge stays for the next pod; the pod's veth is gone with its namespace.
    assert!(links("veth").is_empty(), "{:?}", links("veth"));
    assert!(
        std::net::TcpStream::connect_timeout(
            &format!("{ip}:80").parse().unwrap(),
            Duration::from_millis(500)
        )
        .is_err()
    );
}

/// A Deployment of busybox's httpd on node `node`, its Service (port 80) and an Ingress
/// for `HOST`; the container's `script` runs before httpd starts.
fn httpd_app(name: &str, image: &str, node: &str, script: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      nodeSelector: {{kubernetes.io/hostname: {node}}}
      terminationGracePeriodSeconds: 2
      containers:
      - name: web
        image: {image}
        command: [sh, -c, '{script} exec httpd -f -p 80 -h /www']
        ports: [{{containerPort: 80}}]
        readinessProbe: {{httpGet: {{path: /index.html, port: 80}}, periodSeconds: 1}}
---
apiVersion: v1
kind: Service
metadata: {{name: {name}}}
spec:
  selector: {{app: {name}}}
  ports: [{{port: 80, targetPort: 80}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: {name}}}
spec:
  rules:
  - host: {name}.example.com
    http:
      paths:
      - {{path: /, pathType: Prefix, backend: {{service: {{name: {name}, port: {{number: 80}}}}}}}}
---
"
    )
}

#[test]
fn containers_and_wasm_call_each_other_through_the_routers_of_both_nodes() {
    let c = ContainerCluster::start(&["n1", "n2"]);
    let s = c.server.as_str();
    // The container calls the Wasm Service through the pods' DNS and router, and serves
    // the answer's head (the echo guest answers with what reached it).
    let fetch = "until wget -S -O /dev/null http://echo.default.svc/from-a-container 2>/www/from-wasm.txt; do sleep 0.2; done;";
    let manifests = format!(
        "{}{}",
        httpd_app("web", &c.busybox, "n1", fetch),
        echo("echo", "echo", 1, "")
    );
    apply(s, &c.dir.path().join("app.yaml"), &manifests);
    let http = Http::new();
    for node in ["n1", "n2"] {
        let router = ingress(s, node);
        eventually(
            &format!("web through {node}'s router"),
            Duration::from_secs(60),
            || http.get(&router, "web.example.com", "/index.html").status == 200,
        );
        let r = http.get(&router, "web.example.com", "/index.html");
        assert_eq!(r.text(), "hello from a container\n", "through {node}");
    }
    // Container -> Wasm: the echo guest saw the container's call.
    let router = ingress(s, "n2");
    eventually(
        "the container's call to the Wasm Service",
        Duration::from_secs(60),
        || {
            http.get(&router, "web.example.com", "/from-wasm.txt")
                .status
                == 200
        },
    );
    let seen = http
        .get(&router, "web.example.com", "/from-wasm.txt")
        .text();
    assert!(seen.contains("x-echo-path: /from-a-container"), "{seen}");
    // Wasm -> container, by Service name, from a guest on whichever node it runs.
    let url = "http%3A%2F%2Fweb.default.svc%2Findex.html";
    let r = http.get(&router, "echo.default.svc", &format!("/call?url={url}"));
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "hello from a container\n")
    );
}
