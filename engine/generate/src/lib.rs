//! Generation (LoRA Workbench engine, the layer above weights): local models
//! with a KV cache and remote OpenAI-compatible servers behind one
//! [`generate::target::Target`], and the documents made of their answers.
//!
//! - [`generate`]: decoding, sampling, streaming, targets, loaded models.
//! - [`remote`]: the client of an OpenAI-compatible server (vLLM, llama.cpp).
//! - [`conversations`]: saved chats, exportable as training lines.
//! - [`comparisons`]: several targets answering the same prompts, kept.

pub mod comparisons;
pub mod conversations;
pub mod generate;
pub mod remote;

pub(crate) use workbench_core::{atomic, cancel, error};
pub(crate) use workbench_data::{chat, data};
pub(crate) use workbench_runs::runs;
pub(crate) use workbench_weights::{adapter, model};

/// Answers for the tests of this crate and of the crates above it (not an
/// API: hidden from the docs).
#[doc(hidden)]
pub mod testing {
    use crate::generate::target::Answer;
    use crate::generate::{AnswerStats, FinishReason};

    /// An answer with `text` that ended at a stop token, with fixed stats.
    pub fn answer(text: &str) -> Answer {
        let stats = AnswerStats {
            finish_reason: FinishReason::Stop,
            prompt_tokens: 3,
            completion_tokens: 2,
            time_to_first_token_s: 0.1,
            tokens_per_s: 20.0,
            elapsed_s: 0.2,
        };
        Answer { text: text.into(), stats }
    }
}
