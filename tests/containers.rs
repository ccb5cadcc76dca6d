//! OCI containers on Skiff nodes, with real runc, a real registry and the CNI plugins, in
//! a network namespace each test makes for itself: a busybox image pulled and run as
//! the kubelet would run it, reached at its pod address, and removed without a trace.

mod support;

use std::time::Duration;

use support::containers::{ContainerCluster, eventually, links, mounts_under, pod_cgroups};
use support::node::{apply, get, skiff, wait_for};

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
