//! The run store (LoRA Workbench engine, the layer above the config): a run
//! is a directory whose files (config, status, metrics, notes) other programs
//! read and write too, each written atomically.
//!
//! - [`runs`]: the run directory, its files' names, status, metrics and notes.

pub mod runs;

pub(crate) use workbench_config as config;
pub(crate) use workbench_core::{atomic, error};
