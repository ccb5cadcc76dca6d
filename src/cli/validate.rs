//! `skiff validate`: decode and validate manifests offline, reporting every problem.

use std::process::ExitCode;

use anyhow::Result;
use skiff_proto::manifest;

use super::FileArgs;
use super::files;

pub fn run(args: &FileArgs) -> Result<ExitCode> {
    let inputs = files::read_all(&args.filenames, args.recursive)?;
    let mut objects = 0;
    let mut errors = 0;
    let mut bad_sources = 0;
    for input in &inputs {
        let decoded = manifest::decode(&input.text, &input.source);
        objects += decoded.objects.len();
        if !decoded.diagnostics.0.is_empty() {
            errors += decoded.diagnostics.0.len();
            bad_sources += 1;
            eprintln!("{}", decoded.diagnostics);
        }
    }
    if errors > 0 {
        let s = |n: usize| if n == 1 { "" } else { "s" };
        eprintln!(
            "{errors} error{} in {bad_sources} of {} source{}",
            s(errors),
            inputs.len(),
            s(inputs.len())
        );
        return Ok(ExitCode::from(1));
    }
    println!(
        "{objects} object{} valid",
        if objects == 1 { "" } else { "s" }
    );
    Ok(ExitCode::SUCCESS)
}
