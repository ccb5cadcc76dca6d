//! What the fuzz targets in `fuzz/` run, here so the inputs they keep (`fuzz/seeds`,
//! `fuzz/regressions`) are replayed by the ordinary tests too. Each function takes any
//! bytes and panics only when a property fails.

use std::path::{Path, PathBuf};

use crate::manifest::{self, Source};
use crate::stored;

/// The manifest decoder: any text gives objects or diagnostics, and every object it accepts
/// survives the stored form unchanged.
pub fn manifest(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for obj in manifest::decode(text, &Source::named("<fuzz>")).objects {
        let bytes = stored::encode(&obj).expect("an accepted object encodes");
        let back = stored::decode(&bytes).expect("an encoded object decodes");
        assert_eq!(back, obj, "the stored form changed an object");
    }
}

/// The stored-form decoder: any bytes give an object or an error, and what it accepts
/// encodes back to an equal object. `true` when the bytes decoded.
pub fn stored(data: &[u8]) -> bool {
    let Ok(obj) = stored::decode(data) else {
        return false;
    };
    let bytes = stored::encode(&obj).expect("a decoded object encodes");
    let back = stored::decode(&bytes).expect("an encoded object decodes");
    assert_eq!(back, obj, "the stored form is not stable");
    true
}

/// The files of `fuzz/<kind>/<target>` in this repository, by name (none when git kept
/// no such folder: it keeps no empty ones).
pub fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz")
        .join(kind)
        .join(target);
    if !dir.exists() {
        return Vec::new();
    }
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(p: &Path) -> Vec<u8> {
        std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    #[test]
    fn manifest_seeds_and_regressions_replay() {
        let seeds = inputs("seeds", "manifest");
        assert!(seeds.len() > 50, "{} seeds", seeds.len());
        for p in seeds.iter().chain(&inputs("regressions", "manifest")) {
            manifest(&read(p));
        }
    }

    /// The seeds are records this build's encoder wrote when they were made: each must
    /// still decode, so a change to the stored form that cannot read them shows here.
    #[test]
    fn stored_records_of_earlier_builds_decode() {
        let seeds = inputs("seeds", "stored");
        assert!(seeds.len() > 20, "{} seeds", seeds.len());
        for p in &seeds {
            assert!(stored(&read(p)), "{} no longer decodes", p.display());
        }
        for p in inputs("regressions", "stored") {
            stored(&read(&p));
        }
    }
}
