//! Verbs whose server side has not landed yet. Each says plainly what it waits for and
//! what works today, and exits non-zero: nothing pretends to have run.

use std::process::ExitCode;

pub const CONTROLLERS: &str = "the controllers";

pub fn not_yet(verb: &str, needs: &str) -> anyhow::Result<ExitCode> {
    eprintln!(
        "skiff {verb}: not available in this build yet: it needs {needs}.\n\
         What works today: `skiff validate -f FILE|DIR|-` checks manifests offline;
         `skiff control` runs a replicated-store member and `skiff members` lists them."
    );
    Ok(ExitCode::from(1))
}
