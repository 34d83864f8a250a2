//! Weights on disk, above the model and the run store (LoRA Workbench
//! engine): LoRA adapters in PEFT's layout, GGUF import and export, merging
//! an adapter into its base, fetching a packaged model, and building the
//! shipped sample model.
//!
//! - [`adapter`]: PEFT's adapter files, saved and loaded.
//! - [`model`]: the model crate's items, with GGUF, merge, fetch and their progress.
//! - [`sample_build`]: the shipped sample's tokenizer and model directory.

pub mod adapter;
pub mod model;
pub mod sample_build;

pub(crate) use workbench_config as config;
pub(crate) use workbench_core::{atomic, cancel, error};
pub(crate) use workbench_data::chat;
pub(crate) use workbench_runs::runs;
