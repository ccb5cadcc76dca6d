//! `skiff top pods|nodes`: what they use now, as `kubectl top` prints it, read from the
//! nodes' agents through the API (`MetricsService`). CPU is a rate over the agents' last
//! window (5–10 s); a Wasm pod's memory is what its live instances hold.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use skiff_proto::grpc::api::metrics_service_client::MetricsServiceClient;
use skiff_proto::grpc::api::{NodeMetricsRequest, PodMetricsRequest};

use super::client::{self, Failure, refused};
use super::{ServerArgs, table};

#[derive(Debug, Args)]
pub struct TopArgs {
    #[command(subcommand)]
    pub what: TopWhat,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Debug, Subcommand)]
pub enum TopWhat {
    /// CPU (cores) and memory of pods.
    Pods {
        /// Label selector: `app=web`.
        #[arg(short = 'l', long)]
        selector: Option<String>,
        /// Pods of every namespace.
        #[arg(short = 'A', long)]
        all_namespaces: bool,
        /// One line per container.
        #[arg(long)]
        containers: bool,
    },
    /// CPU (cores) and memory of nodes, and their share of what each offers.
    Nodes {
        #[arg(short = 'l', long)]
        selector: Option<String>,
    },
}

/// `250m`, as kubectl prints CPU.
fn cpu(millis: u64) -> String {
    format!("{millis}m")
}

/// `12Mi` (kubectl's unit); below a MiB, `KiB`: an idle Wasm pod holds little.
fn memory(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{}Mi", bytes >> 20)
    } else {
        format!("{}Ki", bytes >> 10)
    }
}

fn percent(used: u64, of: u64) -> String {
    if of == 0 {
        return "<unknown>".into();
    }
    format!("{}%", used.saturating_mul(100) / of)
}

fn warn_unreachable(nodes: &[String]) {
    for n in nodes {
        eprintln!("warning: no figures from node {n}");
    }
}

pub async fn run(a: &TopArgs) -> Result<ExitCode, Failure> {
    let channel = client::channel(&client::server(&a.server)).await?;
    let mut api = MetricsServiceClient::new(channel);
    match &a.what {
        TopWhat::Pods {
            selector,
            all_namespaces,
            containers,
        } => {
            let namespace = a.server.namespace_or_all(*all_namespaces);
            let r = api
                .pod_metrics(PodMetricsRequest {
                    namespace: namespace.clone(),
                    label_selector: selector.clone().unwrap_or_default(),
                })
                .await
                .map_err(|s| refused("reading pod metrics", &s))?
                .into_inner();
            warn_unreachable(&r.unreachable);
            if r.pods.is_empty() {
                let place = if namespace.is_empty() {
                    String::new()
                } else {
                    format!(" in namespace {namespace}")
                };
                eprintln!("No running pods found{place}.");
                return Ok(ExitCode::SUCCESS);
            }
            let mut head: Vec<String> = Vec::new();
            if *all_namespaces {
                head.push("NAMESPACE".into());
            }
            head.push("NAME".into());
            if *containers {
                head.push("CONTAINER".into());
            }
            head.extend(["CPU(cores)".into(), "MEMORY(bytes)".into()]);
            let mut rows = vec![head];
            for p in &r.pods {
                let lines: Vec<(String, u64, u64)> = if *containers {
                    p.containers
                        .iter()
                        .map(|c| (c.name.clone(), c.cpu_millicores, c.memory_bytes))
                        .collect()
                } else {
                    vec![(
                        String::new(),
                        p.containers.iter().map(|c| c.cpu_millicores).sum(),
                        p.containers.iter().map(|c| c.memory_bytes).sum(),
                    )]
                };
                for (container, c, m) in lines {
                    let mut row = Vec::new();
                    if *all_namespaces {
                        row.push(p.namespace.clone());
                    }
                    row.push(p.name.clone());
                    if *containers {
                        row.push(container);
                    }
                    row.extend([cpu(c), memory(m)]);
                    rows.push(row);
                }
            }
            print!("{}", table::align(rows));
        }
        TopWhat::Nodes { selector } => {
            let r = api
                .node_metrics(NodeMetricsRequest {
                    label_selector: selector.clone().unwrap_or_default(),
                    with_requests: false,
                })
                .await
                .map_err(|s| refused("reading node metrics", &s))?
                .into_inner();
            warn_unreachable(&r.unreachable);
            let mut rows = vec![
                ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]
                    .map(String::from)
                    .to_vec(),
            ];
            for n in &r.nodes {
                rows.push(vec![
                    n.name.clone(),
                    cpu(n.cpu_millicores),
                    percent(n.cpu_millicores, n.allocatable_cpu_millicores),
                    memory(n.memory_bytes),
                    percent(n.memory_bytes, n.allocatable_memory_bytes),
                ]);
            }
            print!("{}", table::align(rows));
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_print_as_kubectl_top_prints_them() {
        assert_eq!(cpu(250), "250m");
        assert_eq!(memory(48 << 10), "48Ki");
        assert_eq!(memory(300 << 20), "300Mi");
        assert_eq!(percent(500, 2000), "25%");
        assert_eq!(percent(1, 0), "<unknown>");
    }
}
