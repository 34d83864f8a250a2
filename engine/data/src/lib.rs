//! Conversation data and chat templates (LoRA Workbench engine, the layer
//! above the model and the config): chat logs read line by line with every
//! bad line named, rendered with the model's chat template into token ids and
//! loss masks, split, batched and measured.
//!
//! - [`data`]: the record formats, datasets and a file's report.
//! - [`chat`]: chat templates (the model's Jinja template or the built-in
//!   Mistral one) and the tokenizer they run with.

pub mod chat;
pub mod data;

pub(crate) use workbench_config as config;
pub(crate) use workbench_core::error;
pub(crate) use workbench_model as model;
