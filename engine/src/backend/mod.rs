//! Where a run executes. A [`Backend`] starts, resumes, pauses and cancels
//! runs and reports their status; every run, wherever it executes, is a run
//! directory that viewers watch through its files (`status.json`,
//! `metrics.jsonl`: see [`crate::runs`]), so the window draws a run on
//! another machine exactly like a local one.
//!
//! - [`local`]: this machine's engine ([`crate::jobs::Engine`]).
//! - [`slurm`]: a Slurm cluster over SSH ([`slurm::SlurmBackend`]): its work
//!   runs as `Job::Remote` (test, submit and watch, cancel, fetch), which
//!   keeps a local mirror of the run directory in sync.

pub mod local;
pub mod slurm;

use std::path::Path;

use crate::config::TrainConfig;
use crate::error::Result;
use crate::jobs::JobId;
use crate::runs::Status;

pub use local::LocalBackend;
pub use slurm::SlurmBackend;

/// A place where runs execute.
pub trait Backend: Send + Sync {
    /// A short name for the window ("local", a cluster's profile name).
    fn name(&self) -> String;
    /// Starts a new run of `config` (resolved and checked). The run's
    /// directory is reported by the job's `Event::Started`.
    fn start(&self, config: TrainConfig) -> Result<JobId>;
    /// Continues the stopped run in `run_dir` from its last checkpoint.
    fn resume(&self, run_dir: &Path) -> Result<JobId>;
    /// Pauses (`true`) or continues (`false`) the live run in `run_dir` after its current step.
    fn pause(&self, run_dir: &Path, paused: bool) -> Result<()>;
    /// Stops the live run in `run_dir` after its current step, with a resumable
    /// checkpoint; returns the job that carries the cancellation out, where the
    /// backend starts one (Slurm's `scancel`), so that its outcome can be followed.
    fn cancel(&self, run_dir: &Path) -> Result<Option<JobId>>;
    /// The run's status, with a vanished writer judged crashed.
    fn status(&self, run_dir: &Path) -> Result<Status>;
}
