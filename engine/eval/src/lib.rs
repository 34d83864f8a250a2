//! Perplexity evaluation (LoRA Workbench engine, the layer above weights and
//! runs): a base model and its adapters on held-out data, the tables kept
//! with the runs they belong to.
//!
//! - [`eval`]: requests, mean token loss and perplexity, saved tables.

pub mod eval;

pub(crate) use workbench_config as config;
pub(crate) use workbench_core::{atomic, cancel, error};
pub(crate) use workbench_data::{chat, data};
pub(crate) use workbench_model::device;
pub(crate) use workbench_runs::runs;
pub(crate) use workbench_weights::{adapter, model};
