//! Guests that misbehave, each contained by its pod's limits and reported in Kubernetes'
//! words (or Skiff's own `Trapped`), while a well-behaved neighbour on the same host runs
//! to completion.

use std::fs;
use std::time::Duration;

use skiff_node::runtime::{Limits, OOM_EXIT_CODE, Outcome, Reason};
use skiff_node::wasm::{CompileCache, Host, HostConfig, RunSpec, run, sha256_hex};

// The guests are WebAssembly text in `misbehaving/`, shared with the process tests.
const MEMORY_BOMB: &str = include_str!("misbehaving/memory-bomb.wat");
const BUSY_LOOP: &str = include_str!("misbehaving/busy-loop.wat");
const STACK_OVERFLOW: &str = include_str!("misbehaving/stack-overflow.wat");
const UNREACHABLE: &str = include_str!("misbehaving/unreachable.wat");
const NEIGHBOUR: &str = include_str!("misbehaving/neighbour.wat");

struct Fixture {
    host: Host,
    cache: CompileCache,
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let host = Host::new(&HostConfig {
            instances: 8,
            max_memory_bytes: 1 << 30,
            ..HostConfig::default()
        })
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cache = CompileCache::open(&dir.path().join("compiled"), host.engine()).unwrap();
        Fixture { host, cache, dir }
    }

    async fn run(&self, name: &str, wat: &str, limits: Limits) -> Outcome {
        let bytes = wat::parse_str(wat).unwrap();
        let workload = self
            .cache
            .load(&sha256_hex(&bytes), || Ok(bytes.clone()))
            .unwrap();
        let out = |s: &str| fs::File::create(self.dir.path().join(format!("{name}.{s}"))).unwrap();
        run(
            &self.host,
            &workload,
            RunSpec {
                args: vec![name.into()],
                env: Vec::new(),
                dirs: Vec::new(),
                stdout: out("out").into(),
                stderr: out("err").into(),
                limits,
                usage: Default::default(),
                grants: Default::default(),
            },
        )
        .await
        .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_bomb_is_oom_killed() {
    let f = Fixture::new();
    let o = f
        .run(
            "bomb",
            MEMORY_BOMB,
            Limits {
                memory_bytes: Some(16 << 20),
                ..Limits::default()
            },
        )
        .await;
    assert_eq!(
        (o.reason, o.exit_code),
        (Reason::OomKilled, OOM_EXIT_CODE),
        "{o:?}"
    );
    let msg = o.message.unwrap_or_default();
    assert!(msg.contains("limits.memory"), "{msg}");
    assert!(o.peak_memory <= 16 << 20, "{}", o.peak_memory);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traps_are_reported_with_their_message_and_backtrace() {
    let f = Fixture::new();
    let o = f.run("overflow", STACK_OVERFLOW, Limits::default()).await;
    assert_eq!(o.reason, Reason::Trapped, "{o:?}");
    assert!(
        o.message
            .as_deref()
            .unwrap_or_default()
            .contains("call stack exhausted"),
        "{o:?}"
    );
    let o = f.run("unreachable", UNREACHABLE, Limits::default()).await;
    assert_eq!(o.reason, Reason::Trapped, "{o:?}");
    let msg = o.message.unwrap_or_default();
    assert!(msg.contains("unreachable"), "{msg}");
    assert!(
        msg.contains("broken"),
        "the backtrace names the guest function: {msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_loop_is_throttled_to_its_share_and_stopped_at_its_deadline() {
    let f = Fixture::new();
    let deadline = Duration::from_millis(1000);
    let (spinner, neighbour) = tokio::join!(
        f.run(
            "spin",
            BUSY_LOOP,
            Limits {
                cpu_millis: Some(100),
                deadline: Some(deadline),
                ..Limits::default()
            },
        ),
        async {
            // Starts while the spinner runs, and finishes long before its deadline.
            tokio::time::sleep(Duration::from_millis(100)).await;
            f.run("neighbour", NEIGHBOUR, Limits::default()).await
        }
    );
    assert_eq!(spinner.reason, Reason::DeadlineExceeded, "{spinner:?}");
    // 100m of a core for a second is about 100 ms of CPU; unthrottled it would be ~1 s.
    assert!(spinner.cpu < deadline / 2, "throttled: {:?}", spinner.cpu);
    assert_eq!(neighbour.reason, Reason::Completed, "{neighbour:?}");
}
