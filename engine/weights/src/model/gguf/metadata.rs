//! A GGUF file's metadata: typed reads that name the key and the file when a
//! value is missing or of the wrong kind, and the Hugging Face `config.json`
//! the `{arch}.*` keys describe.

use std::collections::HashMap;
use std::path::Path;

use candle_core::quantized::gguf_file::Value;

use crate::error::{Error, Result};
use crate::model::ModelConfig;
use crate::model::arch::{self, Family};

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
            let names: Vec<&str> = arch::FAMILIES.iter().filter(|f| f.gguf.is_some()).map(|f| f.model_type).collect();
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
/// file has no separate `output.weight`.
pub(crate) fn model_config(meta: &Meta, vocab_rows: usize, tied: bool, torch_dtype: &str) -> Result<ModelConfig> {
    let (arch, family) = meta.architecture()?;
    let key = |k: &str| format!("{arch}.{k}");
    let hidden_size = meta.usize(&key("embedding_length"))?;
    let heads = meta.usize(&key("attention.head_count"))?;
    let kv_heads = meta.opt_usize(&key("attention.head_count_kv"))?.unwrap_or(heads);
    if heads == 0 {
        return Err(meta.error(format!("{} is 0; the file is damaged", key("attention.head_count"))));
    }
    if let Some(v) = meta.opt_usize(&key("vocab_size"))?
        && v != vocab_rows
    {
        return Err(
            meta.error(format!("{} is {v} but token_embd.weight has {vocab_rows} rows; the file is inconsistent", key("vocab_size")))
        );
    }
    // The per-head width: llama.cpp writes it as the rotary dimension (all of a
    // head rotates in Llama and Mistral) and, in newer files, as the key length.
    let head_dim = match (meta.opt_usize(&key("attention.key_length"))?, meta.opt_usize(&key("rope.dimension_count"))?) {
        (Some(k), Some(r)) if k != r => {
            return Err(meta.error(format!(
                "{} is {k} but {} is {r}; partial rotary embeddings are not supported",
                key("attention.key_length"),
                key("rope.dimension_count")
            )));
        }
        (Some(d), _) | (None, Some(d)) => d,
        (None, None) => hidden_size / heads,
    };
    if let Some(kind) = meta.opt_str(&key("rope.scaling.type"))?
        && kind != "none"
    {
        return Err(meta.error(format!("{} is {kind:?}; RoPE scaling is not supported yet", key("rope.scaling.type"))));
    }
    let config = ModelConfig {
        num_key_value_heads: Some(kv_heads),
        // Written where it is not the hidden size over the heads, and always for a
        // family whose default is another (Qwen3: transformers reads a missing one as 128).
        head_dim: (head_dim * heads != hidden_size || family.default_head_dim.is_some()).then_some(head_dim),
        max_position_embeddings: meta.opt_usize(&key("context_length"))?.unwrap_or(4096),
        rms_norm_eps: meta.opt_f64(&key("attention.layer_norm_rms_epsilon"))?.unwrap_or(1e-5),
        rope_theta: meta.opt_f64(&key("rope.freq_base"))?.unwrap_or(10_000.0),
        tie_word_embeddings: tied,
        bos_token_id: meta.opt_usize("tokenizer.ggml.bos_token_id")?.map(|i| i as u32),
        eos_token_id: meta.opt_usize("tokenizer.ggml.eos_token_id")?.map(|i| i as u32),
        torch_dtype: Some(torch_dtype.to_string()),
        ..ModelConfig::new(
            family,
            vocab_rows,
            hidden_size,
            meta.usize(&key("feed_forward_length"))?,
            meta.usize(&key("block_count"))?,
            heads,
        )
    };
    config.check().map_err(|m| meta.error(format!("the model its metadata describes is unusable: {m}")))?;
    Ok(config)
}
