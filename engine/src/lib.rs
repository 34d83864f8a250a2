//! LoRA Workbench engine: everything except the user interface.
//!
//! The engine loads a Hugging Face Llama/Mistral/Qwen2-family model directory
//! (or imports a GGUF file), renders chat conversations with the model's chat
//! template, fine-tunes LoRA adapters (or all weights) with real gradients,
//! writes every run to a crash-safe run directory, evaluates perplexity,
//! generates answers, and estimates memory before launch. The GUI
//! and the CLI drive it through [`jobs::Engine`] (every command a job with an
//! id and events) and start runs through a [`backend::Backend`].
//!
//! See `ARCHITECTURE.md` at the repository root for the module map.

pub mod adapter;
pub mod backend;
pub mod comparisons;
pub mod conversations;
pub mod documents;
pub mod estimate;
pub mod eval;
pub mod generate;
pub mod human_eval;
pub mod jobs;
pub mod model;
pub mod remote;
pub mod runs;
pub mod sample_build;
pub mod serve;
pub mod train;

pub use workbench_config as config;
pub use workbench_core::{atomic, cancel, error};
pub use workbench_data::{chat, data};
pub use workbench_model::device;

pub use error::{Error, Result};
