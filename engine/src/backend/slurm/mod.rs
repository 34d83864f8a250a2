//! Remote training on a Slurm cluster over SSH (issue 13, in progress): the
//! parts that talk to the cluster. The backend itself (profiles, job
//! directories, submission, watching, fetching) builds on these.
//!
//! - [`ssh`]: commands on the login node through the system OpenSSH client
//!   (multiplexed, no passwords, host keys checked), failures explained.
//! - [`job_state`]: what `sbatch`, `squeue`, `scontrol` and `sacct` print, parsed.
//! - [`profile`]: a cluster's login node and Slurm settings.
//! - [`job_dir`]: the job directory of the workbench-engine target (config, data, model, sbatch script).
//! - [`cost`]: steps, tokens, time and cost before submitting.
//! - [`connection`]: test, upload, submit, job state, cancel, read from an offset, fetch.
//! - [`mirror`]: the local run directory of a remote run, kept in step without losing or repeating a metric.
//! - [`task`]: all of it as engine jobs (test, submit and watch, watch, cancel, fetch).

pub mod connection;
pub mod cost;
pub mod job_dir;
pub mod job_state;
pub mod mirror;
pub mod profile;
pub mod ssh;
pub mod task;
