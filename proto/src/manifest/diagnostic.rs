//! What a user sees when a manifest is wrong: where (file, document, line, field path),
//! what, and how to fix it.

use std::fmt;

use super::path::FieldPath;

/// One problem found in a manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// The file name (or `<stdin>`, `<request>`) the manifest came from.
    pub source: String,
    /// 1-based index of the YAML document within the source.
    pub document: usize,
    /// `Kind/name` when known, to tell documents apart.
    pub object: Option<String>,
    /// The field at fault; the root path means the whole document.
    pub path: FieldPath,
    /// 1-based line and column, when the parser knows them.
    pub position: Option<(u64, u64)>,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.source)?;
        if let Some((line, col)) = self.position {
            write!(f, ":{line}:{col}")?;
        }
        write!(f, ": document {}", self.document)?;
        if let Some(o) = &self.object {
            write!(f, " ({o})")?;
        }
        if !self.path.is_root() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

/// Every problem found in one or more manifests.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}
