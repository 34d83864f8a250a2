//! JSON documents kept in a folder of their own (saved conversations,
//! side-by-side comparisons): written atomically under a name made of the
//! time and a title, listed newest first, read back with the file named in
//! any error.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// A file name for a new document: `20261130-101500-title-words.json`.
pub fn new_name(title: &str) -> String {
    let slug: String = title
        .chars()
        .map(|c| if c.is_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|w| !w.is_empty())
        .take(6)
        .collect::<Vec<_>>()
        .join("-");
    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
    if slug.is_empty() { format!("{stamp}.json") } else { format!("{stamp}-{slug}.json") }
}

/// Writes `value` to `path` atomically, creating its folder.
pub fn save<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    crate::atomic::write_json(path, value)
}

/// Reads the document in `path`; an error names the file and what is wrong.
pub fn load<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::File { path: path.into(), message: format!("not a saved document: {e}") })
}

/// The `.json` documents in `dir`, newest name first (missing folder: none).
/// Unreadable ones are returned as errors, so a list can show them without failing.
pub fn list<T: DeserializeOwned>(dir: &Path) -> Vec<(PathBuf, Result<T>)> {
    let mut paths: Vec<PathBuf> =
        std::fs::read_dir(dir).map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default();
    paths.retain(|p| p.extension().is_some_and(|e| e == "json") && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')));
    paths.sort_unstable_by(|a, b| b.cmp(a));
    paths.into_iter().map(|p| (p.clone(), load(&p))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_documents_list_newest_first_and_bad_ones_name_their_file() {
        let dir = tempfile::tempdir().unwrap();
        assert!(list::<Vec<u32>>(&dir.path().join("none")).is_empty());
        let name = new_name("How do I reset my VPN password?");
        assert!(name.ends_with("-how-do-i-reset-my-vpn.json"), "{name}");
        save(&dir.path().join("b/2.json"), &vec![2u32]).unwrap();
        save(&dir.path().join("b/1.json"), &vec![1u32]).unwrap();
        std::fs::write(dir.path().join("b/0.json"), "{oops").unwrap();
        let listed = list::<Vec<u32>>(&dir.path().join("b"));
        assert_eq!(listed[0].1.as_ref().unwrap(), &vec![2]);
        assert_eq!(listed[1].1.as_ref().unwrap(), &vec![1]);
        let bad = listed[2].1.as_ref().unwrap_err().to_string();
        assert!(bad.contains("0.json") && bad.contains("not a saved document"), "{bad}");
    }

    /// Floats read back exactly (serde_json's `float_roundtrip`): a saved
    /// answer's speed equals the one shown before saving (this value came
    /// back one unit in the last place off without it).
    #[test]
    fn floats_survive_a_save_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.json");
        let values = vec![125.53113328793684f64, 1255.0053698838253, 0.1 + 0.2, 1e-300, f64::MAX];
        save(&path, &values).unwrap();
        assert_eq!(load::<Vec<f64>>(&path).unwrap(), values);
    }
}
