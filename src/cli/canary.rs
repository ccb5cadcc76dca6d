//! The canary side of `skiff rollout`: `status` lines for a Canary Deployment's step,
//! and `promote` / `abort`, written as annotations the controller reads (Argo Rollouts'
//! verbs; the annotation names the revision, so a stale one does nothing to the next).

use std::process::ExitCode;

use skiff_proto::Object;
use skiff_proto::grpc::api::object_service_client::ObjectServiceClient;
use skiff_proto::model::Deployment;
use skiff_proto::model::canary::{ABORT_ANNOTATION, CanaryPhase, CanaryStatus, PROMOTE_ANNOTATION};

use super::client::{Conn, Failure};
use super::edit::Target;

/// Where a Canary Deployment's rollout is, or `None` when it has no canary under way
/// (the ordinary status lines then apply).
pub fn progress(d: &Deployment) -> Option<Result<(String, bool), Failure>> {
    let c = d.spec.strategy.as_ref()?.canary.as_ref()?;
    let s = d.status.as_ref()?.canary.as_ref()?;
    let name = &d.metadata.name;
    let steps = c.steps.len();
    let step = s.current_step.max(0).unsigned_abs() as usize;
    let what = c
        .steps
        .get(step)
        .map(|st| match (st.set_weight, &st.pause) {
            (Some(w), _) => format!("setWeight {w}"),
            (_, Some(p)) => match &p.duration {
                Some(d) => format!("pause {d}"),
                None => "pause until promoted".into(),
            },
            _ => String::new(),
        })
        .unwrap_or_else(|| "promoting".into());
    let analysis = s
        .message
        .as_deref()
        .map(|m| format!("; {m}"))
        .unwrap_or_default();
    let at = format!(
        "step {}/{steps} ({what}), canary weight {}%{analysis}",
        (step + 1).min(steps),
        s.weight
    );
    Some(Ok(match s.phase {
        CanaryPhase::Healthy => return None,
        CanaryPhase::Aborted => {
            return Some(Err(Failure::User(format!(
                "error: deployment \"{name}\" canary was aborted and rolled back: {}",
                s.message.as_deref().unwrap_or("aborted")
            ))));
        }
        CanaryPhase::Paused => (
            format!(
                "Paused deployment \"{name}\" canary at {at} (`skiff rollout promote deployment/{name}` goes on)"
            ),
            false,
        ),
        CanaryPhase::Progressing | CanaryPhase::Promoting => (
            format!("Waiting for deployment \"{name}\" canary: {at}"),
            false,
        ),
    }))
}

/// The canary under way, or a clear error.
fn under_way(o: &Object, t: &Target) -> Result<(String, CanaryStatus), Failure> {
    let Object::Deployment(d) = o else {
        return Err(Failure::User(format!("{}: not a deployment", t.display())));
    };
    let s = d
        .status
        .as_ref()
        .and_then(|s| s.canary.clone())
        .filter(|_| d.spec.strategy.as_ref().is_some_and(|s| s.canary.is_some()));
    match s {
        Some(s) if s.canary_hash.is_some() && s.phase != CanaryPhase::Aborted => {
            Ok((s.canary_hash.clone().unwrap_or_default(), *s))
        }
        _ => Err(Failure::User(format!(
            "{}: no canary is under way (the strategy is not Canary, the last one finished, \
             or it was aborted; change the template to start one)",
            t.display()
        ))),
    }
}

/// `promote`: past the current pause, or (`full`) through every remaining step.
pub async fn promote(
    api: &mut ObjectServiceClient<Conn>,
    t: &Target,
    full: bool,
) -> Result<ExitCode, Failure> {
    let mut said = String::new();
    t.modify(api, |o| {
        let (hash, s) = under_way(o, t)?;
        let value = if full {
            format!("{hash}:full")
        } else {
            format!("{hash}:{}", s.current_step)
        };
        said = if full {
            format!("{} promoted fully", t.display())
        } else {
            format!("{} promoted past step {}", t.display(), s.current_step + 1)
        };
        annotate(o, PROMOTE_ANNOTATION, value)
    })
    .await?;
    println!("{said}");
    Ok(ExitCode::SUCCESS)
}

/// `abort`: all traffic and replicas back to the stable revision.
pub async fn abort(api: &mut ObjectServiceClient<Conn>, t: &Target) -> Result<ExitCode, Failure> {
    t.modify(api, |o| {
        let (hash, _) = under_way(o, t)?;
        annotate(o, ABORT_ANNOTATION, hash)
    })
    .await?;
    println!("{} aborted", t.display());
    Ok(ExitCode::SUCCESS)
}

fn annotate(o: &mut Object, key: &str, value: String) -> Result<bool, Failure> {
    let m = o.metadata_mut();
    if m.annotations.get(key) == Some(&value) {
        return Ok(false);
    }
    m.annotations.insert(key.into(), value);
    Ok(true)
}
