//! `skiff rollout status|history|undo|pause|resume|restart KIND/NAME`, as kubectl's.
//! - `status` follows a Deployment (or DaemonSet) live until its rollout is done
//!   (exit 0) or its progress deadline is exceeded (exit 1).
//! - `history` lists revisions (the Deployment's ReplicaSets); `--revision N` shows one.
//! - `undo [--to-revision N]` writes a revision's pod template back into the Deployment
//!   (the previous revision by default); the controller rolls to it.
//! - `pause`/`resume` set `spec.paused`; `restart` stamps the template so every pod is
//!   replaced.
//! - `promote [--full]` and `abort` move a Canary Deployment's canary (see `canary`);
//!   `status` shows its step and exits 1 when it was aborted.

use std::process::ExitCode;
use std::time::Duration;

use super::client::Conn;
use clap::{Args, Subcommand};
use skiff_proto::grpc::api::ListRequest;
use skiff_proto::grpc::api::object_service_client::ObjectServiceClient;
use skiff_proto::grpc::api::{ReadConsistency, WatchEventType, WatchRequest};
use skiff_proto::model::values::Time;
use skiff_proto::model::{Deployment, ReplicaSet};
use skiff_proto::{Kind, Object};

use super::ServerArgs;
use super::client::{self, Failure, refused};
use super::edit::Target;
use super::get::object;

#[derive(Debug, Args)]
pub struct RolloutArgs {
    #[command(subcommand)]
    pub action: Action,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Debug, Subcommand)]
pub enum Action {
    /// Follow a rollout until it is done (exit 0) or its deadline passes (exit 1).
    Status {
        /// `deployment/NAME` or `daemonset/NAME`.
        target: String,
        name: Option<String>,
        /// Give up after this many seconds (0: wait as long as it takes).
        #[arg(long, default_value_t = 0)]
        timeout: u64,
    },
    /// List a Deployment's revisions, or show one with --revision.
    History {
        target: String,
        name: Option<String>,
        #[arg(long)]
        revision: Option<u64>,
    },
    /// Roll back to the previous revision, or to --to-revision N.
    Undo {
        target: String,
        name: Option<String>,
        #[arg(long)]
        to_revision: Option<u64>,
    },
    /// Stop rolling out template changes (scaling still happens).
    Pause {
        target: String,
        name: Option<String>,
    },
    /// Roll out again after a pause.
    Resume {
        target: String,
        name: Option<String>,
    },
    /// Replace every pod, one revision later.
    Restart {
        target: String,
        name: Option<String>,
    },
    /// Let a Canary Deployment's canary go past its current pause (--full: through every
    /// remaining step at once).
    Promote {
        target: String,
        name: Option<String>,
        #[arg(long)]
        full: bool,
    },
    /// Abort a Canary Deployment's canary: all traffic and replicas back to the stable
    /// revision.
    Abort {
        target: String,
        name: Option<String>,
    },
}

const REVISION: &str = "deployment.kubernetes.io/revision";
const CHANGE_CAUSE: &str = "kubernetes.io/change-cause";
const TEMPLATE_HASH: &str = "pod-template-hash";
const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

pub async fn run(a: &RolloutArgs) -> Result<ExitCode, Failure> {
    let (t, name) = match &a.action {
        Action::Status { target, name, .. }
        | Action::History { target, name, .. }
        | Action::Undo { target, name, .. }
        | Action::Pause { target, name }
        | Action::Resume { target, name }
        | Action::Restart { target, name }
        | Action::Promote { target, name, .. }
        | Action::Abort { target, name } => (target, name),
    };
    let t = Target::parse(t, name.as_deref(), a.server.namespace.as_deref())?;
    if !matches!(a.action, Action::Status { .. }) {
        deployment(&t)?;
    }
    let mut api = client::connect(&client::server(&a.server)).await?;
    match &a.action {
        Action::Status { timeout, .. } => status(&mut api, &t, *timeout).await,
        Action::History { revision, .. } => history(&mut api, &t, *revision).await,
        Action::Undo { to_revision, .. } => undo(&mut api, &t, *to_revision).await,
        Action::Pause { .. } => set_paused(&mut api, &t, true).await,
        Action::Resume { .. } => set_paused(&mut api, &t, false).await,
        Action::Promote { full, .. } => super::canary::promote(&mut api, &t, *full).await,
        Action::Abort { .. } => super::canary::abort(&mut api, &t).await,
        Action::Restart { .. } => {
            let now = Time::now().to_string();
            t.modify(&mut api, |o| {
                if let Object::Deployment(d) = o {
                    d.spec
                        .template
                        .metadata
                        .annotations
                        .insert(RESTARTED_AT.into(), now.clone());
                }
                Ok(true)
            })
            .await?;
            println!("{} restarted", t.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn deployment(t: &Target) -> Result<(), Failure> {
    if t.kind == Kind::Deployment {
        Ok(())
    } else {
        Err(Failure::User(format!(
            "{}: this rollout verb works on deployments",
            t.display()
        )))
    }
}
/// One line about where a rollout is; `Ok(true)` when it is done.
fn progress(o: &Object) -> Result<(String, bool), Failure> {
    match o {
        Object::Deployment(d) => deployment_progress(d),
        Object::DaemonSet(ds) => {
            let name = &ds.metadata.name;
            let s = ds.status.clone().unwrap_or_default();
            if s.observed_generation < ds.metadata.generation {
                return Ok((
                    format!("Waiting for daemon set \"{name}\" spec update to be observed..."),
                    false,
                ));
            }
            if s.updated_number_scheduled < s.desired_number_scheduled {
                return Ok((
                    format!(
                        "Waiting for daemon set \"{name}\" rollout to finish: {} out of {} new pods have been updated...",
                        s.updated_number_scheduled, s.desired_number_scheduled
                    ),
                    false,
                ));
            }
            if s.number_available < s.desired_number_scheduled {
                return Ok((
                    format!(
                        "Waiting for daemon set \"{name}\" rollout to finish: {} of {} updated pods are available...",
                        s.number_available, s.desired_number_scheduled
                    ),
                    false,
                ));
            }
            Ok((
                format!("daemon set \"{name}\" successfully rolled out"),
                true,
            ))
        }
        other => Err(Failure::User(format!(
            "{}: rollout status works on deployments and daemonsets",
            other.display_name()
        ))),
    }
}

fn deployment_progress(d: &Deployment) -> Result<(String, bool), Failure> {
    let name = &d.metadata.name;
    let s = d.status.clone().unwrap_or_default();
    if s.observed_generation < d.metadata.generation {
        return Ok((
            format!("Waiting for deployment \"{name}\" spec update to be observed..."),
            false,
        ));
    }
    if let Some(c) = s.conditions.iter().find(|c| c.type_ == "Progressing")
        && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    {
        return Err(Failure::User(format!(
            "error: deployment \"{name}\" exceeded its progress deadline ({} updated, {} ready, {} available of {})",
            s.updated_replicas,
            s.ready_replicas,
            s.available_replicas,
            d.spec.replicas.unwrap_or(1)
        )));
    }
    if let Some(canary) = super::canary::progress(d) {
        return canary;
    }
    let want = d.spec.replicas.unwrap_or(1);
    let counts = format!(
        "updated {}/{want}, ready {}, available {}",
        s.updated_replicas, s.ready_replicas, s.available_replicas
    );
    let line = if s.updated_replicas < want {
        format!(
            "Waiting for deployment \"{name}\" rollout to finish: {} out of {want} new replicas have been updated... ({counts})",
            s.updated_replicas
        )
    } else if s.replicas > s.updated_replicas {
        format!(
            "Waiting for deployment \"{name}\" rollout to finish: {} old replicas are pending termination... ({counts})",
            s.replicas - s.updated_replicas
        )
    } else if s.available_replicas < s.updated_replicas {
        format!(
            "Waiting for deployment \"{name}\" rollout to finish: {} of {} updated replicas are available... ({counts})",
            s.available_replicas, s.updated_replicas
        )
    } else {
        return Ok((
            format!("deployment \"{name}\" successfully rolled out"),
            true,
        ));
    };
    if d.spec.paused == Some(true) {
        return Ok((
            format!("{line} (paused: `skiff rollout resume deployment/{name}` continues it)"),
            false,
        ));
    }
    Ok((line, false))
}

/// Follows the object through a watch (as kubectl does), so every status the controller
/// writes is seen and printed, however quickly the rollout goes.
async fn status(
    api: &mut ObjectServiceClient<Conn>,
    t: &Target,
    timeout: u64,
) -> Result<ExitCode, Failure> {
    let follow = follow(api, t);
    if timeout == 0 {
        return follow.await;
    }
    match tokio::time::timeout(Duration::from_secs(timeout), follow).await {
        Ok(r) => r,
        Err(_) => Err(Failure::User(format!(
            "error: timed out waiting for the rollout of {} ({timeout} s)",
            t.display()
        ))),
    }
}

async fn follow(api: &mut ObjectServiceClient<Conn>, t: &Target) -> Result<ExitCode, Failure> {
    let mut last = String::new();
    let mut show = |o: &Object| -> Result<bool, Failure> {
        let (line, done) = progress(o)?;
        if line != last {
            println!("{line}");
            last = line;
        }
        Ok(done)
    };
    loop {
        let (o, revision) = t.fetch(api).await?;
        if show(&o)? {
            return Ok(ExitCode::SUCCESS);
        }
        let mut stream = api
            .watch(WatchRequest {
                kind: t.kind.name().into(),
                namespace: t.namespace.clone(),
                field_selector: format!("metadata.name={}", t.name),
                since_revision: revision,
                ..Default::default()
            })
            .await
            .map_err(|s| refused(&format!("watching {}", t.display()), &s))?
            .into_inner();
        loop {
            match stream.message().await {
                Ok(Some(ev)) if ev.r#type == WatchEventType::Deleted as i32 => {
                    return Err(Failure::User(format!(
                        "error: {} was deleted during its rollout",
                        t.display()
                    )));
                }
                Ok(Some(ev)) => {
                    if let Some(env) = ev.object.as_ref()
                        && show(&object(env)?)?
                    {
                        return Ok(ExitCode::SUCCESS);
                    }
                }
                // The server ended the stream, or our revision was compacted away: read
                // the object again and watch from there.
                Ok(None) => break,
                Err(s) if s.code() == tonic::Code::OutOfRange => break,
                Err(s) => return Err(refused(&format!("watching {}", t.display()), &s)),
            }
        }
    }
}

/// The Deployment's ReplicaSets, oldest revision first.
async fn revisions(
    api: &mut ObjectServiceClient<Conn>,
    t: &Target,
) -> Result<(Deployment, u64, Vec<ReplicaSet>), Failure> {
    let (o, rev) = t.fetch(api).await?;
    let Object::Deployment(d) = o else {
        return Err(Failure::User(format!(
            "{} is not a deployment",
            t.display()
        )));
    };
    let uid = d.metadata.uid.clone().unwrap_or_default();
    let r = api
        .list(ListRequest {
            kind: Kind::ReplicaSet.name().into(),
            namespace: t.namespace.clone(),
            consistency: ReadConsistency::Linearizable as i32,
            ..Default::default()
        })
        .await
        .map_err(|s| refused("listing replica sets", &s))?
        .into_inner();
    let mut sets = Vec::new();
    for env in &r.items {
        if let Object::ReplicaSet(rs) = object(env)?
            && rs.metadata.controller().is_some_and(|o| o.uid == uid)
        {
            sets.push(rs);
        }
    }
    sets.sort_by_key(revision_of);
    Ok((d, rev, sets))
}

fn revision_of(rs: &ReplicaSet) -> u64 {
    rs.metadata
        .annotations
        .get(REVISION)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

async fn history(
    api: &mut ObjectServiceClient<Conn>,
    t: &Target,
    revision: Option<u64>,
) -> Result<ExitCode, Failure> {
    let (_, _, sets) = revisions(api, t).await?;
    if let Some(n) = revision {
        let rs = sets
            .iter()
            .find(|rs| revision_of(rs) == n)
            .ok_or_else(|| Failure::User(format!("{}: revision {n} not found", t.display())))?;
        let mut template = rs.spec.template.clone();
        template.metadata.labels.remove(TEMPLATE_HASH);
        let yaml = serde_saphyr::to_string(&template)
            .map_err(|e| Failure::User(format!("printing revision {n}: {e}")))?;
        println!("{} with revision #{n}\nPod Template:\n{yaml}", t.display());
        return Ok(ExitCode::SUCCESS);
    }
    println!("{}\nREVISION  CHANGE-CAUSE", t.display());
    for rs in &sets {
        let cause = rs
            .metadata
            .annotations
            .get(CHANGE_CAUSE)
            .map_or("<none>", String::as_str);
        println!("{:<9} {cause}", revision_of(rs));
    }
    Ok(ExitCode::SUCCESS)
}

async fn undo(
    api: &mut ObjectServiceClient<Conn>,
    t: &Target,
    to: Option<u64>,
) -> Result<ExitCode, Failure> {
    let (d, _, sets) = revisions(api, t).await?;
    let current = sets.iter().map(revision_of).max().unwrap_or(0);
    let wanted = match to {
        Some(n) => n,
        None => sets
            .iter()
            .map(revision_of)
            .filter(|&r| r < current)
            .max()
            .ok_or_else(|| {
                Failure::User(format!(
                    "{}: no rollout history found: there is no earlier revision to go back to",
                    t.display()
                ))
            })?,
    };
    let rs = sets.iter().find(|rs| revision_of(rs) == wanted).ok_or_else(|| {
        Failure::User(format!(
            "{}: unable to find the specified revision {wanted}; see `skiff rollout history {}`",
            t.display(),
            t.display()
        ))
    })?;
    let mut template = rs.spec.template.clone();
    template.metadata.labels.remove(TEMPLATE_HASH);
    if template == d.spec.template {
        println!(
            "{} skipped rollback (current template already matches revision {wanted})",
            t.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    t.modify(api, |o| {
        if let Object::Deployment(d) = o {
            d.spec.template = template.clone();
        }
        Ok(true)
    })
    .await?;
    println!("{} rolled back", t.display());
    Ok(ExitCode::SUCCESS)
}

async fn set_paused(
    api: &mut ObjectServiceClient<Conn>,
    t: &Target,
    paused: bool,
) -> Result<ExitCode, Failure> {
    let (_, changed) = t
        .modify(api, |o| match o {
            Object::Deployment(d) if (d.spec.paused == Some(true)) != paused => {
                d.spec.paused = paused.then_some(true);
                Ok(true)
            }
            _ => Ok(false),
        })
        .await?;
    let word = if paused { "paused" } else { "resumed" };
    if !changed {
        return Err(Failure::User(format!(
            "{} is already {}",
            t.display(),
            if paused { "paused" } else { "not paused" }
        )));
    }
    println!("{} {word}", t.display());
    Ok(ExitCode::SUCCESS)
}
