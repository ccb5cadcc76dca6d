//! kubectl-like tables for `skiff get`: the printer columns of each kind
//! (`skiff_proto::printer`), aligned; `-o wide` adds the wide ones.

use skiff_proto::Object;
use skiff_proto::model::values::Time;
use skiff_proto::printer::{cells, columns};

pub use skiff_proto::printer::age;

/// The table for `objects` (all of one kind), with NAMESPACE first when `namespaces`.
pub fn render(objects: &[Object], wide: bool, namespaces: bool) -> String {
    let Some(first) = objects.first() else {
        return String::new();
    };
    let now = Time::now();
    let cols = columns(first.kind());
    let shown = |row: Vec<String>| -> Vec<String> {
        row.into_iter()
            .zip(&cols)
            .filter(|(_, c)| wide || c.priority == 0)
            .map(|(cell, _)| cell)
            .collect()
    };
    let mut rows = vec![shown(cols.iter().map(|c| c.name.to_owned()).collect())];
    rows.extend(objects.iter().map(|o| shown(cells(o, now))));
    if namespaces {
        rows[0].insert(0, "NAMESPACE".into());
        for (r, o) in rows[1..].iter_mut().zip(objects) {
            r.insert(0, o.metadata().namespace.clone());
        }
    }
    align(rows)
}

/// `rows` (a header first) as columns, three spaces apart.
pub fn align(rows: Vec<Vec<String>>) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, cell)| format!("{cell:<w$}", w = widths[i]))
            .collect();
        out.push_str(line.join("   ").trim_end());
        out.push('\n');
    }
    out
}
