//! Chat: how conversations become model input, shared by training (with the
//! loss mask) and, next, by generation (the prompt up to the assistant's turn).
//!
//! - [`template`]: the chat template and tokenisation with the loss mask.

pub mod template;
