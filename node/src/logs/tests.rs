use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc::Receiver;

use super::*;

fn collect(mut rx: Receiver<Vec<u8>>) -> String {
    let mut out = Vec::new();
    while let Some(c) = rx.blocking_recv() {
        out.extend(c);
    }
    String::from_utf8(out).unwrap()
}

/// What a follower has received once it shows `want` (or 10 s passed).
fn until(rx: &mut Receiver<Vec<u8>>, got: &mut String, want: &str) {
    let end = Instant::now() + Duration::from_secs(10);
    while !got.contains(want) && Instant::now() < end {
        match rx.try_recv() {
            Ok(c) => got.push_str(std::str::from_utf8(&c).unwrap()),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    assert!(got.contains(want), "{want:?} never arrived; got {got:?}");
}

fn query() -> LogQuery {
    LogQuery::default()
}

#[test]
fn lines_from_both_streams_read_back_in_order_with_unfinished_lines_joined() {
    let dir = tempfile::tempdir().unwrap();
    let policy = LogPolicy::default();
    let log = start_run(dir.path(), policy).unwrap();
    log.write(Stream::Stdout, b"one\ntw").unwrap();
    log.write(Stream::Stdout, b"o\n").unwrap();
    log.write(Stream::Stderr, b"oops\n").unwrap();
    log.write(Stream::Stdout, b"unfinished").unwrap();
    let text = collect(read(dir.path().into(), query(), policy).unwrap());
    assert_eq!(text, "one\ntwo\noops\nunfinished");

    let raw = std::fs::read_to_string(dir.path().join("0.log")).unwrap();
    let first: Vec<&str> = raw.lines().next().unwrap().splitn(4, ' ').collect();
    assert!(humantime::parse_rfc3339(first[0]).is_ok(), "{raw}");
    assert_eq!(first[1..], ["stdout", "F", "one"]);
    assert!(raw.contains(" stderr F oops\n"), "{raw}");
    assert!(raw.contains(" stdout P tw\n"), "{raw}");

    let stamped = collect(
        read(
            dir.path().into(),
            LogQuery {
                timestamps: true,
                ..query()
            },
            policy,
        )
        .unwrap(),
    );
    let lines: Vec<&str> = stamped.lines().collect();
    assert_eq!(lines.len(), 4, "{stamped}");
    // A line written in two pieces has one timestamp.
    let (ts, text) = lines[1].split_once(' ').unwrap();
    assert!(humantime::parse_rfc3339(ts).is_ok());
    assert_eq!(text, "two");
}

#[test]
fn tail_and_since_choose_lines() {
    let dir = tempfile::tempdir().unwrap();
    let policy = LogPolicy::default();
    let log = start_run(dir.path(), policy).unwrap();
    for i in 0..10 {
        log.write(Stream::Stdout, format!("line {i}\n").as_bytes())
            .unwrap();
    }
    let q = LogQuery {
        tail: Some(3),
        ..query()
    };
    let text = collect(read(dir.path().into(), q, policy).unwrap());
    assert_eq!(text, "line 7\nline 8\nline 9\n");

    let later = LogQuery {
        since: Some(SystemTime::now() + Duration::from_secs(60)),
        ..query()
    };
    assert_eq!(collect(read(dir.path().into(), later, policy).unwrap()), "");
    let earlier = LogQuery {
        since: Some(SystemTime::now() - Duration::from_secs(60)),
        ..query()
    };
    let all = collect(read(dir.path().into(), earlier, policy).unwrap());
    assert_eq!(all.lines().count(), 10);
}

#[test]
fn rotation_keeps_the_newest_files_and_reads_them_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let policy = LogPolicy {
        max_bytes: 1000,
        max_files: 3,
    };
    let log = start_run(dir.path(), policy).unwrap();
    for i in 0..200 {
        log.write(Stream::Stdout, format!("line {i:03}\n").as_bytes())
            .unwrap();
    }
    let mut files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files, ["0.log", "0.log.1", "0.log.2"]);
    for f in &files {
        let size = std::fs::metadata(dir.path().join(f)).unwrap().len();
        assert!(size <= 1000, "{f} has {size} bytes");
    }
    let text = collect(read(dir.path().into(), query(), policy).unwrap());
    let numbers: Vec<u32> = text
        .lines()
        .map(|l| l.trim_start_matches("line ").parse().unwrap())
        .collect();
    assert_eq!(*numbers.last().unwrap(), 199);
    assert!(numbers.len() < 200, "the oldest lines rotated away");
    assert!(
        numbers.windows(2).all(|w| w[1] == w[0] + 1),
        "in order, no gaps: {numbers:?}"
    );
}

#[test]
fn previous_is_the_run_before_and_older_runs_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let policy = LogPolicy::default();
    let prev = LogQuery {
        previous: true,
        ..query()
    };
    start_run(dir.path(), policy)
        .unwrap()
        .write(Stream::Stdout, b"run 0\n")
        .unwrap();
    let e = read(dir.path().into(), prev.clone(), policy).unwrap_err();
    assert!(
        e.to_string()
            .contains("previous terminated container not found"),
        "{e}"
    );
    start_run(dir.path(), policy)
        .unwrap()
        .write(Stream::Stdout, b"run 1\n")
        .unwrap();
    start_run(dir.path(), policy)
        .unwrap()
        .write(Stream::Stdout, b"run 2\n")
        .unwrap();
    assert_eq!(
        collect(read(dir.path().into(), query(), policy).unwrap()),
        "run 2\n"
    );
    assert_eq!(
        collect(read(dir.path().into(), prev, policy).unwrap()),
        "run 1\n"
    );
    assert!(!dir.path().join("0.log").exists());

    let empty = tempfile::tempdir().unwrap();
    let e = read(empty.path().into(), query(), policy).unwrap_err();
    assert!(e.to_string().contains("has not started yet"), "{e}");
}

#[test]
fn a_follower_sees_new_lines_across_rotation_and_restart_and_stops_when_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let policy = LogPolicy {
        max_bytes: 200,
        max_files: 2,
    };
    let log = start_run(dir.path(), policy).unwrap();
    log.write(Stream::Stdout, b"before\n").unwrap();
    let q = LogQuery {
        follow: true,
        ..query()
    };
    let mut rx = read(dir.path().into(), q, policy).unwrap();
    let mut got = String::new();
    until(&mut rx, &mut got, "before\n");
    for i in 0..20 {
        log.write(Stream::Stdout, format!("rotating {i:02}\n").as_bytes())
            .unwrap();
        std::thread::sleep(Duration::from_millis(30));
    }
    until(&mut rx, &mut got, "rotating 19\n");
    let seen: Vec<&str> = got.lines().filter(|l| l.starts_with("rotating")).collect();
    assert_eq!(seen.len(), 20, "every line once, across rotations: {got}");

    let next = start_run(dir.path(), policy).unwrap();
    next.write(Stream::Stdout, b"after restart\n").unwrap();
    until(&mut rx, &mut got, "after restart\n");
    drop(rx);
}
