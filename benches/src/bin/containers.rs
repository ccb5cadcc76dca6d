//! `containers`: container pod start through Skiff against runc alone, and memory.
//! (a) pod start, one at a time, image already pulled: a container pod created bound to
//!     the node until the agent reports it Running (sandbox and network, overlay mount,
//!     bundle, shim, `runc run -d`, status through raft), against `runc run -d` of the
//!     same bundle (Skiff's own `config.json` for such a pod, on its own mount) with
//!     nothing around it; a Wasm pod's start in the same rounds, alternating;
//! (b) memory: the agent's resident memory per running container, and each shim's
//!     (VmRSS, and PSS, which shares the binary's pages fairly among the shims).
//!
//! It runs in a network namespace of its own (the node's bridge and pod addresses never
//! touch the machine's network), as root, with runc, the CNI plugins, Debian's static
//! busybox and `docker-registry`: `cargo xtask test` installs them.
//!
//! `cargo run --release -p skiff-benches --bin containers -- [--quick] [--skiff PATH]`

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use skiff_benches::cluster::{Proc, free_ports};
use skiff_benches::pods::{self, NodeCluster, Running};
use skiff_benches::report::{ms, percentile};
use skiff_benches::setup::{Systems, loadavg, skiff_binary};
use skiff_proto::grpc::api::object_service_client::ObjectServiceClient;
use skiff_proto::grpc::api::{CreateRequest, DeleteRequest, ObjectKey};

#[derive(Debug, Parser)]
#[command(about = "Container pod start against runc run -d, and memory per container")]
struct Args {
    /// (a) starts per system.
    #[arg(long, default_value_t = 60)]
    starts: usize,
    /// (b) containers running at once.
    #[arg(long, default_value_t = 50)]
    density: usize,
    /// A smoke run.
    #[arg(long)]
    quick: bool,
    #[command(flatten)]
    systems: Systems,
}

/// This process (and the threads and children it makes from now on) in a new network
/// namespace with its loopback up.
fn isolate() -> Result<()> {
    // SAFETY: only the network namespace, before any other thread exists.
    unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNET) }
        .context("unshare(CLONE_NEWNET): run the bench as root")?;
    let up = Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status()?;
    if !up.success() {
        bail!("ip link set lo up failed");
    }
    Ok(())
}

/// The pause before each timed start.
const SETTLE: Duration = Duration::from_millis(500);

fn main() -> Result<()> {
    let mut a = Args::parse();
    if a.quick {
        (a.starts, a.density) = (10, 10);
    }
    isolate()?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(a))
}

/// A container pod bound to the bench node running busybox's httpd.
fn container_pod(name: &str, image: &str) -> Vec<u8> {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": {"bench": "containers"}},
        "spec": {
            "nodeName": pods::NODE,
            "terminationGracePeriodSeconds": 0,
            "containers": [{
                "name": "main",
                "image": image,
                "command": ["httpd", "-f", "-p", "80", "-h", "/www"],
                "resources": {"limits": {"memory": "64Mi", "cpu": "500m"}},
            }],
        },
    })
    .to_string()
    .into_bytes()
}

fn summary(label: &str, mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let (p50, p99) = (ms(percentile(&v, 0.5)), ms(percentile(&v, 0.99)));
    let (p10, p90) = (ms(percentile(&v, 0.1)), ms(percentile(&v, 0.9)));
    println!(
        "  {label:<34} n={:<4} p10 {p10:>6.2}  p50 {p50:>6.2}  p90 {p90:>6.2}  p99 {p99:>6.2} ms",
        v.len()
    );
    (p50, p99)
}

/// The API, over one connection kept open: a start is timed from its create call and from
/// its acknowledgement.
type Api = ObjectServiceClient<tonic::transport::Channel>;

async fn delete(api: &mut Api, name: &str) -> Result<()> {
    api.delete(DeleteRequest {
        key: Some(ObjectKey {
            kind: "Pod".into(),
            namespace: "default".into(),
            name: name.into(),
        }),
        ..Default::default()
    })
    .await
    .with_context(|| format!("deleting pod {name}"))?;
    Ok(())
}

/// How long a pod took to run: from the create request, and from its acknowledgement.
/// The pod is created bound to the node, so the acknowledged create is its binding, and
/// the second is the "bound -> Running" (the agent hears of the pod no earlier).
#[derive(Clone, Copy)]
struct Took {
    created: Duration,
    bound: Duration,
}

/// Creates pod `name` (bound to the node) and waits until it runs: how long that took.
async fn start(
    c: &NodeCluster,
    api: &mut Api,
    running: &Running,
    name: &str,
    manifest: Vec<u8>,
) -> Result<Took> {
    let began = Instant::now();
    api.create(CreateRequest {
        manifest,
        ..Default::default()
    })
    .await
    .with_context(|| format!("creating pod {name}"))?;
    let bound = Instant::now();
    if running
        .wait_all(
            std::slice::from_ref(&name.to_owned()),
            Duration::from_secs(60),
        )
        .await
        != 1
    {
        bail!("{name} never ran:\n{}", c.agent.log_tail(3000));
    }
    let (at, _) = running.get(name).unwrap_or((Instant::now(), None));
    Ok(Took {
        created: at.saturating_duration_since(began),
        bound: at.saturating_duration_since(bound),
    })
}

/// A registry on a free loopback port with the busybox image: its process and the image.
async fn registry(dir: &Path) -> Result<(Proc, String)> {
    let port = free_ports(1)?[0];
    let addr = format!("127.0.0.1:{port}");
    let config = dir.join("registry.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
            dir.join("registry").display()
        ),
    )?;
    let mut p = Proc::new(
        "docker-registry".into(),
        Path::new("/usr/bin/docker-registry"),
        vec!["serve".into(), config.display().to_string()],
        dir.join("registry.log"),
    );
    p.start()?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(&addr).is_err() {
        if Instant::now() > deadline {
            bail!("the registry never listened");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let image = format!("{addr}/bench/busybox:1");
    skiff_benches::images::push_busybox(&addr, &image, Some(&["sh"]), "amd64").await?;
    Ok((p, image))
}

/// The anchor's bundle: the `config.json` Skiff wrote for a container of the same pod
/// spec, with its own runc-made network namespace. Each run gets what a Skiff container
/// gets, made untimed: a fresh overlay mount of the same layers and a new pod-level
/// cgroup parent.
struct Anchor {
    root: PathBuf,
    bundle: PathBuf,
    spec: serde_json::Value,
    /// The layers Skiff's mount stacks (overlayfs' `lowerdir`).
    lower: String,
}

impl Anchor {
    fn new(dir: &Path, skiff_run: &Path) -> Result<Anchor> {
        let root = dir.join("anchor-runc");
        let bundle = dir.join("anchor-bundle");
        std::fs::create_dir_all(&bundle)?;
        let text = std::fs::read_to_string(skiff_run.join("config.json"))
            .context("reading the config.json of a Skiff container")?;
        let mut spec: serde_json::Value = serde_json::from_str(&text)?;
        let mounts = std::fs::read_to_string("/proc/self/mountinfo")?;
        let target = skiff_run.join("rootfs").display().to_string();
        let line = mounts
            .lines()
            .find(|l| l.split(' ').nth(4) == Some(target.as_str()))
            .context("the Skiff container's root filesystem is not mounted")?;
        let lower = line
            .split("lowerdir=")
            .nth(1)
            .and_then(|r| r.split(',').next())
            .context("no lowerdir in the overlay's options")?
            .to_owned();
        spec["root"]["path"] = serde_json::json!(bundle.join("rootfs"));
        if let Some(ns) = spec["linux"]["namespaces"].as_array_mut() {
            for n in ns.iter_mut() {
                if n["type"] == "network" {
                    n.as_object_mut().map(|o| o.remove("path"));
                }
            }
        }
        // Skiff's own /etc files are bind mounts from its pod folder: kept (the same work
        // for runc); they exist while the Skiff pod does.
        Ok(Anchor {
            root,
            bundle,
            spec,
            lower,
        })
    }

    fn runc(&self) -> Command {
        let mut c = Command::new("runc");
        c.arg("--root").arg(&self.root);
        c.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    }

    /// A fresh root filesystem and `config.json` for run `i`.
    fn prepare(&self, i: usize) -> Result<()> {
        let _ = std::fs::remove_dir_all(self.bundle.join("upper"));
        let _ = std::fs::remove_dir_all(self.bundle.join("work"));
        for d in ["rootfs", "upper", "work"] {
            std::fs::create_dir_all(self.bundle.join(d))?;
        }
        let data = std::ffi::CString::new(format!(
            "lowerdir={},upperdir={},workdir={}",
            self.lower,
            self.bundle.join("upper").display(),
            self.bundle.join("work").display()
        ))?;
        rustix::mount::mount(
            "overlay",
            self.bundle.join("rootfs"),
            "overlay",
            rustix::mount::MountFlags::empty(),
            data.as_c_str(),
        )
        .context("mounting the anchor's root filesystem")?;
        let mut spec = self.spec.clone();
        spec["linux"]["cgroupsPath"] = serde_json::json!(format!("/skiff-bench/pod{i}/anchor"));
        std::fs::write(self.bundle.join("config.json"), serde_json::to_vec(&spec)?)?;
        Ok(())
    }

    /// Times `runc run -d` of the bundle (prepared untimed), then removes the container,
    /// its cgroup and its root filesystem (untimed).
    fn start(&self, i: usize) -> Result<Duration> {
        self.prepare(i)?;
        let id = format!("anchor-{i}");
        let began = Instant::now();
        let status = self
            .runc()
            .arg("--log")
            .arg(self.bundle.join("runc.log"))
            .args(["--log-format", "json"])
            .args(["run", "-d", "--pid-file"])
            .arg(self.bundle.join("pid"))
            .arg("--bundle")
            .arg(&self.bundle)
            .arg(&id)
            .status()?;
        let took = began.elapsed();
        let _ = self.runc().args(["delete", "--force", &id]).status();
        self.unmount();
        remove_cgroups(&[
            &format!("skiff-bench/pod{i}/anchor"),
            &format!("skiff-bench/pod{i}"),
        ]);
        if !status.success() {
            bail!("runc run -d of the anchor bundle failed");
        }
        Ok(took)
    }

    fn unmount(&self) {
        let _ = rustix::mount::unmount(
            self.bundle.join("rootfs"),
            rustix::mount::UnmountFlags::DETACH,
        );
    }
}

impl Drop for Anchor {
    fn drop(&mut self) {
        self.unmount();
        remove_cgroups(&["skiff-bench"]);
    }
}

/// Removes the (empty) cgroup folders `rel` in every hierarchy.
fn remove_cgroups(rel: &[&str]) {
    for h in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        for r in rel {
            let _ = std::fs::remove_dir(h.path().join(r));
        }
    }
    for r in rel {
        let _ = std::fs::remove_dir(Path::new("/sys/fs/cgroup").join(r));
    }
}

/// VmRSS, PSS and USS (its private pages) of `pid`, in KiB.
fn memory(pid: u32) -> Option<(u64, u64, u64)> {
    let field = |text: &str, key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse::<u64>()
            .ok()
    };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let private = field(&rollup, "Private_Clean:")? + field(&rollup, "Private_Dirty:")?;
    Some((field(&status, "VmRSS:")?, field(&rollup, "Pss:")?, private))
}

/// The shims' pids under the agent's data folder.
fn shims(data: &Path) -> Vec<u32> {
    let pods = data.join("containers/pods");
    let mut out = Vec::new();
    for pod in std::fs::read_dir(pods).into_iter().flatten().flatten() {
        for run in std::fs::read_dir(pod.path().join("runs"))
            .into_iter()
            .flatten()
            .flatten()
        {
            if let Some(pid) = std::fs::read_to_string(run.path().join("shim.pid"))
                .ok()
                .and_then(|p| p.trim().parse().ok())
            {
                out.push(pid);
            }
        }
    }
    out
}

async fn run(a: Args) -> Result<()> {
    println!(
        "machine: {} CPUs, load {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg()
    );
    let bin = skiff_binary(a.systems.skiff.clone())?;
    let dir = tempfile::tempdir_in(&a.systems.dir)?;
    let (_registry, image) = registry(dir.path()).await?;
    let c = NodeCluster::start_args(
        &bin,
        dir.path(),
        1,
        (a.density + 20) as u32,
        256,
        &["--bridge", "skiffbench0"],
    )
    .await?;
    let (component, _) = pods::guests()?;
    let wasm_image = pods::upload(c.api(), &component).await?;
    let running = Running::watch(c.api()).await?;
    let mut api = ObjectServiceClient::new(skiff_benches::channel(c.api()).await?);
    let data = c.control.dir().join("node");

    // The image is pulled, the component compiled, and the anchor's bundle made from a
    // running Skiff container.
    start(
        &c,
        &mut api,
        &running,
        "warm-c",
        container_pod("warm-c", &image),
    )
    .await?;
    start(
        &c,
        &mut api,
        &running,
        "warm-w",
        pods::pod("warm-w", &wasm_image, &[]),
    )
    .await?;
    let warm = std::fs::read_dir(data.join("containers/pods"))?
        .flatten()
        .map(|p| p.path().join("runs/main"))
        .find(|p| p.join("config.json").exists())
        .context("no Skiff container bundle")?;
    let anchor = Anchor::new(dir.path(), &warm)?;

    println!(
        "(a) pod start, one at a time, image pulled: {} per system, rounds alternating, {SETTLE:?} between starts",
        a.starts
    );
    let (mut sk, mut rc, mut wa) = (Vec::new(), Vec::new(), Vec::new());
    // Skiff's own processes' CPU while each system starts, per system: what competes
    // with runc for the machine's CPUs (for the anchor: Skiff idling).
    let mut busy = [Duration::ZERO; 3];
    let skiff_pids: Vec<u32> = c
        .control
        .members
        .iter()
        .chain([&c.agent])
        .filter_map(|p| p.pid())
        .collect();
    let on_cpu = || -> Duration {
        skiff_pids
            .iter()
            .filter_map(|p| skiff_benches::cluster::process_on_cpu(*p))
            .sum()
    };
    for i in 0..a.starts {
        let order = if i % 2 == 0 { [0, 1, 2] } else { [2, 1, 0] };
        for which in order {
            // What the last start left to do (a deleted pod's teardown, the pools' refill)
            // is done before the next start is timed, whichever system it is.
            tokio::time::sleep(SETTLE).await;
            let cpu_before = on_cpu();
            match which {
                0 => {
                    let name = format!("c-{i}");
                    sk.push(
                        start(&c, &mut api, &running, &name, container_pod(&name, &image)).await?,
                    );
                    busy[0] += on_cpu().saturating_sub(cpu_before);
                    delete(&mut api, &name).await?;
                }
                1 => {
                    rc.push(anchor.start(i)?);
                    busy[1] += on_cpu().saturating_sub(cpu_before);
                }
                _ => {
                    let name = format!("w-{i}");
                    wa.push(
                        start(
                            &c,
                            &mut api,
                            &running,
                            &name,
                            pods::pod(&name, &wasm_image, &[]),
                        )
                        .await?,
                    );
                    busy[2] += on_cpu().saturating_sub(cpu_before);
                    delete(&mut api, &name).await?;
                }
            }
        }
    }
    let created = |v: &[Took]| v.iter().map(|t| t.created).collect::<Vec<_>>();
    let bound = |v: &[Took]| v.iter().map(|t| t.bound).collect::<Vec<_>>();
    let (s50, s99) = summary("skiff container (created -> Running)", created(&sk));
    let (b50, b99) = summary("skiff container (bound -> Running)", bound(&sk));
    let (r50, r99) = summary("runc run -d (same bundle)", rc);
    let (w50, _) = summary("skiff wasm pod (created -> Running)", created(&wa));
    summary("skiff wasm pod (bound -> Running)", bound(&wa));
    let ratio = |a: f64, b: f64| a / b.max(1e-9);
    println!(
        "  bound -> Running / runc run -d: p50 {:.2}x  p99 {:.2}x   (created -> Running: p50 {:.2}x  p99 {:.2}x);  container / wasm: p50 {:.1}x",
        ratio(b50, r50),
        ratio(b99, r99),
        ratio(s50, r50),
        ratio(s99, r99),
        ratio(s50, w50)
    );
    let per_start = |d: Duration| ms(d / a.starts.max(1) as u32);
    println!(
        "  Skiff's member + agent on CPU per start (mean): container {:.2} ms, wasm {:.2} ms, while runc runs alone {:.2} ms",
        per_start(busy[0]),
        per_start(busy[2]),
        per_start(busy[1])
    );
    drop(anchor);

    println!("(b) memory: {} containers running at once", a.density);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = c.agent_rss().unwrap_or(0);
    let names: Vec<String> = (0..a.density).map(|i| format!("d-{i}")).collect();
    let manifests = names.iter().map(|n| container_pod(n, &image)).collect();
    pods::create_all(c.api(), manifests, 4).await?;
    let up = running.wait_all(&names, Duration::from_secs(300)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = c.agent_rss().unwrap_or(0);
    let mems: Vec<(u64, u64, u64)> = shims(&data).into_iter().filter_map(memory).collect();
    let n = mems.len().max(1) as u64;
    let (rss, pss, uss) = mems
        .iter()
        .fold((0, 0, 0), |(r, p, u), (a, b, c)| (r + a, p + b, u + c));
    println!("  containers running: {up} / {}", a.density);
    println!(
        "  agent RSS {:.1} MiB -> {:.1} MiB: {:.0} KiB per container",
        before as f64 / 1048576.0,
        after as f64 / 1048576.0,
        after.saturating_sub(before) as f64 / 1024.0 / up.max(1) as f64
    );
    println!(
        "  shims: {} running; mean RSS {} KiB (the skiff binary's shared pages included), PSS {} KiB, private (USS) {} KiB",
        mems.len(),
        rss / n,
        pss / n,
        uss / n
    );
    for name in &names {
        delete(&mut api, name).await?;
    }
    for name in ["warm-c", "warm-w"] {
        delete(&mut api, name).await?;
    }
    // Give the agent time to stop the containers and remove their traces.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !shims(&data).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The namespaces the agent kept ready (it is killed, not asked to clean up), and
    // runc's parent folder of the pods' cgroups, once empty.
    let prefix = data.display().to_string();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for m in mounts.lines().filter_map(|l| l.split(' ').nth(4)) {
        if m.starts_with(&prefix) {
            let _ = rustix::mount::unmount(m, rustix::mount::UnmountFlags::DETACH);
        }
    }
    remove_cgroups(&["skiff"]);
    Ok(())
}
