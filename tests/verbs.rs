//! The client verbs end to end: the real `skiff` binary against three real `skiff control`
//! processes, with the Kubernetes docs' nginx Deployment + Service.

use std::path::Path;
use std::process::Output;

mod support;

use support::Members;

const NGINX: &str = "proto/tests/manifests/good/nginx-deployment.yaml";

fn skiff(server: &str, args: &[&str]) -> Output {
    support::pki::skiff()
        .args(args)
        .env("SKIFF_SERVER", server)
        .env("HOME", "/nonexistent")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs and expects `code`; returns stdout.
fn expect(server: &str, args: &[&str], code: i32) -> String {
    let out = skiff(server, args);
    assert_eq!(
        out.status.code(),
        Some(code),
        "skiff {args:?}\nstdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[test]
fn apply_get_delete_with_a_kubernetes_manifest() {
    let m = Members::start(3);
    // Any member serves the API: use a follower to show forwarding.
    let leader = m.leader(1);
    let follower = (1..=3).find(|&i| i != leader).unwrap();
    let server = m.addr(follower);
    let s = server.as_str();

    let out = expect(s, &["apply", "-f", NGINX], 0);
    assert_eq!(
        out,
        "deployment/nginx-deployment created\nservice/nginx-service created\n"
    );
    // Every cluster has the `default` namespace, as Kubernetes clusters do, and its own
    // (`skiff-system`, as `kube-system`).
    let want = "namespace/default\nnamespace/skiff-system\n";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut ns = expect(s, &["get", "ns", "-o", "name"], 0);
    while ns != want && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
        ns = expect(s, &["get", "ns", "-o", "name"], 0);
    }
    assert_eq!(ns, want);
    let out = expect(s, &["apply", "-f", NGINX], 0);
    assert_eq!(
        out,
        "deployment/nginx-deployment unchanged\nservice/nginx-service unchanged\n"
    );
    let dry = expect(s, &["apply", "-f", NGINX, "--dry-run=server"], 0);
    assert!(dry.contains("unchanged (server dry run)"), "{dry}");

    let table = expect(s, &["get", "deploy"], 0);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("READY") && lines[0].ends_with("AGE"),
        "{table}"
    );
    assert!(
        lines[1].starts_with("nginx-deployment") && lines[1].contains("0/3"),
        "{table}"
    );
    let svc = expect(s, &["get", "svc", "nginx-service", "-o", "json"], 0);
    let v: serde_json::Value = serde_json::from_str(&svc).unwrap();
    assert_eq!(v["spec"]["ports"][0]["port"], 80);
    assert_eq!(v["metadata"]["generation"], 1);
    assert!(v["metadata"]["uid"].is_string());
    assert_eq!(
        expect(
            s,
            &["get", "deployments", "-l", "app=nginx", "-o", "name"],
            0
        ),
        "deployment/nginx-deployment\n"
    );
    assert_eq!(
        expect(s, &["get", "deploy", "-l", "app!=nginx", "-o", "name"], 0),
        ""
    );
    let yaml = expect(
        s,
        &["get", "deployment", "nginx-deployment", "-o", "yaml"],
        0,
    );
    assert!(yaml.contains("replicas: 3"), "{yaml}");

    // A changed image configures the Deployment and moves its generation.
    let dir = tempfile::tempdir().unwrap();
    let changed = dir.path().join("nginx.yaml");
    let manifest = std::fs::read_to_string(NGINX).unwrap();
    std::fs::write(&changed, manifest.replace("nginx:1.14.2", "nginx:1.16.1")).unwrap();
    let path = changed.to_str().unwrap();
    let diff = expect(s, &["diff", "-f", path], 1);
    assert!(
        diff.contains("-        image: nginx:1.14.2")
            && diff.contains("+        image: nginx:1.16.1"),
        "{diff}"
    );
    assert_eq!(
        expect(s, &["diff", "-f", NGINX], 0),
        "",
        "nothing to change"
    );
    let described = expect(s, &["describe", "deploy", "nginx-deployment"], 0);
    for part in [
        "Name:         nginx-deployment",
        "Generation:   1",
        "replicas: 3",
        "maxSurge: 25%",
        "Events:",
    ] {
        assert!(described.contains(part), "{part:?} in\n{described}");
    }
    let out = expect(s, &["apply", "-f", path], 0);
    assert_eq!(
        out,
        "deployment/nginx-deployment configured\nservice/nginx-service unchanged\n"
    );
    let d = expect(s, &["get", "deploy", "nginx-deployment", "-o", "json"], 0);
    let v: serde_json::Value = serde_json::from_str(&d).unwrap();
    assert_eq!(v["metadata"]["generation"], 2);

    let out = expect(s, &["delete", "-f", path], 0);
    assert_eq!(
        out,
        "deployment \"nginx-deployment\" deleted\nservice \"nginx-service\" deleted\n"
    );
    let missing = skiff(s, &["get", "deploy", "nginx-deployment"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        text(&missing.stderr).contains("not found"),
        "{}",
        text(&missing.stderr)
    );
    let again = skiff(s, &["delete", "svc", "nginx-service"]);
    assert_eq!(again.status.code(), Some(1));
}

#[test]
fn mistakes_exit_1_and_an_absent_server_exits_2() {
    let m = Members::start(1);
    m.leader(1);
    let server = m.addr(1);
    let s = server.as_str();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n",
    )
    .unwrap();
    let out = skiff(s, &["apply", "-f", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("bad.yaml:4") && err.contains("nothing was sent"),
        "{err}"
    );
    assert_eq!(
        expect(s, &["get", "cm", "-o", "name"], 0),
        "",
        "nothing was written"
    );

    let out = skiff(s, &["get", "widgets"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("unknown kind \"widgets\""));

    // Nobody listens on a fresh port: exit 2, naming the address and `skiff dev`.
    let nobody = format!("127.0.0.1:{}", support::free_port());
    let out = skiff(&nobody, &["get", "pods"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains(&nobody) && err.contains("skiff dev"), "{err}");
    let script = expect(&nobody, &["completion", "bash"], 0);
    assert!(
        script.contains("_skiff()") && script.contains("apply"),
        "{script}"
    );
    assert!(Path::new(env!("CARGO_BIN_EXE_skiff")).exists());
}

#[test]
fn apply_prune_deletes_what_the_files_no_longer_hold() {
    let m = Members::start(1);
    m.leader(1);
    let server = m.addr(1);
    let s = server.as_str();
    let dir = tempfile::tempdir().unwrap();
    let cm = |name: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  labels: {{set: demo}}\ndata: {{k: v}}\n"
        )
    };
    let both = dir.path().join("both.yaml");
    std::fs::write(&both, format!("{}---\n{}", cm("a"), cm("b"))).unwrap();
    let only_a = dir.path().join("a.yaml");
    std::fs::write(&only_a, cm("a")).unwrap();
    expect(s, &["apply", "-f", both.to_str().unwrap()], 0);
    expect(
        s,
        &["apply", "-f", "proto/tests/manifests/good/configmap.yaml"],
        0,
    );
    let out = expect(
        s,
        &[
            "apply",
            "-f",
            only_a.to_str().unwrap(),
            "--prune",
            "-l",
            "set=demo",
        ],
        0,
    );
    assert_eq!(out, "configmap/a unchanged\nconfigmap/b pruned\n");
    let left = expect(s, &["get", "cm", "-o", "name"], 0);
    assert_eq!(
        left, "configmap/a\nconfigmap/game-demo\n",
        "only what matched -l is pruned"
    );
    let refused = skiff(s, &["apply", "-f", only_a.to_str().unwrap(), "--prune"]);
    assert_eq!(
        refused.status.code(),
        Some(1),
        "--prune without -l is a usage mistake"
    );
    assert!(
        text(&refused.stderr).contains("--selector"),
        "{}",
        text(&refused.stderr)
    );
}

#[test]
fn a_local_component_is_uploaded_once_and_named_by_its_digest() {
    let m = Members::start(3);
    m.leader(1);
    let server = m.addr(2);
    let s = server.as_str();
    let dir = tempfile::tempdir().unwrap();
    // Bigger than one chunk; what a component holds does not matter to the store.
    let bytes: Vec<u8> = (0..(3 << 19))
        .map(|i: u32| (i * 7 + i / 251) as u8)
        .collect();
    std::fs::write(dir.path().join("fn.wasm"), &bytes).unwrap();
    let digest = format!("sha256:{}", skiff_control::store::blobs::sha256_hex(&bytes));
    let pod = dir.path().join("pod.yaml");
    std::fs::write(
        &pod,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: fn}\nspec:\n  runtimeClassName: wasm\n  containers:\n  - name: fn\n    image: ./fn.wasm\n",
    )
    .unwrap();
    let pod = pod.to_str().unwrap();

    // The relative path is read from the manifest's folder, not the working directory.
    let out = expect(s, &["apply", "-f", pod], 0);
    let full = dir.path().canonicalize().unwrap().join("fn.wasm");
    assert_eq!(
        out,
        format!(
            "artifact {digest} uploaded ({} bytes from {})\npod/fn created\n",
            bytes.len(),
            full.display()
        )
    );
    let json = expect(s, &["get", "pod", "fn", "-o", "json"], 0);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["spec"]["containers"][0]["image"], digest.as_str());
    assert_eq!(expect(s, &["apply", "-f", pod], 0), "pod/fn unchanged\n");
    assert_eq!(expect(s, &["diff", "-f", pod], 0), "");

    // Every member keeps the artifact on its disk.
    let hex = digest.trim_start_matches("sha256:");
    for id in 1..=3 {
        let manifest = m
            .dir
            .path()
            .join(format!("m{id}/store.artifacts/sha256/{hex}"));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !manifest.exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(
            manifest.exists(),
            "member {id} has no {}",
            manifest.display()
        );
    }

    // A changed component is a changed pod: a dry run and diff name the new digest and
    // upload nothing.
    std::fs::write(dir.path().join("fn.wasm"), b"v2").unwrap();
    let dry = expect(s, &["apply", "-f", pod, "--dry-run=server"], 0);
    assert!(dry.starts_with("pod/fn "), "no upload in a dry run: {dry}");
    let diff = skiff(s, &["diff", "-f", pod]);
    assert_eq!(diff.status.code(), Some(1));
    let v2 = skiff_control::store::blobs::sha256_hex(b"v2");
    assert!(text(&diff.stdout).contains(&v2), "{}", text(&diff.stdout));

    // A component that is not there is named, and nothing is sent.
    std::fs::remove_file(dir.path().join("fn.wasm")).unwrap();
    let missing = skiff(s, &["apply", "-f", pod]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        text(&missing.stderr).contains("fn.wasm"),
        "{}",
        text(&missing.stderr)
    );
}

#[test]
fn get_watch_prints_a_row_per_change_under_one_header() {
    use std::io::{BufRead, BufReader};
    let m = Members::start(1);
    m.leader(1);
    let server = m.addr(1);
    let s = server.as_str();
    let mut child = support::pki::skiff()
        .args(["get", "cm", "--watch"])
        .env("SKIFF_SERVER", s)
        .env("HOME", "/nonexistent")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Stopped by its PID whatever happens below.
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stdout = child.stdout.take().unwrap();
    let _child = Kill(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                return;
            }
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cm.yaml");
    std::fs::write(
        &file,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a-rather-long-name}\ndata: {k: v}\n",
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let mut lines = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut step = 0;
    while !lines.iter().any(|l: &String| l.ends_with("(deleted)")) {
        // Give the watch a moment to start, then change things once.
        if step == 0 {
            std::thread::sleep(std::time::Duration::from_millis(500));
            expect(s, &["apply", "-f", f], 0);
            expect(s, &["delete", "-f", f], 0);
            step = 1;
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => lines.push(l),
            Err(_) => panic!("no deletion row within 20 s: {lines:?}"),
        }
    }
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("DATA"),
        "{lines:?}"
    );
    assert!(lines[1].starts_with("a-rather-long-name"), "{lines:?}");
    let data_col = lines[0].find("DATA").unwrap();
    assert_eq!(
        lines[1].find('1'),
        Some(data_col),
        "rows line up: {lines:?}"
    );
    assert_eq!(lines.iter().filter(|l| l.starts_with("NAME")).count(), 1);
}

#[test]
fn the_example_app_applies_and_any_member_serves_its_component() {
    let m = Members::start(3);
    m.leader(1);
    let server = m.addr(1);
    let guests = std::env::var_os("SKIFF_GUESTS_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/target/wasm32-wasip2/release")
        });
    let component = guests.join("hello_http.wasm");
    let bytes = std::fs::read(&component).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; build the guests with `cargo xtask guests` (`cargo xtask test` does)",
            component.display()
        )
    });
    // The example as a user has it, pointing at wherever the guests were built.
    let example = std::fs::read_to_string("examples/hello-http/app.yaml").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app.yaml");
    std::fs::write(
        &app,
        example.replace(
            "../target/wasm32-wasip2/release/hello_http.wasm",
            component.to_str().unwrap(),
        ),
    )
    .unwrap();
    let out = expect(&server, &["apply", "-f", app.to_str().unwrap()], 0);
    let digest = format!("sha256:{}", skiff_control::store::blobs::sha256_hex(&bytes));
    assert!(
        out.starts_with(&format!("artifact {digest} uploaded")),
        "{out}"
    );
    assert!(
        out.ends_with("deployment/hello created\nservice/hello created\ningress/hello created\n"),
        "{out}"
    );

    // A node fetches it by digest from any member, and gets the same bytes.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fetched = rt.block_on(async {
        use skiff_proto::grpc::api::FetchArtifactRequest;
        use skiff_proto::grpc::api::artifact_service_client::ArtifactServiceClient;
        let mut client =
            ArtifactServiceClient::new(support::pki::channel(&m.addr(3)).await.unwrap());
        let mut stream = client
            .fetch(FetchArtifactRequest {
                digest: digest.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        let mut out = Vec::new();
        while let Some(chunk) = stream.message().await.unwrap() {
            out.extend(chunk.data);
        }
        out
    });
    assert!(
        fetched == bytes,
        "member 3 serves the component as uploaded"
    );
}
