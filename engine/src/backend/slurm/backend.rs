//! Slurm as a [`Backend`], beside the local engine: a run starts as a
//! submission that keeps its local mirror in step
//! ([`RemoteTask::Submit`]), is cancelled with `scancel`
//! ([`RemoteTask::Cancel`]), and its status is its mirror's. Both are engine
//! jobs, so the caller follows them by job id like a local run. A Slurm job
//! is not paused from here, and a remote run is not resumed here: it is
//! submitted again.

use std::path::Path;
use std::sync::Arc;

use super::profile::Profile;
use super::task::RemoteTask;
use crate::backend::Backend;
use crate::config::TrainConfig;
use crate::error::{Error, Result};
use crate::jobs::{Engine, Job, JobId};
use crate::runs::{RunDir, Status};

/// Runs on the cluster a profile names, submitted and watched by an [`Engine`]'s jobs.
pub struct SlurmBackend {
    engine: Arc<Engine>,
    profile: Profile,
    watch: bool,
}

impl SlurmBackend {
    /// A backend over `engine` for the cluster of `profile`; a started run is
    /// watched until its job ends.
    pub fn new(engine: Arc<Engine>, profile: Profile) -> Self {
        Self { engine, profile, watch: true }
    }

    /// The same, but a started run is only submitted (`workbench remote
    /// submit` without `--watch`; `remote watch` follows it later).
    pub fn submit_only(mut self) -> Self {
        self.watch = false;
        self
    }

    fn start_task(&self, task: RemoteTask) -> Result<JobId> {
        self.engine.start(Job::Remote(Box::new(task))).map_err(Error::Other)
    }
}

impl Backend for SlurmBackend {
    fn name(&self) -> String {
        self.profile.name.clone()
    }

    fn start(&self, config: TrainConfig) -> Result<JobId> {
        self.start_task(RemoteTask::Submit(self.profile.clone(), Box::new(config), self.watch))
    }

    fn resume(&self, run_dir: &Path) -> Result<JobId> {
        Err(Error::run(run_dir, "a run on Slurm is not resumed from here: submit its config again"))
    }

    fn pause(&self, run_dir: &Path, _paused: bool) -> Result<()> {
        Err(Error::run(run_dir, "a Slurm job cannot be paused from here; cancel it (it checkpoints first) and submit it again"))
    }

    /// Starts the job that cancels the run's Slurm job (`scancel`) and reports it.
    fn cancel(&self, run_dir: &Path) -> Result<Option<JobId>> {
        self.start_task(RemoteTask::Cancel(self.profile.clone(), run_dir.to_path_buf())).map(Some)
    }

    fn status(&self, run_dir: &Path) -> Result<Status> {
        RunDir::open(run_dir)?.status()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::slurm::profile::Target;

    /// What Slurm cannot do from here is refused naming the run and saying
    /// what to do instead; the backend is named after its profile.
    #[test]
    fn pause_and_resume_are_refused_with_what_to_do() {
        let backend = SlurmBackend::new(Arc::new(Engine::new()), Profile::example(Target::Engine));
        assert_eq!(backend.name(), "my-cluster");
        let run = Path::new("/runs/hr-lora-20261207");
        let err = backend.pause(run, true).unwrap_err().to_string();
        assert!(err.contains("hr-lora-20261207") && err.contains("cancel it"), "{err}");
        let err = backend.resume(run).unwrap_err().to_string();
        assert!(err.contains("hr-lora-20261207") && err.contains("submit its config again"), "{err}");
        assert!(backend.status(run).is_err(), "a missing run directory has no status");
    }
}
