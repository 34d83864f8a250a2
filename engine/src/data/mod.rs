//! Conversation data: reading JSONL logs, rendering them with the model's
//! chat template, tokenising with loss masks, splitting, batching and length
//! statistics.
//!
//! - [`conversation`]: the record formats and their line-by-line parser.
//! - [`template`]: the Mistral chat template and tokenisation with loss masks.
//! - [`dataset`]: tokenised examples, truncation, splits, statistics, batches.
//! - [`report`]: a file's counts, errors, length histogram and previews.

pub mod conversation;
pub mod dataset;
pub mod report;
pub mod template;

pub use conversation::{Message, Record, Role};
pub use dataset::{Batch, Dataset, LengthStats};
