//! Exporting a model as a GGUF file for llama.cpp (and Ollama, LM Studio):
//! the `{arch}.*` metadata llama.cpp's converter writes, the byte-level BPE
//! tokenizer of `tokenizer.json` with the chat template, and every tensor
//! under llama.cpp's name (Llama's and Mistral's q/k rows permuted as its
//! converter does), written with candle's GGUF writer. Norms and biases stay
//! F32; matrices become F16 or Q8_0 (a matrix whose rows do not split into
//! Q8_0's 32-value blocks stays F16, as llama.cpp does).

use std::collections::HashMap;
use std::path::Path;

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device};
use serde::Serialize;
use serde_json::Value as Json;

use super::tensors::{gguf_name, permute, permuted_heads, type_name};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::model::progress::{Cancellable, Progress};
use crate::model::rope_scaling::RopeScaling;

/// The tensor type of the exported matrices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportType {
    /// Half precision (llama.cpp `MOSTLY_F16`).
    F16,
    /// 8-bit blocks of 32 with an f16 scale (llama.cpp `MOSTLY_Q8_0`).
    Q8_0,
}

impl ExportType {
    fn ggml(self) -> GgmlDType {
        match self {
            Self::F16 => GgmlDType::F16,
            Self::Q8_0 => GgmlDType::Q8_0,
        }
    }

    /// llama.cpp's `general.file_type`.
    fn file_type(self) -> u32 {
        match self {
            Self::F16 => 1,
            Self::Q8_0 => 7,
        }
    }
}

/// What an export wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    /// `general.architecture` written (`llama`, `qwen2`, `qwen3`).
    pub architecture: String,
    /// Tensors per type (`Q8_0`: 211, `F32`: 61).
    pub tensor_types: std::collections::BTreeMap<String, usize>,
    /// Tokens in the vocabulary written.
    pub vocab_size: usize,
    /// `tokenizer.ggml.pre` written.
    pub pre_tokenizer: String,
    /// Whether a chat template was written.
    pub chat_template: bool,
    /// Size of the file in bytes.
    pub bytes: u64,
}

/// A GGUF export to run as a job (the facade's `Job::ExportGguf`): a model
/// directory, or an adapter merged into its base in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportRequest {
    /// The model directory (the base, when an adapter is merged); its tokenizer is written too.
    pub model: std::path::PathBuf,
    /// A LoRA adapter to merge into `model` first.
    pub adapter: Option<std::path::PathBuf>,
    /// The GGUF file to write.
    pub out: std::path::PathBuf,
    /// The matrices' type.
    pub ty: ExportType,
}

impl ExportRequest {
    /// Exports, telling `progress` each tensor; stops when `cancel` is set (nothing written).
    pub fn run(&self, cancel: &crate::cancel::CancelFlag, progress: impl FnMut(usize, usize)) -> Result<ExportReport> {
        let progress = Cancellable { cancel, progress };
        match &self.adapter {
            Some(adapter) => {
                let mut model = crate::model::merge::merged(&self.model, adapter)?;
                export_model(&mut model, &self.model, &self.out, self.ty, progress)
            }
            None => export(&self.model, &self.out, self.ty, progress),
        }
    }
}

/// Loads the model directory `model_dir` (f32) and exports it to `out` (see [`export_model`]).
pub fn export(model_dir: &Path, out: &Path, ty: ExportType, progress: impl Progress) -> Result<ExportReport> {
    let mut model = Model::load(model_dir, DType::F32, &Device::Cpu)?;
    export_model(&mut model, model_dir, out, ty, progress)
}

/// Writes `model` (f32 weights; a merged fine-tune, for instance) to the GGUF
/// file `out`, atomically, with the tokenizer and chat template of
/// `tokenizer_dir`. `progress` follows the tensors (and may stop the export,
/// which then writes nothing).
pub fn export_model(
    model: &mut Model,
    tokenizer_dir: &Path,
    out: &Path,
    ty: ExportType,
    mut progress: impl Progress,
) -> Result<ExportReport> {
    let config = model.config.clone();
    let unsupported = |m: String| Error::model(tokenizer_dir.join("config.json"), m);
    let Some(gguf) = &config.family().gguf else {
        return Err(unsupported(format!(
            "the GGUF export of {} models is not written yet; use the model directory itself (transformers, vLLM, `workbench serve`)",
            config.model_type
        )));
    };
    let arch = gguf.arch;
    if config.rope_scaling().map_err(unsupported)? != RopeScaling::Default {
        return Err(unsupported("the GGUF export of a model with RoPE scaling is not supported yet".into()));
    }
    if (0..config.num_hidden_layers).any(|i| config.layer_window(i).is_some()) {
        return Err(unsupported("the GGUF export of a sliding-window model is not supported yet".into()));
    }
    let tok = TokenizerMeta::read(tokenizer_dir)?;
    if tok.tokens.len() > config.vocab_size {
        return Err(unsupported(format!(
            "tokenizer.json has {} tokens but vocab_size is {}; the tokenizer does not belong to this model",
            tok.tokens.len(),
            config.vocab_size
        )));
    }
    let template = crate::chat::template::model_template_source(tokenizer_dir)?;

    let u32v = |n: usize| Value::U32(n as u32);
    let key = |k: &str| format!("{arch}.{k}");
    let strings = |v: &[String]| Value::Array(v.iter().map(|s| Value::String(s.clone())).collect());
    let mut metadata: Vec<(String, Value)> = vec![
        ("general.architecture".into(), Value::String(arch.into())),
        ("general.name".into(), Value::String(name_of(tokenizer_dir))),
        ("general.file_type".into(), Value::U32(ty.file_type())),
        ("general.quantization_version".into(), Value::U32(2)),
        (key("block_count"), u32v(config.num_hidden_layers)),
        (key("context_length"), u32v(config.max_position_embeddings)),
        (key("embedding_length"), u32v(config.hidden_size)),
        (key("feed_forward_length"), u32v(config.intermediate_size)),
        (key("attention.head_count"), u32v(config.num_attention_heads)),
        (key("attention.head_count_kv"), u32v(config.kv_heads())),
        (key("attention.key_length"), u32v(config.head_dim())),
        (key("attention.value_length"), u32v(config.head_dim())),
        (key("rope.dimension_count"), u32v(config.head_dim())),
        (key("rope.freq_base"), Value::F32(config.rope_theta as f32)),
        (key("attention.layer_norm_rms_epsilon"), Value::F32(config.rms_norm_eps as f32)),
        (key("vocab_size"), u32v(config.vocab_size)),
        ("tokenizer.ggml.model".into(), Value::String("gpt2".into())),
        ("tokenizer.ggml.pre".into(), Value::String(tok.pre.into())),
        ("tokenizer.ggml.tokens".into(), strings(&tok.tokens)),
        ("tokenizer.ggml.token_type".into(), Value::Array(tok.types.iter().map(|t| Value::I32(*t)).collect())),
        ("tokenizer.ggml.merges".into(), strings(&tok.merges)),
        ("tokenizer.ggml.add_bos_token".into(), Value::Bool(tok.add_bos)),
    ];
    let ids = [
        ("tokenizer.ggml.bos_token_id", config.bos_token_id.or(tok.special_id("bos_token"))),
        ("tokenizer.ggml.eos_token_id", config.eos_token_id.or(tok.special_id("eos_token"))),
        ("tokenizer.ggml.unknown_token_id", tok.special_id("unk_token")),
        ("tokenizer.ggml.padding_token_id", tok.special_id("pad_token")),
    ];
    for (k, id) in ids {
        if let Some(id) = id {
            metadata.push((k.into(), Value::U32(id)));
        }
    }
    if let Some(t) = &template {
        metadata.push(("tokenizer.chat_template".into(), Value::String(t.clone())));
    }

    model.full_precision("export the model")?;
    let mut tensors: Vec<(String, candle_core::Tensor)> = model.hf_tensors()?.into_iter().collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let total = tensors.len();
    let mut qtensors = Vec::with_capacity(total);
    let mut types = std::collections::BTreeMap::new();
    for (i, (hf, t)) in tensors.into_iter().enumerate() {
        let name = gguf_name(&hf).ok_or_else(|| Error::Other(format!("tensor {hf} has no GGUF name")))?;
        let t = match permuted_heads(&config, &hf) {
            Some(heads) => permute(&t, heads)?,
            None => t,
        }
        .to_dtype(DType::F32)?;
        let kind = if t.rank() == 1 {
            GgmlDType::F32
        } else if t.dim(1)? % ty.ggml().block_size() == 0 {
            ty.ggml()
        } else {
            GgmlDType::F16
        };
        *types.entry(type_name(kind).to_string()).or_insert(0) += 1;
        qtensors.push((name, QTensor::quantize(&t, kind)?));
        progress.step(i + 1, total)?;
    }
    let md: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let ts: Vec<(&str, &QTensor)> = qtensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut bytes = std::io::Cursor::new(Vec::new());
    gguf_file::write(&mut bytes, &md, &ts)?;
    let bytes = bytes.into_inner();
    crate::atomic::write(out, &bytes)?;
    Ok(ExportReport {
        architecture: arch.into(),
        tensor_types: types,
        vocab_size: tok.tokens.len(),
        pre_tokenizer: tok.pre.into(),
        chat_template: template.is_some(),
        bytes: bytes.len() as u64,
    })
}

/// The model's name: its directory's.
fn name_of(dir: &Path) -> String {
    dir.canonicalize().ok().and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned())).unwrap_or_else(|| "model".into())
}

/// What `tokenizer.json` and `tokenizer_config.json` give the GGUF metadata.
struct TokenizerMeta {
    /// Every token by id, spelled in the byte alphabet (added tokens as their text).
    tokens: Vec<String>,
    /// llama.cpp token types: 1 normal, 3 control (special added), 4 user-defined (other added).
    types: Vec<i32>,
    /// `"a b"` merges in rank order.
    merges: Vec<String>,
    /// The `tokenizer.ggml.pre` whose split this tokenizer uses.
    pre: &'static str,
    /// Whether a BOS token is prepended (`add_bos_token`).
    add_bos: bool,
    /// `tokenizer_config.json` special token names by key (`eos_token`).
    specials: HashMap<String, String>,
}

impl TokenizerMeta {
    fn read(dir: &Path) -> Result<Self> {
        let path = dir.join("tokenizer.json");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let json: Json = serde_json::from_str(&text).map_err(|e| Error::model(&path, format!("invalid JSON: {e}")))?;
        let refuse = |what: String| {
            Error::model(
                &path,
                format!(
                    "{what}; the GGUF export writes byte-level BPE tokenizers (SmolLM2, Llama 3, Qwen2 and the sample model have one), \
SentencePiece-style ones are not exported yet"
                ),
            )
        };
        let model = &json["model"];
        if model["type"] != "BPE" || json["decoder"]["type"] != "ByteLevel" {
            return Err(refuse(format!("the tokenizer is a {} model with a {} decoder", model["type"], json["decoder"]["type"])));
        }
        let pre = pre_of(&json["pre_tokenizer"], &json["normalizer"])
            .ok_or_else(|| refuse(format!("its pre-tokenizer {} is not one llama.cpp knows", json["pre_tokenizer"])))?;

        let mut by_id: HashMap<u32, (String, i32)> = HashMap::new();
        for (token, id) in model["vocab"].as_object().into_iter().flatten() {
            let id = id.as_u64().ok_or_else(|| refuse(format!("vocab entry {token:?} has no integer id")))?;
            by_id.insert(id as u32, (token.clone(), 1));
        }
        for added in json["added_tokens"].as_array().into_iter().flatten() {
            let (Some(id), Some(content)) = (added["id"].as_u64(), added["content"].as_str()) else { continue };
            let ty = if added["special"].as_bool().unwrap_or(false) { 3 } else { 4 };
            by_id.insert(id as u32, (content.to_string(), ty));
        }
        let n = by_id.keys().max().map_or(0, |m| *m as usize + 1);
        let mut tokens = Vec::with_capacity(n);
        let mut types = Vec::with_capacity(n);
        for id in 0..n as u32 {
            let (t, ty) = by_id.remove(&id).ok_or_else(|| refuse(format!("token id {id} is missing from the vocabulary")))?;
            tokens.push(t);
            types.push(ty);
        }
        let merges = model["merges"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| match m {
                Json::String(s) => Ok(s.clone()),
                Json::Array(pair) if pair.len() == 2 => {
                    Ok(format!("{} {}", pair[0].as_str().unwrap_or(""), pair[1].as_str().unwrap_or("")))
                }
                other => Err(refuse(format!("merge {other} is neither \"a b\" nor [a, b]"))),
            })
            .collect::<Result<Vec<_>>>()?;

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
        Ok(Self { tokens, types, merges, pre, add_bos: cfg["add_bos_token"].as_bool().unwrap_or(false), specials })
    }

    /// The id of the special token `tokenizer_config.json` names under `key`.
    fn special_id(&self, key: &str) -> Option<u32> {
        let text = self.specials.get(key)?;
        self.tokens.iter().position(|t| t == text).map(|i| i as u32)
    }
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

#[cfg(test)]
mod tests {
    use candle_core::Tensor;

    use super::super::fixture::{self, Fixture};
    use super::super::import;
    use super::*;
    use crate::model::testing::max_diff;
    use crate::model::{ModelConfig, Pass};

    /// A fixture GGUF imported as a model directory: (temp dir, model dir).
    fn imported(fx: &Fixture) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let gguf = dir.path().join("src.gguf");
        fixture::write(&gguf, fx).unwrap();
        let out = dir.path().join("model");
        import(&gguf, &out, DType::F32, |_, _| {}).unwrap();
        (dir, out)
    }

    fn logits(dir: &Path) -> Tensor {
        let ids = Tensor::new(&[[1u32, 40, 77, 200, 3, 9, 261, 2]], &Device::Cpu).unwrap();
        Model::load(dir, DType::F32, &Device::Cpu).unwrap().forward(&ids, Pass::Eval).unwrap()
    }

    /// Exports the imported fixture as `ty`, imports the export again: the
    /// same config, tokenizer, template, and logits within `tolerance` of
    /// the largest logit.
    fn assert_round_trip(fx: &Fixture, ty: ExportType, tolerance: f64) -> ExportReport {
        let (dir, model_dir) = imported(fx);
        let file = dir.path().join("out.gguf");
        let mut seen = 0;
        let report = export(&model_dir, &file, ty, |done, _| seen = done).unwrap();
        assert_eq!(std::fs::metadata(&file).unwrap().len(), report.bytes);
        let back = dir.path().join("back");
        import(&file, &back, DType::F32, |_, _| {}).unwrap();
        let (a, b) = (ModelConfig::load(&model_dir).unwrap(), ModelConfig::load(&back).unwrap());
        assert_eq!(
            (a.model_type.as_str(), a.head_dim(), a.kv_heads(), a.tie_word_embeddings),
            (b.model_type.as_str(), b.head_dim(), b.kv_heads(), b.tie_word_embeddings)
        );
        let want = logits(&model_dir);
        let d = max_diff(&logits(&back), &want);
        let largest = want.abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap() as f64;
        assert!(d <= tolerance * largest, "{ty:?}: logits differ by {d} (largest {largest})");
        let (ta, tb) = (crate::model::tokenizer::load(&model_dir, &a).unwrap(), crate::model::tokenizer::load(&back, &b).unwrap());
        for text in ["Hello world café 12345", "<|im_start|>user\nHi<|im_end|>\n", "naïve 日本語 🙂  spaces"] {
            assert_eq!(ta.encode(text, false).unwrap().get_ids(), tb.encode(text, false).unwrap().get_ids(), "{text:?}");
        }
        let template = |d: &Path| crate::chat::template::model_template_source(d).unwrap();
        assert_eq!(template(&back), template(&model_dir));
        assert_eq!(seen, report.tensor_types.values().sum::<usize>());
        report
    }

    #[test]
    fn f16_export_imports_back_with_the_same_model_and_tokenizer() {
        let r = assert_round_trip(&Fixture { tied: true, head_dim: 16, ..Fixture::default() }, ExportType::F16, 2e-3);
        assert_eq!((r.architecture.as_str(), r.pre_tokenizer.as_str()), ("llama", "gpt-2"));
        assert_eq!(r.tensor_types.get("F16"), Some(&(2 * 7 + 1)));
        assert!(r.chat_template);
    }

    #[test]
    fn q8_0_export_of_qwen2_keeps_biases_in_f32() {
        let r = assert_round_trip(&Fixture { architecture: "qwen2".into(), ..Fixture::default() }, ExportType::Q8_0, 0.02);
        assert_eq!((r.architecture.as_str(), r.pre_tokenizer.as_str()), ("qwen2", "qwen2"));
        assert_eq!(r.tensor_types.get("Q8_0"), Some(&(2 * 7 + 2)));
        assert_eq!(r.tensor_types.get("F32"), Some(&(2 * 2 + 1 + 2 * 3)));
    }

    /// Qwen3: its q/k norms as `attn_q_norm` / `attn_k_norm` in F32, q/k rows not permuted.
    #[test]
    fn f16_export_of_qwen3_keeps_its_q_k_norms() {
        let r = assert_round_trip(&Fixture { architecture: "qwen3".into(), head_dim: 16, ..Fixture::default() }, ExportType::F16, 2e-3);
        assert_eq!(r.architecture, "qwen3");
        assert_eq!(r.tensor_types.get("F32"), Some(&(2 * 2 + 1 + 2 * 2)));
    }

    #[test]
    fn a_tokenizer_that_is_not_byte_level_bpe_is_refused_by_name() {
        let (dir, model_dir) = imported(&Fixture::default());
        let path = model_dir.join("tokenizer.json");
        let text = std::fs::read_to_string(&path).unwrap();
        let mut json: Json = serde_json::from_str(&text).unwrap();
        json["decoder"] = serde_json::json!({"type": "Metaspace", "replacement": "▁"});
        std::fs::write(&path, json.to_string()).unwrap();
        let file = dir.path().join("out.gguf");
        let err = export(&model_dir, &file, ExportType::F16, |_, _| {}).unwrap_err().to_string();
        assert!(err.contains("tokenizer.json") && err.contains("Metaspace") && err.contains("SentencePiece"), "{err}");
        assert!(!file.exists());
    }
}
