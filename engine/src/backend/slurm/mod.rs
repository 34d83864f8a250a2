//! Slurm as a [`Backend`](crate::backend::Backend): the `workbench-cluster`
//! crate's modules (re-exported here), and [`SlurmBackend`], which starts and
//! cancels runs there as this engine's jobs.

mod backend;

pub use backend::SlurmBackend;
pub use workbench_cluster::slurm::*;
