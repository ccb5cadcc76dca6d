//! The web dashboard in headless Chromium and Firefox (through chromedriver and
//! geckodriver, as `cargo xtask test` installs them), each test once in each: the link
//! `skiff dashboard` prints logs the browser in, the overview shows the cluster, lists
//! follow it live, the link works once, no page logs a console error, and a Deployment
//! scales with the keyboard alone; owner links lead from a Deployment to its pods, a pod's
//! page follows its log (and shows its previous run's), and a Secret's values stay hidden
//! until asked for. Screenshots are left in `target/tmp/dashboard/<browser>/` for a
//! reviewer. What the tests do to a page is in `page`.

use std::time::Duration;

use serde_json::json;

use skiff_pki::Role;

use super::support::http::Http;
use super::support::node::{ingress, skiff, wait_for};
use super::support::pki::issue;
use super::support::routing::{Cluster, echo};
use skiff_benches::webdriver::{Browser, Engine};

mod page;
use page::{
    act, artifacts, console_is_read, log_in, napper, no_console_errors, rows_naming,
    scale_by_keyboard, scale_from_page,
};

/// A one-node cluster serving Deployment `web` with `replicas` ready pods, and a login
/// link for the admin from `skiff dashboard`.
fn cluster_and_link(replicas: u32) -> (Cluster, String) {
    let c = Cluster::start(&["n1"], &[]);
    c.apply("web", &echo("web", "web", replicas, ""));
    c.ready("web", replicas as usize);
    let out = skiff(&c.server, &["dashboard"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    (c, url)
}

#[test]
fn the_dashboard_logs_in_once_and_follows_the_cluster_live_in_chromium() {
    logs_in_once_and_follows_the_cluster_live(Engine::Chromium);
}

#[test]
fn the_dashboard_logs_in_once_and_follows_the_cluster_live_in_firefox() {
    logs_in_once_and_follows_the_cluster_live(Engine::Firefox);
}

fn logs_in_once_and_follows_the_cluster_live(engine: Engine) {
    let (c, url) = cluster_and_link(1);
    assert!(
        url.starts_with(&format!("https://{}/ui/#login=", c.server)),
        "{url}"
    );

    let b = Browser::start_in(engine);
    let wait = Duration::from_secs(30);
    log_in(&b, &url, "admin");
    console_is_read(&b);
    b.wait_text("#deployments", wait, |t| {
        t.contains("web") && t.contains("1/1")
    });
    b.wait_text("#nodes", wait, |t| t.contains("n1") && t.contains("Ready"));
    let address = b.run("return location.href;", json!([]));
    assert!(
        !address.as_str().unwrap_or_default().contains("login="),
        "the code leaves the address bar once used: {address}"
    );
    b.wait_text("#members", wait, |t| t.contains("leader"));
    // A warning shows among the recent ones as it happens.
    c.apply(
        "warning",
        "apiVersion: v1
kind: Event
metadata: {name: drill}
involvedObject: {kind: Deployment, name: web, namespace: default}
type: Warning
reason: Drill
message: only a drill
",
    );
    b.wait_text("#warnings", wait, |t| {
        t.contains("Drill") && t.contains("only a drill")
    });
    // Usage, charted: the node's row has a figure and a line.
    b.wait_text("#usage", wait, |t| t.contains("n1") && t.contains("Mi"));
    let lines = b.run(
        "return document.querySelectorAll('#usage svg polyline').length;",
        json!([]),
    );
    assert_eq!(lines, json!(2), "a CPU and a memory chart for n1");
    // What n1 runs (web's one Wasm pod), and what its pods request (nothing) of what it
    // offers.
    b.wait_text("#usage", wait, |t| {
        t.contains("1 Wasm, 0 containers") && t.contains("0m / ")
    });
    b.screenshot(&artifacts(&b).join("overview.png"));
    // Ages count on between redraws (an hour-old one, shown as it is drawn: "?").
    b.run(
        "const t = document.createElement('time'); t.id = 'probe-age'; t.className = 'age'; \
         t.setAttribute('datetime', new Date(Date.now() - 3600e3).toISOString()); \
         t.textContent = '?'; document.body.append(t);",
        json!([]),
    );
    b.wait_text("#probe-age", Duration::from_secs(10), |t| t == "60m");
    b.run("document.getElementById('probe-age').remove();", json!([]));

    // A list follows its watch: pods appear without a reload.
    b.run("location.hash = '#/pods?namespace=default';", json!([]));
    b.wait_text("#pods", wait, |t| t.contains("web-"));
    assert_eq!(rows_naming(&b, "#pods", "web-"), 1);
    let scaled = skiff(&c.server, &["scale", "deployment/web", "--replicas", "3"]);
    assert!(scaled.status.success(), "{scaled:?}");
    let deadline = std::time::Instant::now() + wait;
    while rows_naming(&b, "#pods", "web-") != 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "the pod list did not show 3 web pods within 30 s: {:?}",
            b.text("#pods")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    b.screenshot(&artifacts(&b).join("pods.png"));

    // Owner links, down from the Deployment: its ReplicaSet, then that one's pods.
    b.run("location.hash = '#/deployments/default/web';", json!([]));
    b.wait_text("#owned", wait, |t| t.contains("web-"));
    b.wait_text("#rollout", wait, |t| t.contains("Ready: 3/3"));
    b.run(
        "document.querySelector('#owned tbody a').click();",
        json!([]),
    );
    b.wait_text("#detail h1", wait, |t| {
        t.starts_with("ReplicaSet default/web-")
    });
    b.wait_text("#owners", wait, |t| t.contains("deployment/web"));
    b.wait_text("#owned", wait, |t| t.matches("web-").count() == 3);

    // A pod's page: its node, its YAML, and its log followed as lines arrive. A pod that
    // restarts every second, for its previous run later.
    c.apply(
        "blinker",
        &napper()
            .replace("napper", "blinker")
            .replace("Never", "Always")
            .replace("'30'", "'1'"),
    );
    c.apply("napper", &napper());
    wait_for(&c.server, &["pod", "napper"], |p| {
        p["status"]["phase"] == "Running"
    });
    b.run("location.hash = '#/pods/default/napper';", json!([]));
    let first = b.wait_text("#logs", wait, |t| t.contains("sleeping 30 s"));
    assert!(
        !first.contains("awake"),
        "the pod had finished before its page opened: {first}"
    );
    b.wait_text("#facts", wait, |t| t.contains("node/n1"));
    b.wait_text("#pod-usage", wait, |t| t.contains("napper"));
    b.wait_text("#yaml", wait, |t| {
        t.contains("kind: Pod") && t.contains("name: napper")
    });
    b.screenshot(&artifacts(&b).join("pod.png"));
    b.wait_text("#logs", wait, |t| t.contains("sleeping 30 s\nawake"));
    // Its previous run: there is none, and the page says why.
    b.run(
        "document.getElementById('log-previous').click();",
        json!([]),
    );
    b.wait_text("#log-error", wait, |t| {
        t.contains("previous terminated container not found")
    });
    // Chromium logs the refused request (400) itself; nothing else may be logged.
    let logged: Vec<_> = b
        .console()
        .into_iter()
        .filter(|e| e.level == "error" && !e.text.contains("previous=true"))
        .collect();
    assert!(logged.is_empty(), "console errors: {logged:?}");
    // A pod that restarted shows the run before, whole.
    wait_for(&c.server, &["pod", "blinker"], |p| {
        p["status"]["containerStatuses"][0]["restartCount"].as_u64() >= Some(1)
    });
    b.run("location.hash = '#/pods/default/blinker';", json!([]));
    b.wait_text("#logs", wait, |t| t.contains("sleeping 1 s"));
    b.run(
        "document.getElementById('log-previous').click();",
        json!([]),
    );
    b.wait_text("#logs", wait, |t| t.contains("sleeping 1 s\nawake"));
    assert_eq!(b.text("#log-error").as_deref(), Some(""));

    // A Secret's values show only when asked for.
    c.apply(
        "secret",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s1}\ndata: {password: aHVudGVyMg==}\n",
    );
    b.run("location.hash = '#/secrets/default/s1';", json!([]));
    let hidden = b.wait_text("#yaml", wait, |t| t.contains("password:"));
    assert!(!hidden.contains("aHVudGVyMg=="), "{hidden}");
    b.run("document.getElementById('reveal').click();", json!([]));
    b.wait_text("#yaml", wait, |t| t.contains("aHVudGVyMg=="));

    // A pasted manifest with a mistake is refused with the problem at its line; fixed,
    // it is applied.
    b.run("location.hash = '#/apply';", json!([]));
    let bad = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: pasted\n  lables: {a: b}\n";
    b.run(
        "document.getElementById('manifest').value = arguments[0]; document.getElementById('check').click();",
        json!([bad]),
    );
    let problems = b.wait_text("#problems", wait, |t| t.contains("lables"));
    assert!(problems.contains("line 5"), "{problems}");
    b.wait_text("#annotated", wait, |t| t.contains("lables"));
    let fixed = bad.replace("lables", "labels");
    b.run(
        "document.getElementById('manifest').value = arguments[0]; document.getElementById('apply').click();",
        json!([fixed]),
    );
    b.run(
        "document.getElementById('confirm-apply').click();",
        json!([]),
    );
    b.wait_text("#applied", wait, |t| t.contains("configmap/pasted created"));
    wait_for(&c.server, &["configmap", "pasted"], |m| {
        m["metadata"]["labels"]["a"] == "b"
    });

    // A long list keeps and draws its first 500 objects (in the API's order), counts the
    // rest as they change, and lists again when deletions empty its page.
    let mut long = String::from("apiVersion: v1\nkind: Namespace\nmetadata: {name: long}\n");
    for i in 0..520 {
        let part = if i < 200 { "first" } else { "rest" };
        long += &format!(
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{i:03}, namespace: long, labels: {{part: {part}}}}}\ndata: {{a: b}}\n"
        );
    }
    c.apply("long", &long);
    let rows = |b: &Browser| {
        b.run(
            "return [...document.querySelectorAll('#configmaps tbody tr')].map((r) => r.cells[1].innerText);",
            json!([]),
        )
    };
    b.run("location.hash = '#/configmaps?namespace=long';", json!([]));
    b.wait_text("#configmaps-count", wait, |t| {
        t.contains("Showing the first 500 of 520")
    });
    let shown = rows(&b);
    assert_eq!(shown.as_array().map(Vec::len), Some(500), "{shown}");
    assert_eq!(shown[499], "cm-499", "the API's order");
    c.apply(
        "zz",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: zz, namespace: long}\n",
    );
    b.wait_text("#configmaps-count", wait, |t| t.contains("of 521"));
    assert_eq!(rows(&b).as_array().map(Vec::len), Some(500));
    let out = skiff(
        &c.server,
        &["delete", "configmaps", "-n", "long", "-l", "part=first"],
    );
    assert!(out.status.success(), "{out:?}");
    b.wait_text("#configmaps-count", wait, |t| t == "321 in all.");
    let shown = rows(&b);
    assert_eq!(shown.as_array().map(Vec::len), Some(321), "{shown}");
    assert_eq!((&shown[0], &shown[320]), (&json!("cm-200"), &json!("zz")));

    // Every page so far ran without a console error.
    for (page, title, arrived) in [
        ("#/", "Overview", "#nodes tbody a"),
        ("#/deployments", "Deployments", "#deployments-count"),
        ("#/replicasets", "ReplicaSets", "#replicasets-count"),
        ("#/jobs", "Jobs", "#jobs-count"),
        ("#/daemonsets", "DaemonSets", "#daemonsets-count"),
        ("#/services", "Services", "#services-count"),
        ("#/ingresses", "Ingresses", "#ingresses-count"),
        ("#/httproutes", "HTTPRoutes", "#httproutes-count"),
        ("#/configmaps", "ConfigMaps", "#configmaps-count"),
        ("#/secrets", "Secrets", "#secrets-count"),
        ("#/nodes", "Nodes", "#nodes-count"),
        ("#/events", "Events", "#events-count"),
        ("#/nodes/n1", "Node n1", "#yaml"),
        ("#/apply", "Apply manifests", "#manifest"),
        ("#/pods", "Pods", "#pods-count"),
    ] {
        b.run("location.hash = arguments[0];", json!([page]));
        b.wait_text("main h1", wait, |t| t == title);
        // What it lists arrived, and nothing failed.
        b.wait_text(arrived, wait, |t| !t.is_empty() || arrived == "#manifest");
        let failed = b.text("main .error");
        assert!(failed.is_none(), "{page}: {failed:?}");
    }
    no_console_errors(&b);

    // Scaling from the page (asked, then confirmed) changes the API; with the keyboard alone.
    b.run("location.hash = '#/deployments';", json!([]));
    b.wait_text("#deployments", wait, |t| t.contains("web"));
    scale_by_keyboard(&b, "default/web", 2);
    b.wait_text("#action", wait, |t| t.contains("scaled to 2"));
    wait_for(&c.server, &["deployment", "web"], |d| {
        d["spec"]["replicas"] == 2
    });
    no_console_errors(&b);

    // At a phone's width the overview still fits: tables scroll inside their own boxes.
    b.resize(390, 844);
    b.run("performance.clearMarks(); location.hash = '#/';", json!([]));
    b.wait_text("#deployments", wait, |t| t.contains("web"));
    b.wait_text("#usage", wait, |t| t.contains("n1"));
    // Each route's request rate and latency, from two samples of the routers' counts
    // while requests come in.
    c.apply(
        "route",
        "apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web}
spec:
  hostnames: [web.example.com]
  rules: [{backendRefs: [{name: web, port: 80}]}]
",
    );
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (addr, stop) = (ingress(&c.server, "n1"), stop.clone());
        std::thread::spawn(move || {
            let http = Http::new();
            let mut answered = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                answered += usize::from(http.get(&addr, "web.example.com", "/").status == 200);
                std::thread::sleep(Duration::from_millis(20));
            }
            answered
        })
    };
    let shown = b.wait_text("#routes", Duration::from_secs(60), |t| {
        t.lines()
            .any(|l| l.starts_with("httproute/default/web") && !l.contains("\t0.0\t"))
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(load.join().unwrap() > 0, "{shown}");
    let deadline = std::time::Instant::now() + wait;
    while b.run(
        "return performance.getEntriesByName('skiff:overview-ready').length;",
        json!([]),
    ) != json!(1)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the overview did not finish drawing"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let overflow = b.run(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
        json!([]),
    );
    assert_eq!(overflow, json!(0), "the page is wider than a phone");
    b.screenshot(&artifacts(&b).join("overview-phone.png"));
    b.resize(1280, 900);

    // A read-only user sees the same page, and is refused (and told why) when scaling.
    let creds = tempfile::tempdir().unwrap();
    let viewer = issue(
        Role::User {
            name: "viewer".into(),
            groups: vec![],
        },
        Duration::from_secs(3600),
        &creds.path().join("viewer"),
    );
    c.apply(
        "viewer",
        "apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: viewer-views}
subjects: [{kind: User, name: viewer}]
roleRef: {kind: ClusterRole, name: view, apiGroup: rbac.authorization.k8s.io}
",
    );
    let out = skiff(
        &c.server,
        &["dashboard", "--credentials", viewer.to_str().unwrap()],
    );
    assert!(out.status.success(), "{out:?}");
    let viewer_url = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    b.run("localStorage.clear();", json!([]));
    log_in(&b, &viewer_url, "viewer");
    b.run("location.hash = '#/deployments';", json!([]));
    b.wait_text("#deployments", wait, |t| {
        t.contains("web") && t.contains("2/2")
    });
    scale_from_page(&b, "default/web", 5);
    let refused = b.wait_text("#action", wait, |t| t.contains("Forbidden"));
    assert!(refused.contains("viewer"), "{refused}");
    let d = wait_for(&c.server, &["deployment", "web"], |_| true);
    assert_eq!(
        d["spec"]["replicas"], 2,
        "the refused scale changed nothing"
    );

    // The link is spent: a browser without the session is shown why, and logs in no more.
    b.run("localStorage.clear();", json!([]));
    b.goto(&url);
    let shown = b.wait_text("main", wait, |t| t.contains("used already"));
    assert!(shown.contains("skiff dashboard"), "{shown}");
    assert!(b.text("#deployments").is_none());
}

#[test]
fn the_dashboard_restarts_undoes_cordons_drains_and_deletes_in_chromium() {
    restarts_undoes_cordons_drains_and_deletes(Engine::Chromium);
}

#[test]
fn the_dashboard_restarts_undoes_cordons_drains_and_deletes_in_firefox() {
    restarts_undoes_cordons_drains_and_deletes(Engine::Firefox);
}

fn restarts_undoes_cordons_drains_and_deletes(engine: Engine) {
    let (c, url) = cluster_and_link(2);
    let b = Browser::start_in(engine);
    let wait = Duration::from_secs(30);
    log_in(&b, &url, "admin");

    // Restart: a new revision; undo: back to the first one's template.
    b.run("location.hash = '#/deployments/default/web';", json!([]));
    act(&b, "Restart", "restarted");
    let restarted = "kubectl.kubernetes.io/restartedAt";
    wait_for(&c.server, &["deployment", "web"], |d| {
        d["spec"]["template"]["metadata"]["annotations"][restarted].is_string()
    });
    b.wait_text("#owned", wait, |t| {
        t.lines().filter(|l| l.contains("web-")).count() == 2
    });
    let undone = act(&b, "Undo", "rolled back");
    assert!(undone.contains("revision 1"), "{undone}");
    wait_for(&c.server, &["deployment", "web"], |d| {
        d["spec"]["template"]["metadata"]["annotations"][restarted].is_null()
    });

    // Cordon, uncordon, and drain the node.
    b.run("location.hash = '#/nodes/n1';", json!([]));
    act(&b, "Cordon", "cordoned");
    wait_for(&c.server, &["node", "n1"], |n| {
        n["spec"]["unschedulable"] == true
    });
    act(&b, "Uncordon", "uncordoned");
    wait_for(&c.server, &["node", "n1"], |n| {
        n["spec"]["unschedulable"] != true
    });
    // Drain once the undo's rollout has settled: two pods on n1, none going.
    c.ready("web", 2);
    b.run("location.hash = '#/pods?namespace=default';", json!([]));
    b.wait_text("#pods-count", wait, |t| t == "2 in all.");
    b.run("location.hash = '#/nodes/n1';", json!([]));
    let drained = act(&b, "Drain", "drained");
    assert!(drained.contains("2 pod(s) deleted"), "{drained}");
    wait_for(&c.server, &["node", "n1"], |n| {
        n["spec"]["unschedulable"] == true
    });

    // Delete: the Deployment goes.
    b.run("location.hash = '#/deployments/default/web';", json!([]));
    act(&b, "Delete", "deleted");
    let deadline = std::time::Instant::now() + wait;
    while skiff(&c.server, &["get", "deployment", "web"])
        .status
        .success()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "deployment/web still there after 30 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    no_console_errors(&b);
}
