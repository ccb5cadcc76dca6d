//! Service routing through real node agents' routers: Ingress and HTTPRoute host and path
//! matching, weights, what reaches the workload, limits and timeouts, readiness, pods on
//! another node, a guest calling a Service by name. The `echo` example guest answers
//! (see `examples/echo/src/lib.rs` for its headers).

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use hyper::HeaderMap;
use support::http::{Http, body, request, with_trailers};
use support::node::{guest, ingress, skiff, wait_for};
use support::routing::{Cluster, echo, eventually, head_only};

const ROUTES: &str = "apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: site}
spec:
  rules:
  - host: example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: v1, port: {number: 80}}}}
      - {path: /about, pathType: Exact, backend: {service: {name: v2, port: {number: 80}}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: canary}
spec:
  hostnames: [canary.example.com]
  rules:
  - backendRefs:
    - {name: v1, port: 80, weight: 90}
    - {name: v2, port: 80, weight: 10}
  - matches: [{path: {type: Exact, value: /sleep}}]
    backendRefs: [{name: v1, port: 80}]
    timeouts: {request: 1s}
";

#[test]
fn ingress_and_httproute_route_by_host_path_and_weight() {
    let c = Cluster::start(
        &["n1"],
        &["--max-request-body", "1Mi", "--max-request-headers", "8Ki"],
    );
    let addr = ingress(&c.server, "n1");
    c.apply(
        "apps.yaml",
        &format!(
            "{}{}{ROUTES}",
            echo("v1", "web", 2, ""),
            echo("v2", "web", 1, "")
        ),
    );
    c.ready("v1", 2);
    c.ready("v2", 1);
    let http = Http::new();
    eventually("the router has the routes", || {
        http.get(&addr, "example.com", "/").status == 200
    });

    // Host and path pick the rule; the request arrives as sent.
    let r = http.get(&addr, "example.com", "/shop/item?id=7&q=a%20b");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-echo-name"), "v1");
    assert_eq!(r.header("x-echo-path"), "/shop/item?id=7&q=a%20b");
    assert_eq!(r.header("x-echo-authority"), "example.com");
    assert_eq!(
        http.get(&addr, "example.com", "/about")
            .header("x-echo-name"),
        "v2"
    );
    assert_eq!(
        http.get(&addr, "example.com", "/about/us")
            .header("x-echo-name"),
        "v1"
    );
    let none = http.get(&addr, "elsewhere.org", "/");
    assert_eq!(none.status, 404, "{}", none.text());
    assert!(none.text().contains("no route for host"), "{}", none.text());

    // Headers, body and trailers reach the guest and come back.
    let payload = vec![b'x'; 100_000];
    let mut trailers = HeaderMap::new();
    trailers.insert("x-checksum", "abc123".parse().unwrap());
    let mut req = request(
        "POST",
        &addr,
        "example.com",
        "/upload",
        with_trailers(payload.clone(), trailers),
    );
    req.headers_mut()
        .insert("x-tenant", "t-42".parse().unwrap());
    req.headers_mut().insert("te", "trailers".parse().unwrap());
    req.headers_mut()
        .insert("trailer", "x-checksum".parse().unwrap());
    let r = http.send(req);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-echo-method"), "POST");
    assert_eq!(r.header("x-echo-header-x-tenant"), "t-42");
    assert_eq!(r.body.len(), payload.len());
    let t = r.trailers.expect("trailers");
    assert_eq!(t["x-checksum"], "abc123");
    assert_eq!(t["x-echo-body-bytes"], "100000");

    // HTTP/2 with prior knowledge, on the same port.
    let h2 = hyper::Request::get("http://example.com/h2")
        .body(body(""))
        .unwrap();
    let r = http.send_h2(&addr, h2);
    assert_eq!((r.status, r.header("x-echo-name")), (200, "v1"));

    // Weights: 90/10 over 10,000 requests.
    let names = http.many(&addr, "canary.example.com", "/", 10_000, 16);
    let v2 = names.iter().filter(|n| *n == "v2").count();
    let v1 = names.iter().filter(|n| *n == "v1").count();
    assert_eq!(v1 + v2, 10_000);
    let share = v2 as f64 / 10_000.0;
    assert!(
        (0.085..=0.115).contains(&share),
        "v2 got {share:.3} of the traffic"
    );

    // Limits and timeouts: 413, 431, 504.
    // Refused on the head alone, before the client sends the body.
    let head = "POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 2097152\r\n\r\n";
    assert_eq!(head_only(&addr, head), 413);
    let mut req = request("GET", &addr, "example.com", "/", body(""));
    req.headers_mut()
        .insert("x-big", "y".repeat(10_000).parse().unwrap());
    assert_eq!(http.send(req).status, 431);
    let slow = http.get(&addr, "canary.example.com", "/sleep?ms=5000");
    assert_eq!(slow.status, 504, "{}", slow.text());
    assert!(
        slow.text().contains("within 1s (the route's timeout)"),
        "the route's timeout, not the node's 60 s: {}",
        slow.text()
    );

    // Counters per route and endpoint, and the access log.
    let m = http.get(&addr, "skiff-router", "/metrics").text();
    assert!(
        m.contains(r#"skiff_router_requests_total{route="httproute/default/canary",code="200"} "#),
        "{m}"
    );
    assert!(
        m.contains("skiff_router_endpoint_requests_total{service=\"default/v2\""),
        "{m}"
    );
    let log = std::fs::read_to_string(c.dir.path().join("n1.log")).unwrap();
    assert!(
        log.contains("skiff::access") && log.contains("route=\"ingress/default/site\""),
        "an access log line per request"
    );
}

#[test]
fn readiness_and_pods_on_other_nodes() {
    let c = Cluster::start(&["n1", "n2"], &[]);
    let addr = ingress(&c.server, "n1");
    let state = |n: &str| c.dir.path().join(format!("state-{n}"));
    let pinned = |name: &str, node: &str| {
        std::fs::create_dir_all(state(name)).unwrap();
        format!(
            "        readinessProbe: {{httpGet: {{path: /ready, port: 8080}}, periodSeconds: 1, failureThreshold: 1}}
        volumeMounts: [{{name: state, mountPath: /state}}]
      nodeSelector: {{kubernetes.io/hostname: {node}}}
      volumes: [{{name: state, hostPath: {{path: {}}}}}]
",
            state(name).display()
        )
    };
    c.apply(
        "flap.yaml",
        &format!(
            "apiVersion: v1
kind: Namespace
metadata:
  name: default
  # The pods keep state in hostPath folders.
  labels: {{pod-security.kubernetes.io/enforce: privileged}}
---
{}{}apiVersion: v1
kind: Service
metadata: {{name: flap}}
spec:
  selector: {{app: flap}}
  ports: [{{port: 80, targetPort: 8080}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: flap}}
spec:
  hostnames: [flap.example.com]
  rules: [{{backendRefs: [{{name: flap, port: 80}}]}}]
",
            echo("a", "flap", 1, &pinned("a", "n1")),
            echo("b", "flap", 1, &pinned("b", "n2"))
        ),
    );
    c.ready("flap", 2);
    let http = Http::new();
    let seen = |n: usize| -> Vec<String> {
        let mut v = http.many(&addr, "flap.example.com", "/", n, 4);
        v.sort();
        v.dedup();
        v
    };
    eventually("both pods answer through n1", || seen(40) == ["a", "b"]);
    // b runs on n2: n1 sent its requests to n2's router.
    let m2 = http
        .get(&ingress(&c.server, "n2"), "skiff-router", "/metrics")
        .text();
    assert!(m2.contains(r#"route="forwarded",code="200""#), "{m2}");

    // b fails its readiness probe: it leaves rotation, then comes back.
    let failing = Instant::now();
    std::fs::write(state("b").join("unready"), "").unwrap();
    eventually("b leaves rotation", || seen(40) == ["a"]);
    // Probed every second: up to a period to notice, then the status, the Endpoints
    // controller and the router's watch.
    eprintln!("b left rotation within {:?} of failing", failing.elapsed());
    std::fs::remove_file(state("b").join("unready")).unwrap();
    eventually("b is back", || seen(40) == ["a", "b"]);

    // A stopped pod leaves rotation too.
    let out = skiff(&c.server, &["delete", "deployment", "a"]);
    assert!(out.status.success());
    eventually("only b answers", || seen(20) == ["b"]);
}

#[test]
fn a_guest_calls_a_service_by_name() {
    let c = Cluster::start(&["n1"], &[]);
    let addr = ingress(&c.server, "n1");
    c.apply(
        "calls.yaml",
        &format!(
            "{}{}apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: front}}
spec:
  rules:
  - host: front.example.com
    http: {{paths: [{{path: /, pathType: Prefix, backend: {{service: {{name: front, port: {{number: 80}}}}}}}}]}}
",
            echo("front", "front", 1, ""),
            echo("backend", "backend", 1, "")
        ),
    );
    c.ready("front", 1);
    c.ready("backend", 1);
    let http = Http::new();
    eventually("the router has the route", || {
        http.get(&addr, "front.example.com", "/").status == 200
    });
    for url in [
        "http%3A%2F%2Fbackend.default.svc%2Fhello",
        "http%3A%2F%2Fbackend.default.svc.cluster.local%3A80%2Fhello",
        "http%3A%2F%2Fbackend%2Fhello",
    ] {
        let r = http.get(&addr, "front.example.com", &format!("/call?url={url}"));
        assert_eq!(r.status, 200, "{url}: {}", r.text());
        assert_eq!(r.header("x-upstream-x-echo-name"), "backend", "{url}");
        assert_eq!(r.header("x-upstream-x-echo-path"), "/hello", "{url}");
    }
    // A name that is no Service goes out as any request would (and fails here).
    let r = http.get(
        &addr,
        "front.example.com",
        "/call?url=http%3A%2F%2Fnowhere.invalid%2F",
    );
    assert_eq!(r.status, 502, "{}", r.text());
}

#[test]
fn the_runwasi_http_component_answers_through_the_router() {
    let c = Cluster::start(&["n1"], &[]);
    let addr = ingress(&c.server, "n1");
    let wasm = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/conformance/components/runwasi-hello_wasi_http.wasm");
    c.apply(
        "hello.yaml",
        &format!(
            "apiVersion: apps/v1
kind: Deployment
metadata: {{name: hello}}
spec:
  selector: {{matchLabels: {{app: hello}}}}
  template:
    metadata: {{labels: {{app: hello}}}}
    spec:
      runtimeClassName: wasm
      containers: [{{name: hello, image: {}, ports: [{{containerPort: 8080}}]}}]
---
apiVersion: v1
kind: Service
metadata: {{name: hello}}
spec:
  selector: {{app: hello}}
  ports: [{{port: 80, targetPort: 8080}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: hello}}
spec:
  defaultBackend: {{service: {{name: hello, port: {{number: 80}}}}}}
",
            wasm.display()
        ),
    );
    c.ready("hello", 1);
    let http = Http::new();
    eventually("the component answers through the router", || {
        let r = http.get(&addr, "anything.example", "/");
        r.status == 200 && r.text() == "Hello, this is your first wasi:http/proxy world!\n"
    });
    // And by its Service's in-cluster name from outside.
    let r = http.get(&addr, "hello.default.svc", "/");
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn scale_from_zero_serves_the_very_first_request() {
    let c = Cluster::start(&["n1"], &[]);
    let addr = ingress(&c.server, "n1");
    let lazy = |name: &str, image: &str| {
        format!(
            "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: 0
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      runtimeClassName: wasm
      containers:
      - name: main
        image: {image}
        ports: [{{containerPort: 8080}}]
        env: [{{name: ECHO_NAME, value: {name}}}]
---
apiVersion: v1
kind: Service
metadata: {{name: {name}}}
spec:
  selector: {{app: {name}}}
  ports: [{{port: 80, targetPort: 8080}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: {name}}}
spec:
  hostnames: [{name}.example.com]
  rules: [{{backendRefs: [{{name: {name}, port: 80}}]}}]
---
# Scaled to zero by its autoscaler: a request may wake it.
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {{name: {name}}}
spec:
  scaleTargetRef: {{kind: Deployment, name: {name}}}
  minReplicas: 0
  maxReplicas: 1
  metrics:
  - type: Pods
    pods: {{metric: {{name: http_requests_in_flight}}, target: {{type: AverageValue, averageValue: \"100\"}}}}
---
"
        )
    };
    // `warm` puts the echo component on the node; `hello_http` is on no node yet.
    c.apply(
        "apps.yaml",
        &format!(
            "{}{}{}",
            echo("warm", "warm", 1, ""),
            lazy("lazy", &guest("echo.wasm").display().to_string()),
            lazy("cold", &guest("hello_http.wasm").display().to_string()),
        ),
    );
    c.ready("warm", 1);
    let http = Http::new();
    eventually("the router knows warm", || {
        http.get(&addr, "warm.default.svc", "/").status == 200
    });
    // Every kind is watched on its own stream: give the Deployments' a moment.
    std::thread::sleep(Duration::from_millis(500));

    // The artifact is here: an instance answers the very first request at once.
    let r = http.get(&addr, "lazy.example.com", "/first");
    assert_eq!(
        (r.status, r.header("x-echo-name")),
        (200, "lazy"),
        "{}",
        r.text()
    );
    // The activation is recorded, and the controllers catch up.
    wait_for(&c.server, &["deployment", "lazy"], |d| {
        d["spec"]["replicas"] == 1
            && d["metadata"]["annotations"]["skiff.dev/activated-at"].is_string()
    });
    c.ready("lazy", 1);
    eventually("the pod serves", || {
        http.get(&addr, "lazy.example.com", "/").status == 200
            && http
                .get(&addr, "skiff-router", "/metrics")
                .text()
                .contains("skiff_router_endpoint_requests_total{service=\"default/lazy\"")
    });

    // Not on this node: the request is held until the pod is ready.
    let r = http.get(&addr, "cold.example.com", "/");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "Hello from Skiff!\n");
    let d = wait_for(&c.server, &["deployment", "cold"], |d| {
        d["spec"]["replicas"] == 1
    });
    assert!(d["metadata"]["annotations"]["skiff.dev/activated-at"].is_string());
}

#[test]
fn a_failed_connect_is_retried_on_another_endpoint_when_safe() {
    let c = Cluster::start(&["n1"], &[]);
    let addr = ingress(&c.server, "n1");
    c.apply("one.yaml", &echo("one", "one", 1, ""));
    c.ready("one", 1);
    let eps = wait_for(&c.server, &["endpoints", "one"], |_| true);
    let live = eps["subsets"][0]["addresses"][0]["ip"]
        .as_str()
        .unwrap()
        .to_owned();
    // Endpoints written by hand (a Service without a selector): the pod's own address,
    // one where nothing listens, and one that takes each connection and closes it
    // unanswered (as a pod does when it stops mid-request).
    let dead = support::free_port();
    let closer = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closing = closer.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in closer.incoming() {
            let Ok(mut conn) = conn else { return };
            let _ = std::io::Read::read(&mut conn, &mut [0; 1024]);
        }
    });
    c.apply(
        "pair.yaml",
        &format!(
            "apiVersion: v1
kind: Service
metadata: {{name: pair}}
spec:
  ports: [{{port: 80}}]
---
apiVersion: v1
kind: Endpoints
metadata: {{name: pair}}
subsets:
- addresses: [{{ip: 127.0.0.1}}]
  ports: [{{port: {dead}}}]
- addresses: [{{ip: {live}}}]
  ports: [{{port: 8080}}]
- addresses: [{{ip: 127.0.0.1}}]
  ports: [{{port: {closing}}}]
"
        ),
    );
    let http = Http::new();
    eventually("the router knows pair", || {
        http.get(&addr, "pair.default.svc", "/").status == 200
    });
    // GETs never fail: a refused connect or a dropped request goes to another endpoint.
    let names = http.many(&addr, "pair.default.svc", "/", 200, 4);
    assert!(names.iter().all(|n| n == "one"), "{names:?}");
    // A POST with a body is not sent twice: some fail with 502, none reach a wrong place.
    let mut failed = 0;
    for _ in 0..100 {
        let r = http.send(request("POST", &addr, "pair.default.svc", "/", body("x")));
        match r.status {
            200 => assert_eq!(r.header("x-echo-name"), "one"),
            502 => failed += 1,
            other => panic!("{other}: {}", r.text()),
        }
    }
    assert!(
        failed > 0,
        "three endpoints, two failing: some POSTs picked them"
    );
    // When every endpoint refuses (pods stopping before the Endpoints drop them), a GET
    // is held and sent where the next table says.
    let endpoints = |subsets: &str| {
        format!("apiVersion: v1\nkind: Endpoints\nmetadata: {{name: pair}}\nsubsets:\n{subsets}")
    };
    c.apply(
        "dead.yaml",
        &endpoints(&format!(
            "- addresses: [{{ip: 127.0.0.1}}]\n  ports: [{{port: {dead}}}]\n"
        )),
    );
    eventually("the router has only the dead endpoint", || {
        let r = http.send(request("POST", &addr, "pair.default.svc", "/", body("x")));
        r.status == 502 && r.text().contains("no endpoint answered")
    });
    let held = {
        let addr = addr.clone();
        std::thread::spawn(move || Http::new().get(&addr, "pair.default.svc", "/held"))
    };
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !held.is_finished(),
        "the GET waits for a table with an endpoint"
    );
    c.apply(
        "live.yaml",
        &endpoints(&format!(
            "- addresses: [{{ip: {live}}}]\n  ports: [{{port: 8080}}]\n"
        )),
    );
    let r = held.join().unwrap();
    assert_eq!(
        (r.status, r.header("x-echo-name")),
        (200, "one"),
        "{}",
        r.text()
    );
}
