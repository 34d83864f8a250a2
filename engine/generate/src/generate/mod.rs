//! Generation: a prompt's continuation, token by token, with a key/value
//! cache ([`crate::model::decoder::kv_cache`]), greedy or sampled
//! ([`sampler`]), streamed as whole characters ([`stream`]), ended by a stop
//! token, a stop string, the token limit or a cancel; with its time to first
//! token and decoding speed.
//!
//! - [`sampler`]: repetition penalty, temperature, top-k, top-p, min-p, seed.
//! - [`stream`]: incremental detokenisation and stop strings.
//! - [`target`]: a local or remote model to ask, and asking it ([`target::Question`]).
//! - [`models`]: the local models kept loaded between answers, adapters sharing their base.

pub mod models;
pub mod sampler;
pub mod stream;
pub mod target;

use std::path::Path;
use std::time::Instant;

use candle_core::{DType, Tensor};
use serde::{Deserialize, Serialize};
use tokenizers::Tokenizer;

use crate::cancel::CancelFlag;
use crate::chat::ChatFormat;
use crate::data::conversation::Message;
use crate::error::{Error, Result};
use crate::model::decoder::kv_cache::KvCache;
use crate::model::{Model, ModelConfig};
pub use sampler::SamplingParams;

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateRequest {
    /// The prompt's token ids (a chat prompt ends with the assistant's opening).
    pub prompt: Vec<u32>,
    /// The most tokens to generate.
    pub max_new_tokens: usize,
    /// How tokens are chosen.
    pub sampling: SamplingParams,
    /// Strings that end the answer (not included in it).
    pub stop: Vec<String>,
    /// Tokens that end the answer (not included): the model's end of turn / sequence.
    pub stop_token_ids: Vec<u32>,
}

/// Why a generation ended (OpenAI's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FinishReason {
    /// A stop token or stop string.
    Stop,
    /// `max_new_tokens` reached.
    Length,
    /// Cancelled (a Stop button, a client that went away).
    Cancelled,
}

/// How an answer went, wherever it was generated (here or by a server):
/// kept under each answer in the chat pane, in saved conversations and comparisons.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnswerStats {
    /// Why it ended.
    pub finish_reason: FinishReason,
    /// Tokens in the prompt.
    pub prompt_tokens: usize,
    /// Tokens generated.
    pub completion_tokens: usize,
    /// Seconds from the start to the first generated token (prefill included).
    pub time_to_first_token_s: f64,
    /// Generated tokens per second after the first.
    pub tokens_per_s: f64,
    /// Seconds in all.
    pub elapsed_s: f64,
}

impl AnswerStats {
    /// The stats of an answer of `completion_tokens` tokens, started at
    /// `start`, whose first token came `first_token_s` seconds after it.
    pub fn timed(
        start: Instant,
        first_token_s: Option<f64>,
        finish_reason: FinishReason,
        prompt_tokens: usize,
        completion_tokens: usize,
    ) -> Self {
        let elapsed = start.elapsed().as_secs_f64();
        let first = first_token_s.unwrap_or(elapsed);
        let decode_tokens = completion_tokens.saturating_sub(1);
        Self {
            finish_reason,
            prompt_tokens,
            completion_tokens,
            time_to_first_token_s: first,
            tokens_per_s: if decode_tokens > 0 && elapsed > first { decode_tokens as f64 / (elapsed - first) } else { 0.0 },
            elapsed_s: elapsed,
        }
    }
}

/// A finished generation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Generation {
    /// The answer's text (cut before a stop string).
    pub text: String,
    /// The answer's token ids (without a stop token).
    pub tokens: Vec<u32>,
    /// Finish reason, token counts and speed.
    #[serde(flatten)]
    pub stats: AnswerStats,
}

/// A model ready to generate: its weights (an adapter attached, unmerged, or
/// not), its tokenizer and chat template, and the tokens that end its turn.
#[derive(Debug)]
pub struct Loaded {
    /// The model (f32 on the CPU).
    pub model: Model,
    /// Tokenizer and chat template.
    pub chat: ChatFormat,
    /// The model's end-of-turn tokens ([`stop_token_ids`]).
    pub stop_token_ids: Vec<u32>,
}

impl Loaded {
    /// Loads the model in `model_dir`, attaches the adapter in `adapter`
    /// (PEFT layout) when given, and the chat template `chat_template` names
    /// (`"model"`, `"mistral"` or a file).
    pub fn load(model_dir: &Path, adapter: Option<&Path>, chat_template: &str) -> Result<Self> {
        Self::load_with(model_dir, adapter, chat_template, None)
    }

    /// [`Loaded::load`], with the weights quantized to `quantization` while
    /// they are read ([`Model::load_quantized`]) when given.
    pub fn load_with(
        model_dir: &Path,
        adapter: Option<&Path>,
        chat_template: &str,
        quantization: Option<crate::model::decoder::quantize::Quantization>,
    ) -> Result<Self> {
        let mut model = match quantization {
            Some(q) => Model::load_quantized(model_dir, q)?,
            None => Model::load(model_dir, DType::F32, &candle_core::Device::Cpu)?,
        };
        if let Some(adapter) = adapter {
            crate::adapter::load_into(&mut model, adapter)?;
        }
        let chat = ChatFormat::load(model_dir, &model.config, chat_template)?;
        let stop_token_ids = stop_token_ids(model_dir, &model.config, &chat.tokenizer);
        Ok(Self { model, chat, stop_token_ids })
    }

    /// The same base model with the adapter in `adapter` attached: the base
    /// weights are shared, not copied (a clone of a model shares its tensors),
    /// so a server holds one base and any number of adapters.
    pub fn with_adapter(&self, adapter: &Path) -> Result<Self> {
        let mut model = self.model.clone();
        crate::adapter::load_into(&mut model, adapter)?;
        Ok(Self { model, chat: self.chat.clone(), stop_token_ids: self.stop_token_ids.clone() })
    }

    /// A request for the answer to `messages` (ending with the user's),
    /// stopping at the model's end-of-turn tokens.
    pub fn chat_request(
        &self,
        messages: &[Message],
        max_new_tokens: usize,
        sampling: SamplingParams,
        stop: Vec<String>,
    ) -> Result<GenerateRequest> {
        Ok(GenerateRequest {
            prompt: self.chat.encode_prompt(messages)?,
            max_new_tokens,
            sampling,
            stop,
            stop_token_ids: self.stop_token_ids.clone(),
        })
    }

    /// Generates for `req` ([`generate`]).
    pub fn generate(&self, req: &GenerateRequest, cancel: &CancelFlag, on_text: impl FnMut(&str)) -> Result<Generation> {
        generate(&self.model, &self.chat.tokenizer, req, cancel, on_text)
    }
}

/// Generates the continuation of `req.prompt` with `model` (adapters
/// attached are applied), handing each piece of text to `on_text` as soon
/// as it is whole; checks `cancel` before every token.
pub fn generate(
    model: &Model,
    tok: &Tokenizer,
    req: &GenerateRequest,
    cancel: &CancelFlag,
    mut on_text: impl FnMut(&str),
) -> Result<Generation> {
    req.sampling.check().map_err(|m| Error::Other(format!("sampling: {m}")))?;
    if req.prompt.is_empty() {
        return Err(Error::Other("the prompt is empty".into()));
    }
    let limit = model.config.max_position_embeddings;
    if req.prompt.len() + req.max_new_tokens > limit {
        return Err(Error::Other(format!(
            "the prompt ({} tokens) plus max_new_tokens ({}) exceeds the model's context of {limit} tokens",
            req.prompt.len(),
            req.max_new_tokens
        )));
    }
    let start = Instant::now();
    let mut sampler = sampler::Sampler::new(req.sampling.clone());
    let mut stream = stream::TextStream::new(tok, &req.stop);
    let mut cache = KvCache::new(model);
    let mut history = req.prompt.clone();
    let mut tokens = Vec::new();
    let mut first_token_s = None;
    let input = Tensor::new(req.prompt.as_slice(), model.device())?.unsqueeze(0)?;
    let mut logits = model.forward_cached(&input, &mut cache)?;
    let mut finish = FinishReason::Length;
    let mut stop_string = false;
    while tokens.len() < req.max_new_tokens {
        if cancel.is_set() {
            finish = FinishReason::Cancelled;
            break;
        }
        let mut row: Vec<f32> = logits.squeeze(0)?.to_dtype(DType::F32)?.to_vec1()?;
        let id = sampler.next(&mut row, &history);
        first_token_s.get_or_insert(start.elapsed().as_secs_f64());
        if req.stop_token_ids.contains(&id) {
            finish = FinishReason::Stop;
            break;
        }
        tokens.push(id);
        history.push(id);
        let piece = stream.push(id)?;
        if !piece.text.is_empty() {
            on_text(&piece.text);
        }
        if piece.stopped {
            (finish, stop_string) = (FinishReason::Stop, true);
            break;
        }
        if tokens.len() < req.max_new_tokens {
            logits = model.forward_cached(&Tensor::new(&[[id]], model.device())?, &mut cache)?;
        }
    }
    // Text held back as a possible stop string's start turned out not to be one.
    let rest = if stop_string { String::new() } else { stream.finish() };
    if !rest.is_empty() {
        on_text(&rest);
    }
    let stats = AnswerStats::timed(start, first_token_s, finish, req.prompt.len(), tokens.len());
    Ok(Generation { text: stream.text().to_string(), tokens, stats })
}

/// The tokens that end a model's turn: `eos_token_id` of `config.json` and
/// of `generation_config.json` (a number or a list), the
/// `tokenizer_config.json` `eos_token`, and the family's end of turn.
pub fn stop_token_ids(model_dir: &Path, config: &ModelConfig, tok: &Tokenizer) -> Vec<u32> {
    let mut ids: Vec<u32> = config.eos_token_id.into_iter().collect();
    let read = |name: &str| -> serde_json::Value {
        std::fs::read_to_string(model_dir.join(name)).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default()
    };
    match &read("generation_config.json")["eos_token_id"] {
        serde_json::Value::Number(n) => ids.extend(n.as_u64().map(|n| n as u32)),
        serde_json::Value::Array(list) => ids.extend(list.iter().filter_map(|n| n.as_u64()).map(|n| n as u32)),
        _ => {}
    }
    let eos = &read("tokenizer_config.json")["eos_token"];
    if let Some(text) = eos.as_str().or(eos["content"].as_str())
        && let Some(id) = tok.token_to_id(text)
    {
        ids.push(id);
    }
    // The family's end of turn (Gemma's `<end_of_turn>`), which a base model's files may not name.
    if let Some(id) = config.family().chat_format.as_ref().and_then(|f| tok.token_to_id(f.end_of_turn)) {
        ids.push(id);
    }
    ids.sort_unstable();
    ids.dedup();
    ids
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;
    use crate::model::Pass;

    /// The shipped sample model and its tokenizer.
    fn sample() -> (Model, Tokenizer) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sample_data/model");
        let model = Model::load(&dir, DType::F32, &Device::Cpu).unwrap();
        let tok = crate::model::tokenizer::load(&dir, &model.config).unwrap();
        (model, tok)
    }

    fn request(tok: &Tokenizer, sampling: SamplingParams) -> GenerateRequest {
        let prompt = tok.encode("<s>[INST] How many vacation days do I get? [/INST]", false).unwrap().get_ids().to_vec();
        GenerateRequest { prompt, max_new_tokens: 12, sampling, stop: Vec::new(), stop_token_ids: Vec::new() }
    }

    fn run(model: &Model, tok: &Tokenizer, req: &GenerateRequest) -> (Generation, String) {
        let mut streamed = String::new();
        let g = generate(model, tok, req, &CancelFlag::new(), |t| streamed.push_str(t)).unwrap();
        (g, streamed)
    }

    /// Greedy decoding repeats, streams exactly its text, and each token is
    /// the argmax of a full forward pass over everything before it.
    #[test]
    fn greedy_is_deterministic_and_equals_full_recomputation() {
        let (model, tok) = sample();
        let req = request(&tok, SamplingParams::default());
        let (a, streamed) = run(&model, &tok, &req);
        let (b, _) = run(&model, &tok, &req);
        assert_eq!(a.tokens, b.tokens);
        assert_eq!((a.tokens.len(), a.stats.finish_reason), (12, FinishReason::Length));
        assert_eq!(streamed, a.text);
        assert_eq!(a.text, tok.decode(&a.tokens, true).unwrap());
        let all: Vec<u32> = req.prompt.iter().chain(&a.tokens).copied().collect();
        let logits = model.forward(&Tensor::new(all.as_slice(), &Device::Cpu).unwrap().unsqueeze(0).unwrap(), Pass::Eval).unwrap();
        let argmax: Vec<u32> = logits.argmax(1).unwrap().to_vec1().unwrap();
        assert_eq!(&argmax[req.prompt.len() - 1..all.len() - 1], a.tokens.as_slice());
        assert!(a.stats.time_to_first_token_s > 0.0 && a.stats.tokens_per_s > 0.0);
    }

    #[test]
    fn a_seed_repeats_a_sampled_answer() {
        let (model, tok) = sample();
        let sampled =
            |seed| run(&model, &tok, &request(&tok, SamplingParams { temperature: 1.5, seed: Some(seed), ..Default::default() })).0.tokens;
        assert_eq!(sampled(3), sampled(3));
        assert!((4..8).any(|s| sampled(s) != sampled(3)), "five seeds gave the same answer");
    }

    #[test]
    fn stop_tokens_stop_strings_and_cancel_end_it() {
        let (model, tok) = sample();
        let greedy = run(&model, &tok, &request(&tok, SamplingParams::default())).0;
        let stop_id = greedy.tokens[4];
        let first = greedy.tokens.iter().position(|t| *t == stop_id).unwrap();
        let (g, _) = run(&model, &tok, &GenerateRequest { stop_token_ids: vec![stop_id], ..request(&tok, SamplingParams::default()) });
        assert_eq!((g.stats.finish_reason, g.tokens.as_slice()), (FinishReason::Stop, &greedy.tokens[..first]));

        let cut = greedy.text.char_indices().nth(greedy.text.chars().count() / 2).unwrap().0;
        let stop = greedy.text[cut..].chars().take(3).collect::<String>();
        let (g, streamed) = run(&model, &tok, &GenerateRequest { stop: vec![stop.clone()], ..request(&tok, SamplingParams::default()) });
        assert_eq!(g.stats.finish_reason, FinishReason::Stop);
        assert_eq!(g.text, greedy.text[..greedy.text.find(&stop).unwrap()]);
        assert_eq!(streamed, g.text);

        let cancel = CancelFlag::new();
        cancel.set();
        let g = generate(&model, &tok, &request(&tok, SamplingParams::default()), &cancel, |_| {}).unwrap();
        assert_eq!((g.stats.finish_reason, g.tokens.len()), (FinishReason::Cancelled, 0));
    }

    #[test]
    fn bad_requests_are_refused_with_the_reason() {
        let (model, tok) = sample();
        let long = GenerateRequest { max_new_tokens: model.config.max_position_embeddings, ..request(&tok, SamplingParams::default()) };
        let err = generate(&model, &tok, &long, &CancelFlag::new(), |_| {}).unwrap_err().to_string();
        assert!(err.contains("context"), "{err}");
        let empty = GenerateRequest { prompt: Vec::new(), ..request(&tok, SamplingParams::default()) };
        assert!(generate(&model, &tok, &empty, &CancelFlag::new(), |_| {}).unwrap_err().to_string().contains("empty"));
        let bad = request(&tok, SamplingParams { top_p: 2.0, ..Default::default() });
        assert!(generate(&model, &tok, &bad, &CancelFlag::new(), |_| {}).unwrap_err().to_string().contains("top_p"));
    }
}
