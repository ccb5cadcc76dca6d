//! Field ownership (`metadata.managedFields`) and server-side apply, as Kubernetes has
//! them: each manager (kubectl, `skiff`, a controller) owns the fields it set; an apply
//! sets the fields of its configuration, removes the ones it set before and no longer
//! does (unless another manager owns them too), and is refused with a conflict when it
//! would change a field another manager owns, unless forced, which takes the field.
//! Any other write moves the fields it changes to its manager.
//!
//! Pure functions of JSON: `fieldset` (paths and `FieldsV1`), `merge` (the edits).
//!
//! Ownership is kept from an object's first server-side apply on: creates and updates of
//! objects no one has applied record none (so they, and reading such objects, cost
//! nothing), and the first apply finds the object owned by `before-first-apply`, as
//! Kubernetes does for objects made before it kept ownership.

mod fieldset;
mod merge;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde_json::Value;
use skiff_proto::model::ManagedFieldsEntry;
use skiff_proto::model::values::Time;

use fieldset::{Path, Set, Step, display, from_fields_v1, key_names, leaves, to_fields_v1};

pub const APPLY: &str = "Apply";
pub const UPDATE: &str = "Update";
/// Who owns the fields of an object no one owned when ownership began to be kept.
pub const BEFORE_FIRST_APPLY: &str = "before-first-apply";
/// kubectl's client-side apply, and the annotation it keeps its configuration in.
const CLIENT_SIDE_APPLY: &str = "kubectl-client-side-apply";
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// A field another manager owns that an apply would change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub manager: String,
    pub api_version: String,
    /// As Kubernetes prints it: `.spec.replicas`.
    pub field: String,
}

/// Who applies, and whether they take fields others own.
#[derive(Debug, Clone)]
pub struct Applier<'a> {
    pub manager: &'a str,
    pub api_version: &'a str,
    pub force: bool,
    pub now: Time,
}

/// One manager's entry, with its set read.
struct Owner {
    entry: ManagedFieldsEntry,
    set: Set,
}

fn owners(entries: &[ManagedFieldsEntry]) -> Vec<Owner> {
    entries
        .iter()
        .map(|e| Owner {
            set: from_fields_v1(&e.fields_v1),
            entry: e.clone(),
        })
        .collect()
}

/// The entries again, those left without fields dropped.
fn entries(owners: Vec<Owner>) -> Vec<ManagedFieldsEntry> {
    owners
        .into_iter()
        .filter(|o| !o.set.is_empty())
        .map(|mut o| {
            o.entry.fields_v1 = to_fields_v1(&o.set);
            o.entry
        })
        .collect()
}

/// `owners`' entry for (`manager`, `operation`), made if missing; its set becomes `set`,
/// and its time `now` if that changed it.
fn own(
    owners: &mut Vec<Owner>,
    manager: &str,
    operation: &str,
    api_version: &str,
    set: Set,
    now: Time,
) {
    let at = owners.iter().position(|o| is(o, manager, operation));
    let o = match at {
        Some(i) => &mut owners[i],
        None => {
            owners.push(Owner {
                entry: ManagedFieldsEntry {
                    manager: manager.to_owned(),
                    operation: operation.to_owned(),
                    fields_type: "FieldsV1".into(),
                    ..Default::default()
                },
                set: Set::new(),
            });
            let last = owners.len() - 1;
            &mut owners[last]
        }
    };
    if o.set != set || o.entry.time.is_none() {
        o.entry.time = Some(now);
    }
    o.entry.api_version = api_version.to_owned();
    o.set = set;
}

/// A server-side apply half done: the object merged, its ownership not yet settled
/// (that needs the object as admission leaves it; see [`finish`]).
pub struct Merged {
    /// The applied configuration merged into the current object, before admission.
    pub object: Value,
    /// The fields the configuration sets.
    set: Set,
    owners: Vec<Owner>,
}

fn is(o: &Owner, manager: &str, operation: &str) -> bool {
    o.entry.manager == manager && o.entry.operation == operation && o.entry.subresource.is_empty()
}

/// The owners of `current` as `managed` says; an object no one owns yet (made before
/// ownership was kept, or by a controller) is owned whole by `before-first-apply`, as in
/// Kubernetes, so a first apply neither drops nor silently takes what it did not set.
fn owners_of(current: &Value, managed: &[ManagedFieldsEntry], now: Time) -> Vec<Owner> {
    if !managed.is_empty() {
        return owners(managed);
    }
    let mut out = Vec::new();
    let set: Set = leaves(current).into_keys().collect();
    if !set.is_empty() {
        own(&mut out, BEFORE_FIRST_APPLY, UPDATE, "", set, now);
    }
    out
}

/// The first half of server-side apply: `applied` (the configuration as the client wrote
/// it) merged into `current` (the object as stored, JSON; `None`: it is created), with the
/// fields the applier set before and no longer does removed, unless another manager owns
/// them (or something inside them).
pub fn merge(
    current: Option<&Value>,
    managed: &[ManagedFieldsEntry],
    applied: &Value,
    by: &Applier,
) -> Merged {
    let set: Set = leaves(applied).into_keys().collect();
    let Some(current) = current else {
        return Merged {
            object: applied.clone(),
            set,
            owners: Vec::new(),
        };
    };
    let owners = owners_of(current, managed, by.now);
    let before: Set = owners
        .iter()
        .find(|o| is(o, by.manager, APPLY))
        .map(|o| o.set.clone())
        .unwrap_or_default();
    let others: Set = owners
        .iter()
        .filter(|o| !is(o, by.manager, APPLY))
        .flat_map(|o| o.set.iter().cloned())
        .collect();
    // A path goes if no one else owns it or anything under it; a list item someone
    // else holds keeps its key fields too.
    let under = |prefix: &[Step]| others.iter().any(|o| o.starts_with(prefix));
    let held = |p: &Path| {
        under(p.strip_suffix(&[Step::Itself]).unwrap_or(p))
            || p.windows(2).enumerate().any(|(i, w)| match w {
                [Step::Key(k), Step::Field(f)] => key_names(k).contains(f) && under(&p[..=i]),
                _ => false,
            })
    };
    let dropped: Set = before
        .difference(&set)
        .filter(|p| !held(p))
        .cloned()
        .collect();
    let mut object = current.clone();
    for path in &dropped {
        // A list item dropped whole goes at once (by its key), not field by field.
        let within_dropped_item = (1..path.len()).any(|n| {
            let mut item = path[..n].to_vec();
            item.push(Step::Itself);
            item != *path && dropped.contains(&item)
        });
        if !within_dropped_item {
            merge::remove(&mut object, path);
        }
    }
    merge::merge(&mut object, applied, "");
    Merged {
        object,
        set,
        owners,
    }
}

/// The second half: `result` is the merged object as admission left it (JSON). A field
/// the configuration sets that another manager owns, and that the apply changes, is a
/// conflict, unless forced, which takes it; every owner keeps only fields that are
/// still there.
pub fn finish(
    m: Merged,
    current: Option<&Value>,
    result: &Value,
    by: &Applier,
) -> Result<Vec<ManagedFieldsEntry>, Vec<Conflict>> {
    let Merged {
        set, mut owners, ..
    } = m;
    let now = leaves(result);
    if let Some(current) = current {
        let have = leaves(current);
        // Moving from client-side to server-side apply: what kubectl's client-side apply
        // set (it keeps its configuration in an annotation; the fields are its, or
        // before-first-apply's) goes to the server-side applier without a conflict, as
        // Kubernetes lets it.
        let migrating = current["metadata"]["annotations"]
            .get(LAST_APPLIED)
            .is_some();
        let mut conflicts = Vec::new();
        for o in owners.iter_mut().filter(|o| !is(o, by.manager, APPLY)) {
            let client_side =
                [CLIENT_SIDE_APPLY, BEFORE_FIRST_APPLY].contains(&o.entry.manager.as_str());
            let take = by.force || (migrating && client_side);
            let differ: Vec<Path> = o
                .set
                .intersection(&set)
                .filter(|p| have.get(*p).is_some_and(|v| Some(v) != now.get(*p)))
                .cloned()
                .collect();
            if take {
                differ.iter().for_each(|p| {
                    o.set.remove(p);
                });
            } else {
                conflicts.extend(differ.iter().map(|p| Conflict {
                    manager: o.entry.manager.clone(),
                    api_version: o.entry.api_version.clone(),
                    field: display(p),
                }));
            }
        }
        if !conflicts.is_empty() {
            return Err(conflicts);
        }
    }
    for o in &mut owners {
        o.set.retain(|p| now.contains_key(p));
    }
    let mine: Set = set.into_iter().filter(|p| now.contains_key(p)).collect();
    own(&mut owners, by.manager, APPLY, by.api_version, mine, by.now);
    Ok(entries(owners))
}

/// The managed fields after a write other than an apply (`manager` changed `old` into
/// `new`): the fields it changed move to its `Update` entry.
pub fn update(
    old: &Value,
    new: &Value,
    managed: &[ManagedFieldsEntry],
    manager: &str,
    api_version: &str,
    now: Time,
) -> Vec<ManagedFieldsEntry> {
    let (before, after) = (leaves(old), leaves(new));
    let changed: Set = changed(&before, &after);
    if changed.is_empty() {
        return managed.to_vec();
    }
    let mut owners = owners_of(old, managed, now);
    for o in &mut owners {
        o.set.retain(|p| !changed.contains(p));
    }
    let mut mine = owners
        .iter()
        .find(|o| is(o, manager, UPDATE))
        .map(|o| o.set.clone())
        .unwrap_or_default();
    mine.extend(changed.into_iter().filter(|p| after.contains_key(p)));
    own(&mut owners, manager, UPDATE, api_version, mine, now);
    entries(owners)
}

/// The paths whose values differ between `a` and `b`, or that only one has.
fn changed(a: &BTreeMap<Path, Value>, b: &BTreeMap<Path, Value>) -> Set {
    let mut out: Set = a
        .iter()
        .filter(|(p, v)| b.get(*p) != Some(*v))
        .map(|(p, _)| p.clone())
        .collect();
    out.extend(b.keys().filter(|p| !a.contains_key(*p)).cloned());
    out
}

/// A conflict's message, as Kubernetes words it.
pub fn conflict_message(c: &Conflict) -> String {
    format!("conflict with {:?} using {}", c.manager, c.api_version)
}
