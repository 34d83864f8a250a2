//! Crash-safe file writes: write a temporary file in the same directory,
//! fsync it, rename it over the target, fsync the directory. A reader never
//! sees a half-written file, whatever kills the process.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Atomically replaces `path` with `bytes`.
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_sibling(path);
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        sync_parent(path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|e| Error::io(path, e))
}

/// Atomically replaces `path` with the JSON form of `value` (pretty-printed).
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::File { path: path.into(), message: e.to_string() })?;
    write(path, text.as_bytes())
}

/// Atomically replaces the directory `dir` by one that `fill` builds: `fill`
/// writes into a fresh temporary sibling directory, which is fsynced and
/// renamed into place. An existing `dir` is replaced.
pub fn write_dir(dir: &Path, fill: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let tmp = temp_sibling(dir);
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let result = fill(&tmp).and_then(|()| {
        for entry in fs::read_dir(&tmp).map_err(|e| Error::io(&tmp, e))? {
            let p = entry.map_err(|e| Error::io(&tmp, e))?.path();
            if p.is_file() {
                File::open(&p).and_then(|f| f.sync_all()).map_err(|e| Error::io(&p, e))?;
            }
        }
        let old = dir.with_extension("old");
        if dir.exists() {
            let _ = fs::remove_dir_all(&old);
            fs::rename(dir, &old).map_err(|e| Error::io(dir, e))?;
        }
        fs::rename(&tmp, dir).map_err(|e| Error::io(dir, e))?;
        let _ = fs::remove_dir_all(&old);
        sync_parent(dir).map_err(|e| Error::io(dir, e))
    });
    if result.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    result
}

/// Appends one line to `path` and fsyncs it, so a logged record survives a
/// crash right after this call returns.
pub fn append_line(path: &Path, line: &str) -> Result<()> {
    let mut f = OpenOptions::new().create(true).append(true).open(path).map_err(|e| Error::io(path, e))?;
    f.write_all(format!("{line}\n").as_bytes()).and_then(|()| f.sync_data()).map_err(|e| Error::io(path, e))
}

fn temp_sibling(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

fn sync_parent(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => File::open(parent)?.sync_all(),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_replaces_content_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.txt");
        write(&p, b"one").unwrap();
        write(&p, b"two").unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn write_dir_replaces_whole_directory() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("ckpt");
        write_dir(&d, |t| write(&t.join("x"), b"1")).unwrap();
        write_dir(&d, |t| write(&t.join("y"), b"2")).unwrap();
        assert!(!d.join("x").exists());
        assert_eq!(fs::read_to_string(d.join("y")).unwrap(), "2");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn failed_write_dir_keeps_the_old_directory() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("ckpt");
        write_dir(&d, |t| write(&t.join("x"), b"1")).unwrap();
        let r = write_dir(&d, |_| Err(Error::Other("boom".into())));
        assert!(r.is_err());
        assert_eq!(fs::read_to_string(d.join("x")).unwrap(), "1");
    }
}
