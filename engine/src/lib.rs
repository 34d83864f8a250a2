//! LoRA Workbench engine: everything except the user interface, behind
//! this one facade.
//!
//! The engine loads a Hugging Face model directory of one of the supported
//! decoder families (or imports a GGUF file), renders chat conversations with
//! the model's chat template, fine-tunes LoRA adapters (or all weights) with
//! real gradients, writes every run to a crash-safe run directory, evaluates
//! perplexity, generates answers, serves them, runs human evaluations, trains
//! on Slurm, and estimates memory before launch. The work is done by the
//! crates below this one (re-exported here at the paths the front ends use);
//! this crate holds what ties them together: the GUI and the CLI drive them
//! through [`jobs::Engine`] (every command a job with an id and events) and
//! start runs through a [`backend::Backend`].
//!
//! See `ARCHITECTURE.md` at the repository root for the crates and modules.

pub mod backend;
pub mod jobs;

pub use workbench_config as config;
pub use workbench_core::{atomic, cancel, documents, error};
pub use workbench_data::{chat, data};
pub use workbench_eval::eval;
pub use workbench_generate::{comparisons, conversations, generate, remote};
pub use workbench_human_eval::human_eval;
pub use workbench_model::device;
pub use workbench_runs::runs;
pub use workbench_serve::serve;
pub use workbench_train::{estimate, train};
pub use workbench_weights::{adapter, model, sample_build};

pub use error::{Error, Result};
