//! Remote training on a Slurm cluster over SSH (issue 13, in progress): the
//! parts that talk to the cluster. The backend itself (profiles, job
//! directories, submission, watching, fetching) builds on these.
//!
//! - [`ssh`]: commands on the login node through the system OpenSSH client
//!   (multiplexed, no passwords, host keys checked), failures explained.
//! - [`job_state`]: what `sbatch`, `squeue`, `scontrol` and `sacct` print, parsed.

pub mod job_state;
pub mod ssh;
