//! Secrets at rest: no member's files (store, raft log, snapshots) hold a Secret's value
//! in plaintext; after `skiff secrets rotate-key` every Secret is sealed with the new key,
//! the old key is gone, and every member (one restarted too) still reads them all.

use std::path::Path;

use base64::Engine;

use crate::support::{self, Members};

const MARKER: &str = "plaintext-marker-5d41402abc4b2a76";

/// Whether any file under `dir` holds `needle`.
fn found_under(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let p = entry.path();
        if p.is_dir() {
            hits.extend(found_under(&p, needle));
        } else if let Ok(bytes) = std::fs::read(&p)
            && bytes.windows(needle.len()).any(|w| w == needle)
        {
            hits.push(p.display().to_string());
        }
    }
    hits
}

fn skiff(m: &Members, id: u64, args: &[&str]) -> String {
    let out = support::pki::skiff()
        .env("SKIFF_SERVER", m.addr(id))
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "skiff {args:?} via {id}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

fn reads_back(m: &Members, id: u64) {
    let encoded = base64::engine::general_purpose::STANDARD.encode(MARKER);
    for name in ["db", "api"] {
        let json = skiff(m, id, &["get", "secret", name, "-o", "json"]);
        assert!(
            json.contains(&encoded),
            "secret {name} via member {id}: {json}"
        );
    }
}

#[test]
fn no_members_files_hold_a_secret_and_rotation_leaves_every_secret_readable() {
    let mut m = Members::start(3);
    m.leader(1);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secrets.yaml");
    let encoded = base64::engine::general_purpose::STANDARD.encode(MARKER);
    std::fs::write(
        &file,
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: db}}\nstringData: {{password: {MARKER}}}\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: api}}\ndata: {{token: {encoded}}}\n"
        ),
    )
    .unwrap();
    skiff(&m, 1, &["apply", "-f", file.to_str().unwrap()]);
    for id in 1..=3 {
        reads_back(&m, id);
    }
    let nowhere = |m: &Members| {
        let hits = found_under(m.dir.path(), MARKER.as_bytes());
        assert!(hits.is_empty(), "plaintext in {hits:?}");
        // The check looks where the Secrets are: their sealed form is in every member's
        // files (the raft log at least).
        for id in 1..=3 {
            let sealed = found_under(&m.dir.path().join(format!("m{id}")), b"skiff.dev/sealed");
            assert!(
                !sealed.is_empty(),
                "member {id}'s files hold no sealed Secret"
            );
        }
    };
    nowhere(&m);

    let out = skiff(&m, 2, &["secrets", "rotate-key"]);
    assert!(out.contains("key-2 is active"), "{out}");
    assert!(out.contains("removed: key-1"), "{out}");
    let keys = skiff(
        &m,
        1,
        &[
            "get",
            "secret",
            "encryption-keys",
            "-n",
            "skiff-system",
            "-o",
            "json",
        ],
    );
    assert!(
        keys.contains("key.key-2") && !keys.contains("key.key-1"),
        "{keys}"
    );
    for id in 1..=3 {
        reads_back(&m, id);
    }
    // A member restarted reads its keys back from its own store.
    m.kill(3);
    let child = m.spawn(3);
    m.children[2] = Some(child);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let out = support::pki::skiff()
            .env("SKIFF_SERVER", m.addr(3))
            .args(["get", "secret", "db", "-o", "json"])
            .output()
            .unwrap();
        if out.status.success() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    reads_back(&m, 3);
    nowhere(&m);
}
