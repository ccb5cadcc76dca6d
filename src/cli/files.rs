//! Reading manifests from files, folders (optionally recursive) and stdin.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use skiff_proto::manifest::Source;

/// One manifest text and where it came from.
pub struct Input {
    pub source: Source,
    pub text: String,
}

fn is_manifest(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

/// Every manifest named by `-f` arguments, in a stable order.
pub fn read_all(names: &[PathBuf], recursive: bool) -> Result<Vec<Input>> {
    let mut out = Vec::new();
    for name in names {
        if name.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading manifests from stdin")?;
            out.push(Input {
                source: Source::named("<stdin>"),
                text,
            });
        } else if name.is_dir() {
            let mut files = Vec::new();
            collect(name, recursive, &mut files)?;
            if files.is_empty() {
                bail!(
                    "{}: no .yaml, .yml or .json files in this folder{}",
                    name.display(),
                    if recursive {
                        ""
                    } else {
                        " (use -R to read subfolders)"
                    }
                );
            }
            for f in files {
                out.push(read_file(&f)?);
            }
        } else {
            out.push(read_file(name)?);
        }
    }
    Ok(out)
}

fn read_file(path: &Path) -> Result<Input> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Input {
        source: Source::file(path),
        text,
    })
}

fn collect(dir: &Path, recursive: bool, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading folder {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading folder {}", dir.display()))?;
    entries.sort();
    for p in entries {
        if p.is_dir() {
            if recursive {
                collect(&p, recursive, out)?;
            }
        } else if is_manifest(&p) {
            out.push(p);
        }
    }
    Ok(())
}
