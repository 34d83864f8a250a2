//! Training (LoRA Workbench engine, the layer above evaluation): the loop
//! with its gradients, optimizer, schedule, checkpoints and early stopping,
//! and the memory estimate made before a launch.
//!
//! - [`train`]: a run from its config to its adapter, resumable.
//! - [`estimate`]: memory before launch, with advice that keeps the effective batch.

pub mod estimate;
pub mod train;

pub(crate) use workbench_config as config;
pub(crate) use workbench_core::{atomic, error};
pub(crate) use workbench_data::{chat, data};
pub(crate) use workbench_eval::eval;
pub(crate) use workbench_model::device;
pub(crate) use workbench_runs::runs;
pub(crate) use workbench_weights::{adapter, model};
