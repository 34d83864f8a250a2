//! Training on a Slurm cluster over SSH (LoRA Workbench engine, the layer
//! above the run store): profiles, job directories for each target,
//! submission, watching, and the local mirror of a remote run. The facade
//! makes it a `Backend` beside the local engine.
//!
//! - [`slurm`]: everything a remote run needs, as tasks the engine's jobs run.

pub mod slurm;

pub(crate) use workbench_config as config;
pub(crate) use workbench_core::{atomic, cancel, documents, error};
pub(crate) use workbench_data::{chat, data};
pub(crate) use workbench_model as model;
pub(crate) use workbench_runs::runs;
