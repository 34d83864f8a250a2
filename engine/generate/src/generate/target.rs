//! Whom a question goes to, and asking it: a model here (a base model, or a
//! base with an adapter applied unmerged) or a model on an OpenAI-compatible
//! server. The chat pane and side-by-side comparisons ask every target the
//! same way and get the same [`Answer`] back.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::models::Models;
use super::{AnswerStats, SamplingParams};
use crate::cancel::CancelFlag;
use crate::data::conversation::Message;
use crate::error::{Error, Result};
use crate::remote::Endpoint;
use crate::runs::RunDir;

/// A model to ask.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Target {
    /// A model directory here, with an adapter (PEFT layout) or without.
    Local {
        /// The base model directory.
        model: PathBuf,
        /// The adapter applied to it, unmerged.
        adapter: Option<PathBuf>,
        /// `model`, `mistral` or a Jinja file (a run's `data.chat_template`).
        chat_template: String,
        /// What the window calls it (the run's name, or the model's folder).
        name: String,
    },
    /// A model on an OpenAI-compatible server.
    Remote {
        /// The server.
        endpoint: Endpoint,
        /// The model's id there (from `/v1/models`).
        model: String,
    },
}

impl Target {
    /// A base model directory with the chat template `chat_template`
    /// (`model`: its own), named by its folder and the folder above
    /// (`sample_data/model`, `models/smollm2-135m-instruct`).
    pub fn base(model: &Path, chat_template: &str) -> Self {
        let tail: Vec<String> = model.components().rev().take(2).map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
        let name = tail.into_iter().rev().collect::<Vec<_>>().join("/");
        Target::Local { model: model.to_path_buf(), adapter: None, chat_template: chat_template.into(), name }
    }

    /// The adapter of the run in `run_dir` on its base model, with the run's
    /// chat template; an error if the run has saved no adapter yet.
    pub fn run(run_dir: &Path) -> Result<Self> {
        let run = RunDir::open(run_dir)?;
        let cfg = run.config()?;
        let adapter = run.adapter_dir();
        if !adapter.is_dir() {
            return Err(Error::run(run_dir, "it has no adapter yet (a run saves one at its first evaluation); wait or pick another"));
        }
        let name = run_dir.file_name().map_or_else(|| run_dir.display().to_string(), |n| n.to_string_lossy().into_owned());
        Ok(Target::Local { model: cfg.model.path, adapter: Some(adapter), chat_template: cfg.data.chat_template, name })
    }

    /// A short name for column headers and saved answers.
    pub fn label(&self) -> String {
        match self {
            Target::Local { name, adapter: None, .. } => format!("{name} (base)"),
            Target::Local { name, .. } => format!("{name} (adapter)"),
            Target::Remote { endpoint, model } => format!("{model} @ {}", endpoint.url),
        }
    }
}

/// How to answer: the generation settings a conversation or comparison keeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AnswerSettings {
    /// The most tokens to generate.
    pub max_new_tokens: usize,
    /// How tokens are chosen.
    pub sampling: SamplingParams,
    /// Strings that end the answer.
    pub stop: Vec<String>,
    /// Go on past the model's end-of-turn tokens until `max_new_tokens`
    /// (vLLM's `ignore_eos`: fixed-length answers for speed measurements).
    pub ignore_eos: bool,
}

impl Default for AnswerSettings {
    fn default() -> Self {
        Self { max_new_tokens: 256, sampling: SamplingParams::default(), stop: Vec::new(), ignore_eos: false }
    }
}

/// An answer and how it went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// Its text.
    pub text: String,
    /// Finish reason, token counts and speed.
    pub stats: AnswerStats,
}

/// What a job asks: `target`'s answer to `messages` (ending with the user's).
#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    /// Who answers.
    pub target: Target,
    /// The conversation so far, system message first if any.
    pub messages: Vec<Message>,
    /// Generation settings.
    pub settings: AnswerSettings,
}

impl Question {
    /// Asks: a local target is loaded through `models` (once, then shared),
    /// a remote one is streamed from its server; each piece of text goes to `on_text`.
    pub fn ask(&self, models: &Models, cancel: &CancelFlag, mut on_text: impl FnMut(&str)) -> Result<Answer> {
        if self.messages.is_empty() {
            return Err(Error::Other("the conversation is empty; write a message first".into()));
        }
        match &self.target {
            Target::Local { model, adapter, chat_template, .. } => {
                let loaded = models.get(model, adapter.as_deref(), chat_template)?;
                let s = &self.settings;
                let mut req = loaded.chat_request(&self.messages, s.max_new_tokens, s.sampling.clone(), s.stop.clone())?;
                if s.ignore_eos {
                    req.stop_token_ids.clear();
                }
                // A chat grows: the answer gets the room the context has left.
                let context = loaded.model.config.max_position_embeddings;
                if req.prompt.len() >= context {
                    return Err(Error::Other(format!(
                        "the conversation ({} tokens) fills the model's context of {context} tokens; start a new chat or shorten it",
                        req.prompt.len()
                    )));
                }
                req.max_new_tokens = req.max_new_tokens.min(context - req.prompt.len());
                let g = loaded.generate(&req, cancel, &mut on_text)?;
                Ok(Answer { text: g.text, stats: g.stats })
            }
            Target::Remote { endpoint, model } => endpoint.chat(model, &self.messages, &self.settings, cancel, on_text),
        }
    }
}
