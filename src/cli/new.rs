//! `skiff new http|job|filter|policy NAME`: a project that builds (`skiff build`) and
//! deploys (`skiff deploy`, or `skiff apply -f skiff.yaml`) as it is: Cargo.toml,
//! the source, a manifest and a .gitignore, in a new folder NAME.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};

/// What a new project is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Template {
    /// An HTTP function (a Deployment behind a Service and an HTTPRoute).
    Http,
    /// A run-to-completion program (a Job).
    Job,
    /// An HTTP filter for the router (an HttpFilter).
    Filter,
    /// An admission policy for the API server (a WasmAdmissionPolicy).
    Policy,
}

#[derive(Debug, Args)]
pub struct NewArgs {
    pub template: Template,
    /// The project's name (a DNS label): its folder, package and objects.
    pub name: String,
    /// Where the SDK (`skiff-sdk`) is; default: the `sdk/` of the source this `skiff` was
    /// built from.
    #[arg(long, value_name = "DIR")]
    pub sdk: Option<PathBuf>,
}

/// The source this binary was built from has the SDK here.
const BUILT_SDK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/sdk");

fn cargo_toml(name: &str, t: Template, sdk: &Path) -> String {
    let lib = match t {
        Template::Job => "",
        _ => {
            "\n[lib]\n# A cdylib for wasm32-wasip2 is a component exporting what the code exports.\ncrate-type = [\"cdylib\"]\n"
        }
    };
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false
{lib}
[dependencies]
skiff-sdk = {{ path = "{}" }}

[profile.release]
# Small components load and compile faster on every node.
opt-level = "s"
strip = "debuginfo"
lto = true
codegen-units = 1

# A project of its own, even inside another cargo workspace.
[workspace]
"#,
        sdk.display()
    )
}

fn source(name: &str, t: Template) -> String {
    match t {
        Template::Http => format!(
            r#"use skiff_sdk::http::Request;

/// Answers every request with a greeting and the path it asked for.
#[skiff_sdk::http]
fn handle(req: Request) -> String {{
    format!("Hello from {name}! You asked for {{}}\n", req.uri().path())
}}
"#
        ),
        Template::Job => format!(
            r#"/// Runs once to completion: what it prints is the Job's log, its exit code the
/// Job's outcome.
fn main() {{
    let who = std::env::args().nth(1).unwrap_or_else(|| "world".into());
    skiff_sdk::log::info("{name}", &format!("greeting {{who}}"));
    println!("Hello, {{who}}, from {name}!");
}}
"#
        ),
        Template::Filter => r#"use skiff_sdk::filter::{Action, Request};

/// Passes requests that carry the configured token, answers 401 to the others.
#[skiff_sdk::filter]
fn filter(req: &Request) -> Action {
    let token = skiff_sdk::config::get("token").ok().flatten().unwrap_or_default();
    match req.header("authorization") {
        Some(given) if given == format!("Bearer {token}") => Action::Pass,
        _ => Action::respond(401, "a bearer token is needed\n"),
    }
}
"#
        .to_owned(),
        Template::Policy => r#"use skiff_sdk::policy::{Request, Verdict};

/// Refuses objects without a `team` label.
#[skiff_sdk::policy]
fn review(req: &Request) -> Verdict {
    match req.label("team") {
        Some(_) => Verdict::Allow,
        None => Verdict::Deny(format!("{} {:?} needs a `team` label", req.kind, req.name)),
    }
}
"#
        .to_owned(),
    }
}

fn manifest(name: &str, t: Template) -> String {
    let file = match t {
        Template::Job => name.to_owned(),
        _ => name.replace('-', "_"),
    };
    let image = format!("target/wasm32-wasip2/release/{file}.wasm");
    match t {
        Template::Http => format!(
            "# `skiff deploy` makes these for you; `skiff apply -f skiff.yaml` after `skiff build` does too.\n{}",
            super::deploy::http_app(name, &image, 2, false, &format!("{name}.local"))
        ),
        Template::Job => format!(
            r#"# skiff build && skiff apply -f skiff.yaml && skiff logs -l job-name={name}
apiVersion: batch/v1
kind: Job
metadata: {{name: {name}}}
spec:
  template:
    spec:
      runtimeClassName: wasm
      restartPolicy: Never
      containers:
      - name: {name}
        image: {image}
        args: [Skiff]
"#
        ),
        Template::Filter => format!(
            r#"# skiff build && skiff apply -f skiff.yaml; then attach it to an HTTPRoute rule:
#   filters: [{{type: ExtensionRef, extensionRef: {{group: skiff.dev, kind: HttpFilter, name: {name}}}}}]
apiVersion: skiff.dev/v1
kind: HttpFilter
metadata: {{name: {name}}}
spec:
  image: {image}
  config: {{token: change-me}}
  timeout: 10ms
  memory: 16Mi
"#
        ),
        Template::Policy => format!(
            r#"# skiff build && skiff apply -f skiff.yaml: every Deployment written after must have a `team` label.
apiVersion: skiff.dev/v1
kind: WasmAdmissionPolicy
metadata: {{name: {name}}}
spec:
  image: {image}
  matchResources: {{kinds: [Deployment]}}
  failurePolicy: Fail
"#
        ),
    }
}

pub fn run(a: &NewArgs) -> Result<ExitCode> {
    if let Err(why) = skiff_proto::validate::names::dns_label(&a.name) {
        bail!("{:?} cannot name a project: {why}", a.name);
    }
    let dir = PathBuf::from(&a.name);
    if dir.exists() {
        bail!(
            "{} exists already: pick another name, or remove it",
            dir.display()
        );
    }
    let sdk = a.sdk.clone().unwrap_or_else(|| PathBuf::from(BUILT_SDK));
    let sdk = sdk.canonicalize().with_context(|| {
        format!(
            "the SDK is not at {}: give its folder with --sdk (the `sdk/` of a Skiff checkout)",
            sdk.display()
        )
    })?;
    let src = dir.join("src");
    std::fs::create_dir_all(&src).with_context(|| format!("creating {}", src.display()))?;
    let main = match a.template {
        Template::Job => "main.rs",
        _ => "lib.rs",
    };
    let files = [
        (
            dir.join("Cargo.toml"),
            cargo_toml(&a.name, a.template, &sdk),
        ),
        (src.join(main), source(&a.name, a.template)),
        (dir.join("skiff.yaml"), manifest(&a.name, a.template)),
        (dir.join(".gitignore"), "/target\n".to_owned()),
    ];
    for (path, text) in files {
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    let next = match a.template {
        Template::Http => format!("cd {} && skiff deploy", a.name),
        _ => format!("cd {} && skiff build && skiff apply -f skiff.yaml", a.name),
    };
    println!("Created {}/ ({:?}). Next: {next}", a.name, a.template);
    Ok(ExitCode::SUCCESS)
}
