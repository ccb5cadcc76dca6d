//! The arithmetic of a rolling update, as Kubernetes' deployment controller does it, on
//! plain numbers so each rule is tested alone.
//!
//! - The new ReplicaSet grows while all replicas together stay within
//!   `replicas + maxSurge`.
//! - Old ReplicaSets shrink while available pods stay at least
//!   `replicas - maxUnavailable`; their unavailable pods go first, as they serve nobody.

use skiff_proto::model::IntOrString;

/// One ReplicaSet of a Deployment, counted from its pods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counts {
    pub name: String,
    /// `spec.replicas`.
    pub spec: i32,
    /// Active pods that are available.
    pub available: i32,
}

/// `maxSurge` or `maxUnavailable` as a number of pods: a number, or a percentage of
/// `replicas` (surge rounds up, unavailability down).
pub fn resolve(v: Option<&IntOrString>, replicas: i32, round_up: bool) -> Result<i32, String> {
    let v = v.cloned().unwrap_or(IntOrString::String("25%".into()));
    match v {
        IntOrString::Int(n) => Ok(n.max(0)),
        IntOrString::String(s) => {
            let pct: i64 = s
                .strip_suffix('%')
                .and_then(|p| p.trim().parse().ok())
                .ok_or_else(|| format!("{s:?} is neither a number nor a percentage like 25%"))?;
            let scaled = i64::from(replicas) * pct.max(0);
            let n = if round_up {
                (scaled + 99) / 100
            } else {
                scaled / 100
            };
            Ok(i32::try_from(n).unwrap_or(i32::MAX))
        }
    }
}

/// `(maxSurge, maxUnavailable)` in pods; both zero would never move, so unavailability
/// becomes 1 (Kubernetes does the same).
pub fn limits(
    surge: Option<&IntOrString>,
    unavailable: Option<&IntOrString>,
    replicas: i32,
) -> Result<(i32, i32), String> {
    let s = resolve(surge, replicas, true)?;
    let u = resolve(unavailable, replicas, false)?;
    Ok(if s == 0 && u == 0 { (0, 1) } else { (s, u) })
}

/// The new ReplicaSet's next size.
pub fn new_scale(replicas: i32, surge: i32, new: &Counts, old: &[Counts]) -> i32 {
    if new.spec >= replicas {
        return replicas;
    }
    let total: i32 = new.spec + old.iter().map(|c| c.spec).sum::<i32>();
    let room = replicas.saturating_add(surge) - total;
    if room <= 0 {
        return new.spec;
    }
    (new.spec + room).min(replicas)
}

/// The old ReplicaSets' next sizes (same order as `old`).
pub fn old_scales(replicas: i32, unavailable: i32, new: &Counts, old: &[Counts]) -> Vec<i32> {
    let mut next: Vec<i32> = old.iter().map(|c| c.spec).collect();
    let all: i32 = new.spec + next.iter().sum::<i32>();
    let min_available = replicas - unavailable;
    let new_unavailable = (new.spec - new.available).max(0);
    let max_scaled_down = all - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return next;
    }
    // Unavailable old pods first: removing them costs no availability.
    let mut cleaned = 0;
    for (c, n) in old.iter().zip(next.iter_mut()) {
        if cleaned >= max_scaled_down {
            break;
        }
        let unhealthy = (c.spec - c.available).max(0);
        let d = unhealthy.min(max_scaled_down - cleaned);
        *n -= d;
        cleaned += d;
    }
    // Then available ones, while enough stay available.
    let available: i32 = new.available + old.iter().map(|c| c.available).sum::<i32>();
    if available <= min_available {
        return next;
    }
    let mut budget = available - min_available;
    for (c, n) in old.iter().zip(next.iter_mut()) {
        if budget == 0 {
            break;
        }
        let healthy = (*n).min(c.available);
        let d = healthy.min(budget);
        *n -= d;
        budget -= d;
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rs(spec: i32, available: i32) -> Counts {
        Counts {
            name: String::new(),
            spec,
            available,
        }
    }

    #[test]
    fn percentages_round_surge_up_and_unavailability_down() {
        let pct = IntOrString::String("25%".into());
        assert_eq!(limits(Some(&pct), Some(&pct), 10), Ok((3, 2)));
        assert_eq!(limits(None, None, 3), Ok((1, 0)));
        assert_eq!(
            limits(Some(&IntOrString::Int(0)), Some(&IntOrString::Int(0)), 3),
            Ok((0, 1))
        );
        assert!(resolve(Some(&IntOrString::String("lots".into())), 3, true).is_err());
    }

    #[test]
    fn the_new_set_grows_within_the_surge() {
        // 3 replicas, surge 1: 3 old + 0 new → new may have 1.
        assert_eq!(new_scale(3, 1, &rs(0, 0), &[rs(3, 3)]), 1);
        // Already 4 in all: wait.
        assert_eq!(new_scale(3, 1, &rs(1, 0), &[rs(3, 3)]), 1);
        // Old shrank to 2: new may grow to 2.
        assert_eq!(new_scale(3, 1, &rs(1, 1), &[rs(2, 2)]), 2);
        // Never past replicas; shrinks to replicas when scaled down.
        assert_eq!(new_scale(3, 5, &rs(0, 0), &[]), 3);
        assert_eq!(new_scale(3, 1, &rs(5, 5), &[]), 3);
    }

    #[test]
    fn old_sets_shrink_only_while_enough_stay_available() {
        // 3 replicas, maxUnavailable 0: new has 1 unavailable → nothing goes yet.
        assert_eq!(old_scales(3, 0, &rs(1, 0), &[rs(3, 3)]), vec![3]);
        // New pod available → one old may go.
        assert_eq!(old_scales(3, 0, &rs(1, 1), &[rs(3, 3)]), vec![2]);
        // maxUnavailable 1: one old may go before the new is available.
        assert_eq!(old_scales(3, 1, &rs(0, 0), &[rs(3, 3)]), vec![2]);
        // Unavailable old pods go first, within the room above the minimum total.
        assert_eq!(old_scales(3, 0, &rs(1, 1), &[rs(3, 1)]), vec![2]);
        assert_eq!(old_scales(3, 1, &rs(1, 1), &[rs(3, 1)]), vec![1]);
    }

    #[test]
    fn a_whole_rollout_keeps_the_minimum_available_at_every_step() {
        // Simulate: each step, pods of the new set become available at once.
        let (replicas, surge, unavailable) = (4, 1, 1);
        let mut new = rs(0, 0);
        let mut old = vec![rs(4, 4)];
        for _ in 0..20 {
            new.spec = new_scale(replicas, surge, &new, &old);
            let next = old_scales(replicas, unavailable, &new, &old);
            for (o, n) in old.iter_mut().zip(next) {
                o.spec = n;
                o.available = o.available.min(n);
            }
            let available = new.available + old.iter().map(|o| o.available).sum::<i32>();
            assert!(available >= replicas - unavailable, "{new:?} {old:?}");
            assert!(new.spec + old.iter().map(|o| o.spec).sum::<i32>() <= replicas + surge);
            new.available = new.spec;
        }
        assert_eq!((new.spec, old[0].spec), (4, 0));
    }
}
