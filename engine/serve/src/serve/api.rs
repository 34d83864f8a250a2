//! The request and response bodies of the OpenAI API as vLLM serves it
//! (`/v1/chat/completions`, `/v1/completions`, `/v1/models`), and the checks
//! that turn a bad request into a 4xx with OpenAI's error body.

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::data::conversation::{Message, Role};
use crate::generate::{FinishReason, SamplingParams};

/// An error response: the status and OpenAI's `{"error": {...}}` body.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status (400, 401, 404).
    pub status: StatusCode,
    /// What is wrong and what to do.
    pub message: String,
    /// The request field at fault, if any.
    pub param: Option<String>,
}

impl ApiError {
    /// A 400 about `param`.
    pub fn bad(param: &str, message: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, message: message.into(), param: Some(param.into()) }
    }

    /// OpenAI's error body.
    pub fn body(&self) -> Value {
        let kind = match self.status {
            StatusCode::UNAUTHORIZED => "authentication_error",
            StatusCode::NOT_FOUND => "not_found_error",
            s if s.is_server_error() => "server_error",
            _ => "invalid_request_error",
        };
        json!({"error": {"message": self.message, "type": kind, "param": self.param, "code": self.status.as_u16()}})
    }
}

/// A string or a list of strings (`stop`, `prompt`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One string.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(s) => vec![s],
            Self::Many(v) => v,
        }
    }
}

/// A message's content: a string, or OpenAI's list of parts (text only).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// `[{"type": "text", "text": ...}]`.
    Parts(Vec<Part>),
}

/// One part of a message's content.
#[derive(Debug, Clone, Deserialize)]
pub struct Part {
    /// Only `text` is supported.
    #[serde(rename = "type")]
    pub kind: String,
    /// The text of a `text` part.
    #[serde(default)]
    pub text: Option<String>,
}

/// One message of a chat request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// What was said.
    pub content: Content,
    /// Ignored (OpenAI's optional author name).
    #[serde(default)]
    pub name: Option<String>,
}

/// `stream_options`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamOptions {
    /// Send a last chunk with the token usage.
    #[serde(default)]
    pub include_usage: bool,
}

/// The fields of [`Common`]; a request with any other (beside its endpoint's
/// `messages` or `prompt`) is refused naming it ([`check_fields`]).
const COMMON_FIELDS: [&str; 19] = [
    "model",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "repetition_penalty",
    "ignore_eos",
    "seed",
    "stop",
    "stream",
    "stream_options",
    "n",
    "presence_penalty",
    "frequency_penalty",
    "logprobs",
    "user",
    "echo",
];

/// Refuses a field the server does not know (`tools`, `response_format`, ...),
/// rather than silently ignoring what the client asked for.
pub fn check_fields(body: &Value, endpoint_field: &str) -> Result<(), ApiError> {
    let Some(obj) = body.as_object() else { return Err(ApiError::bad("body", "the request body must be a JSON object")) };
    match obj.keys().find(|k| *k != endpoint_field && !COMMON_FIELDS.contains(&k.as_str())) {
        Some(k) => Err(ApiError::bad(k, format!("unknown field `{k}`: this server does not support it"))),
        None => Ok(()),
    }
}

/// The generation fields shared by both endpoints.
#[derive(Debug, Clone, Deserialize)]
pub struct Common {
    /// The served model's name (`/v1/models`).
    pub model: String,
    /// Most tokens to generate (`max_completion_tokens` is the newer name).
    #[serde(default)]
    pub max_tokens: Option<usize>,
    /// The newer name of `max_tokens`.
    #[serde(default)]
    pub max_completion_tokens: Option<usize>,
    /// 0 is greedy. Default 1, as OpenAI's.
    #[serde(default)]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default)]
    pub top_p: Option<f64>,
    /// vLLM's extension: keep the k most likely tokens (-1 or 0: all).
    #[serde(default)]
    pub top_k: Option<i64>,
    /// vLLM's extension.
    #[serde(default)]
    pub min_p: Option<f64>,
    /// vLLM's extension.
    #[serde(default)]
    pub repetition_penalty: Option<f64>,
    /// vLLM's extension: go on past the end-of-turn tokens (benchmarks, fixed-length answers).
    #[serde(default)]
    pub ignore_eos: bool,
    /// Repeatable sampling.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Strings that end the answer.
    #[serde(default)]
    pub stop: Option<OneOrMany>,
    /// Server-sent events.
    #[serde(default)]
    pub stream: bool,
    /// Options of the stream.
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    /// Only 1.
    #[serde(default)]
    pub n: Option<usize>,
    /// Only 0.
    #[serde(default)]
    pub presence_penalty: Option<f64>,
    /// Only 0.
    #[serde(default)]
    pub frequency_penalty: Option<f64>,
    /// Not supported when true.
    #[serde(default)]
    pub logprobs: Option<bool>,
    /// Ignored (an end-user id).
    #[serde(default)]
    pub user: Option<String>,
    /// `/v1/completions`: only false (the prompt is not repeated).
    #[serde(default)]
    pub echo: bool,
}

/// `POST /v1/chat/completions`.
#[derive(Debug, Clone, Deserialize)]
pub struct ChatRequest {
    /// The conversation so far, ending with the user's message.
    pub messages: Vec<ChatMessage>,
    /// The rest.
    #[serde(flatten)]
    pub common: Common,
}

/// `POST /v1/completions`.
#[derive(Debug, Clone, Deserialize)]
pub struct CompletionRequest {
    /// The text to continue.
    pub prompt: OneOrMany,
    /// The rest.
    #[serde(flatten)]
    pub common: Common,
}

impl ChatRequest {
    /// The messages as the engine's, checked.
    pub fn messages(&self) -> Result<Vec<Message>, ApiError> {
        if self.messages.is_empty() {
            return Err(ApiError::bad("messages", "messages is empty; send at least one user message"));
        }
        let mut out = Vec::with_capacity(self.messages.len());
        for (i, m) in self.messages.iter().enumerate() {
            let role = match m.role.as_str() {
                "system" | "developer" => Role::System,
                "user" => Role::User,
                "assistant" => Role::Assistant,
                other => {
                    return Err(ApiError::bad(
                        &format!("messages[{i}].role"),
                        format!("role {other:?} is not supported (system, user, assistant)"),
                    ));
                }
            };
            let content = match &m.content {
                Content::Text(t) => t.clone(),
                Content::Parts(parts) => {
                    let mut text = String::new();
                    for (j, p) in parts.iter().enumerate() {
                        match (p.kind.as_str(), &p.text) {
                            ("text", Some(t)) => text.push_str(t),
                            (kind, _) => {
                                return Err(ApiError::bad(
                                    &format!("messages[{i}].content[{j}]"),
                                    format!("content parts of type {kind:?} are not supported (text only)"),
                                ));
                            }
                        }
                    }
                    text
                }
            };
            out.push(Message { role, content });
        }
        if out.last().map(|m| m.role) != Some(Role::User) {
            return Err(ApiError::bad("messages", "the last message must be the user's"));
        }
        Ok(out)
    }
}

impl CompletionRequest {
    /// The one prompt, checked.
    pub fn prompt(&self) -> Result<String, ApiError> {
        match self.prompt.clone().into_vec().as_slice() {
            [p] if !p.is_empty() => Ok(p.clone()),
            [_] => Err(ApiError::bad("prompt", "prompt is empty")),
            _ => Err(ApiError::bad("prompt", "send one prompt per request (a list of several is not supported)")),
        }
    }
}

impl Common {
    /// The sampling parameters, checked; unsupported parameters are refused by name.
    pub fn sampling(&self) -> Result<SamplingParams, ApiError> {
        if self.n.is_some_and(|n| n != 1) {
            return Err(ApiError::bad("n", "only n = 1 is supported"));
        }
        for (name, v) in [("presence_penalty", self.presence_penalty), ("frequency_penalty", self.frequency_penalty)] {
            if v.is_some_and(|v| v != 0.0) {
                return Err(ApiError::bad(name, format!("{name} is not supported; use repetition_penalty")));
            }
        }
        if self.logprobs == Some(true) {
            return Err(ApiError::bad("logprobs", "logprobs are not supported"));
        }
        if self.echo {
            return Err(ApiError::bad("echo", "echo is not supported"));
        }
        let p = SamplingParams {
            temperature: self.temperature.unwrap_or(1.0),
            top_k: self.top_k.filter(|k| *k > 0).map_or(0, |k| k as usize),
            top_p: self.top_p.unwrap_or(1.0),
            min_p: self.min_p.unwrap_or(0.0),
            repetition_penalty: self.repetition_penalty.unwrap_or(1.0),
            seed: self.seed,
        };
        p.check().map_err(|m| ApiError::bad(m.split(' ').next().unwrap_or("sampling"), m.clone()))?;
        Ok(p)
    }

    /// The stop strings.
    pub fn stop(&self) -> Vec<String> {
        self.stop.clone().map(OneOrMany::into_vec).unwrap_or_default()
    }

    /// Tokens to generate for a prompt of `prompt` tokens and a context of `context`.
    pub fn max_new_tokens(&self, prompt: usize, context: usize) -> Result<usize, ApiError> {
        let room = context.saturating_sub(prompt);
        match self.max_completion_tokens.or(self.max_tokens) {
            Some(0) => Err(ApiError::bad("max_tokens", "max_tokens must be at least 1")),
            Some(n) if prompt + n > context => Err(ApiError::bad(
                "max_tokens",
                format!(
                    "this model's maximum context length is {context} tokens; you requested {} tokens ({prompt} in the prompt, {n} in the completion)",
                    prompt + n
                ),
            )),
            Some(n) => Ok(n),
            None if room == 0 => {
                Err(ApiError::bad("messages", format!("the prompt ({prompt} tokens) fills the model's context of {context}")))
            }
            None => Ok(room),
        }
    }
}

/// OpenAI's `finish_reason` text.
pub fn finish_text(f: FinishReason) -> &'static str {
    match f {
        FinishReason::Stop => "stop",
        FinishReason::Length => "length",
        FinishReason::Cancelled => "abort",
    }
}

/// `usage`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Usage {
    /// Tokens in the prompt.
    pub prompt_tokens: usize,
    /// Tokens generated.
    pub completion_tokens: usize,
    /// Both.
    pub total_tokens: usize,
}

impl Usage {
    /// The usage of a prompt and a completion.
    pub fn new(prompt_tokens: usize, completion_tokens: usize) -> Self {
        Self { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens }
    }
}
