//! Agents killed (SIGKILL) and restarted on a seeded schedule while a Deployment rolls out
//! twice and a Job runs: the Deployment never has more pods than `replicas + maxSurge`,
//! the Job ends with exactly its completions, and none of its pods runs twice (a restarted
//! agent does not start again a `restartPolicy: Never` run its predecessor lost). The
//! seed is printed; `SKIFF_AGENT_CHAOS_SEED` replays one.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use super::{Fleet, get_json, guest, pods, wait};

const REPLICAS: usize = 3;
const SURGE: usize = 1;
const COMPLETIONS: usize = 6;

fn deployment(version: u32, wasm: &std::path::Path) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  replicas: {REPLICAS}\n  selector: {{matchLabels: {{app: web}}}}\n  strategy: {{rollingUpdate: {{maxSurge: {SURGE}, maxUnavailable: 0}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      runtimeClassName: wasm\n      containers:\n      - name: web\n        image: {}\n        ports: [{{containerPort: 8080}}]\n        env: [{{name: VERSION, value: v{version}}}]\n",
        wasm.display()
    )
}

fn job(wasm: &std::path::Path) -> String {
    format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata: {{name: work}}\nspec:\n  completions: {COMPLETIONS}\n  parallelism: 3\n  backoffLimit: 50\n  template:\n    metadata: {{labels: {{app: work}}}}\n    spec:\n      runtimeClassName: wasm\n      restartPolicy: Never\n      containers:\n      - name: work\n        image: {}\n        args: ['2']\n",
        wasm.display()
    )
}

/// A pod that counts: not being deleted, and not ended.
fn live(p: &Value) -> bool {
    p["metadata"]["deletionTimestamp"].is_null()
        && p["status"]["phase"] != "Succeeded"
        && p["status"]["phase"] != "Failed"
}

/// The names of the Job's pods that `which` picks.
fn job_pods(server: &str, which: impl Fn(&Value) -> bool) -> Vec<String> {
    pods(server, "work")
        .iter()
        .filter(|p| which(p))
        .map(|p| {
            p["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[test]
fn agents_killed_during_a_rollout_and_a_job_overshoot_nothing_and_run_nothing_twice() {
    let seed = std::env::var("SKIFF_AGENT_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    eprintln!("agent chaos seed {seed} (replay with SKIFF_AGENT_CHAOS_SEED={seed})");
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut f = Fleet::start(3);
    let (http, sleep) = (guest("hello_http.wasm"), guest("sleep.wasm"));
    f.apply("web.yaml", &deployment(1, &http));
    let (ok, out) = f.skiff(&["rollout", "status", "deployment/web", "--timeout", "60"]);
    assert!(ok, "{out}");
    f.apply("job.yaml", &job(&sleep));

    // Watches all through: the most Deployment pods alive at once, the most Job pods
    // succeeded at once.
    let stop = Arc::new(AtomicBool::new(false));
    let most = Arc::new(Mutex::new((0usize, 0usize)));
    let watcher = {
        let (server, stop, most) = (f.server.clone(), stop.clone(), most.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let web = pods(&server, "web").iter().filter(|p| live(p)).count();
                let done = pods(&server, "work")
                    .iter()
                    .filter(|p| p["status"]["phase"] == "Succeeded")
                    .count();
                let mut m = most.lock().unwrap();
                *m = (m.0.max(web), m.1.max(done));
                drop(m);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };

    let names: Vec<String> = f.agents.keys().cloned().collect();
    // Rounds that killed an agent while a Job pod of its ran: there must be some.
    let mut hits = 0;
    for round in 1..=6u32 {
        // A node running a Job pod when there is one, else any.
        let busy: Vec<String> = pods(&f.server, "work")
            .iter()
            .filter(|p| live(p))
            .filter_map(|p| p["spec"]["nodeName"].as_str().map(str::to_owned))
            .collect();
        let victim = match busy.is_empty() {
            true => names[rng.usize(..names.len())].clone(),
            false => busy[rng.usize(..busy.len())].clone(),
        };
        hits += usize::from(!busy.is_empty());
        eprintln!("round {round}: killing {victim}; nodes of live Job pods {busy:?}");
        f.agents.get_mut(&victim).unwrap().stop();
        if round % 3 == 1 {
            f.apply("web.yaml", &deployment(round + 1, &http));
        }
        std::thread::sleep(Duration::from_millis(rng.u64(500..2500)));
        f.add(&victim);
        std::thread::sleep(Duration::from_millis(rng.u64(500..2000)));
    }
    assert!(
        hits > 0,
        "seed {seed}: no agent was killed while a Job pod of its ran"
    );

    let (ok, out) = f.skiff(&["rollout", "status", "deployment/web", "--timeout", "120"]);
    assert!(ok, "seed {seed}: {out}");
    wait(&f.server, "the job to complete", 120, |s| {
        get_json(s, &["job", "work"])
            .is_some_and(|j| j["status"]["conditions"].to_string().contains("Complete"))
    });
    stop.store(true, Ordering::Relaxed);
    watcher.join().unwrap();
    let (web, done) = *most.lock().unwrap();
    assert!(
        web <= REPLICAS + SURGE,
        "seed {seed}: {web} Deployment pods alive at once, more than {REPLICAS} + {SURGE}"
    );
    assert!(
        done <= COMPLETIONS,
        "seed {seed}: {done} Job pods succeeded, more than {COMPLETIONS} completions"
    );
    let job = get_json(&f.server, &["job", "work"]).unwrap();
    assert_eq!(
        job["status"]["succeeded"], COMPLETIONS,
        "seed {seed}: {job}"
    );
    let succeeded = job_pods(&f.server, |p| p["status"]["phase"] == "Succeeded");
    assert_eq!(succeeded.len(), COMPLETIONS, "seed {seed}: {succeeded:?}");

    // Each Job pod's container started once, by whichever agent: every agent's log line
    // for a container start, counted per pod.
    let mut started: BTreeMap<String, usize> = BTreeMap::new();
    for name in &names {
        let log = std::fs::read_to_string(f.dir.path().join(format!("{name}.log"))).unwrap();
        for line in log.lines().filter(|l| l.contains("container started")) {
            if let Some(pod) = line
                .split_whitespace()
                .find_map(|w| w.strip_prefix("pod=work-"))
            {
                *started.entry(format!("work-{pod}")).or_default() += 1;
            }
        }
    }
    eprintln!("container starts per Job pod: {started:?}");
    let twice: Vec<_> = started.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "seed {seed}: Job pods started more than once: {twice:?}"
    );
    for p in &succeeded {
        assert_eq!(
            started.get(p),
            Some(&1),
            "seed {seed}: {p} started {:?}",
            started.get(p)
        );
    }
}
