//! `notes.json`: what a person says about a run (a display name, tags, a
//! note), kept apart from what the trainer writes, so neither overwrites the
//! other.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A person's notes on a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notes {
    /// A readable name shown instead of the directory name.
    #[serde(default)]
    pub display_name: String,
    /// Free tags, e.g. `baseline`, `r64`.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Free text.
    #[serde(default)]
    pub note: String,
}

impl Notes {
    /// The notes of a run directory (empty when it has none).
    pub fn read(run_dir: &Path) -> Result<Self> {
        let path = run_dir.join(super::files::NOTES);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| Error::run(run_dir, format!("invalid notes.json: {e}"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    /// Writes the notes atomically.
    pub fn write(&self, run_dir: &Path) -> Result<()> {
        crate::atomic::write_json(&run_dir.join(super::files::NOTES), self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_round_trip_and_default_to_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Notes::read(dir.path()).unwrap(), Notes::default());
        let n = Notes { display_name: "baseline".into(), tags: vec!["r64".into()], note: "first try".into() };
        n.write(dir.path()).unwrap();
        assert_eq!(Notes::read(dir.path()).unwrap(), n);
    }
}
