//! Tiny GGUF files for tests, written as llama.cpp's converter writes a
//! Llama or a Qwen2: llama.cpp's tensor names, Llama's `q_proj` / `k_proj` rows permuted, norms and biases
//! in F32, the other weights in a chosen type, and a small byte-level BPE
//! tokenizer with ChatML control tokens (or a SentencePiece one) in the metadata.

use std::path::Path;

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device};

use super::tensors::{gguf_name, permute, permuted_heads};
use super::tokenizer::bytes_to_unicode;
use crate::error::{Error, Result};
use crate::model::{Model, ModelConfig};

/// What a fixture file holds.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// `general.architecture`.
    pub architecture: String,
    /// The type of every weight matrix (norms stay F32).
    pub weight_type: GgmlDType,
    /// No `output.weight` (the output layer tied to the embedding).
    pub tied: bool,
    /// A tensor (GGUF name) left out of the file.
    pub drop_tensor: Option<String>,
    /// Width of the residual stream (a multiple of the weight type's block: 32, or 256 for Q4_K / Q6_K).
    pub hidden_size: usize,
    /// Width of the MLP.
    pub intermediate_size: usize,
    /// Per-head width of the 4 query heads (hidden / 4 is the default; another value gives `head_dim` in config.json).
    pub head_dim: usize,
    /// Seed of the random weights.
    pub seed: u64,
    /// A SentencePiece vocabulary ([`sentencepiece_vocab`], `tokenizer.ggml.model = llama`)
    /// instead of the byte-level one.
    pub sentencepiece: bool,
}

impl Default for Fixture {
    fn default() -> Self {
        Self {
            architecture: "llama".into(),
            weight_type: GgmlDType::F32,
            tied: false,
            drop_tensor: None,
            hidden_size: 32,
            intermediate_size: 64,
            head_dim: 8,
            seed: 7,
            sentencepiece: false,
        }
    }
}

/// The control tokens of the fixture vocabulary, ids 0, 1, 2 (as in SmolLM2).
pub const SPECIALS: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

/// The fixture's ChatML template.
pub const CHAT_TEMPLATE: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/// A small byte-level BPE vocabulary: `(tokens, merges, token types)`.
/// The control tokens first, then the 256 byte characters, then the merged
/// tokens in merge order (spaces as `Ġ`, a merge of `é`'s two bytes, digits merged in pairs).
pub fn vocab() -> (Vec<String>, Vec<String>, Vec<i32>) {
    let mut tokens: Vec<String> = SPECIALS.iter().map(|s| s.to_string()).collect();
    let mut types = vec![3; SPECIALS.len()];
    for c in bytes_to_unicode() {
        tokens.push(c.to_string());
        types.push(1);
    }
    let pairs = [
        ("Ġ", "t"),
        ("h", "e"),
        ("Ġt", "he"),
        ("i", "n"),
        ("Ġ", "w"),
        ("o", "r"),
        ("Ġw", "or"),
        ("l", "d"),
        ("Ġwor", "ld"),
        ("e", "l"),
        ("el", "l"),
        ("H", "ell"),
        ("Hell", "o"),
        ("c", "a"),
        ("ca", "f"),
        ("Ã", "©"),
        ("caf", "Ã©"),
        ("1", "2"),
        ("Ġ", "Ġ"),
        ("Ġ", "ĠĠ"),
        ("Ġ", "a"),
        ("p", "p"),
        ("Ġa", "pp"),
        ("Ġapp", "l"),
        ("Ġappl", "e"),
        ("Ġapple", "s"),
        ("Ġ", "in"),
    ];
    let mut merges = Vec::new();
    for (a, b) in pairs {
        assert!(tokens.iter().any(|t| t == a) && tokens.iter().any(|t| t == b), "merge {a} {b} of unknown tokens");
        merges.push(format!("{a} {b}"));
        let joined = format!("{a}{b}");
        if !tokens.contains(&joined) {
            tokens.push(joined);
            types.push(1);
        }
    }
    (tokens, merges, types)
}

/// A small SentencePiece vocabulary: `(tokens, scores, token types)`:
/// `<unk> <s> </s>`, the 256 byte tokens `<0x00>`..`<0xFF>`, then pieces
/// whose scores order their merges (single characters far below), and two
/// control tokens `[INST]`, `[/INST]`. The same vocabulary as the proof
/// script's, whose transformers tokenisation the tests compare against.
pub fn sentencepiece_vocab() -> (Vec<String>, Vec<f32>, Vec<i32>) {
    let mut tokens: Vec<String> = ["<unk>", "<s>", "</s>"].map(String::from).to_vec();
    let mut types = vec![2, 3, 3];
    for b in 0..=255u8 {
        tokens.push(format!("<0x{b:02X}>"));
        types.push(6);
    }
    let mut scores = vec![0.0; tokens.len()];
    let pieces = [
        "▁", "e", "l", "o", "H", "w", "r", "d", "t", "h", "▁H", "el", "lo", "▁Hel", "▁Hello", "▁w", "or", "▁wor", "ld", "▁world", "▁t",
        "he", "▁the", "ll", "▁▁", "[INST]", "[/INST]",
    ];
    for (i, p) in pieces.iter().enumerate() {
        tokens.push(p.to_string());
        types.push(if p.starts_with('[') { 3 } else { 1 });
        scores.push(if p.chars().count() > 1 { -(i as f32) } else { -100.0 - i as f32 });
    }
    (tokens, scores, types)
}

/// Writes a tiny random model of the family `fx.architecture` names (llama, qwen2, qwen3) as a GGUF file at `path`; returns the model it
/// holds (in f32, Hugging Face layout) to compare an import against.
pub fn write(path: &Path, fx: &Fixture) -> Result<Model> {
    let (tokens, merges, types, scores) = if fx.sentencepiece {
        let (tokens, scores, types) = sentencepiece_vocab();
        (tokens, Vec::new(), types, scores)
    } else {
        let (tokens, merges, types) = vocab();
        (tokens, merges, types, Vec::new())
    };
    // An architecture the importer lacks (to test its refusal) is written with Llama's tensors.
    let family = crate::model::arch::by_gguf_arch(&fx.architecture).unwrap_or(crate::model::arch::FAMILIES[0]);
    let qwen = family.model_type.starts_with("qwen");
    let config = ModelConfig {
        architectures: vec![family.class.into()],
        model_type: family.model_type.into(),
        tie_word_embeddings: fx.tied,
        hidden_size: fx.hidden_size,
        intermediate_size: fx.intermediate_size,
        head_dim: Some(fx.head_dim),
        ..crate::sample_build::tiny_model_config(tokens.len())
    };
    let mut model = Model::random(config.clone(), fx.seed, DType::F32, &Device::Cpu)?;
    let arch = fx.architecture.as_str();
    let u32v = |n: usize| Value::U32(n as u32);
    let strings = |v: &[String]| Value::Array(v.iter().map(|s| Value::String(s.clone())).collect());
    let mut metadata: Vec<(String, Value)> = vec![
        ("general.architecture".into(), Value::String(arch.into())),
        ("general.name".into(), Value::String("tiny fixture".into())),
        (format!("{arch}.block_count"), u32v(config.num_hidden_layers)),
        (format!("{arch}.context_length"), u32v(config.max_position_embeddings)),
        (format!("{arch}.embedding_length"), u32v(config.hidden_size)),
        (format!("{arch}.feed_forward_length"), u32v(config.intermediate_size)),
        (format!("{arch}.attention.head_count"), u32v(config.num_attention_heads)),
        (format!("{arch}.attention.head_count_kv"), u32v(config.kv_heads())),
        (format!("{arch}.rope.freq_base"), Value::F32(config.rope_theta as f32)),
        (format!("{arch}.attention.layer_norm_rms_epsilon"), Value::F32(config.rms_norm_eps as f32)),
        (format!("{arch}.rope.dimension_count"), u32v(config.head_dim())),
        (format!("{arch}.vocab_size"), u32v(config.vocab_size)),
        ("tokenizer.ggml.tokens".into(), strings(&tokens)),
        ("tokenizer.ggml.token_type".into(), Value::Array(types.iter().map(|t| Value::I32(*t)).collect())),
        ("tokenizer.ggml.bos_token_id".into(), Value::U32(1)),
        ("tokenizer.ggml.eos_token_id".into(), Value::U32(2)),
        ("tokenizer.ggml.unknown_token_id".into(), Value::U32(0)),
        ("tokenizer.chat_template".into(), Value::String(CHAT_TEMPLATE.into())),
    ];
    if fx.sentencepiece {
        // As llama.cpp writes Llama 2 files: no merges, scores, BOS added by default.
        metadata.push(("tokenizer.ggml.model".into(), Value::String("llama".into())));
        metadata.push(("tokenizer.ggml.scores".into(), Value::Array(scores.iter().map(|s| Value::F32(*s)).collect())));
    } else {
        metadata.push(("tokenizer.ggml.model".into(), Value::String("gpt2".into())));
        metadata.push(("tokenizer.ggml.pre".into(), Value::String(if qwen { "qwen2" } else { "smollm" }.into())));
        metadata.push(("tokenizer.ggml.merges".into(), strings(&merges)));
        metadata.push(("tokenizer.ggml.padding_token_id".into(), Value::U32(2)));
        metadata.push(("tokenizer.ggml.add_bos_token".into(), Value::Bool(false)));
    }
    let mut hf: Vec<(String, candle_core::Tensor)> = model.hf_tensors()?.into_iter().collect();
    hf.sort_by(|a, b| a.0.cmp(&b.0));
    let mut qtensors = Vec::new();
    for (name, t) in hf {
        let gguf = gguf_name(config.family(), &name).expect("a decoder tensor");
        if fx.drop_tensor.as_deref() == Some(gguf.as_str()) {
            continue;
        }
        let t = match permuted_heads(&config, &name) {
            Some(heads) => permute(&t, heads)?,
            None => t,
        };
        let ty = if t.rank() == 1 { GgmlDType::F32 } else { fx.weight_type };
        qtensors.push((gguf, QTensor::quantize(&t, ty)?));
    }
    let md: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let ts: Vec<(&str, &QTensor)> = qtensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    gguf_file::write(&mut file, &md, &ts)?;
    Ok(model)
}
