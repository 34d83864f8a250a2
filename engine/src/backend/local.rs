//! The local backend: runs train on this machine as jobs of the engine.

use std::path::Path;
use std::sync::Arc;

use super::Backend;
use crate::config::TrainConfig;
use crate::error::{Error, Result};
use crate::jobs::{Engine, Job, JobId};
use crate::runs::{RunDir, RunState, Status};

/// Runs on this machine, trained by an [`Engine`]'s jobs.
pub struct LocalBackend {
    engine: Arc<Engine>,
}

impl LocalBackend {
    /// A backend over `engine`.
    pub fn new(engine: Arc<Engine>) -> Self {
        Self { engine }
    }

    fn job(&self, run_dir: &Path) -> Option<JobId> {
        self.engine.job_for_run(run_dir)
    }
}

impl Backend for LocalBackend {
    fn name(&self) -> String {
        "local".into()
    }

    fn start(&self, config: TrainConfig) -> Result<JobId> {
        self.engine.start(Job::Train(Box::new(config))).map_err(Error::Other)
    }

    fn resume(&self, run_dir: &Path) -> Result<JobId> {
        RunDir::open(run_dir)?;
        self.engine.start(Job::Resume(run_dir.to_path_buf())).map_err(Error::Other)
    }

    fn pause(&self, run_dir: &Path, paused: bool) -> Result<()> {
        match self.job(run_dir) {
            Some(id) if paused => self.engine.pause(id),
            Some(id) => self.engine.unpause(id),
            None => return Err(Error::run(run_dir, "this window is not training it; pause it where it was started")),
        }
        Ok(())
    }

    /// Cancels this engine's job for the run; a run trained by another
    /// process on this host (a `workbench train` in a terminal) gets
    /// SIGTERM, which it handles like Ctrl-C: checkpoint, then stop.
    fn cancel(&self, run_dir: &Path) -> Result<Option<JobId>> {
        if let Some(id) = self.job(run_dir) {
            self.engine.cancel(id);
            return Ok(None);
        }
        let status = self.status(run_dir)?;
        if !matches!(status.effective_state(), RunState::Running | RunState::Paused) {
            return Err(Error::run(run_dir, "it is not running"));
        }
        if !status.is_local() {
            return Err(Error::run(run_dir, format!("it runs on {}; cancel it through that host's backend", status.host)));
        }
        let sent = std::process::Command::new("kill").args(["-TERM", &status.pid.to_string()]).status();
        match sent {
            Ok(s) if s.success() => Ok(None),
            Ok(s) => Err(Error::run(run_dir, format!("could not signal process {} ({s})", status.pid))),
            Err(e) => Err(Error::run(run_dir, format!("could not run `kill` to signal process {}: {e}", status.pid))),
        }
    }

    fn status(&self, run_dir: &Path) -> Result<Status> {
        RunDir::open(run_dir)?.status()
    }
}
