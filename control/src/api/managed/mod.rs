//! Field ownership (`metadata.managedFields`) and server-side apply, as Kubernetes has
//! them: each manager (kubectl, `skiff`, a controller) owns the fields it set; an apply
//! sets the fields of its configuration, removes the ones it set before and no longer
//! does (unless another manager owns them too), and is refused with a conflict when it
//! would change a field another manager owns, unless forced, which takes the field.
//! Any other write moves the fields it changes to its manager.
//!
//! Pure functions of JSON: `fieldset` (paths and `FieldsV1`), `merge` (the edits).
//!
//! Ownership is kept for objects that have been applied server-side; a write to an object
//! without managed fields records none (so the many writes of controllers cost nothing).

mod fieldset;
mod merge;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde_json::Value;
use skiff_proto::model::ManagedFieldsEntry;
use skiff_proto::model::values::Time;

use fieldset::{Path, Set, display, from_fields_v1, leaves, to_fields_v1};

pub const APPLY: &str = "Apply";
pub const UPDATE: &str = "Update";

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
    let at = owners.iter().position(|o| {
        o.entry.manager == manager
            && o.entry.operation == operation
            && o.entry.subresource.is_empty()
    });
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

/// Server-side apply of `applied` (the configuration as written) over `current` (the
/// object as stored, JSON) owned as `managed` says: the object to write and its
/// managed fields, or the conflicts.
pub fn apply(
    current: Option<&Value>,
    managed: &[ManagedFieldsEntry],
    applied: &Value,
    by: &Applier,
) -> Result<(Value, Vec<ManagedFieldsEntry>), Vec<Conflict>> {
    let wanted = leaves(applied);
    let set: Set = wanted.keys().cloned().collect();
    let mut owners = owners(managed);
    let Some(current) = current else {
        own(&mut owners, by.manager, APPLY, by.api_version, set, by.now);
        return Ok((applied.clone(), entries(owners)));
    };
    let have = leaves(current);
    let mine = |o: &Owner| {
        o.entry.manager == by.manager
            && o.entry.operation == APPLY
            && o.entry.subresource.is_empty()
    };
    let mut conflicts = Vec::new();
    for o in owners.iter_mut().filter(|o| !mine(o)) {
        let differ: Vec<Path> = o
            .set
            .intersection(&set)
            .filter(|p| have.get(*p).is_some_and(|v| Some(v) != wanted.get(*p)))
            .cloned()
            .collect();
        if by.force {
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
    let before: Set = owners
        .iter()
        .find(|o| mine(o))
        .map(|o| o.set.clone())
        .unwrap_or_default();
    let others: Set = owners
        .iter()
        .filter(|o| !mine(o))
        .flat_map(|o| o.set.iter().cloned())
        .collect();
    let mut object = current.clone();
    let dropped: Set = before
        .difference(&set)
        .filter(|p| !others.contains(*p))
        .cloned()
        .collect();
    for path in &dropped {
        // A list item dropped whole goes at once (by its key), not field by field.
        let within_dropped_item = (1..path.len()).any(|n| {
            let mut item = path[..n].to_vec();
            item.push(fieldset::Step::Itself);
            item != *path && dropped.contains(&item)
        });
        if !within_dropped_item {
            merge::remove(&mut object, path);
        }
    }
    merge::merge(&mut object, applied, "");
    own(&mut owners, by.manager, APPLY, by.api_version, set, by.now);
    Ok((object, entries(owners)))
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
    let mut owners = owners(managed);
    for o in &mut owners {
        o.set.retain(|p| !changed.contains(p));
    }
    let mut mine = owners
        .iter()
        .find(|o| {
            o.entry.manager == manager
                && o.entry.operation == UPDATE
                && o.entry.subresource.is_empty()
        })
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
