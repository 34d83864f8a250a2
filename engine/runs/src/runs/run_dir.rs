//! Creating, opening and listing run directories.

use std::path::{Path, PathBuf};

use super::files;
use super::metrics::MetricRecord;
use super::status::{RunState, Status};
use crate::config::TrainConfig;
use crate::error::{Error, Result};

/// A run directory on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    /// The directory.
    pub path: PathBuf,
}

impl RunDir {
    /// Creates `RUNS_DIR/NAME-YYYYMMDD-HHMMSS` (with a numeric suffix if
    /// taken) holding the resolved config and a fresh status, atomically.
    pub fn create(config: &TrainConfig, total_steps: usize) -> Result<Self> {
        let runs = &config.run.runs_dir;
        std::fs::create_dir_all(runs).map_err(|e| Error::io(runs, e))?;
        let path = Self::fresh_path(config);
        let mut status = Status::new_local(RunState::Running, total_steps);
        crate::atomic::write_dir(&path, |tmp| {
            crate::atomic::write(&tmp.join(files::CONFIG), config.to_toml().as_bytes())?;
            status.write(tmp)?;
            crate::atomic::write(&tmp.join(files::METRICS), b"")
        })?;
        Ok(Self { path })
    }

    /// A new run's directory, `RUNS_DIR/NAME-YYYYMMDD-HHMMSS` (with a numeric
    /// suffix if taken); not created (a remote run's mirror uses it too).
    pub fn fresh_path(config: &TrainConfig) -> PathBuf {
        let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
        let base = format!("{}-{stamp}", config.run.name);
        let runs = &config.run.runs_dir;
        (1..)
            .map(|n| if n == 1 { runs.join(&base) } else { runs.join(format!("{base}-{n}")) })
            .find(|p| !p.exists())
            .expect("some suffix is free")
    }

    /// Opens an existing run directory (it must hold `config.toml`).
    pub fn open(path: &Path) -> Result<Self> {
        if !path.join(files::CONFIG).is_file() {
            return Err(Error::run(path, format!("not a run directory (no {}); pass a directory under your runs folder", files::CONFIG)));
        }
        Ok(Self { path: path.to_path_buf() })
    }

    /// The resolved config stored in the run.
    pub fn config(&self) -> Result<TrainConfig> {
        let p = self.path.join(files::CONFIG);
        let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
        TrainConfig::from_toml(&text).map_err(|m| Error::File { path: p, message: m })
    }

    /// The run's status.
    pub fn status(&self) -> Result<Status> {
        Status::read(&self.path)
    }

    /// `metrics.jsonl`.
    pub fn metrics_path(&self) -> PathBuf {
        self.path.join(files::METRICS)
    }

    /// Every metrics record so far.
    pub fn metrics(&self) -> Result<Vec<MetricRecord>> {
        super::metrics::read(&self.metrics_path())
    }

    /// Appends (and fsyncs) one metrics record.
    pub fn append_metric(&self, record: &MetricRecord) -> Result<()> {
        crate::atomic::append_line(&self.metrics_path(), &record.to_line())
    }

    /// Appends a timestamped line to `train.log`.
    pub fn log(&self, message: &str) -> Result<()> {
        let line = format!("{} {message}", chrono::Local::now().format("%Y-%m-%d %H:%M:%S"));
        crate::atomic::append_line(&self.path.join(files::LOG), &line)
    }

    /// Folder of step checkpoints.
    pub fn checkpoints_dir(&self) -> PathBuf {
        self.path.join(files::CHECKPOINTS)
    }

    /// Directory of the checkpoint at `step`.
    pub fn checkpoint_dir(&self, step: usize) -> PathBuf {
        self.checkpoints_dir().join(format!("step-{step:08}"))
    }

    /// Complete checkpoints, oldest first (temporary directories of an
    /// interrupted write are ignored).
    pub fn checkpoints(&self) -> Vec<(usize, PathBuf)> {
        let Ok(entries) = std::fs::read_dir(self.checkpoints_dir()) else { return Vec::new() };
        let mut out: Vec<(usize, PathBuf)> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let step = name.strip_prefix("step-")?.parse().ok()?;
                e.path().join(files::CHECKPOINT_STATE).is_file().then(|| (step, e.path()))
            })
            .collect();
        out.sort();
        out
    }

    /// Final LoRA adapter directory.
    pub fn adapter_dir(&self) -> PathBuf {
        self.path.join(files::ADAPTER)
    }

    /// Final full-model directory (full fine-tuning).
    pub fn model_dir(&self) -> PathBuf {
        self.path.join(files::MODEL)
    }

    /// Deletes the run and everything in it. The folder is first renamed to
    /// a hidden sibling (`.deleting-NAME`), so a crash midway leaves no half
    /// run on the list ([`list`] skips hidden folders), then removed.
    pub fn delete(self) -> Result<()> {
        let name = self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let doomed = self.path.with_file_name(format!(".deleting-{name}"));
        std::fs::rename(&self.path, &doomed).map_err(|e| Error::io(&self.path, e))?;
        std::fs::remove_dir_all(&doomed).map_err(|e| Error::io(&doomed, e))
    }
}

/// Every run directory under `runs_dir`, newest first by name.
pub fn list(runs_dir: &Path) -> Vec<RunDir> {
    let Ok(entries) = std::fs::read_dir(runs_dir) else { return Vec::new() };
    let visible = |e: &std::fs::DirEntry| !e.file_name().to_string_lossy().starts_with('.');
    let mut runs: Vec<RunDir> = entries.filter_map(|e| e.ok()).filter(visible).filter_map(|e| RunDir::open(&e.path()).ok()).collect();
    runs.sort_by(|a, b| b.path.cmp(&a.path));
    runs
}
