//! Sleeps for `argv[1]` seconds (default: an hour) in one `wasi:clocks` host call, then
//! exits 0: a long-running job that holds an instance but uses no CPU, as the density
//! benchmark's idle pods do.

use std::time::Duration;

fn main() {
    let secs: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(3600);
    println!("sleeping {secs} s");
    std::thread::sleep(Duration::from_secs(secs));
    println!("awake");
}
