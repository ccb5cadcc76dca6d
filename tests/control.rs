//! Three real `skiff control` processes on loopback: they elect a leader, survive a SIGKILL
//! of it, and the killed member restarts from its data directory and catches up. Every
//! process is killed when the test ends, pass or fail.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills the members when dropped, whatever the test's outcome.
struct Members {
    children: Vec<Option<Child>>,
    ports: Vec<u16>,
    cluster: String,
    dir: tempfile::TempDir,
}

impl Drop for Members {
    fn drop(&mut self) {
        for c in self.children.iter_mut().flatten() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Members {
    fn start(n: usize) -> Self {
        let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let cluster = ports
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{}=127.0.0.1:{p}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let mut m = Members {
            children: Vec::new(),
            ports,
            cluster,
            dir: tempfile::TempDir::new().unwrap(),
        };
        for id in 1..=n as u64 {
            let child = m.spawn(id);
            m.children.push(Some(child));
        }
        m
    }

    fn spawn(&self, id: u64) -> Child {
        let port = self.ports[id as usize - 1];
        Command::new(env!("CARGO_BIN_EXE_skiff"))
            .args([
                "control",
                "--id",
                &id.to_string(),
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--initial-cluster",
                &self.cluster,
            ])
            .arg("--data-dir")
            .arg(self.dir.path().join(format!("m{id}")))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start skiff control")
    }

    /// `skiff members` as seen through member `via`: (id, role, applied) rows.
    fn table(&self, via: u64) -> Vec<(u64, String, Option<u64>)> {
        let out = Command::new(env!("CARGO_BIN_EXE_skiff"))
            .args([
                "members",
                "--server",
                &format!("127.0.0.1:{}", self.ports[via as usize - 1]),
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .skip(1)
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                Some((
                    f.first()?.parse().ok()?,
                    f.get(2)?.to_string(),
                    f.get(4).and_then(|a| a.parse().ok()),
                ))
            })
            .collect()
    }

    /// Waits for exactly one leader as seen through `via`.
    fn leader(&self, via: u64) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let leaders: Vec<u64> = self
                .table(via)
                .into_iter()
                .filter(|(_, r, _)| r == "leader")
                .map(|(id, _, _)| id)
                .collect();
            if let [l] = leaders[..] {
                return l;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("no single leader within 20 s: {:?}", self.table(via));
    }
}

#[test]
fn three_processes_survive_sigkill_of_the_leader() {
    let mut m = Members::start(3);
    let old = m.leader(1);
    m.children[old as usize - 1].take().map(|mut c| {
        c.kill().unwrap();
        c.wait().unwrap()
    });
    let survivor = (1..=3).find(|&i| i != old).unwrap();
    let new = m.leader(survivor);
    assert_ne!(new, old);
    let table = m.table(survivor);
    assert!(
        table
            .iter()
            .any(|(id, role, _)| *id == old && role == "unreachable"),
        "{table:?}"
    );

    // Restart the killed member on its data directory: it rejoins as a follower and catches up.
    let child = m.spawn(old);
    m.children[old as usize - 1] = Some(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let t = m.table(survivor);
        let applied = |id: u64| t.iter().find(|r| r.0 == id).and_then(|r| r.2);
        let back = t
            .iter()
            .any(|(id, role, _)| *id == old && role == "follower");
        if back
            && applied(old).is_some()
            && applied(old) >= applied(new).map(|a| a.saturating_sub(1))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the restarted member did not catch up: {t:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(Path::new(&m.dir.path().join(format!("m{old}/store.redb"))).exists());
}

#[test]
fn a_bad_initial_cluster_is_refused_with_the_reason() {
    let out = Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args([
            "control",
            "--id",
            "4",
            "--data-dir",
            "/nonexistent-skiff",
            "--initial-cluster",
            "1=127.0.0.1:1,2=127.0.0.1:2",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("member 4 is not in --initial-cluster"),
        "{err}"
    );
}
