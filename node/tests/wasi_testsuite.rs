//! Every WASI preview 1 program of `../shared/conformance/wasi-testsuite` (written by
//! others, passed by `wasmtime run`) through Skiff's runtime, with the args, env and
//! preopened `root` its expectation file names, on a per-run copy of that folder: the exit
//! code and the exact stdout must match.

use std::fs;
use std::path::{Path, PathBuf};

use skiff_node::runtime::{Limits, Mount};
use skiff_node::wasm::{CompileCache, Host, HostConfig, RunSpec, run};

fn suites() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/wasi-testsuite");
    assert!(
        dir.is_dir(),
        "{} is missing: the conformance material lives in ../shared beside the repository",
        dir.display()
    );
    dir
}

/// Every test program, sorted.
fn programs() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for suite in fs::read_dir(suites()).unwrap() {
        let dir = suite.unwrap().path().join("testsuite/wasm32-wasip1");
        for entry in fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            if p.extension().is_some_and(|e| e == "wasm") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A copy of `from` at `to`, so a test that writes leaves the original alone.
fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_wasi_testsuite_program_passes() {
    let host = Host::new(&HostConfig {
        instances: 8,
        max_memory_bytes: 1 << 30,
        ..HostConfig::default()
    })
    .unwrap();
    let work = tempfile::tempdir().unwrap();
    let cache = CompileCache::open(&work.path().join("compiled"), host.engine()).unwrap();
    let programs = programs();
    assert!(programs.len() >= 30, "{} programs", programs.len());
    let mut failures = Vec::new();
    for (i, wasm) in programs.iter().enumerate() {
        let spec: serde_json::Value = fs::read_to_string(wasm.with_extension("json"))
            .map(|t| serde_json::from_str(&t).unwrap())
            .unwrap_or(serde_json::json!({}));
        let name = wasm.file_name().unwrap().to_string_lossy().into_owned();
        let mut args = vec![name.clone()];
        args.extend(
            spec["args"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| a.as_str().unwrap().to_owned()),
        );
        let env: Vec<(String, String)> = spec["env"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        let run_dir = work.path().join(format!("run-{i}"));
        fs::create_dir_all(&run_dir).unwrap();
        let mut dirs = Vec::new();
        if let Some(root) = spec["root"].as_str() {
            let copy = run_dir.join("root");
            copy_dir(&wasm.parent().unwrap().join(root), &copy);
            dirs.push(Mount::read_write(copy, "/"));
        }
        let out_path = run_dir.join("stdout");
        let stdout = fs::File::create(&out_path).unwrap();
        let stderr = fs::File::create(run_dir.join("stderr")).unwrap();
        let bytes = fs::read(wasm).unwrap();
        let digest = skiff_node::wasm::sha256_hex(&bytes);
        let workload = cache.load(&digest, || Ok(bytes.clone())).unwrap();
        let outcome = run(
            &host,
            &workload,
            RunSpec {
                args,
                env,
                dirs,
                stdout: stdout.into(),
                stderr: stderr.into(),
                limits: Limits::default(),
                usage: Default::default(),
                grants: Default::default(),
            },
        )
        .await
        .unwrap();
        let want_code = spec["exit_code"].as_i64().unwrap_or(0) as i32;
        let got_stdout = fs::read_to_string(&out_path).unwrap();
        let code_ok = outcome.exit_code == want_code;
        let stdout_ok = spec["stdout"]
            .as_str()
            .is_none_or(|want| want == got_stdout);
        if !code_ok || !stdout_ok {
            failures.push(format!(
                "{}: exit {} (want {want_code}), stdout {got_stdout:?} (want {:?}), {:?}: {}; stderr: {}",
                wasm.display(),
                outcome.exit_code,
                spec["stdout"],
                outcome.reason,
                outcome.message.unwrap_or_default(),
                fs::read_to_string(run_dir.join("stderr")).unwrap_or_default()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} failed:\n{}",
        failures.len(),
        programs.len(),
        failures.join("\n")
    );
    assert_eq!(cache.compilations(), programs.len() as u64);

    // An agent that restarts finds every compiled form on disk: no bytes, no compiling.
    let again = CompileCache::open(&work.path().join("compiled"), host.engine()).unwrap();
    for wasm in &programs {
        let digest = skiff_node::wasm::sha256_hex(&fs::read(wasm).unwrap());
        again
            .load(&digest, || panic!("{} is compiled again", wasm.display()))
            .unwrap();
    }
    assert_eq!(again.compilations(), 0);
    // Bytes that do not match the digest a pod names are refused before compiling.
    let e = again
        .load(&"0".repeat(64), || Ok(b"\0asm\x01\0\0\0".to_vec()))
        .unwrap_err();
    assert!(e.to_string().contains("not the expected"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wasi_cli_component_prints_hello_world() {
    let host = Host::new(&HostConfig {
        instances: 4,
        max_memory_bytes: 1 << 30,
        ..HostConfig::default()
    })
    .unwrap();
    let work = tempfile::tempdir().unwrap();
    let cache = CompileCache::open(&work.path().join("compiled"), host.engine()).unwrap();
    let path = suites().join("../components/runwasi-component-hello-world.wasm");
    let bytes = fs::read(&path).unwrap();
    let workload = cache
        .load(&skiff_node::wasm::sha256_hex(&bytes), || Ok(bytes.clone()))
        .unwrap();
    let out = work.path().join("stdout");
    let outcome = run(
        &host,
        &workload,
        RunSpec {
            args: vec!["hello".into()],
            env: Vec::new(),
            dirs: Vec::new(),
            stdout: fs::File::create(&out).unwrap().into(),
            stderr: fs::File::create(work.path().join("stderr")).unwrap().into(),
            limits: Limits::default(),
            usage: Default::default(),
            grants: Default::default(),
        },
    )
    .await
    .unwrap();
    assert_eq!(outcome.exit_code, 0, "{outcome:?}");
    assert_eq!(fs::read_to_string(&out).unwrap(), "Hello, world!\n");
}
