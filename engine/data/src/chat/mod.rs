//! Chat: how conversations become model input, shared by training (with the
//! loss mask) and generation (the prompt up to the assistant's turn).
//!
//! - [`template`]: the chat template (the model's Jinja one or the built-in
//!   Mistral one), its trained segments, tokenisation with the loss mask.
//! - [`jinja`]: Hugging Face Jinja templates rendered with minijinja.

pub mod jinja;
pub mod template;

use std::path::Path;

use tokenizers::Tokenizer;

use crate::config::TrainOn;
use crate::data::Record;
use crate::data::conversation::Message;
use crate::error::Result;
use crate::model::ModelConfig;
use template::{ChatTemplate, Encoded, Segment};

/// How conversations become tokens for one model: its tokenizer and the
/// chat template chosen for it.
#[derive(Debug, Clone)]
pub struct ChatFormat {
    /// The model's tokenizer.
    pub tokenizer: Tokenizer,
    /// The chat template.
    pub template: ChatTemplate,
}

impl ChatFormat {
    /// The tokenizer of the model in `model_dir` (checked against `config`)
    /// and the template `choice` names (`data.chat_template`).
    pub fn load(model_dir: &Path, config: &ModelConfig, choice: &str) -> Result<Self> {
        let tokenizer = crate::model::tokenizer::load(model_dir, config)?;
        Ok(Self { tokenizer, template: ChatTemplate::resolve(choice, model_dir)? })
    }

    /// The record's template segments (trained or not).
    pub fn segments(&self, record: &Record, train_on: TrainOn) -> Result<Vec<Segment>> {
        self.template.segments(record, train_on)
    }

    /// The record's token ids and loss mask.
    pub fn encode(&self, record: &Record, train_on: TrainOn) -> Result<Encoded> {
        template::encode(&self.tokenizer, &self.template, record, train_on)
    }

    /// The token ids of a generation prompt: `messages` (ending with the
    /// user's) followed by the assistant's opening, as the template renders it.
    pub fn encode_prompt(&self, messages: &[Message]) -> Result<Vec<u32>> {
        template::encode_prompt(&self.tokenizer, &self.template, messages)
    }
}
