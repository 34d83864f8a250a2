//! Remote training on a Slurm cluster over SSH: profiles, job directories
//! for three targets (the workbench engine, transformers + PEFT on GPUs,
//! optimum-neuron on Trainium), submission, watching, cancelling, fetching.
//!
//! - [`ssh`]: commands on the login node through the system OpenSSH client
//!   (multiplexed, no passwords, host keys checked), failures explained.
//! - [`host_key`]: a first-time host key shown (fingerprints) and, once accepted, written to known_hosts.
//! - [`job_state`]: what `sbatch`, `squeue`, `scontrol` and `sacct` print, parsed.
//! - [`profile`]: a cluster's login node and Slurm settings.
//! - [`job_dir`]: a submission's job directory and `job.sbatch`, per target.
//! - [`cost`]: steps, tokens, time and cost before submitting.
//! - [`connection`]: test, upload, submit, job state, cancel, read from an offset, fetch.
//! - [`mirror`]: the local run directory of a remote run, kept in step without losing or repeating a metric.
//! - [`task`]: all of it as tasks the engine runs as jobs (test, submit and watch, watch, cancel, fetch).

pub mod connection;
pub mod cost;
pub mod host_key;
pub mod job_dir;
pub mod job_state;
pub mod mirror;
pub mod profile;
pub mod ssh;
pub mod task;
