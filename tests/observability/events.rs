//! Events: a pod's life from scheduling to deletion.

use super::{events, until_event};
use crate::support;
use crate::support::routing::echo;

#[test]
fn a_pods_life_is_told_in_events_from_scheduling_to_deletion() {
    let c = support::routing::Cluster::start(&["n1"], &[]);
    // Followed from the start, as `kubectl events -w` would be.
    let watch_out = c.dir.path().join("watch.txt");
    let mut watcher = support::pki::skiff()
        .args(["events", "-w", "--server", &c.server])
        .env("HOME", "/nonexistent")
        .stdout(std::fs::File::create(&watch_out).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    c.apply("web.yaml", &echo("web", "web", 1, ""));
    c.ready("web", 1);
    let pods = support::node::wait_for(&c.server, &["pods", "-l", "app=web"], |v| {
        v["items"].as_array().is_some_and(|i| i.len() == 1)
    });
    let pod = pods["items"][0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let about = format!("pod/{pod}");
    // The scheduler, then the node.
    until_event(
        &c.server,
        &["--for", &about],
        &[
            "Normal",
            "Scheduled",
            &format!("Successfully assigned default/{pod} to n1"),
        ],
    );
    for reason in ["Pulled", "Created", "Started"] {
        until_event(&c.server, &["--for", &about], &[reason, &about]);
    }
    // The controllers: the Deployment scaled its ReplicaSet, which created the pod.
    until_event(
        &c.server,
        &["--for", "deployment/web"],
        &["ScalingReplicaSet", "Scaled up replica set web-"],
    );
    until_event(
        &c.server,
        &[],
        &["SuccessfulCreate", &format!("Created pod: {pod}")],
    );
    // Deleted: the ReplicaSet says so, and the node stops it.
    let out = support::node::skiff(&c.server, &["scale", "deployment/web", "--replicas", "0"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    until_event(
        &c.server,
        &[],
        &["SuccessfulDelete", &format!("Deleted pod: {pod}")],
    );
    until_event(
        &c.server,
        &["--for", &about],
        &["Killing", "Stopping container echo"],
    );
    until_event(
        &c.server,
        &["--for", "deployment/web"],
        &["Scaled down replica set web-", "from 1 to 0"],
    );
    // Only warnings: none of these.
    let warnings = events(&c.server, &["--types", "Warning", "--for", &about]);
    assert!(!warnings.contains("Scheduled"), "{warnings}");
    // The watcher printed them as they happened.
    let _ = watcher.kill();
    let _ = watcher.wait();
    let watched = std::fs::read_to_string(&watch_out).unwrap();
    for reason in ["Scheduled", "Started", "SuccessfulDelete", "Killing"] {
        assert!(
            watched.contains(reason),
            "`skiff events -w` missed {reason}:\n{watched}"
        );
    }
}
