//! Training: summed gradients, AdamW, the learning-rate schedule, resumable
//! checkpoints and the training loop. The loss and gradients of one
//! micro-batch (plain or checkpointed) are the model's own
//! (`model::decoder::backprop`), handed to the accumulator here.
//!
//! - [`gradients`]: gradients summed over an accumulation window, their norm and clipping.
//! - [`optimizer`]: AdamW over the trainable parameters, with savable state.
//! - [`schedule`]: warmup then cosine / linear / constant learning rate.
//! - [`checkpoint`]: what a resumable checkpoint holds and how it is written.
//! - [`session`]: setting a run up (model, tokenizer, data) from a config.
//! - [`trainer`]: the loop: steps, logging, evaluation, early stopping, cancel.
//! - [`events`]: what the loop reports and how it is controlled.

pub(crate) mod checkpoint;
pub mod events;
pub mod gradients;
pub mod optimizer;
pub(crate) mod schedule;
pub mod session;
pub mod trainer;

pub use events::{Control, Event, Signal};
pub use trainer::{Outcome, resume, train};
