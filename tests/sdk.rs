//! The guest SDK's capabilities on a real cluster (a member and a node agent): the
//! `kv-counter` example counting exactly under concurrent clients across replicas, the
//! `config` example reading a ConfigMap and a Secret and logging, `upload` streaming a body
//! larger than its pod's memory, and a component that
//! imports a capability its pod was not granted refused with the import's name.

mod support;

use base64::Engine as _;

use support::http::{Http, request};
use support::node::{guest, ingress, logs, skiff, wait_for};
use support::routing::{Cluster, eventually};

/// A Deployment of `wasm` named `name` with `replicas`, its container given `wasi`
/// (YAML flow mapping, or empty), behind a Service and an Ingress for host `NAME.local`.
fn app(name: &str, wasm: &str, replicas: u32, wasi: &str) -> String {
    let wasi = match wasi {
        "" => String::new(),
        w => format!("        wasi: {w}\n"),
    };
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      runtimeClassName: wasm
      containers:
      - name: main
        image: {}
{wasi}---
apiVersion: v1
kind: Service
metadata: {{name: {name}}}
spec:
  selector: {{app: {name}}}
  ports: [{{port: 80}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: {name}}}
spec:
  rules:
  - host: {name}.local
    http: {{paths: [{{path: /, pathType: Prefix, backend: {{service: {{name: {name}, port: {{number: 80}}}}}}}}]}}
---
",
        guest(wasm).display()
    )
}

/// `examples/NAME/app.yaml`, its image pointed at the built guest `wasm`.
fn example_app(name: &str, wasm: &str) -> String {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("examples/{name}/app.yaml"));
    std::fs::read_to_string(path).unwrap().replace(
        &format!("examples/target/wasm32-wasip2/release/{wasm}"),
        &guest(wasm).display().to_string(),
    )
}

#[test]
fn kv_counter_counts_every_request_exactly_across_replicas() {
    let c = Cluster::start(&["n1"], &[]);
    let addr = ingress(&c.server, "n1");
    c.apply(
        "counter.yaml",
        &app(
            "counter",
            "kv_counter.wasm",
            3,
            "{keyvalue: {buckets: [counter]}}",
        ),
    );
    c.ready("counter", 3);
    let http = Http::new();
    // The first count: the route is there and the bucket works.
    let mut first = 0;
    eventually("the counter answers", || {
        let r = http.get(&addr, "counter.local", "/");
        first = r.text().trim().parse().unwrap_or(0);
        r.status == 200
    });
    assert_eq!(first, 1, "the first request counts 1");
    // 8 clients, 25 requests each, all at once: every count from 2 to 201 is handed out
    // exactly once, whichever replica answers.
    let (clients, each) = (8, 25);
    let mut seen: Vec<u64> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..clients)
            .map(|_| {
                s.spawn(|| {
                    (0..each)
                        .map(|_| {
                            let r = http.get(&addr, "counter.local", "/");
                            assert_eq!(r.status, 200, "{}", r.text());
                            r.text().trim().parse::<u64>().unwrap()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    seen.sort_unstable();
    let expected: Vec<u64> = (2..=1 + clients * each).collect();
    assert_eq!(seen, expected, "each count exactly once");
    // `/log/WORD` appends with a compare-and-swap loop: 8 clients × 10 words, each answer
    // (the log's length after that client's swap) is handed out exactly once and the log
    // ends with every word.
    let each = 10;
    let mut lengths: Vec<u64> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..clients)
            .map(|c| {
                let http = &http;
                let addr = &addr;
                s.spawn(move || {
                    (0..each)
                        .map(|i| {
                            let r = http.get(addr, "counter.local", &format!("/log/w{c}-{i}"));
                            assert_eq!(r.status, 200, "{}", r.text());
                            r.text().trim().parse::<u64>().unwrap()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    lengths.sort_unstable();
    assert_eq!(lengths, (1..=clients * each).collect::<Vec<u64>>());
    // The entries are objects of the namespace, readable by people.
    let out = skiff(&c.server, &["get", "keyvalues", "-o", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let items = list["items"].as_array().expect("a list");
    assert_eq!(items.len(), 2, "{list:#}");
    let entry = |key: &str| {
        let item = items.iter().find(|i| i["key"] == key).expect(key);
        assert_eq!(item["bucket"], "counter");
        let value = item["value"].as_str().expect("base64 text");
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(value)
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(entry("/"), "201");
    let mut words: Vec<String> = entry("log").lines().map(str::to_owned).collect();
    words.sort();
    let mut expected: Vec<String> = (0..clients)
        .flat_map(|c| (0..each).map(move |i| format!("w{c}-{i}")))
        .collect();
    expected.sort();
    assert_eq!(words, expected, "every appended word, once");
    // Entries are counted by a ResourceQuota: at its limit a new key is refused, with
    // why, and the existing one still counts.
    c.apply(
        "quota.yaml",
        "apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: kv}\nspec: {hard: {count/keyvalues.skiff.dev: \"2\"}}\n",
    );
    let mut text = String::new();
    eventually("the quota refuses a second key", || {
        let r = http.get(&addr, "counter.local", "/other");
        text = r.text();
        r.status == 500
    });
    assert!(text.contains("quota"), "{text}");
    assert_eq!(http.get(&addr, "counter.local", "/").text(), "202\n");
}

#[test]
fn the_config_example_reads_its_configmap_and_secret_and_logs() {
    let c = Cluster::start(&["n1"], &[]);
    let addr = ingress(&c.server, "n1");
    let manifests = example_app("config", "config.wasm");
    c.apply("config.yaml", &manifests);
    c.ready("greeter", 1);
    let http = Http::new();
    eventually("the greeter answers", || {
        http.get(&addr, "greeter.local", "/").status == 200
    });
    let r = http.get(&addr, "greeter.local", "/");
    assert_eq!(r.text(), "Ahoy, Skiff! (a token of 6 characters)\n");
    let r = http.get(&addr, "greeter.local", "/keys");
    assert_eq!(r.text(), "greeting\nname\ntoken\n");
    // Streamed: no length ahead of the body.
    assert_eq!(r.header("content-length"), "", "{:?}", r.headers);
    // wasi:logging lands in the pod's log, one line per record.
    let pods = wait_for(&c.server, &["pods", "-l", "app=greeter"], |l| {
        l["items"][0]["metadata"]["name"].is_string()
    });
    let pod = pods["items"][0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    eventually("the log has the record", || {
        logs(&c.server, &[&pod]).contains("INFO greet: greeted Skiff")
    });
}

#[test]
fn a_capability_not_granted_is_refused_by_name() {
    let c = Cluster::start(&["n1"], &[]);
    let addr = ingress(&c.server, "n1");
    c.apply(
        "ungranted.yaml",
        &format!(
            "{}{}",
            app("bare", "kv_counter.wasm", 1, ""),
            app(
                "other",
                "kv_counter.wasm",
                1,
                "{keyvalue: {buckets: [other]}}"
            )
        ),
    );
    // No grant at all: the pod does not start, and says which import and how to grant it.
    let pods = wait_for(&c.server, &["pods", "-l", "app=bare"], |l| {
        l["items"][0]["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]
            == "CreateContainerConfigError"
    });
    let message = pods["items"][0]["status"]["containerStatuses"][0]["state"]["waiting"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("imports wasi:keyvalue/") && message.contains("was not granted"),
        "{message}"
    );
    assert!(message.contains("wasi: {keyvalue: {}}"), "{message}");
    // A grant of another bucket: the pod runs, and opening `counter` fails with why.
    c.ready("other", 1);
    let http = Http::new();
    let mut text = String::new();
    eventually("the route answers", || {
        let r = http.get(&addr, "other.local", "/");
        text = r.text();
        r.status == 500
    });
    assert!(text.contains("bucket \"counter\" is not granted"), "{text}");
}

#[test]
fn an_http_filter_guards_its_route_and_is_cut_off_at_its_limits() {
    let c = Cluster::start(&["n1"], &[]);
    let addr = ingress(&c.server, "n1");
    c.apply(
        "filtered.yaml",
        &format!(
            "{}apiVersion: skiff.dev/v1
kind: HttpFilter
metadata: {{name: auth}}
spec:
  image: {}
  config: {{token: s3cret}}
  timeout: 50ms
  memory: 16Mi
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: guarded}}
spec:
  hostnames: [guarded.local]
  rules:
  - backendRefs: [{{name: web, port: 80}}]
    filters:
    - type: ExtensionRef
      extensionRef: {{group: skiff.dev, kind: HttpFilter, name: auth}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: open}}
spec:
  hostnames: [open.local]
  rules:
  - backendRefs: [{{name: web, port: 80}}]
",
            support::routing::echo("web", "web", 1, ""),
            guest("auth_filter.wasm").display()
        ),
    );
    c.ready("web", 1);
    let http = Http::new();
    let with_token = |path: &str, token: Option<&str>| {
        let mut b =
            hyper::Request::get(format!("http://{addr}{path}")).header("host", "guarded.local");
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        http.send(b.body(support::http::body(bytes::Bytes::new())).unwrap())
    };
    eventually("the filter answers", || with_token("/", None).status == 401);
    let r = with_token("/", None);
    assert_eq!(r.text(), "a bearer token is needed\n");
    assert_eq!(with_token("/", Some("nope")).status, 403);
    let r = with_token("/hello", Some("s3cret"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-echo-path"), "/hello");
    // What the filter added reached the backend.
    let r = with_token("/x", Some("s3cret"));
    assert_eq!(r.header("x-echo-header-x-auth"), "ok", "{:?}", r.headers);
    // A filter that loops or hoards memory is stopped at its limit: that request fails,
    // the next ones and other routes do not notice.
    let r = with_token("/spin", Some("s3cret"));
    assert_eq!(r.status, 500, "{}", r.text());
    assert!(
        r.text().contains("ran past its time limit (50ms)"),
        "{}",
        r.text()
    );
    let r = with_token("/grow", Some("s3cret"));
    assert_eq!(r.status, 500, "{}", r.text());
    assert!(
        r.text().contains("ran out of its memory limit"),
        "{}",
        r.text()
    );
    assert_eq!(with_token("/after", Some("s3cret")).status, 200);
    assert_eq!(http.get(&addr, "open.local", "/").status, 200);
}

#[test]
fn an_admission_policy_denies_an_unlabelled_deployment_with_its_message() {
    let c = Cluster::start(&["n1"], &[]);
    c.apply(
        "policy.yaml",
        &format!(
            "apiVersion: skiff.dev/v1
kind: WasmAdmissionPolicy
metadata: {{name: require-labels}}
spec:
  image: {}
  config: {{labels: team}}
  matchResources: {{kinds: [Deployment]}}
",
            guest("require_labels.wasm").display()
        ),
    );
    let deployment = |labels: &str| {
        format!(
            "apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, labels: {{{labels}}}}}
spec:
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      runtimeClassName: wasm
      containers: [{{name: web, image: {}}}]
",
            guest("hello.wasm").display()
        )
    };
    let path = c.dir.path().join("web.yaml");
    std::fs::write(&path, deployment("app: web")).unwrap();
    let out = skiff(&c.server, &["apply", "-f", path.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "an unlabelled Deployment was stored");
    assert!(
        err.contains("admission policy \"require-labels\" denied")
            && err.contains("Deployment \"web\" must have the label(s) team"),
        "{err}"
    );
    let out = skiff(&c.server, &["get", "deployment", "web"]);
    assert!(!out.status.success(), "nothing was written");
    // With the label, the same write goes through; other kinds are not reviewed.
    c.apply("web.yaml", &deployment("app: web, team: blue"));
    wait_for(&c.server, &["deployment", "web"], |d| {
        d["metadata"]["labels"]["team"] == "blue"
    });
    c.apply(
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: unlabelled}\ndata: {a: b}\n",
    );
    // A mutating policy: a default fills the label in (a JSON merge patch).
    c.apply(
        "defaults.yaml",
        &format!(
            "apiVersion: skiff.dev/v1
kind: WasmAdmissionPolicy
metadata: {{name: tier-default}}
spec:
  image: {}
  config: {{labels: tier, defaults: tier=web}}
  matchResources: {{kinds: [Deployment]}}
",
            guest("require_labels.wasm").display()
        ),
    );
    std::fs::write(
        &path,
        deployment("app: web, team: blue").replace("name: web,", "name: api,"),
    )
    .unwrap();
    let out = skiff(&c.server, &["apply", "-f", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for(&c.server, &["deployment", "api"], |d| {
        d["metadata"]["labels"]["tier"] == "web" && d["metadata"]["labels"]["team"] == "blue"
    });
    // A policy that cannot run refuses what it matches (failurePolicy: Fail), and lets it
    // through with Ignore.
    let broken = |policy: &str| {
        format!(
            "apiVersion: skiff.dev/v1
kind: WasmAdmissionPolicy
metadata: {{name: broken}}
spec:
  image: {}
  matchResources: {{kinds: [ConfigMap]}}
  failurePolicy: {policy}
",
            guest("auth_filter.wasm").display()
        )
    };
    c.apply("broken.yaml", &broken("Fail"));
    let cm = c.dir.path().join("cm2.yaml");
    std::fs::write(
        &cm,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: refused}\n",
    )
    .unwrap();
    let out = skiff(&c.server, &["apply", "-f", cm.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a failing Fail policy let a write through"
    );
    assert!(
        err.contains("admission policy \"broken\" failed")
            && err.contains("not an admission policy"),
        "{err}"
    );
    c.apply("broken.yaml", &broken("Ignore"));
    c.apply(
        "cm2.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: let-through}\n",
    );
}

/// `skiff ARGS` in `dir` against `server`, which must succeed: its stdout.
fn skiff_in(dir: &std::path::Path, server: &str, args: &[&str]) -> String {
    let out = support::pki::skiff()
        .args(args)
        .current_dir(dir)
        .env("SKIFF_SERVER", server)
        // Not the user's `skiff dev` config; cargo keeps its own home.
        .env("SKIFF_CONFIG", dir.join("no-config"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skiff {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn new_deploy_edit_deploy_serves_the_new_body_without_a_failed_request() {
    let c = Cluster::start(&["n1"], &[]);
    let addr = ingress(&c.server, "n1");
    let dir = c.dir.path();
    skiff_in(dir, &c.server, &["new", "http", "greeter"]);
    let project = dir.join("greeter");
    let out = skiff_in(&project, &c.server, &["deploy", "--replicas", "2"]);
    assert!(
        out.contains("curl -H 'Host: greeter.local' http://"),
        "{out}"
    );
    let http = Http::new();
    let r = http.get(&addr, "greeter.local", "/a");
    assert_eq!(r.text(), "Hello from greeter! You asked for /a\n");
    // A client sends requests the whole time the new version rolls out.
    let lib = project.join("src/lib.rs");
    let source = std::fs::read_to_string(&lib).unwrap();
    std::fs::write(&lib, source.replace("Hello from", "Hi again from")).unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (statuses, bodies) = std::thread::scope(|s| {
        let client = s.spawn(|| {
            let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
            let mut bodies = std::collections::BTreeSet::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r = http.get(&addr, "greeter.local", "/b");
                *statuses.entry(r.status).or_default() += 1;
                bodies.insert(r.text());
            }
            (statuses, bodies)
        });
        skiff_in(&project, &c.server, &["deploy", "--replicas", "2"]);
        // A little more traffic on the new version alone.
        std::thread::sleep(std::time::Duration::from_millis(300));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        client.join().unwrap()
    });
    assert_eq!(
        statuses.keys().collect::<Vec<_>>(),
        [&200],
        "{statuses:?} {bodies:?}"
    );
    assert!(
        bodies.contains("Hi again from greeter! You asked for /b\n"),
        "{bodies:?}"
    );
    let r = http.get(&addr, "greeter.local", "/c");
    assert_eq!(r.text(), "Hi again from greeter! You asked for /c\n");
}

#[test]
fn an_upload_larger_than_the_pods_memory_streams_through() {
    let c = Cluster::start(&["n1"], &[]);
    let addr = ingress(&c.server, "n1");
    let manifests = example_app("upload", "upload.wasm");
    c.apply("upload.yaml", &manifests);
    c.ready("upload", 1);
    let http = Http::new();
    eventually("the function answers", || {
        http.get(&addr, "upload.local", "/").text() == "0 bytes, 0 lines\n"
    });
    // 12 MiB of lines (the router takes up to 16) into a pod allowed 4 MiB: read
    // whole, it could not fit.
    let line = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n";
    let body = line.repeat((12 << 20) / line.len());
    let r = http.send(request(
        "POST",
        &addr,
        "upload.local",
        "/",
        support::http::body(body.clone()),
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.text(),
        format!("{} bytes, {} lines\n", body.len(), (12 << 20) / 64)
    );
}

#[test]
fn the_job_example_runs_to_completion_and_logs() {
    let c = Cluster::start(&["n1"], &[]);
    let manifests = example_app("job", "job.wasm");
    c.apply("job.yaml", &manifests);
    wait_for(&c.server, &["job", "sum"], |j| {
        j["status"]["succeeded"] == 1
    });
    let pods = wait_for(&c.server, &["pods", "-l", "job-name=sum"], |l| {
        l["items"][0]["metadata"]["name"].is_string()
    });
    let pod = pods["items"][0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let log = logs(&c.server, &[&pod]);
    assert!(log.contains("total 42"), "{log}");
    assert!(log.contains("INFO job: added everything up"), "{log}");
}
