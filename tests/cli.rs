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
