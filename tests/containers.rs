//! OCI containers on Skiff nodes, with real runc, a real registry and the CNI plugins, in
//! a network namespace each test makes for itself: a busybox image pulled and run as
//! the kubelet would run it, reached at its pod address, and removed without a trace.

mod support;

use std::time::Duration;

use support::containers::{ContainerCluster, eventually, links, mounts_under, pod_cgroups};
use support::http::Http;
use support::node::{apply, get, ingress, skiff, wait_for};
use support::registry::{PushOptions, Registry, private_registry, push_busybox, push_busybox_with};
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
    // A node runs no container pod yet: it has not touched the network.
    assert!(links("veth").is_empty(), "{:?}", links("veth"));
    let file = c.dir.path().join("pod.yaml");
    // Two sidecars say which IPC and UTS namespaces they are in, their hostname, whether
    // each sees the file the other left in /dev/shm, whether they may have transparent
    // huge pages, and whether they may make a user namespace.
    let mut manifest = httpd_pod("web", &c.busybox, "");
    for name in ["a", "b"] {
        manifest.push_str(&format!(
            "  - name: {name}\n    image: {}\n    command: [sh, -c, \"trap 'exit 0' TERM; touch /dev/shm/{name}; until [ -e /dev/shm/a ] && [ -e /dev/shm/b ]; do sleep 0.1; done; echo ipc=`readlink /proc/self/ns/ipc` uts=`readlink /proc/self/ns/uts` shm=`grep -c ' /dev/shm tmpfs ' /proc/mounts` thp=`grep THP_enabled /proc/self/status | tr -dc 0-9` userns=`unshare -U true 2>&1 | grep -c 'not permitted'` host=`hostname`; sleep 3600 & wait\"]\n",
            c.busybox
        ));
    }
    apply(s, &file, &manifest);
    let p = wait_for(s, &["pod", "web"], |p| {
        p["status"]["containerStatuses"]
            .as_array()
            .is_some_and(|cs| cs.len() == 3 && cs.iter().all(|c| c["state"]["running"].is_object()))
            && p["status"]["podIP"].is_string()
    });
    // As under the kubelet, a pod's containers share its IPC and UTS namespaces (the
    // hostname is the pod's), each container having its own pid namespace.
    let said = |name: &str| {
        let mut line = String::new();
        eventually("a sidecar's line", Duration::from_secs(10), || {
            line = support::node::logs(s, &["web", "-c", name]);
            line.contains("host=")
        });
        line.trim().to_owned()
    };
    let (a, b) = (said("a"), said("b"));
    assert_eq!(a, b, "the sidecars share their namespaces and /dev/shm");
    assert!(
        a.contains("ipc=ipc:[") && a.contains("uts=uts:[") && a.ends_with("host=web"),
        "{a}"
    );
    assert!(a.contains(" shm=1 "), "one tmpfs at /dev/shm: {a}");
    // The seccomp filter refuses a new user namespace (no capability is needed for one).
    assert!(a.contains(" userns=1 "), "{a}");
    // Skiff's own processes run without transparent huge pages; a container gets the
    // machine's setting, as this test process has it.
    assert!(a.contains(&format!(" thp={} ", thp_enabled("self"))), "{a}");
    let agent = c.agents[0].child.as_ref().unwrap().id();
    assert_eq!(thp_enabled(&agent.to_string()), "0");
    let host_ipc = std::fs::read_link("/proc/self/ns/ipc").unwrap();
    assert!(
        !a.contains(&format!("ipc={}", host_ipc.display())),
        "not the host's: {a}"
    );
    let ip = p["status"]["podIP"].as_str().unwrap().to_owned();
    assert!(ip.starts_with("10.88."), "{ip}");
    let (status, body) = get(&format!("{ip}:80"), "/index.html");
    assert_eq!((status, body.as_str()), (200, "hello from a container\n"));
    // What it uses is read from its cgroup.
    wait_for(s, &["pod", "web"], |p| {
        let u = &p["status"]["usage"];
        u["memory"].as_str().is_some_and(|m| m != "0") && u["cpuNanos"].as_u64() > Some(0)
    });

    let uid = p["metadata"]["uid"].as_str().unwrap().to_owned();
    let data = c.data("n1");
    let record = data.join(format!("containers/net/attachments/{uid}.json"));
    let attachment: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    let netns = attachment["netns"].as_str().unwrap().to_owned();
    let out = skiff(s, &["delete", "pod", "web"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pod_dir = data.join("containers/pods").join(&uid);
    let traces = || {
        let mut t: Vec<String> = pod_cgroups(&uid)
            .iter()
            .map(|c| format!("cgroup {}", c.display()))
            .collect();
        t.extend(mounts_under(&pod_dir.display().to_string()));
        t.extend(mounts_under(&netns));
        t.extend(
            support::containers::processes_of(&pod_dir.display().to_string())
                .iter()
                .map(|p| format!("process {p}")),
        );
        for f in [&pod_dir, &record] {
            if f.exists() {
                t.push(f.display().to_string());
            }
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
    // The bridge stays for the next pod; the pod's veth is gone with its namespace; the two
    // namespaces the node now keeps ready stay.
    eventually("the pod's veth to go", Duration::from_secs(30), || {
        links("veth").len() == 2
    });
    assert!(
        std::net::TcpStream::connect_timeout(
            &format!("{ip}:80").parse().unwrap(),
            Duration::from_millis(500)
        )
        .is_err()
    );

    // One busybox root filesystem stays mounted ahead of need; the next pod of the image
    // takes it (its overlay was made in the ready folder and moved) and serves from it,
    // and another is mounted ready in its place.
    let ready = data.join("containers/ready").display().to_string();
    eventually("a root filesystem ready", Duration::from_secs(10), || {
        mounts_under(&ready).len() == 1
    });
    apply(s, &file, &httpd_pod("again", &c.busybox, ""));
    let p = wait_for(s, &["pod", "again"], |p| p["status"]["podIP"].is_string());
    let again_ip = p["status"]["podIP"].as_str().unwrap().to_owned();
    let rootfs = data
        .join("containers/pods")
        .join(p["metadata"]["uid"].as_str().unwrap())
        .join("runs/web/rootfs");
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let line = mountinfo
        .lines()
        .find(|l| l.split(' ').nth(4) == Some(rootfs.to_str().unwrap()))
        .unwrap_or_else(|| panic!("{} is not mounted:\n{mountinfo}", rootfs.display()));
    assert!(line.contains(&format!("upperdir={ready}/")), "{line}");
    eventually(
        "the moved root filesystem to serve",
        Duration::from_secs(10),
        || {
            std::net::TcpStream::connect_timeout(
                &format!("{again_ip}:80").parse().unwrap(),
                Duration::from_millis(500),
            )
            .is_ok()
        },
    );
    assert_eq!(
        support::node::get(&format!("{again_ip}:80"), "/index.html"),
        (200, "hello from a container\n".to_owned())
    );
    eventually(
        "another root filesystem ready",
        Duration::from_secs(10),
        || mounts_under(&ready).len() == 1,
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
    // The container calls the Wasm Service through the pods' DNS and router, on the
    // Service's port 80 and on another port, and serves the answers' heads (the echo guest
    // answers with what reached it).
    let fetch = "until wget -S -O /dev/null http://echo.default.svc/from-a-container 2>/www/from-wasm.txt; do sleep 0.2; done; until wget -S -O /dev/null http://echo-alt:8081/on-8081 2>/www/alt.txt; do sleep 0.2; done;";
    let alt = "apiVersion: v1\nkind: Service\nmetadata: {name: echo-alt}\nspec:\n  selector: {name: echo}\n  ports: [{port: 8081, targetPort: 8080}]\n---\n";
    let manifests = format!(
        "{}{}{alt}",
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
    eventually(
        "the container's call to port 8081",
        Duration::from_secs(60),
        || http.get(&router, "web.example.com", "/alt.txt").status == 200,
    );
    let seen = http.get(&router, "web.example.com", "/alt.txt").text();
    assert!(seen.contains("x-echo-path: /on-8081"), "{seen}");
    // Wasm -> container, by Service name, from a guest on whichever node it runs.
    let url = "http%3A%2F%2Fweb.default.svc%2Findex.html";
    let r = http.get(&router, "echo.default.svc", &format!("/call?url={url}"));
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "hello from a container\n")
    );
}

/// A pod of one busybox container on n1 running `script`, with `extra` YAML in the
/// container.
fn script_pod(name: &str, image: &str, policy: &str, script: &str, extra: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  nodeName: n1\n  restartPolicy: {policy}\n  terminationGracePeriodSeconds: 2\n  containers:\n  - name: main\n    image: {image}\n    command: [sh, -c, '{script}']\n{extra}"
    )
}

/// Process `pid`'s `THP_enabled` (`self`: this one's).
fn thp_enabled(pid: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("THP_enabled:").map(|v| v.trim().to_owned()))
        .unwrap_or_default()
}

fn state<'a>(p: &'a serde_json::Value, which: &str) -> &'a serde_json::Value {
    &p["status"]["containerStatuses"][0][which]
}

#[test]
fn limits_hold_a_memory_hog_and_a_fork_bomb_and_a_failing_liveness_probe_restarts() {
    let c = ContainerCluster::start(&["n1"]);
    let s = c.server.as_str();
    let hog = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: hog}}\nspec:\n  nodeName: n1\n  restartPolicy: Never\n  containers:\n  - name: main\n    image: {}\n    command: [dd, if=/dev/zero, of=/dev/null, bs=256M, count=1]\n    resources: {{limits: {{memory: 32Mi}}}}\n",
        c.busybox
    );
    // A fork bomb, and a neighbour that must keep answering.
    let bomb = script_pod(
        "bomb",
        &c.busybox,
        "Never",
        "echo bombing; b() { b | b & }; b; sleep 600",
        "",
    );
    let neighbour = httpd_pod("neighbour", &c.busybox, "");
    let probed = script_pod(
        "probed",
        &c.busybox,
        "Always",
        "echo started; touch /tmp/healthy; sleep 2; until [ -s /tmp/thp ]; do sleep 0.1; done; echo thp=$(cat /tmp/thp); rm /tmp/healthy; sleep 600",
        // The probe's command also notes whether it runs with transparent huge pages.
        "    livenessProbe: {exec: {command: [sh, -c, \"grep THP_enabled /proc/self/status | tr -dc 0-9 > /tmp/thp; cat /tmp/healthy\"]}, periodSeconds: 1, failureThreshold: 1}\n",
    );
    let all = [hog, bomb, neighbour, probed].join("---\n");
    apply(s, &c.dir.path().join("pods.yaml"), &all);

    let p = wait_for(s, &["pod", "hog"], |p| {
        state(p, "state")["terminated"].is_object()
    });
    let t = &state(&p, "state")["terminated"];
    assert_eq!(
        (t["reason"].as_str(), t["exitCode"].as_i64()),
        (Some("OOMKilled"), Some(137)),
        "{t}"
    );

    let p = wait_for(s, &["pod", "neighbour"], |p| {
        p["status"]["podIP"].is_string() && state(p, "state")["running"].is_object()
    });
    let neighbour_ip = p["status"]["podIP"].as_str().unwrap().to_owned();
    let bomb = wait_for(s, &["pod", "bomb"], |p| {
        state(p, "state")["running"].is_object()
    });
    let bomb_uid = bomb["metadata"]["uid"].as_str().unwrap().to_owned();
    // The bomb reaches its pids limit (the agents' --pod-pids-limit) and stays there.
    let pids = || -> u64 {
        pod_cgroups(&bomb_uid)
            .iter()
            .find(|p| {
                p.parent()
                    .and_then(|p| p.parent())
                    .is_some_and(|h| h.ends_with("pids"))
            })
            .and_then(|p| std::fs::read_to_string(p.join("main/pids.current")).ok())
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0)
    };
    eventually(
        "the fork bomb to reach its limit",
        Duration::from_secs(30),
        || pids() >= 60,
    );
    assert!(pids() <= 64, "{} processes", pids());
    for _ in 0..5 {
        let (status, body) = get(&format!("{neighbour_ip}:80"), "/index.html");
        assert_eq!((status, body.as_str()), (200, "hello from a container\n"));
    }

    // The exec liveness probe starts failing after 2 s: the container restarts.
    let p = wait_for(s, &["pod", "probed"], |p| {
        state(p, "restartCount").as_u64() >= Some(1) && state(p, "state")["running"].is_object()
    });
    assert!(state(&p, "lastState")["terminated"].is_object(), "{p:#}");
    let logs = skiff(s, &["logs", "probed", "--previous"]);
    // An exec probe gets the machine's transparent huge pages setting, as this test
    // process has it, not the agent's (which has none).
    assert_eq!(
        String::from_utf8_lossy(&logs.stdout).trim(),
        format!("started\nthp={}", thp_enabled("self")),
        "{}",
        String::from_utf8_lossy(&logs.stderr)
    );
}

#[test]
fn a_container_outlives_its_agent_and_is_adopted_again() {
    let mut c = ContainerCluster::start(&["n1"]);
    let s = c.server.clone();
    apply(
        &s,
        &c.dir.path().join("pod.yaml"),
        &httpd_pod("web", &c.busybox, ""),
    );
    let p = wait_for(&s, &["pod", "web"], |p| {
        state(p, "state")["running"].is_object() && p["status"]["podIP"].is_string()
    });
    let ip = p["status"]["podIP"].as_str().unwrap().to_owned();
    let started = state(&p, "state")["running"]["startedAt"].clone();
    let uid = p["metadata"]["uid"].as_str().unwrap().to_owned();
    let pid_file = c
        .data("n1")
        .join("containers/pods")
        .join(&uid)
        .join("runs/web/container.pid");
    let pid = std::fs::read_to_string(&pid_file).unwrap();

    c.agents[0].stop(); // SIGKILL
    let (status, _) = get(&format!("{ip}:80"), "/index.html");
    assert_eq!(status, 200, "the container serves while no agent runs");
    c.agents[0] = c.agent("n1", 0);
    // Adopted: the same process, not counted as a restart.
    std::thread::sleep(Duration::from_secs(3));
    let p = wait_for(&s, &["pod", "web"], |p| {
        state(p, "state")["running"].is_object()
    });
    assert_eq!(state(&p, "restartCount"), 0, "{p:#}");
    assert_eq!(std::fs::read_to_string(&pid_file).unwrap(), pid);
    let (status, body) = get(&format!("{ip}:80"), "/index.html");
    assert_eq!((status, body.as_str()), (200, "hello from a container\n"));
    let _ = started;
    // The namespaces the killed agent kept ready are removed; the pod's stays (the new
    // agent keeps some ready again once it starts a pod).
    let netns = c.data("n1").join("containers/net/netns");
    eventually(
        "the old agent's spare namespaces to go",
        Duration::from_secs(30),
        || std::fs::read_dir(&netns).map(|d| d.count()).unwrap_or(0) == 1,
    );
    // And it still goes when the pod does.
    let out = skiff(&s, &["delete", "pod", "web"]);
    assert!(out.status.success());
    eventually(
        "the adopted container to go",
        Duration::from_secs(30),
        || pod_cgroups(&uid).is_empty(),
    );
}

#[test]
fn bad_images_are_waiting_reasons_that_say_why_and_the_node_stays_healthy() {
    let c = ContainerCluster::start(&["n1"]);
    let s = c.server.as_str();
    let r = &c.registry;
    let arm = format!("{}/skiff/busybox-arm:1", r.addr);
    push_busybox(&r.addr, &arm, Some(&["sh"]), "arm64");
    let bare = format!("{}/skiff/bare:1", r.addr);
    push_busybox(&r.addr, &bare, None, "amd64");
    let corrupt = format!("{}/skiff/corrupt:1", r.addr);
    let pushed = push_busybox(&r.addr, &corrupt, Some(&["sh"]), "amd64");
    // The registry now serves other bytes for the layer than the manifest's digest.
    let blob = r.blob_file(&pushed.layer);
    let mut bytes = std::fs::read(&blob).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&blob, bytes).unwrap();
    let refusing = Registry::start_with(
        "auth:\n  silly:\n    realm: silly-realm\n    service: silly-service\n",
    );
    let refused = format!("{}/skiff/busybox:1", refusing.addr);
    let missing = format!("{}/skiff/nothing-here:1", r.addr);

    let pod = |name: &str, image: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  nodeName: n1\n  containers:\n  - name: main\n    image: {image}\n"
        )
    };
    let all = [
        pod("missing", &missing),
        pod("refused", &refused),
        pod("corrupt", &corrupt),
        pod("arm", &arm),
        pod("bare", &bare),
    ]
    .join("---\n");
    apply(s, &c.dir.path().join("bad.yaml"), &all);
    let waiting = |name: &str, reasons: &[&str], says: &str| {
        let p = wait_for(s, &["pod", name], |p| {
            let w = &state(p, "state")["waiting"];
            w["reason"].as_str().is_some_and(|r| reasons.contains(&r))
                && w["message"].as_str().is_some_and(|m| m.contains(says))
        });
        state(&p, "state")["waiting"]["message"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let pull = ["ErrImagePull", "ImagePullBackOff"];
    waiting("missing", &pull, "nothing-here");
    waiting("refused", &pull, &refusing.addr);
    waiting("corrupt", &pull, "sha256");
    waiting("arm", &pull, "linux/arm64; this node runs linux/amd64");
    waiting("bare", &["CreateContainerError"], "no command specified");
    // The kubelet's events say so too.
    wait_for(s, &["ev"], |list| {
        list["items"].as_array().is_some_and(|items| {
            items.iter().any(|e| {
                e["involvedObject"]["name"] == "missing"
                    && e["reason"] == "Failed"
                    && e["type"] == "Warning"
                    && e["message"]
                        .as_str()
                        .is_some_and(|m| m.starts_with("Failed to pull image"))
            })
        })
    });

    // The node is still Ready and still runs a good pod.
    apply(
        s,
        &c.dir.path().join("good.yaml"),
        &httpd_pod("good", &c.busybox, ""),
    );
    let p = wait_for(s, &["pod", "good"], |p| {
        state(p, "state")["running"].is_object()
    });
    let ip = p["status"]["podIP"].as_str().unwrap();
    assert_eq!(get(&format!("{ip}:80"), "/index.html").0, 200);
    let n = wait_for(s, &["node", "n1"], |_| true);
    assert_eq!(n["status"]["conditions"][0]["status"], "True");
}

#[test]
fn a_private_image_pulls_with_its_pull_secret_and_a_zstd_layer_unpacks() {
    use base64::Engine;
    let c = ContainerCluster::start(&["n1"]);
    let s = c.server.as_str();
    let private = private_registry(c.dir.path(), "puller", "s3cret");
    let image = format!("{}/team/busybox:zstd", private.addr);
    let options = PushOptions {
        zstd: true,
        basic: Some(("puller".into(), "s3cret".into())),
    };
    push_busybox_with(&private.addr, &image, Some(&["sh"]), "amd64", &options);
    let secret = |name: &str, password: &str| {
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("puller:{password}"));
        let config = format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, private.addr);
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}}}\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: {}\n",
            base64::engine::general_purpose::STANDARD.encode(config)
        )
    };
    let pulls = |secret: &str| format!("  imagePullSecrets: [{{name: {secret}}}]\n");
    // Those without the right secret ask the registry every time (`Always`), as under the
    // kubelet: with `IfNotPresent` a node uses an image it has, whoever pulled it.
    let always = |name: &str, extra: &str| {
        httpd_pod(name, &image, extra)
            .replace("    image: ", "    imagePullPolicy: Always\n    image: ")
    };
    let all = [
        secret("regcred", "s3cret"),
        secret("wrong", "guess"),
        httpd_pod("with-secret", &image, &pulls("regcred")),
        always("wrong-secret", &pulls("wrong")),
        always("no-secret", ""),
    ]
    .join("---\n");
    apply(s, &c.dir.path().join("private.yaml"), &all);

    // The right secret pulls the image, whose zstd layer unpacks into a working root.
    let p = wait_for(s, &["pod", "with-secret"], |p| {
        state(p, "state")["running"].is_object() && p["status"]["podIP"].is_string()
    });
    let ip = p["status"]["podIP"].as_str().unwrap();
    let (status, body) = get(&format!("{ip}:80"), "/index.html");
    assert_eq!((status, body.as_str()), (200, "hello from a container\n"));
    // A wrong password and none at all are refused by the registry, and say so.
    for name in ["wrong-secret", "no-secret"] {
        let p = wait_for(s, &["pod", name], |p| {
            let w = &state(p, "state")["waiting"];
            w["reason"]
                .as_str()
                .is_some_and(|r| ["ErrImagePull", "ImagePullBackOff"].contains(&r))
                && w["message"].as_str().is_some_and(|m| !m.is_empty())
        });
        let message = state(&p, "state")["waiting"]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            message.contains(&private.addr) && message.to_lowercase().contains("auth"),
            "{name}: {message}"
        );
    }
}
