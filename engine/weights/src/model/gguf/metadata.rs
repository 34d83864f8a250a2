//! A GGUF file's metadata: typed reads that name the key and the file when a
//! value is missing or of the wrong kind, and the Hugging Face `config.json`
//! the `{arch}.*` keys describe.

use std::collections::HashMap;
use std::path::Path;

use candle_core::quantized::gguf_file::Value;

use super::tensors::LongRopeFactors;
use crate::error::{Error, Result};
use crate::model::ModelConfig;
use crate::model::arch::{self, Family, Gguf};

/// The metadata of one file, with the file's path for error messages.
pub(crate) struct Meta<'a> {
    values: &'a HashMap<String, Value>,
    path: &'a Path,
}

impl<'a> Meta<'a> {
    pub(crate) fn new(values: &'a HashMap<String, Value>, path: &'a Path) -> Self {
        Self { values, path }
    }

    /// An error about this file.
    pub(crate) fn error(&self, message: impl Into<String>) -> Error {
        Error::model(self.path, message)
    }

    fn missing(&self, key: &str) -> Error {
        self.error(format!(
            "metadata key {key} is missing; the file is incomplete or was written by a converter this importer does not know \
(re-convert it with a recent llama.cpp convert_hf_to_gguf.py)"
        ))
    }

    fn wrong(&self, key: &str, want: &str, v: &Value) -> Error {
        self.error(format!("metadata key {key} should be {want}, but is {:?}", v.value_type()))
    }

    /// A non-negative integer, if present.
    pub(crate) fn opt_usize(&self, key: &str) -> Result<Option<usize>> {
        let Some(v) = self.values.get(key) else { return Ok(None) };
        let n: i128 = match v {
            Value::U8(x) => *x as i128,
            Value::I8(x) => *x as i128,
            Value::U16(x) => *x as i128,
            Value::I16(x) => *x as i128,
            Value::U32(x) => *x as i128,
            Value::I32(x) => *x as i128,
            Value::U64(x) => *x as i128,
            Value::I64(x) => *x as i128,
            _ => return Err(self.wrong(key, "an integer", v)),
        };
        usize::try_from(n).map(Some).map_err(|_| self.error(format!("metadata key {key} is {n}, which is not a valid count or id")))
    }

    /// A non-negative integer.
    pub(crate) fn usize(&self, key: &str) -> Result<usize> {
        self.opt_usize(key)?.ok_or_else(|| self.missing(key))
    }

    /// A number, if present. An `f32` is read through its shortest decimal
    /// form, so `1e-5` stored as `f32` comes back as the `1e-5` it was written from.
    pub(crate) fn opt_f64(&self, key: &str) -> Result<Option<f64>> {
        let Some(v) = self.values.get(key) else { return Ok(None) };
        match v {
            Value::F32(x) => Ok(Some(x.to_string().parse::<f64>().unwrap_or(*x as f64))),
            Value::F64(x) => Ok(Some(*x)),
            _ => self.opt_usize(key).map(|n| n.map(|n| n as f64)).map_err(|_| self.wrong(key, "a number", v)),
        }
    }

    /// A string, if present.
    pub(crate) fn opt_str(&self, key: &str) -> Result<Option<&'a str>> {
        match self.values.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(v) => Err(self.wrong(key, "a string", v)),
        }
    }

    /// A string.
    pub(crate) fn str(&self, key: &str) -> Result<&'a str> {
        self.opt_str(key)?.ok_or_else(|| self.missing(key))
    }

    /// A boolean, if present.
    pub(crate) fn opt_bool(&self, key: &str) -> Result<Option<bool>> {
        match self.values.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.wrong(key, "a boolean", v)),
        }
    }

    /// An array of strings, if present.
    pub(crate) fn opt_strings(&self, key: &str) -> Result<Option<Vec<&'a str>>> {
        self.opt_array(key, "an array of strings", |item| match item {
            Value::String(s) => Some(s.as_str()),
            _ => None,
        })
    }

    /// An array of numbers, if present (SentencePiece scores).
    pub(crate) fn opt_floats(&self, key: &str) -> Result<Option<Vec<f64>>> {
        self.opt_array(key, "an array of numbers", |item| match item {
            Value::F32(x) => Some(*x as f64),
            Value::F64(x) => Some(*x),
            _ => None,
        })
    }

    /// An array of integers, if present.
    pub(crate) fn opt_ints(&self, key: &str) -> Result<Option<Vec<i64>>> {
        self.opt_array(key, "an array of integers", |item| match item {
            Value::I32(x) => Some(*x as i64),
            Value::U32(x) => Some(*x as i64),
            Value::I8(x) => Some(*x as i64),
            Value::U8(x) => Some(*x as i64),
            Value::I16(x) => Some(*x as i64),
            Value::U16(x) => Some(*x as i64),
            Value::I64(x) => Some(*x),
            _ => None,
        })
    }

    /// An array whose every item `item` reads, if present; `what` names the
    /// expected kind in the error.
    fn opt_array<T>(&self, key: &str, what: &str, item: impl Fn(&'a Value) -> Option<T>) -> Result<Option<Vec<T>>> {
        let Some(v) = self.values.get(key) else { return Ok(None) };
        let Value::Array(items) = v else { return Err(self.wrong(key, what, v)) };
        items.iter().map(|i| item(i).ok_or_else(|| self.wrong(key, what, i))).collect::<Result<Vec<_>>>().map(Some)
    }

    /// `general.architecture` and the family it names ([`arch::by_gguf_arch`]).
    pub(crate) fn architecture(&self) -> Result<(&'a str, &'static Family)> {
        let name = self.str("general.architecture")?;
        arch::by_gguf_arch(name).map(|family| (name, family)).ok_or_else(|| {
            let mut names: Vec<&str> = Vec::new();
            for g in arch::FAMILIES.iter().filter_map(|f| f.gguf.as_ref()) {
                if !names.contains(&g.arch) {
                    names.push(g.arch);
                }
            }
            self.error(format!(
                "general.architecture is {name:?}, which this importer does not convert (supported: {}); \
use a GGUF of a model of one of those architectures",
                names.join(", ")
            ))
        })
    }
}

/// The `config.json` of the model this file holds. `vocab_rows` is the
/// embedding matrix's row count (the truth the weights fix), `tied` whether the
/// file has no separate `output.weight`, `rope_factors` longrope's short and
/// long factors where the file holds them.
pub(crate) fn model_config(
    meta: &Meta,
    vocab_rows: usize,
    tied: bool,
    torch_dtype: &str,
    rope_factors: Option<LongRopeFactors>,
) -> Result<ModelConfig> {
    let (arch, family) = meta.architecture()?;
    let gguf = family.gguf.as_ref().expect("a family found by its GGUF architecture has one");
    let key = |k: &str| format!("{arch}.{k}");
    let hidden_size = meta.usize(&key("embedding_length"))?;
    let heads = meta.usize(&key("attention.head_count"))?;
    let kv_heads = meta.opt_usize(&key("attention.head_count_kv"))?.unwrap_or(heads);
    if heads == 0 {
        return Err(meta.error(format!("{} is 0; the file is damaged", key("attention.head_count"))));
    }
    let layers = meta.usize(&key("block_count"))?;
    if let Some(v) = meta.opt_usize(&key("vocab_size"))?
        && v != vocab_rows
    {
        return Err(
            meta.error(format!("{} is {v} but token_embd.weight has {vocab_rows} rows; the file is inconsistent", key("vocab_size")))
        );
    }
    // The per-head width is the key length, else (as llama.cpp reads it) the
    // hidden size over the heads; the rotary width is `rope.dimension_count`,
    // else all of a head. Older files give a head wider than hidden / heads
    // only as the rotary width.
    let width = hidden_size / heads;
    let (head_dim, rotary) = match (meta.opt_usize(&key("attention.key_length"))?, meta.opt_usize(&key("rope.dimension_count"))?) {
        (Some(k), r) => (k, r.unwrap_or(k)),
        (None, Some(r)) if r > width => (r, r),
        (None, r) => (width, r.unwrap_or(width)),
    };
    if rotary == 0 || rotary > head_dim || rotary % 2 != 0 {
        return Err(meta.error(format!(
            "{} is {rotary}, which is not an even width within a head of {head_dim}; the file is damaged",
            key("rope.dimension_count")
        )));
    }
    let mut config = ModelConfig {
        num_key_value_heads: Some(kv_heads),
        // Written where it is not the hidden size over the heads, and always for a
        // family whose default is another (Qwen3: transformers reads a missing one as 128).
        head_dim: (head_dim * heads != hidden_size || family.default_head_dim.is_some()).then_some(head_dim),
        partial_rotary_factor: (rotary != head_dim).then(|| rotary as f64 / head_dim as f64),
        max_position_embeddings: meta.opt_usize(&key("context_length"))?.unwrap_or(4096),
        rms_norm_eps: meta.opt_f64(&key("attention.layer_norm_rms_epsilon"))?.unwrap_or(1e-5),
        rope_theta: meta.opt_f64(&key("rope.freq_base"))?.unwrap_or(10_000.0),
        tie_word_embeddings: tied,
        bos_token_id: meta.opt_usize("tokenizer.ggml.bos_token_id")?.map(|i| i as u32),
        eos_token_id: meta.opt_usize("tokenizer.ggml.eos_token_id")?.map(|i| i as u32),
        torch_dtype: Some(torch_dtype.to_string()),
        ..ModelConfig::new(family, vocab_rows, hidden_size, meta.usize(&key("feed_forward_length"))?, layers, heads)
    };
    if config.rotary_dim() != rotary {
        return Err(meta.error(format!(
            "{} is {rotary}, a width this importer cannot express as a fraction of {head_dim}",
            key("rope.dimension_count")
        )));
    }
    rope_scaling(meta, &key, &mut config, rope_factors)?;
    sliding_windows(meta, &key, gguf, &mut config)?;
    // llama.cpp reads no query scale: it scales by the head's width, or by
    // hidden / heads at the layer counts of its 27B rule (Gemma), whose
    // configs always state `query_pre_attn_scalar`.
    let scale = if gguf.wide_query_scale_layers.contains(&layers) { width } else { head_dim } as f64;
    if scale != head_dim as f64 || config.query_pre_attn_scalar.is_some() {
        config.query_pre_attn_scalar = Some(scale);
    }
    for (field, name) in
        [(&mut config.attn_logit_softcapping, "attn_logit_softcapping"), (&mut config.final_logit_softcapping, "final_logit_softcapping")]
    {
        if let Some(cap) = meta.opt_f64(&key(name))? {
            *field = (cap > 0.0).then_some(cap);
        }
    }
    config.check().map_err(|m| meta.error(format!("the model its metadata describes is unusable: {m}")))?;
    Ok(config)
}

/// The RoPE scaling the file describes: `rope.scaling.type` linear (of the
/// full-attention layers, where sliding ones have their own base), or
/// longrope's factors with the pretraining context and attention factor.
fn rope_scaling(meta: &Meta, key: &dyn Fn(&str) -> String, config: &mut ModelConfig, factors: Option<LongRopeFactors>) -> Result<()> {
    if let Some((short, long)) = factors {
        let original = meta.usize(&key("rope.scaling.original_context_length"))?;
        let mut scaling = serde_json::json!({"rope_type": "longrope", "short_factor": short, "long_factor": long});
        if let Some(f) = meta.opt_f64(&key("rope.scaling.attn_factor"))? {
            scaling["attention_factor"] = f.into();
        }
        config.rope_scaling = Some(scaling);
        config.original_max_position_embeddings = Some(original);
        return Ok(());
    }
    match meta.opt_str(&key("rope.scaling.type"))? {
        None | Some("none") => Ok(()),
        Some("linear") => {
            let factor = meta.opt_f64(&key("rope.scaling.factor"))?.unwrap_or(1.0);
            if factor != 1.0 {
                config.rope_scaling = Some(serde_json::json!({"rope_type": "linear", "factor": factor}));
            }
            Ok(())
        }
        Some(kind) => Err(meta.error(format!("{} is {kind:?}; only linear RoPE scaling is supported", key("rope.scaling.type")))),
    }
}

/// The sliding-window layers the file describes: `attention.sliding_window`
/// on the layers of the architecture's pattern (or the file's
/// `attention.sliding_window_pattern`), with their own RoPE base where the
/// architecture has one.
fn sliding_windows(meta: &Meta, key: &dyn Fn(&str) -> String, gguf: &Gguf, config: &mut ModelConfig) -> Result<()> {
    let Some(default_pattern) = gguf.sliding_pattern else { return Ok(()) };
    let window = meta.opt_usize(&key("attention.sliding_window"))?.filter(|w| *w > 0);
    config.sliding_window = window;
    if window.is_none() {
        config.layer_types = None;
        return Ok(());
    }
    let pattern = meta.opt_usize(&key("attention.sliding_window_pattern"))?.unwrap_or(default_pattern);
    config.layer_types = (pattern > 0).then(|| {
        let kind = |i: usize| if i % pattern < pattern - 1 { "sliding_attention" } else { "full_attention" };
        (0..config.num_hidden_layers).map(|i| kind(i).to_string()).collect()
    });
    if let Some(base) = gguf.sliding_rope_base {
        config.rope_local_base_freq = Some(meta.opt_f64(&key("rope.freq_base_swa"))?.unwrap_or(base));
    }
    Ok(())
}
