//! The `tokenizer.ggml.*` metadata of an exported GGUF file, from the model
//! directory's `tokenizer.json` and `tokenizer_config.json`, in the two forms
//! llama.cpp reads: a byte-level BPE (`gpt2`: SmolLM2, Llama 3, Qwen2, the
//! sample model) with its merges and pre-tokenizer name, or a
//! SentencePiece-style BPE with byte fallback (`llama`: Mistral, Llama 2,
//! Phi-3, Gemma) with scores. A SentencePiece GGUF stores no merges: llama.cpp
//! (and the importer, as transformers does) merges by the scores, so each
//! token's score is minus the rank of the first merge that makes it.

use std::collections::HashMap;
use std::path::Path;

use candle_core::quantized::gguf_file::Value;
use serde_json::Value as Json;

use crate::error::{Error, Result};

/// llama.cpp's token types.
mod token_type {
    pub const NORMAL: i32 = 1;
    pub const UNKNOWN: i32 = 2;
    pub const CONTROL: i32 = 3;
    pub const USER_DEFINED: i32 = 4;
    pub const BYTE: i32 = 6;
}

/// SentencePiece's word-boundary mark.
const SPACE: &str = "▁";

/// What `tokenizer.json` and `tokenizer_config.json` give the GGUF metadata.
pub(super) struct TokenizerMeta {
    /// Every token by id (byte-level ones spelled in the byte alphabet; added tokens as their text).
    tokens: Vec<String>,
    /// llama.cpp's token type of each.
    types: Vec<i32>,
    /// How the tokens are put together.
    kind: Kind,
    /// Whether a BOS token is prepended (`add_bos_token`).
    add_bos: bool,
    /// `tokenizer_config.json` special token names by key (`eos_token`).
    specials: HashMap<String, String>,
}

/// The two tokenizer models llama.cpp reads.
enum Kind {
    /// `gpt2`: merges in rank order (`"a b"`) and the pre-tokenizer's `tokenizer.ggml.pre` name.
    ByteLevel { merges: Vec<String>, pre: &'static str },
    /// `llama`: each token's score, and whether `▁` is put before the text.
    SentencePiece { scores: Vec<f32>, add_space_prefix: bool },
}

impl TokenizerMeta {
    /// Reads the tokenizer of the model directory `dir`; one llama.cpp could
    /// not rebuild is refused, saying what it is.
    pub(super) fn read(dir: &Path) -> Result<Self> {
        let path = dir.join("tokenizer.json");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let json: Json = serde_json::from_str(&text).map_err(|e| Error::model(&path, format!("invalid JSON: {e}")))?;
        let refuse = |what: String| {
            Error::model(
                &path,
                format!(
                    "{what}; the GGUF export writes byte-level BPE tokenizers (SmolLM2, Llama 3, Qwen2) and SentencePiece-style \
BPE tokenizers with byte fallback (Mistral, Llama 2, Phi-3, Gemma)"
                ),
            )
        };
        let model = &json["model"];
        let merges = merges_of(model).map_err(refuse)?;
        let sentencepiece = model["type"] == "BPE" && model["byte_fallback"] == true && json["decoder"]["type"] == "Sequence";
        let byte_level = model["type"] == "BPE" && json["decoder"]["type"] == "ByteLevel";
        let (tokens, mut types) = vocabulary(&json).map_err(refuse)?;
        let kind = if byte_level {
            let pre = pre_of(&json["pre_tokenizer"], &json["normalizer"])
                .ok_or_else(|| refuse(format!("its pre-tokenizer {} is not one llama.cpp knows", json["pre_tokenizer"])))?;
            Kind::ByteLevel { merges: merges.iter().map(|(a, b)| format!("{a} {b}")).collect(), pre }
        } else if sentencepiece {
            let add_space_prefix = space_prefix(&json["pre_tokenizer"], &json["normalizer"]).map_err(refuse)?;
            for (token, ty) in tokens.iter().zip(types.iter_mut()) {
                if *ty == token_type::NORMAL && is_byte_token(token) {
                    *ty = token_type::BYTE;
                }
            }
            Kind::SentencePiece { scores: scores_from_merges(&tokens, &types, &merges), add_space_prefix }
        } else {
            return Err(refuse(format!("the tokenizer is a {} model with a {} decoder", model["type"], json["decoder"]["type"])));
        };

        let cfg_path = dir.join("tokenizer_config.json");
        let cfg: Json = match std::fs::read_to_string(&cfg_path) {
            Ok(t) => serde_json::from_str(&t).map_err(|e| Error::model(&cfg_path, format!("invalid JSON: {e}")))?,
            Err(_) => Json::Null,
        };
        let specials = ["bos_token", "eos_token", "unk_token", "pad_token"]
            .iter()
            .filter_map(|k| {
                let v = &cfg[*k];
                v.as_str().or(v["content"].as_str()).map(|s| (k.to_string(), s.to_string()))
            })
            .collect();
        let mut meta = Self { tokens, types, kind, add_bos: cfg["add_bos_token"].as_bool().unwrap_or(false), specials };
        // SentencePiece marks its unknown token as such (byte-level vocabularies have none in use).
        let unknown = model["unk_token"].as_str().and_then(|u| meta.tokens.iter().position(|t| t == u));
        if let Some(id) = unknown.or(meta.special_id("unk_token").map(|id| id as usize)).filter(|_| sentencepiece) {
            meta.types[id] = token_type::UNKNOWN;
        }
        Ok(meta)
    }

    /// How many tokens there are.
    pub(super) fn len(&self) -> usize {
        self.tokens.len()
    }

    /// The id of the special token `tokenizer_config.json` names under `key`.
    pub(super) fn special_id(&self, key: &str) -> Option<u32> {
        let text = self.specials.get(key)?;
        self.tokens.iter().position(|t| t == text).map(|i| i as u32)
    }

    /// `tokenizer.ggml.model` and `tokenizer.ggml.pre`, as written.
    pub(super) fn model_and_pre(&self) -> (&'static str, &'static str) {
        match &self.kind {
            Kind::ByteLevel { pre, .. } => ("gpt2", pre),
            Kind::SentencePiece { .. } => ("llama", "default"),
        }
    }

    /// The `tokenizer.ggml.*` keys of the vocabulary (the special ids are the caller's).
    pub(super) fn metadata(&self) -> Vec<(String, Value)> {
        let strings = |v: &[String]| Value::Array(v.iter().map(|s| Value::String(s.clone())).collect());
        let (model, pre) = self.model_and_pre();
        let mut out = vec![
            ("tokenizer.ggml.model".to_string(), Value::String(model.into())),
            ("tokenizer.ggml.pre".to_string(), Value::String(pre.into())),
            ("tokenizer.ggml.tokens".to_string(), strings(&self.tokens)),
            ("tokenizer.ggml.token_type".to_string(), Value::Array(self.types.iter().map(|t| Value::I32(*t)).collect())),
            ("tokenizer.ggml.add_bos_token".to_string(), Value::Bool(self.add_bos)),
        ];
        match &self.kind {
            Kind::ByteLevel { merges, .. } => out.push(("tokenizer.ggml.merges".to_string(), strings(merges))),
            Kind::SentencePiece { scores, add_space_prefix } => out.extend([
                ("tokenizer.ggml.scores".to_string(), Value::Array(scores.iter().map(|s| Value::F32(*s)).collect())),
                ("tokenizer.ggml.add_space_prefix".to_string(), Value::Bool(*add_space_prefix)),
            ]),
        }
        out
    }
}

/// The vocabulary by id with llama.cpp's types: 1 normal, 3 control (special
/// added tokens), 4 user-defined (other added tokens).
fn vocabulary(json: &Json) -> std::result::Result<(Vec<String>, Vec<i32>), String> {
    let mut by_id: HashMap<u32, (String, i32)> = HashMap::new();
    for (token, id) in json["model"]["vocab"].as_object().into_iter().flatten() {
        let id = id.as_u64().ok_or_else(|| format!("vocab entry {token:?} has no integer id"))?;
        by_id.insert(id as u32, (token.clone(), token_type::NORMAL));
    }
    for added in json["added_tokens"].as_array().into_iter().flatten() {
        let (Some(id), Some(content)) = (added["id"].as_u64(), added["content"].as_str()) else { continue };
        let ty = if added["special"].as_bool().unwrap_or(false) { token_type::CONTROL } else { token_type::USER_DEFINED };
        by_id.insert(id as u32, (content.to_string(), ty));
    }
    let n = by_id.keys().max().map_or(0, |m| *m as usize + 1);
    let (mut tokens, mut types) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for id in 0..n as u32 {
        let (t, ty) = by_id.remove(&id).ok_or_else(|| format!("token id {id} is missing from the vocabulary"))?;
        tokens.push(t);
        types.push(ty);
    }
    Ok((tokens, types))
}

/// The BPE model's merges in rank order, as pairs (written `"a b"` or `[a, b]`).
fn merges_of(model: &Json) -> std::result::Result<Vec<(String, String)>, String> {
    model["merges"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let pair = match m {
                Json::String(s) => s.split_once(' ').map(|(a, b)| (a.to_string(), b.to_string())),
                Json::Array(pair) if pair.len() == 2 => pair[0].as_str().zip(pair[1].as_str()).map(|(a, b)| (a.into(), b.into())),
                _ => None,
            };
            pair.ok_or_else(|| format!("merge {m} is neither \"a b\" nor [a, b]"))
        })
        .collect()
}

/// `<0x41>`: a byte of the byte fallback.
fn is_byte_token(token: &str) -> bool {
    token.len() == 6 && token.starts_with("<0x") && token.ends_with('>') && u8::from_str_radix(&token[3..5], 16).is_ok()
}

/// Scores under which merging by score (llama.cpp's SentencePiece tokenizer,
/// transformers' merges from scores) merges as the ranks did: a token made by
/// a merge scores minus the rank of the first merge making it; normal tokens
/// no merge makes score below all of those; control, byte and unknown tokens
/// score 0, as SentencePiece's own files have them.
fn scores_from_merges(tokens: &[String], types: &[i32], merges: &[(String, String)]) -> Vec<f32> {
    let mut first_rank: HashMap<String, usize> = HashMap::new();
    for (rank, (a, b)) in merges.iter().enumerate() {
        first_rank.entry(format!("{a}{b}")).or_insert(rank);
    }
    let unmade = -(merges.len() as f32) - 1.0;
    tokens
        .iter()
        .zip(types)
        .map(|(t, ty)| match (first_rank.get(t), *ty) {
            (Some(rank), _) => -(*rank as f32),
            (None, token_type::NORMAL | token_type::USER_DEFINED) => unmade,
            (None, _) => 0.0,
        })
        .collect()
}

/// Whether the SentencePiece-style tokenizer puts `▁` before the text
/// (`tokenizer.ggml.add_space_prefix`): a `Metaspace` pre-tokenizer that
/// prepends, or a `Prepend("▁")` normaliser. Other normalisers or
/// pre-tokenizers llama.cpp would not apply are refused.
fn space_prefix(pre: &Json, normalizer: &Json) -> std::result::Result<bool, String> {
    let mut prefix = false;
    let normalizers = match normalizer["type"].as_str() {
        None => Vec::new(),
        Some("Sequence") => normalizer["normalizers"].as_array().cloned().unwrap_or_default(),
        Some(_) => vec![normalizer.clone()],
    };
    for n in &normalizers {
        match n["type"].as_str() {
            Some("Prepend") if n["prepend"] == SPACE => prefix = true,
            Some("Replace") if n["pattern"]["String"] == " " && n["content"] == SPACE => {}
            _ => return Err(format!("its normalizer {n} is not one llama.cpp's SentencePiece tokenizer applies")),
        }
    }
    match pre["type"].as_str() {
        None => {}
        Some("Metaspace") if pre["replacement"] == SPACE => {
            let scheme = pre["prepend_scheme"].as_str();
            prefix |= matches!(scheme, Some("first" | "always")) || (scheme.is_none() && pre["add_prefix_space"] != false);
        }
        Some(_) => return Err(format!("its pre-tokenizer {pre} is not one llama.cpp's SentencePiece tokenizer applies")),
    }
    Ok(prefix)
}

/// The `tokenizer.ggml.pre` of a byte-level pre-tokenizer: GPT-2's split,
/// Llama 3's or Qwen2's (the inverse of the importer's mapping).
fn pre_of(pre: &Json, normalizer: &Json) -> Option<&'static str> {
    if pre["type"] == "ByteLevel" && pre["use_regex"] != false && normalizer.is_null() {
        return Some("gpt-2");
    }
    let seq = pre["pretokenizers"].as_array()?;
    let regex = match seq.as_slice() {
        [split, byte_level] if split["type"] == "Split" && byte_level["type"] == "ByteLevel" => split["pattern"]["Regex"].as_str()?,
        _ => return None,
    };
    if !normalizer.is_null() {
        return None;
    }
    match regex {
        r if r == super::tokenizer::LLAMA3_SPLIT => Some("llama-bpe"),
        r if r == super::tokenizer::QWEN2_SPLIT => Some("qwen2"),
        _ => None,
    }
}
