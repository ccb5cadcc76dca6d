//! What reading an applied object costs, in process: `stored::decode` then `to_json` (what
//! every get, list item and watch event does) of a ConfigMap with and without the
//! `managedFields` a server-side apply leaves, and the managed fields' own step done both
//! ways: parsed into entries and written back out (as before this bench), or checked and
//! copied as text (now). Rounds alternate; medians and p99 of per-round means.
//!
//! `cargo run --release -p skiff-benches --bin objects -- [--rounds 30]`

use std::hint::black_box;
use std::time::Instant;

use clap::Parser;
use skiff_proto::Object;
use skiff_proto::manifest::{Source, decode_one};
use skiff_proto::model::{ManagedFields, ManagedFieldsEntry, managed};
use skiff_proto::stored;

#[derive(Debug, Parser)]
#[command(about = "The read path of an applied object, with and without managed fields")]
struct Args {
    /// Measured rounds per case (alternating).
    #[arg(long, default_value_t = 30)]
    rounds: usize,
    /// Reads per round.
    #[arg(long, default_value_t = 20_000)]
    reads: usize,
}

/// The api bench's objects: a ConfigMap with a label and a few keys.
fn object() -> Object {
    let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: obj-17\n  namespace: list\n  labels:\n    app: bench\ndata:\n  a: \"1\"\n  b: hello\n  c: world\n";
    decode_one(text, &Source::named("bench")).expect("the bench's object decodes")
}

/// The managed fields a server-side apply of [`object`] records.
fn entries() -> Vec<ManagedFieldsEntry> {
    vec![ManagedFieldsEntry {
        manager: "skiff-bench".into(),
        operation: "Apply".into(),
        api_version: "v1".into(),
        time: Some(skiff_proto::model::values::Time::now()),
        fields_type: "FieldsV1".into(),
        fields_v1: serde_json::json!({
            "f:data": {"f:a": {}, "f:b": {}, "f:c": {}},
            "f:metadata": {"f:labels": {"f:app": {}}},
        }),
        ..Default::default()
    }]
}

/// One case's work, done once.
type Step<'a> = Box<dyn FnMut() + 'a>;

/// Mean nanoseconds of one `step` over a round.
fn round(reads: usize, step: &mut dyn FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..reads {
        step();
    }
    start.elapsed().as_nanos() as f64 / reads as f64
}

fn summary(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let p99 = v[((v.len() as f64 * 0.99).ceil() as usize).clamp(1, v.len()) - 1];
    (v[v.len() / 2], p99)
}

fn main() {
    let a = Args::parse();
    let plain = stored::encode(&object()).expect("encodes");
    let mut applied = object();
    applied.metadata_mut().managed_fields = ManagedFields::from_entries(&entries());
    let applied = stored::encode(&applied).expect("encodes");
    let json = serde_json::to_vec(&entries()).expect("encodes");
    let read = |bytes: &[u8]| {
        let o = stored::decode(bytes).expect("decodes");
        black_box(o.to_json().expect("serializes"));
    };
    let mut cases: Vec<(&str, Step)> = vec![
        ("read, not applied", Box::new(|| read(&plain))),
        ("read, applied", Box::new(|| read(&applied))),
        (
            "managed fields as entries (before)",
            Box::new(|| {
                let e: Vec<ManagedFieldsEntry> = serde_json::from_slice(&json).expect("parses");
                black_box(serde_json::to_string(&e).expect("serializes"));
            }),
        ),
        (
            "managed fields as text (now)",
            Box::new(|| {
                let m = ManagedFields::from_json(&json).expect("parses");
                black_box(managed::verbatim(|| {
                    serde_json::to_string(&m).expect("serializes")
                }));
            }),
        ),
    ];
    let mut times = vec![Vec::new(); cases.len()];
    for (_, step) in cases.iter_mut() {
        round(a.reads / 10, step.as_mut());
    }
    for _ in 0..a.rounds {
        for (i, (_, step)) in cases.iter_mut().enumerate() {
            times[i].push(round(a.reads, step.as_mut()));
        }
    }
    println!(
        "{} rounds of {} reads each, alternating; load {}",
        a.rounds,
        a.reads,
        skiff_benches::setup::loadavg()
    );
    println!("  {:<38} {:>10} {:>10}", "case", "median ns", "p99 ns");
    let mut medians = Vec::new();
    for ((name, _), t) in cases.iter().zip(times) {
        let (median, p99) = summary(t);
        medians.push(median);
        println!("  {name:<38} {median:>10.0} {p99:>10.0}");
    }
    println!(
        "  an applied object reads at {:.2}x the cost of one not applied",
        medians[1] / medians[0]
    );
    println!(
        "  managed fields, before/now: {:.2}x ({:.0} ns an object saved)",
        medians[2] / medians[3],
        medians[2] - medians[3]
    );
}
