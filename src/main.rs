//! `skiff`: one binary for every role. `skiff dev` runs a whole cluster in one process;
//! `skiff control` and `skiff node` run the roles apart; the other verbs are the client.

mod cli;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

// mimalloc rather than glibc's malloc: the store allocates per raft message and per page,
// and malloc/free were the largest items in its profile.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The hidden argument that runs a container's shim (see
/// `skiff_node::runtime::container::shim`): checked before anything else is set up, so a
/// shim, one per container, stays small.
const SHIM: &str = "__shim";

fn main() -> ExitCode {
    // No transparent huge pages for Skiff's own memory. mimalloc returns idle memory to the
    // kernel after a second and asks for huge pages; the next burst of requests then
    // faults in whole 2 MiB pages, each zeroed on the request's path (12 % of a member's
    // CPU while it started a pod every half second). The flag is inherited: the shim
    // clears it for the containers it starts (`shim::start`).
    let _ = rustix::thread::disable_transparent_huge_pages(true);
    let mut argv = std::env::args_os();
    if argv.nth(1).is_some_and(|a| a == SHIM) {
        let Some(dir) = argv.next() else {
            eprintln!("skiff {SHIM}: expected the run's folder");
            return ExitCode::from(2);
        };
        // `-`: a shim started ahead of need, given its folder on stdin.
        let code = if dir == "-" {
            skiff_node::runtime::container::shim::main_waiting()
        } else {
            skiff_node::runtime::container::shim::main(std::path::Path::new(&dir))
        };
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    // A usage mistake is a user error (exit 1); exit 2 means no server answered.
    let args = match cli::Cli::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SKIFF_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        // Colour only on a terminal: logs in files stay greppable.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
