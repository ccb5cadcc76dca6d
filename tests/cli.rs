//! The real `skiff` binary, run as a user would: `validate` over the manifest corpus, the
//! example app and stdin, and the verbs that do not exist yet saying so.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn skiff(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run skiff")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn corpus(dir: &str) -> PathBuf {
    root().join("proto/tests/manifests").join(dir)
}

#[test]
fn validate_accepts_the_good_corpus() {
    let out = skiff(&["validate", "-f", corpus("good").to_str().unwrap()]);
    assert!(out.status.success(), "stderr:\n{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let n: usize = stdout
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        stdout.trim_end().ends_with("objects valid") && n >= 10,
        "{stdout}"
    );
}

#[test]
fn validate_reports_every_bad_file_and_exits_1() {
    let dir = corpus("bad");
    let out = skiff(&["validate", "-f", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    let files = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "json"))
        .count();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "yaml" || e == "json") {
            assert!(
                stderr.contains(p.to_str().unwrap()),
                "no error for {}:\n{stderr}",
                p.display()
            );
        }
    }
    assert!(
        stderr.contains(&format!("in {files} of {files} sources")),
        "{stderr}"
    );
}

#[test]
fn validate_reads_stdin_and_points_at_the_line() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args(["validate", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn skiff");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            b"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replica: 3\n",
        )
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "<stdin>:6:3: document 1 (Deployment/web): spec.replica: unknown field `replica`"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("did you mean `replicas`?"), "{stderr}");
}

/// The example app refers to the guest built by `cargo xtask guests`; the file must exist.
#[test]
fn the_example_app_is_valid() {
    let out = skiff(&["validate", "-f", "examples/hello-http/app.yaml"]);
    assert!(
        out.status.success(),
        "{}\n(the example's component is built by `cargo xtask guests`)",
        text(&out.stderr)
    );
    assert_eq!(text(&out.stdout).trim(), "3 objects valid");
}

#[test]
fn object_verbs_say_what_they_need_before_calling_a_server() {
    for (args, says) in [
        (
            &["scale", "web", "--replicas", "2"][..],
            "name one object as KIND/NAME",
        ),
        (
            &["rollout", "undo", "pod/web"],
            "pod/web: this rollout verb works on deployments",
        ),
        (
            &["rollout", "pause", "gadget/web"],
            "unknown kind \"gadget\"",
        ),
    ] {
        let out = skiff(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            text(&out.stderr).contains(says),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn help_lists_every_verb() {
    let out = skiff(&["--help"]);
    let help = text(&out.stdout);
    for verb in [
        "dev",
        "run",
        "control",
        "node",
        "members",
        "validate",
        "apply",
        "get",
        "describe",
        "delete",
        "diff",
        "completion",
        "logs",
        "events",
        "top",
        "rollout",
        "scale",
        "cordon",
        "uncordon",
        "drain",
        "pki",
    ] {
        assert!(
            help.contains(verb),
            "--help does not mention {verb}:\n{help}"
        );
    }
}

/// A guest component built by `cargo xtask guests`.
fn guest(file: &str) -> PathBuf {
    std::env::var_os("SKIFF_GUESTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("examples/target/wasm32-wasip2/release"))
        .join(file)
}

#[test]
fn skiff_run_runs_a_command_to_its_exit_and_serves_an_http_handler_without_a_cluster() {
    // A command: its arguments, environment and folders, its output, its exit code.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("note.txt"), "from the host\n").unwrap();
    let mount = format!("{}:/data:ro", dir.path().display());
    let show = guest("show-config.wasm");
    let out = skiff(&[
        "run",
        show.to_str().unwrap(),
        "-e",
        "GREETING=hi",
        "--dir",
        &mount,
        "--",
        "/data/note.txt",
    ]);
    let said = text(&out.stdout);
    assert!(out.status.success(), "{said}{}", text(&out.stderr));
    assert!(said.contains("GREETING=hi"), "{said}");
    let sleep = guest("sleep.wasm");
    let out = skiff(&["run", sleep.to_str().unwrap(), "--", "0"]);
    assert_eq!(text(&out.stdout), "sleeping 0 s\nawake\n");

    // An HTTP handler: served on the port asked for (0: any), until stopped.
    let hello = guest("hello.wasm");
    let mut child = Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args(["run", hello.to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.write_all(b"GET /x/y HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    std::io::Read::read_to_string(&mut s, &mut reply).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("content-length: 37\r\n"), "{reply}");
    assert!(
        reply.ends_with("Hello from Skiff! You asked for /x/y\n"),
        "{reply}"
    );

    // Not a component: a clear error, exit 1.
    let out = skiff(&["run", "Cargo.toml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("Cargo.toml is not something Skiff runs"),
        "{}",
        text(&out.stderr)
    );
}
