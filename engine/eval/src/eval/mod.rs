//! Evaluation: perplexity of a base model and adapters on held-out data
//! (human evaluation, with its own folder format, is the `workbench-human-eval` crate).
//!
//! - [`request`]: what to evaluate, built one way for the window and the CLI.
//! - [`perplexity`]: mean token loss, perplexity, the base-vs-adapters table.
//! - [`saved`]: tables kept with the runs they belong to.

pub mod perplexity;
pub mod request;
pub mod saved;

pub use perplexity::{EvalRow, changes_vs_base, compare, mean_loss};
pub use request::EvalRequest;
