//! A remote run's job output (`slurm.log`, mirrored from the cluster with
//! each sync) as a log view shows it: its end, whole lines.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use super::files;

/// The last `max` bytes of `file`, from a line start, as text.
pub fn tail(file: &Path, max: u64) -> std::io::Result<String> {
    let mut f = std::fs::File::open(file)?;
    let len = f.metadata()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(max)))?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Ok(if len > max { text.split_once('\n').map_or(text.clone(), |(_, rest)| rest.to_string()) } else { text })
}

/// The job output of the run in `run`: [`tail`] of its `slurm.log`.
pub fn read(run: &Path, max: u64) -> std::io::Result<String> {
    tail(&run.join(files::SLURM_LOG), max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_view_shows_whole_lines_from_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(files::SLURM_LOG);
        std::fs::write(&file, "first line\nsecond line\nthird\n").unwrap();
        assert_eq!(tail(&file, 1024).unwrap(), "first line\nsecond line\nthird\n");
        assert_eq!(tail(&file, 14).unwrap(), "third\n");
        assert!(tail(&dir.path().join("none"), 10).is_err());
        assert_eq!(read(dir.path(), 14).unwrap(), "third\n");
    }
}
