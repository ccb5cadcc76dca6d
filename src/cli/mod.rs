//! The command line: every subcommand, its flags and help text, and dispatch.
//!
//! # Layout
//! - `validate`: offline manifest checking (`skiff validate -f`).
//! - `files`: reading manifests from files, folders and stdin (shared by every `-f` verb).
//! - `dev`: `skiff dev`, a control-plane member and a node agent in one process.
//! - `node`: `skiff node` (run a node agent).
//! - `control`: `skiff control` (run a member) and `skiff members` (list them).
//! - `snapshot`: `skiff snapshot save|restore`, backups of the store.
//! - `auth`: `skiff auth whoami|can-i` and `skiff create token`.
//! - `secrets`: `skiff secrets rotate-key`.
//! - `join`: joining with a token, renewing through the control plane, `skiff token`.
//! - `pki`: the certificates of members, nodes and `skiff dev`, and `skiff pki`.
//! - `policies`: the member's runner of WasmAdmissionPolicies (the node's Wasm host).
//! - `run`: `skiff run FILE.wasm`, a component once on this machine, without a cluster.
//! - `new`, `build`, `deploy`: the developer loop: a project from a template, built into
//!   a component, deployed as a Deployment, Service and route.
//! - `client`: the server address, the connection, kinds, and failures as exit codes.
//! - `artifacts`: local Wasm component files in manifests, uploaded and named by digest.
//! - `apply`, `get`, `delete`, `describe`, `diff`, `logs`: the client verbs; `table`: kubectl-like tables for `get`.
//! - `edit`: naming one object and changing it with compare-and-swap, for `scale`,
//!   `rollout` (status, history, undo, pause, resume, restart, and a canary's promote
//!   and abort in `canary`) and `nodes` (cordon,
//!   uncordon, drain).

mod apply;
mod artifacts;
mod auth;
mod build;
mod canary;
mod client;
mod control;
mod dashboard;
mod delete;
mod deploy;
mod describe;
mod dev;
mod diff;
mod edit;
mod events;
mod files;
mod get;
mod join;
mod kubeconfig;
mod logs;
mod metrics;
mod new;
mod node;
mod nodes;
mod pki;
mod policies;
mod rollout;
mod routes;
mod run;
mod scale;
mod secrets;
mod snapshot;
mod table;
mod top;
mod validate;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Skiff: a Wasm-first workload orchestrator.
///
/// Start a one-process cluster with `skiff dev`, then use the client verbs
/// (`apply`, `get`, ...) as you would kubectl.
#[derive(Debug, Parser)]
#[command(
    name = "skiff",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a whole cluster in this process: one control-plane member and one node agent
    /// on an embedded data directory.
    Dev(Box<DevArgs>),
    /// Run a component once on this machine, without a cluster: a command prints and
    /// exits; an HTTP handler serves on a local port.
    Run(Box<run::RunArgs>),
    /// Make a project that builds and deploys as it is: `http`, `job`, `filter` or
    /// `policy`.
    New(new::NewArgs),
    /// Build a project into a Wasm component (wasm32-wasip2) with the toolchain this
    /// machine has.
    Build(build::BuildArgs),
    /// Build, upload and run a project's HTTP function: Deployment, Service and route;
    /// waits until it serves and prints its URL. Again after a change: a rolling update.
    Deploy(Box<deploy::DeployArgs>),
    /// Run a control-plane member (replicated store, API server, scheduler, controllers).
    Control(control::ControlArgs),
    /// Run a node agent that hosts Wasm components and containers.
    Node(Box<NodeArgs>),
    /// Make a cluster CA, or issue certificates with one (nodes, users).
    Pki(pki::PkiArgs),
    /// Join tokens for nodes and members: create, list, delete.
    Token(join::TokenArgs),
    /// List the control-plane members (id, address, role, term, applied index), or remove one.
    Members(MembersArgs),
    /// Save a running cluster's state to a file, or prepare a new cluster from one.
    Snapshot(snapshot::SnapshotArgs),
    /// Check manifests offline: print every error found (exit 1) or "N objects valid".
    Validate(ValidateArgs),
    /// Create or update objects from manifests (server-side apply: the fields the files set
    /// become skiff-cli's; those they no longer set are removed).
    Apply(ApplyArgs),
    /// List objects, or show some by name.
    Get(GetArgs),
    /// Show an object in detail, with its recent events.
    Describe(DescribeArgs),
    /// Show what `apply -f` would change (exit 0: nothing, 1: something).
    Diff(ApplyArgs),
    /// Write a kubeconfig for kubectl with this CLI's server and credentials.
    Config(kubeconfig::ConfigArgs),
    /// Print a shell completion script: `skiff completion bash > /etc/bash_completion.d/skiff`.
    Completion {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Delete objects by name, label selector or manifest.
    Delete(DeleteArgs),
    /// Print a pod's logs.
    Logs(LogsArgs),
    /// List events (oldest first, repeats counted), or follow them with -w.
    Events(events::EventsArgs),
    /// What pods or nodes use now: CPU (cores) and memory.
    Top(top::TopArgs),
    /// Manage a rollout: status, history, undo, pause, resume, restart.
    Rollout(rollout::RolloutArgs),
    /// Set the number of replicas of a Deployment or ReplicaSet.
    Scale(scale::ScaleArgs),
    /// Who you are to the API, and what you may do: `whoami`, `can-i VERB RESOURCE`.
    Auth(auth::AuthArgs),
    /// Create things that are not manifests: `create token SERVICEACCOUNT`.
    Create(auth::CreateArgs),
    /// Secrets at rest: `rotate-key`.
    Secrets(secrets::SecretsArgs),
    /// Print a link that logs a browser into the web dashboard as you (once, within 5
    /// minutes).
    Dashboard(dashboard::DashboardArgs),
    /// Mark a node unschedulable: no new pods go there.
    Cordon(nodes::NodeVerbArgs),
    /// Make a cordoned node schedulable again.
    Uncordon(nodes::NodeVerbArgs),
    /// Cordon a node and evict its pods so they run elsewhere.
    Drain(nodes::DrainArgs),
}

#[derive(Debug, Args)]
pub struct DevArgs {
    /// Where the cluster keeps its state.
    #[arg(long, default_value_os_t = default_data_dir())]
    pub data_dir: PathBuf,
    /// Address of the API (gRPC) the client verbs talk to.
    #[arg(long, default_value = "127.0.0.1:7420")]
    pub api_addr: SocketAddr,
    /// Address of the HTTP ingress that routes to services.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub ingress_addr: SocketAddr,
    /// Where Prometheus scrapes the cluster's metrics (http://ADDR/metrics). Default:
    /// 127.0.0.1:9464, or any free port when that one is taken.
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    #[command(flatten)]
    pub containers: ContainerArgs,
}

#[derive(Debug, Args)]
pub struct MembersArgs {
    /// Any member's address.
    #[arg(long, env = "SKIFF_SERVER", global = true)]
    pub server: Option<String>,
    /// A folder with the credentials to call it with (`ca.crt`, `tls.crt`, `tls.key`).
    #[arg(long, env = "SKIFF_CREDENTIALS", global = true, value_name = "DIR")]
    pub credentials: Option<PathBuf>,
    #[command(subcommand)]
    pub action: Option<MembersAction>,
}

#[derive(Debug, Subcommand)]
pub enum MembersAction {
    /// List the members (the default).
    List,
    /// Remove a member for good (its id is not reused; stop it and delete its data).
    Remove {
        /// The member's id, as `skiff members` lists it.
        id: u64,
    },
}

#[derive(Debug, Args)]
pub struct NodeArgs {
    /// The node's credentials (`ca.crt`, `tls.crt`, `tls.key` naming `system:node:NAME`:
    /// `skiff pki issue --node NAME`). Kept in the data folder, so needed only the first
    /// time.
    #[arg(long, value_name = "DIR")]
    pub credentials: Option<PathBuf>,
    /// Join with a token instead of --credentials (`skiff token create`): the node makes
    /// its key and gets its certificate from the control plane, the first time.
    #[arg(
        long,
        env = "SKIFF_JOIN_TOKEN",
        hide_env_values = true,
        conflicts_with = "credentials"
    )]
    pub join_token: Option<String>,
    /// The Node object's name.
    #[arg(long)]
    pub name: String,
    /// Control-plane members to talk to: `ADDR[,ADDR...]`.
    #[arg(long, value_delimiter = ',')]
    pub control: Vec<SocketAddr>,
    /// Where the agent keeps its state and compiled components.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Labels for the Node object: `zone=a,disk=ssd`.
    #[arg(long)]
    pub labels: Option<String>,
    /// CPU this node offers, in millicores (default: every core of the machine).
    #[arg(long)]
    pub cpu_millis: Option<u64>,
    /// Memory this node offers, e.g. `8Gi` (default: the machine's).
    #[arg(long)]
    pub memory: Option<String>,
    /// The most pods this node runs at once.
    #[arg(long, default_value_t = 110)]
    pub max_pods: u32,
    /// Wasm instances alive at once across all pods (a long-running job holds one; an HTTP
    /// pod one per request in flight). Default: twice --max-pods, at least 256.
    #[arg(long)]
    pub max_instances: Option<u32>,
    /// The address this node is reached at (reported in its status).
    #[arg(long, default_value = "127.0.0.1")]
    pub address: String,
    /// Where the agent's own API (logs, for the control plane) listens; port 0 (the
    /// default) picks a free one, which the Node's status says, so several agents share a
    /// machine.
    #[arg(long, default_value = "0.0.0.0:0")]
    pub listen: SocketAddr,
    /// Serve Prometheus metrics (the agent's, its pods' usage, the router's) at
    /// http://ADDR/metrics over plain HTTP; off when not given.
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Seconds between heartbeats (the control plane marks a node unreachable after
    /// `--node-monitor-grace-seconds` without one).
    #[arg(long, default_value_t = 1)]
    pub heartbeat_seconds: u64,
    /// Seconds between samples of each pod's usage (reported in its status when changed).
    #[arg(long, default_value_t = 10)]
    pub usage_seconds: u64,
    /// Seconds before the first restart of a failing container (doubling, up to 5 min).
    #[arg(long, default_value_t = 10)]
    pub backoff_seconds: u64,
    /// Where the router's HTTP/1.1 and HTTP/2 ingress listens; port 0 picks a free one
    /// (the Node's status says which).
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub ingress_addr: SocketAddr,
    /// Where other nodes' routers send requests for this node's pods (TLS with node
    /// certificates only; port 0, the default: any free port, which the Node's status
    /// says).
    #[arg(long, default_value = "0.0.0.0:0")]
    pub peer_listen: SocketAddr,
    /// Largest request body the router takes (larger ones get 413), e.g. 16Mi.
    #[arg(long, default_value = "16Mi")]
    pub max_request_body: String,
    /// Largest request head the router takes (larger ones get 431), e.g. 32Ki.
    #[arg(long, default_value = "32Ki")]
    pub max_request_headers: String,
    /// Seconds a routed request may wait for its response head unless its route says
    /// otherwise (then 504).
    #[arg(long, default_value_t = 60)]
    pub request_timeout_seconds: u64,
    #[command(flatten)]
    pub containers: ContainerArgs,
}

/// How a node runs containers.
#[derive(Debug, Clone, Args)]
pub struct ContainerArgs {
    /// Run Wasm pods only. Containers need root, runc and the CNI plugins; a node without
    /// them runs Wasm pods only and says why in its log.
    #[arg(long)]
    pub no_containers: bool,
    /// The runc binary.
    #[arg(long, default_value = "runc")]
    pub runc: PathBuf,
    /// Where the CNI plugins (bridge, host-local, loopback) are.
    #[arg(long, default_value = "/usr/lib/cni")]
    pub cni_bin: PathBuf,
    /// The bridge container pods are attached to (one per node agent on a machine).
    #[arg(long, default_value = "skiff0")]
    pub bridge: String,
    /// Processes each container may have (its cgroup's pids limit).
    #[arg(long, default_value_t = 4096)]
    pub pod_pids_limit: i64,
}

impl ContainerArgs {
    /// The container runtime's settings, unless containers are off.
    pub fn config(
        &self,
        data_dir: &std::path::Path,
    ) -> anyhow::Result<Option<skiff_node::runtime::ContainerConfig>> {
        if self.no_containers {
            return Ok(None);
        }
        let exe = std::env::current_exe()
            .map_err(|e| anyhow::anyhow!("finding this binary (the containers' shim): {e}"))?;
        Ok(Some(skiff_node::runtime::ContainerConfig {
            dir: data_dir.join("containers"),
            runc: self.runc.clone(),
            cni_bin: self.cni_bin.clone(),
            bridge: self.bridge.clone(),
            shim: vec![exe.into_os_string(), "__shim".into()],
            pids_limit: (self.pod_pids_limit > 0).then_some(self.pod_pids_limit),
        }))
    }
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub files: FileArgs,
}

/// Where manifests come from.
#[derive(Debug, Args)]
pub struct FileArgs {
    /// A manifest file, a folder of them, or `-` for stdin (repeatable).
    #[arg(short = 'f', long = "filename", required = true)]
    pub filenames: Vec<PathBuf>,
    /// Read folders recursively.
    #[arg(short = 'R', long)]
    pub recursive: bool,
}

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// A control-plane member's API address.
    #[arg(long, env = "SKIFF_SERVER", global = true)]
    pub server: Option<String>,
    /// A folder with the credentials to call it with (`ca.crt`, `tls.crt`, `tls.key`).
    #[arg(long, env = "SKIFF_CREDENTIALS", global = true, value_name = "DIR")]
    pub credentials: Option<PathBuf>,
    /// A ServiceAccount's bearer token (`skiff create token`), instead of a client
    /// certificate (--credentials then needs only `ca.crt`).
    #[arg(long, env = "SKIFF_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    /// The namespace to act in.
    #[arg(short, long, global = true)]
    pub namespace: Option<String>,
}

impl ServerArgs {
    /// The namespace to read: empty for every one (`-A`), else `-n` or `default`.
    pub fn namespace_or_all(&self, all: bool) -> String {
        if all {
            String::new()
        } else {
            self.namespace.clone().unwrap_or_else(|| "default".into())
        }
    }
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub files: FileArgs,
    /// `server`: run admission and report what would change, without writing.
    #[arg(long, value_name = "server|none", num_args = 0..=1, default_missing_value = "server")]
    pub dry_run: Option<String>,
    /// Delete objects that match -l but are no longer in the files (needs -l).
    #[arg(long, requires = "selector")]
    pub prune: bool,
    /// The label selector --prune uses.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Take fields another manager set (e.g. replicas after `skiff scale`) instead of
    /// failing with a conflict. Fields the files leave out are never taken.
    #[arg(long)]
    pub force_conflicts: bool,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// Kind: name, plural or short name (`deploy`, `deployments.apps`).
    pub kind: String,
    pub name: String,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Kind of the objects to delete: name, plural or short name.
    pub kind: Option<String>,
    pub names: Vec<String>,
    #[command(flatten)]
    pub files: OptionalFiles,
    /// Delete every object of KIND that this label selector matches.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// What happens to dependents: background, foreground or orphan.
    #[arg(long)]
    pub cascade: Option<String>,
    /// Wait until each object is gone (finalizers can hold it).
    #[arg(long)]
    pub wait: bool,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// `-f` when it is optional.
#[derive(Debug, Args)]
pub struct OptionalFiles {
    /// A manifest file, a folder of them, or `-` for stdin (repeatable).
    #[arg(short = 'f', long = "filename")]
    pub filenames: Vec<PathBuf>,
    /// Read folders recursively.
    #[arg(short = 'R', long)]
    pub recursive: bool,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// Kind: name, plural or short name (po, deploy, svc, no, ns, cm, ...).
    pub kind: String,
    pub names: Vec<String>,
    /// Output: wide, yaml, json, name.
    #[arg(short, long)]
    pub output: Option<String>,
    /// Label selector: `app=web,tier!=db`, `env in (a,b)`, `canary`, `!legacy`.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Field selector: `spec.nodeName=NODE`, `status.phase!=Running`, `metadata.name=X`.
    #[arg(long)]
    pub field_selector: Option<String>,
    /// List across every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Keep printing changes.
    #[arg(short, long)]
    pub watch: bool,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// `NAME` or `pod/NAME`; or a workload (`deploy/NAME`, `rs/NAME`, `job/NAME`,
    /// `ds/NAME`): every pod of it, each line prefixed with its pod and container.
    #[arg(required_unless_present = "selector")]
    pub pod: Option<String>,
    /// Every pod with these labels (`app=web`), each line prefixed.
    #[arg(short = 'l', long, conflicts_with = "pod")]
    pub selector: Option<String>,
    /// The most pods followed at once with -f (as kubectl's --max-log-requests).
    #[arg(long, default_value_t = 10)]
    pub max_log_requests: usize,
    /// The container (workload) in the pod; needed when it has more than one.
    #[arg(short, long)]
    pub container: Option<String>,
    /// Keep streaming new lines (Ctrl-C to stop).
    #[arg(short, long)]
    pub follow: bool,
    /// The previous run's logs, after a restart.
    #[arg(short, long)]
    pub previous: bool,
    /// Only lines newer than this: `30s`, `5m`, `2h`.
    #[arg(long)]
    pub since: Option<String>,
    /// Only lines written at or after this RFC 3339 time.
    #[arg(long)]
    pub since_time: Option<String>,
    /// Only the last N lines (-1: all).
    #[arg(long, allow_negative_numbers = true)]
    pub tail: Option<i64>,
    /// Start each line with its RFC 3339 time.
    #[arg(long)]
    pub timestamps: bool,
    #[command(flatten)]
    pub server: ServerArgs,
}

fn default_data_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".skiff")
}

/// Runs the chosen subcommand and returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Validate(a) => validate::run(&a.files),
        Command::Dev(a) => dev::run(*a),
        Command::Run(a) => run::run(*a),
        Command::New(a) => new::run(&a),
        Command::Build(a) => build::run(&a),
        Command::Deploy(a) => client::run_verb(deploy::run(&a)),
        Command::Control(a) => control::run_member(a),
        Command::Members(a) => control::members(&a),
        Command::Snapshot(a) => snapshot::run(&a),
        Command::Node(a) => node::run(*a),
        Command::Pki(a) => pki::run(&a),
        Command::Token(a) => client::run_verb(join::run(&a)),
        Command::Apply(a) => client::run_verb(apply::run(&a)),
        Command::Get(a) => client::run_verb(get::run(&a)),
        Command::Delete(a) => client::run_verb(delete::run(&a)),
        Command::Describe(a) => client::run_verb(describe::run(&a)),
        Command::Diff(a) => client::run_verb(diff::run(&a)),
        Command::Config(a) => kubeconfig::run(&a),
        Command::Completion { shell } => {
            use clap::CommandFactory;
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "skiff", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Logs(a) => client::run_verb(logs::run(&a)),
        Command::Events(a) => client::run_verb(events::run(&a)),
        Command::Top(a) => client::run_verb(top::run(&a)),
        Command::Rollout(a) => client::run_verb(rollout::run(&a)),
        Command::Scale(a) => client::run_verb(scale::run(&a)),
        Command::Dashboard(a) => client::run_verb(dashboard::run(&a)),
        Command::Cordon(a) => client::run_verb(nodes::cordon(&a, true)),
        Command::Uncordon(a) => client::run_verb(nodes::cordon(&a, false)),
        Command::Drain(a) => client::run_verb(nodes::drain(&a)),
        Command::Auth(a) => client::run_verb(auth::run(&a)),
        Command::Create(a) => client::run_verb(auth::create(&a)),
        Command::Secrets(a) => client::run_verb(secrets::run(&a)),
    }
}
