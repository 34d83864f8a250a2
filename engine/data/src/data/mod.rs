//! Conversation data: reading JSONL logs, tokenising them with the chat
//! template (`crate::chat`) and loss masks, splitting, batching and length
//! statistics.
//!
//! - [`conversation`]: the record formats and their line-by-line parser.
//! - [`dataset`]: tokenised examples, truncation, splits, statistics, batches.
//! - [`report`]: a file's counts, errors, length histogram and previews.

pub mod conversation;
pub mod dataset;
pub mod report;

pub use conversation::{Message, Record, Role};
pub use dataset::{Batch, Dataset, LengthStats};
