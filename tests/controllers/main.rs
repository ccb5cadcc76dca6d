//! The scheduler and the controllers with real node agents: one control-plane member and
//! several `skiff node` processes running the example Wasm guests. Rollouts and
//! rollbacks, a killed agent's pods moving, Jobs, DaemonSets, cordon and drain; agents
//! killed and restarted all through a rollout and a Job (`agent_chaos`).

#[path = "../support/mod.rs"]
mod support;

mod agent_chaos;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::node::{Agent, apply, guest, skiff};

/// A member and agents `n1`..`nN`, in a temporary folder.
struct Fleet {
    agents: BTreeMap<String, Agent>,
    _members: support::Members,
    server: String,
    dir: tempfile::TempDir,
}

impl Fleet {
    fn start(nodes: usize) -> Fleet {
        let members = support::Members::start(1);
        members.leader(1);
        let server = members.addr(1);
        let mut f = Fleet {
            agents: BTreeMap::new(),
            _members: members,
            server,
            dir: tempfile::tempdir().unwrap(),
        };
        for i in 1..=nodes {
            f.add(&format!("n{i}"));
        }
        for i in 1..=nodes {
            f.wait_node(&format!("n{i}"));
        }
        f
    }

    fn add(&mut self, name: &str) {
        let d = self.dir.path();
        let agent = Agent::named(
            name,
            &self.server,
            &d.join(name),
            &d.join(format!("{name}.log")),
        );
        self.agents.insert(name.to_owned(), agent);
    }

    fn wait_node(&self, name: &str) {
        wait(&self.server, &format!("node {name} Ready"), 30, |s| {
            get_json(s, &["node", name]).is_some_and(|n| {
                n["status"]["conditions"].as_array().is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                })
            })
        });
    }

    fn apply(&self, file: &str, yaml: &str) {
        apply(&self.server, &self.dir.path().join(file), yaml);
    }

    fn skiff(&self, args: &[&str]) -> (bool, String) {
        let out = skiff(&self.server, args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }
}

fn get_json(server: &str, what: &[&str]) -> Option<Value> {
    let mut args = vec!["get"];
    args.extend_from_slice(what);
    args.extend_from_slice(&["-o", "json"]);
    let out = skiff(server, &args);
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).ok())
        .flatten()
}

fn wait(server: &str, what: &str, secs: u64, ok: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok(server) {
        assert!(
            Instant::now() < deadline,
            "timed out after {secs} s waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The pods with label `app=<app>`, as JSON.
fn pods(server: &str, app: &str) -> Vec<Value> {
    get_json(server, &["pods", "-l", &format!("app={app}")])
        .and_then(|v| v["items"].as_array().cloned())
        .unwrap_or_default()
}

fn ready(p: &Value) -> bool {
    p["status"]["phase"] == "Running"
        && p["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

fn env_version(p: &Value) -> Option<String> {
    p["spec"]["containers"][0]["env"]
        .as_array()
        .and_then(|e| e.iter().find(|v| v["name"] == "VERSION"))
        .and_then(|v| v["value"].as_str().map(str::to_owned))
}

fn web(replicas: u32, version: Option<&str>, wasm: &Path) -> String {
    let env = version
        .map(|v| format!("        env: [{{name: VERSION, value: {v}}}]\n"))
        .unwrap_or_default();
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: web}}}}\n  strategy: {{rollingUpdate: {{maxSurge: 1, maxUnavailable: 1}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      runtimeClassName: wasm\n      containers:\n      - name: web\n        image: {}\n        ports: [{{containerPort: 8080}}]\n{env}",
        wasm.display()
    )
}

#[test]
fn a_deployment_rolls_forward_and_back_never_below_its_minimum() {
    let f = Fleet::start(2);
    let wasm = guest("hello_http.wasm");
    f.apply("web.yaml", &web(3, None, &wasm));
    let (ok, out) = f.skiff(&["rollout", "status", "deployment/web", "--timeout", "60"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("deployment \"web\" successfully rolled out"),
        "{out}"
    );
    let first = pods(&f.server, "web");
    assert_eq!(first.iter().filter(|p| ready(p)).count(), 3);
    let nodes: std::collections::BTreeSet<_> = first
        .iter()
        .map(|p| p["spec"]["nodeName"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(nodes.len(), 2, "replicas spread over both nodes");

    // Sample readiness all through the rollout to v2 and the undo back to v1: never
    // fewer than replicas - maxUnavailable = 2 ready.
    let stop = Arc::new(AtomicBool::new(false));
    let lowest = Arc::new(Mutex::new((usize::MAX, 0usize)));
    // Over one connection kept open, so a sample costs a list, not a process and a
    // handshake: many samples however loaded the machine is.
    let sampler = {
        let (server, stop, lowest) = (f.server.clone(), stop.clone(), lowest.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async {
                use skiff_proto::grpc::api::ListRequest;
                use skiff_proto::grpc::api::object_service_client::ObjectServiceClient;
                let ch = support::pki::channel(&server).await.unwrap();
                let mut api = ObjectServiceClient::new(ch);
                while !stop.load(Ordering::Relaxed) {
                    let listed = api
                        .list(ListRequest {
                            kind: "Pod".into(),
                            namespace: "default".into(),
                            label_selector: "app=web".into(),
                            ..Default::default()
                        })
                        .await
                        .unwrap()
                        .into_inner();
                    let n = listed
                        .items
                        .iter()
                        .filter_map(|o| serde_json::from_slice::<Value>(&o.json).ok())
                        .filter(ready)
                        .count();
                    let mut l = lowest.lock().unwrap();
                    l.0 = l.0.min(n);
                    l.1 += 1;
                }
            })
        })
    };
    f.apply("web.yaml", &web(3, Some("v2"), &wasm));
    let (ok, out) = f.skiff(&["rollout", "status", "deployment/web", "--timeout", "60"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("new replicas have been updated"),
        "progress is shown live: {out}"
    );
    let now: Vec<_> = pods(&f.server, "web");
    assert_eq!(now.len(), 3);
    assert!(now.iter().all(|p| env_version(p).as_deref() == Some("v2")));

    let (ok, out) = f.skiff(&["rollout", "history", "deployment/web"]);
    assert!(
        ok && out.contains("REVISION") && out.contains("\n1 ") && out.contains("\n2 "),
        "{out}"
    );
    let (ok, out) = f.skiff(&["rollout", "undo", "deployment/web"]);
    assert!(
        ok && out.contains("deployment.apps/web rolled back"),
        "{out}"
    );
    let (ok, out) = f.skiff(&["rollout", "status", "deployment/web", "--timeout", "60"]);
    assert!(ok, "{out}");
    wait(&f.server, "three v1 pods", 30, |s| {
        let ps = pods(s, "web");
        ps.len() == 3 && ps.iter().all(|p| env_version(p).is_none() && ready(p))
    });
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let (lowest, samples) = *lowest.lock().unwrap();
    assert!(samples > 10, "only {samples} samples");
    assert!(lowest >= 2, "only {lowest} pods were ready at one point");
    // The rollback is revision 3, with the template of revision 1.
    let (_, out) = f.skiff(&["rollout", "history", "deployment/web"]);
    assert!(
        out.contains("\n2 ") && out.contains("\n3 ") && !out.contains("\n1 "),
        "{out}"
    );

    // Scale, and pause: a paused Deployment scales but does not roll.
    let (ok, out) = f.skiff(&["scale", "deployment/web", "--replicas", "1"]);
    assert!(ok && out.contains("deployment.apps/web scaled"), "{out}");
    wait(&f.server, "one replica", 30, |s| pods(s, "web").len() == 1);
    let (ok, out) = f.skiff(&["rollout", "pause", "deployment/web"]);
    assert!(ok && out.contains("paused"), "{out}");
    let restarted =
        |p: &Value| p["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"].is_string();
    let (ok, out) = f.skiff(&["rollout", "restart", "deployment/web"]);
    assert!(ok && out.contains("restarted"), "{out}");
    let (ok, _) = f.skiff(&["scale", "deployment/web", "--replicas", "2"]);
    assert!(ok);
    wait(
        &f.server,
        "two replicas of the old template while paused",
        30,
        |s| {
            let ps = pods(s, "web");
            ps.len() == 2 && ps.iter().all(|p| !restarted(p) && ready(p))
        },
    );
    let (ok, _) = f.skiff(&["rollout", "resume", "deployment/web"]);
    assert!(ok);
    let (ok, out) = f.skiff(&["rollout", "status", "deployment/web", "--timeout", "60"]);
    assert!(ok, "{out}");
    wait(&f.server, "every pod replaced after the resume", 30, |s| {
        let ps = pods(s, "web");
        ps.len() == 2 && ps.iter().all(restarted)
    });
}

#[test]
fn a_rollout_whose_pods_never_get_ready_reports_its_deadline() {
    let f = Fleet::start(1);
    let wasm = guest("hello_http.wasm");
    f.apply("web.yaml", &web(1, None, &wasm));
    let (ok, out) = f.skiff(&["rollout", "status", "deployment/web", "--timeout", "60"]);
    assert!(ok, "{out}");
    // An image that is not there: the new pod never starts.
    let broken = web(1, None, &wasm)
        .replace(
            &format!("image: {}", wasm.display()),
            "image: sha256:1111111111111111111111111111111111111111111111111111111111111111",
        )
        .replace(
            "spec:\n  replicas",
            "spec:\n  progressDeadlineSeconds: 2\n  replicas",
        )
        .replace("maxUnavailable: 1", "maxUnavailable: 0");
    f.apply("web.yaml", &broken);
    let (ok, out) = f.skiff(&["rollout", "status", "deployment/web", "--timeout", "60"]);
    assert!(!ok, "{out}");
    assert!(out.contains("exceeded its progress deadline"), "{out}");
    // The old pod still serves.
    assert_eq!(
        pods(&f.server, "web").iter().filter(|p| ready(p)).count(),
        1
    );
}

#[test]
fn a_killed_agents_pods_run_elsewhere() {
    let mut f = Fleet::start(2);
    let wasm = guest("hello_http.wasm");
    f.apply("web.yaml", &web(2, None, &wasm));
    let (ok, out) = f.skiff(&["rollout", "status", "deployment/web", "--timeout", "60"]);
    assert!(ok, "{out}");
    let on = |n: &str| {
        pods(&f.server, "web")
            .iter()
            .filter(|p| p["spec"]["nodeName"] == n && ready(p))
            .count()
    };
    assert_eq!((on("n1"), on("n2")), (1, 1), "one replica per node");
    let killed = Instant::now();
    f.agents.get_mut("n1").unwrap().stop();
    wait(&f.server, "both replicas ready on n2", 30, |s| {
        let ps = pods(s, "web");
        ps.len() == 2 && ps.iter().all(|p| p["spec"]["nodeName"] == "n2" && ready(p))
    });
    // How long it takes is a figure, not an outcome: a loaded machine may be slower.
    eprintln!(
        "pods running elsewhere {:?} after the agent was killed",
        killed.elapsed()
    );
    let node = get_json(&f.server, &["node", "n1"]).unwrap();
    assert!(
        node["spec"]["taints"]
            .to_string()
            .contains("node.kubernetes.io/unreachable")
    );
}

#[test]
fn a_job_runs_to_completion_on_real_agents() {
    let f = Fleet::start(2);
    let wasm = guest("sleep.wasm");
    f.apply(
        "job.yaml",
        &format!(
            "apiVersion: batch/v1\nkind: Job\nmetadata: {{name: nap}}\nspec:\n  completions: 3\n  parallelism: 2\n  template:\n    spec:\n      runtimeClassName: wasm\n      restartPolicy: Never\n      containers:\n      - name: nap\n        image: {}\n        args: ['0']\n",
            wasm.display()
        ),
    );
    wait(&f.server, "the job to complete", 60, |s| {
        get_json(s, &["job", "nap"]).is_some_and(|j| {
            j["status"]["succeeded"] == 3
                && j["status"]["conditions"].to_string().contains("Complete")
        })
    });
    let done = get_json(&f.server, &["pods", "-l", "job-name=nap"]).unwrap();
    let items = done["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert!(items.iter().all(|p| p["status"]["phase"] == "Succeeded"));
    // The nodes that ran them report the compiled component, for artifact locality.
    let digest = format!(
        "sha256:{}",
        skiff_node::wasm::sha256_hex(&std::fs::read(&wasm).unwrap())
    );
    let node = items[0]["spec"]["nodeName"].as_str().unwrap().to_owned();
    wait(&f.server, "the node reporting the artifact", 10, |s| {
        get_json(s, &["node", &node]).is_some_and(|n| {
            n["status"]["images"].as_array().is_some_and(|i| {
                i.iter().any(|i| {
                    i["names"].to_string().contains(&digest) && i["sizeBytes"].as_u64() > Some(0)
                })
            })
        })
    });
}

#[test]
fn a_daemon_set_follows_nodes_and_drain_moves_the_rest() {
    let mut f = Fleet::start(2);
    let wasm = guest("hello_http.wasm");
    f.apply(
        "ds.yaml",
        &format!(
            "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {{name: edge}}\nspec:\n  selector: {{matchLabels: {{app: edge}}}}\n  template:\n    metadata: {{labels: {{app: edge}}}}\n    spec:\n      runtimeClassName: wasm\n      containers:\n      - name: edge\n        image: {}\n        ports: [{{containerPort: 8080}}]\n",
            wasm.display()
        ),
    );
    let placed = |s: &str| {
        let mut n: Vec<String> = pods(s, "edge")
            .iter()
            .filter(|p| ready(p))
            .filter_map(|p| p["spec"]["nodeName"].as_str().map(str::to_owned))
            .collect();
        n.sort();
        n
    };
    wait(&f.server, "a daemon pod on each node", 30, |s| {
        placed(s) == ["n1", "n2"]
    });
    f.add("n3");
    f.wait_node("n3");
    wait(&f.server, "a daemon pod on the new node", 30, |s| {
        placed(s) == ["n1", "n2", "n3"]
    });
    f.agents.get_mut("n3").unwrap().stop();
    let (ok, out) = f.skiff(&["delete", "node", "n3"]);
    assert!(ok, "{out}");
    wait(
        &f.server,
        "the daemon pod of the gone node deleted",
        30,
        |s| pods(s, "edge").len() == 2,
    );

    // Drain n1: the Deployment's pods move to n2; the daemon pod stays.
    f.apply("web.yaml", &web(2, None, &wasm));
    let (ok, out) = f.skiff(&["rollout", "status", "deployment/web", "--timeout", "60"]);
    assert!(ok, "{out}");
    let (ok, out) = f.skiff(&["drain", "n1", "--timeout", "30"]);
    assert!(!ok && out.contains("--ignore-daemonsets"), "{out}");
    let (ok, out) = f.skiff(&["drain", "n1", "--ignore-daemonsets", "--timeout", "30"]);
    assert!(ok && out.contains("node/n1 drained"), "{out}");
    wait(&f.server, "the web pods on n2", 30, |s| {
        let ps = pods(s, "web");
        ps.len() == 2 && ps.iter().all(|p| p["spec"]["nodeName"] == "n2" && ready(p))
    });
    assert_eq!(placed(&f.server), ["n1", "n2"], "daemon pods stay");
    let node = get_json(&f.server, &["node", "n1"]).unwrap();
    assert_eq!(node["spec"]["unschedulable"], true);
    let (ok, out) = f.skiff(&["uncordon", "n1"]);
    assert!(ok && out.contains("node/n1 uncordoned"), "{out}");
}
