//! `workbench serve` (LoRA Workbench engine, the layer above generation): an
//! OpenAI-compatible HTTP server over the engine's generation.
//!
//! - [`serve`]: the server, its request checks and its queue.

pub mod serve;

pub(crate) use workbench_core::{cancel, error};
pub(crate) use workbench_data::data;
pub(crate) use workbench_generate::generate;
