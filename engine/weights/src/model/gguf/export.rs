//! Exporting a model as a GGUF file for llama.cpp (and Ollama, LM Studio):
//! the `{arch}.*` metadata llama.cpp's converter writes (RoPE base, width and
//! scaling, sliding windows and their pattern, soft caps), the tokenizer of
//! `tokenizer.json` (`vocab_export`) with the chat template, and every tensor
//! under llama.cpp's name, changed as its converter changes it (Llama's and
//! Mistral's q/k rows permuted, Gemma's norms stored as `1 + w`, Phi-3's
//! longrope factors as tensors), written with candle's GGUF writer. Norms and
//! biases stay F32; matrices become F16 or Q8_0 (a matrix whose rows do not
//! split into Q8_0's 32-value blocks stays F16, as llama.cpp does). What
//! llama.cpp would compute differently (a RoPE or window layout its files
//! cannot say, an attention scale it does not read) is refused by name.

use std::path::Path;

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device};
use serde::Serialize;

use super::tensors::{
    LongRopeFactors, ROPE_FACTORS_LONG, ROPE_FACTORS_SHORT, gguf_name, permute, permuted_heads, stored_offset, type_name,
};
use super::vocab_export::TokenizerMeta;
use crate::error::{Error, Result};
use crate::model::arch::Gguf;
use crate::model::progress::{Cancellable, Progress};
use crate::model::rope_scaling::RopeScaling;
use crate::model::{Model, ModelConfig};

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
    /// `tokenizer.ggml.model` written: `gpt2` (byte-level BPE) or `llama` (SentencePiece-style).
    pub tokenizer_model: String,
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
    let family = config.family();
    let unsupported = |m: String| Error::model(tokenizer_dir.join("config.json"), m);
    let Some(gguf) = &family.gguf else {
        return Err(unsupported(format!(
            "the GGUF export of {} models is not written yet; use the model directory itself (transformers, vLLM, `workbench serve`)",
            config.model_type
        )));
    };
    let arch = gguf.arch;
    let key = |k: &str| format!("{arch}.{k}");
    let (rope, rope_factors) = rope_metadata(&config, gguf, &key).map_err(unsupported)?;
    let windows = window_metadata(&config, gguf, &key).map_err(unsupported)?;
    let attention = attention_metadata(&config, gguf, &key).map_err(unsupported)?;
    if gguf.tied_only && !config.tie_word_embeddings {
        return Err(unsupported(format!(
            "the output layer is not the embedding matrix, and llama.cpp's {arch} reads no output layer of its own"
        )));
    }
    let tok = TokenizerMeta::read(tokenizer_dir)?;
    if tok.len() > config.vocab_size {
        return Err(unsupported(format!(
            "tokenizer.json has {} tokens but vocab_size is {}; the tokenizer does not belong to this model",
            tok.len(),
            config.vocab_size
        )));
    }
    let template = crate::chat::template::model_template_source(tokenizer_dir)?;

    let u32v = |n: usize| Value::U32(n as u32);
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
        (key("attention.layer_norm_rms_epsilon"), Value::F32(config.rms_norm_eps as f32)),
        (key("vocab_size"), u32v(config.vocab_size)),
    ];
    metadata.extend(tok.metadata());
    metadata.extend(rope.into_iter().chain(windows).chain(attention));
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
    let mut tensors = Vec::new();
    for (hf, t) in model.hf_tensors()? {
        let name = gguf_name(family, &hf).ok_or_else(|| Error::Other(format!("tensor {hf} has no GGUF name")))?;
        let t = match permuted_heads(&config, &hf) {
            Some(heads) => permute(&t, heads)?,
            None => t,
        }
        .to_dtype(DType::F32)?;
        let offset = stored_offset(family, &hf);
        tensors.push((name, if offset != 0.0 { (t + offset)? } else { t }));
    }
    if let Some((short, long)) = rope_factors {
        for (name, factors) in [(ROPE_FACTORS_SHORT, short), (ROPE_FACTORS_LONG, long)] {
            let values: Vec<f32> = factors.iter().map(|f| *f as f32).collect();
            tensors.push((name.to_string(), candle_core::Tensor::new(values, &Device::Cpu)?));
        }
    }
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let total = tensors.len();
    let mut qtensors = Vec::with_capacity(total);
    let mut types = std::collections::BTreeMap::new();
    for (i, (name, t)) in tensors.into_iter().enumerate() {
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
        vocab_size: tok.len(),
        tokenizer_model: tok.model_and_pre().0.into(),
        pre_tokenizer: tok.model_and_pre().1.into(),
        chat_template: template.is_some(),
        bytes: bytes.len() as u64,
    })
}

/// Metadata entries, in the order they are written.
type Entries = Vec<(String, Value)>;

/// The RoPE keys llama.cpp reads for `config` (width, base, scaling, the
/// sliding-window layers' own base), and longrope's short and long factors,
/// which are written as tensors. A file has one RoPE for the full-attention
/// layers and, where the architecture has one, another for the sliding ones;
/// llama.cpp scales only the former.
fn rope_metadata(
    config: &ModelConfig,
    gguf: &Gguf,
    key: &dyn Fn(&str) -> String,
) -> std::result::Result<(Entries, Option<LongRopeFactors>), String> {
    let own_sliding = gguf.sliding_rope_base.is_some();
    // The first layer of each kind with its RoPE base and scaling.
    type FirstLayer = Option<(usize, (f64, RopeScaling))>;
    let (mut full, mut sliding): (FirstLayer, FirstLayer) = (None, None);
    for layer in 0..config.num_hidden_layers {
        let params = config.layer_rope_parameters(layer)?;
        let slot = if own_sliding && config.layer_window(layer).is_some() { &mut sliding } else { &mut full };
        match slot {
            Some((first, p)) if *p != params => {
                return Err(format!("layers {first} and {layer} have different RoPE, which one GGUF file cannot say"));
            }
            Some(_) => {}
            None => *slot = Some((layer, params)),
        }
    }
    let (layer, (theta, scaling)) = full.unwrap_or((0, (config.rope_theta, RopeScaling::Default)));
    let mut out =
        vec![(key("rope.dimension_count"), Value::U32(config.rotary_dim() as u32)), (key("rope.freq_base"), Value::F32(theta as f32))];
    let mut factors = None;
    match scaling {
        RopeScaling::Default => {}
        RopeScaling::Linear { factor } => {
            out.push((key("rope.scaling.type"), Value::String("linear".into())));
            out.push((key("rope.scaling.factor"), Value::F32(factor as f32)));
        }
        RopeScaling::LongRope { short_factor, long_factor, .. } => {
            let tables = config.layer_rope(layer)?;
            out.push((key("rope.scaling.original_context_length"), Value::U32(tables.positions as u32)));
            out.push((key("rope.scaling.attn_factor"), Value::F32(tables.scale)));
            factors = Some((short_factor, long_factor));
        }
        other => return Err(format!("the GGUF export of RoPE scaling {other:?} is not written yet (default, linear and longrope are)")),
    }
    if let Some((_, (theta, scaling))) = sliding {
        if scaling != RopeScaling::Default {
            return Err("the sliding-window layers' RoPE is scaled, and llama.cpp scales only the full-attention layers'".into());
        }
        out.push((key("rope.freq_base_swa"), Value::F32(theta as f32)));
    }
    Ok((out, factors))
}

/// The sliding-window keys: the window, and the pattern of the layers that
/// use it where it is not the architecture's own (all but every `n`-th layer
/// slide; 0: every layer).
fn window_metadata(config: &ModelConfig, gguf: &Gguf, key: &dyn Fn(&str) -> String) -> std::result::Result<Entries, String> {
    let windows: Vec<Option<usize>> = (0..config.num_hidden_layers).map(|layer| config.layer_window(layer)).collect();
    let Some(default) = gguf.sliding_pattern else {
        return match windows.iter().flatten().next() {
            Some(_) => Err(format!("llama.cpp's {} has no sliding-window attention, which this model uses", gguf.arch)),
            None => Ok(Vec::new()),
        };
    };
    let Some(window) = windows.iter().flatten().next().copied() else {
        return match default {
            0 => Ok(vec![(key("attention.sliding_window"), Value::U32(0))]),
            _ => Err(format!("llama.cpp's {} always has sliding-window layers, which this model does not", gguf.arch)),
        };
    };
    if windows.iter().flatten().any(|w| *w != window) {
        return Err("the layers' sliding windows differ in width, which one GGUF file cannot say".into());
    }
    let slides = |n: usize, layer: usize| n == 0 || layer % n < n - 1;
    let fits = |n: usize| windows.iter().enumerate().all(|(layer, w)| w.is_some() == slides(n, layer));
    let pattern = std::iter::once(default)
        .chain((0..=windows.len()).filter(|n| *n != 1))
        .find(|n| fits(*n))
        .ok_or("the sliding-window layers follow no period (all but every n-th layer), which is all a GGUF file can say")?;
    let mut out = vec![(key("attention.sliding_window"), Value::U32(window as u32))];
    if pattern != default {
        out.push((key("attention.sliding_window_pattern"), Value::U32(pattern as u32)));
    }
    Ok(out)
}

/// The attention keys: the soft caps where the model has them. llama.cpp
/// reads no `query_pre_attn_scalar`: it scales by `head_dim^-1/2`, or by
/// `(hidden / heads)^-1/2` at the layer counts of its 27B rule, so a model
/// scaled otherwise is refused.
fn attention_metadata(config: &ModelConfig, gguf: &Gguf, key: &dyn Fn(&str) -> String) -> std::result::Result<Entries, String> {
    let layers = config.num_hidden_layers;
    let width = config.hidden_size / config.num_attention_heads;
    let llama_cpp = if gguf.wide_query_scale_layers.contains(&layers) { width } else { config.head_dim() } as f64;
    let scalar = config.query_pre_attn_scalar.unwrap_or(config.head_dim() as f64);
    if scalar != llama_cpp {
        return Err(format!(
            "query_pre_attn_scalar is {scalar}, but llama.cpp scales the attention of a {layers}-layer {} model by {llama_cpp}^-1/2; \
the file would compute another model",
            gguf.arch
        ));
    }
    let caps = [("attn_logit_softcapping", config.attn_logit_softcapping), ("final_logit_softcapping", config.final_logit_softcapping)];
    Ok(caps.into_iter().filter_map(|(name, cap)| cap.map(|c| (key(name), Value::F32(c as f32)))).collect())
}

/// The model's name: its directory's.
fn name_of(dir: &Path) -> String {
    dir.canonicalize().ok().and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned())).unwrap_or_else(|| "model".into())
}

#[cfg(test)]
mod tests {
    use candle_core::Tensor;

    use std::path::PathBuf;

    use candle_core::quantized::gguf_file::Content;
    use serde_json::Value as Json;

    use super::super::fixture::{self, Fixture};
    use super::super::import;
    use super::*;
    use crate::model::Pass;
    use crate::model::testing::max_diff;

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
    fn a_tokenizer_llama_cpp_cannot_rebuild_is_refused_by_name() {
        let refused = |fx: Fixture, edit: &dyn Fn(&mut Json)| {
            let (dir, model_dir) = imported(&fx);
            let path = model_dir.join("tokenizer.json");
            let mut json: Json = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            edit(&mut json);
            std::fs::write(&path, json.to_string()).unwrap();
            let file = dir.path().join("out.gguf");
            let err = export(&model_dir, &file, ExportType::F16, |_, _| {}).unwrap_err().to_string();
            assert!(!file.exists());
            assert!(err.contains("tokenizer.json") && err.contains("SentencePiece"), "{err}");
            err
        };
        // A byte-level vocabulary with a SentencePiece decoder.
        let err = refused(Fixture::default(), &|t| t["decoder"] = serde_json::json!({"type": "Metaspace", "replacement": "▁"}));
        assert!(err.contains("Metaspace"), "{err}");
        // A SentencePiece vocabulary normalised in a way llama.cpp does not.
        let err =
            refused(Fixture { sentencepiece: true, ..Fixture::default() }, &|t| t["normalizer"] = serde_json::json!({"type": "NFKC"}));
        assert!(err.contains("NFKC") && err.contains("normalizer"), "{err}");
    }

    /// Texts whose ids a tokenizer written to GGUF and read back must keep.
    const SENTENCEPIECE_TEXTS: [&str; 5] =
        ["Hello world", "  Hello the world", "[INST] Hello [/INST]", "héllo ☃", "the world\nHello\tthe  end "];

    /// The ids of `texts` (BOS added where the tokenizer adds one) under the tokenizer of `dir`.
    fn ids(dir: &Path, texts: &[&str]) -> Vec<Vec<u32>> {
        let tok = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).unwrap();
        texts.iter().map(|t| tok.encode(*t, true).unwrap().get_ids().to_vec()).collect()
    }

    /// A SentencePiece-style tokenizer (Mistral's, Llama 2's, Phi-3's) is
    /// written as llama.cpp's `llama` model: the same tokens and types, scores
    /// under which merging by score merges as the ranks did (the merges read
    /// back are the same, in the same order), the space prefix; and it
    /// tokenises as before once read back.
    #[test]
    fn a_sentencepiece_tokenizer_is_exported_with_scores_that_keep_its_merges() {
        let fx = Fixture { sentencepiece: true, ..Fixture::default() };
        let r = assert_round_trip(&fx, ExportType::F16, 2e-3);
        assert_eq!((r.tokenizer_model.as_str(), r.pre_tokenizer.as_str()), ("llama", "default"));
        let (dir, model_dir) = imported(&fx);
        let (file, content) = export_f16(&model_dir);
        let md = &content.metadata;
        let (tokens, _, types) = fixture::sentencepiece_vocab();
        let strings: Vec<String> = md["tokenizer.ggml.tokens"].to_vec().unwrap().iter().map(|v| v.to_string().unwrap().clone()).collect();
        assert_eq!(strings, tokens);
        let got_types: Vec<i32> = md["tokenizer.ggml.token_type"].to_vec().unwrap().iter().map(|v| v.to_i32().unwrap()).collect();
        assert_eq!(got_types, types, "unknown 2, control 3, byte 6, normal 1");
        assert!(md["tokenizer.ggml.add_space_prefix"].to_bool().unwrap());
        assert!(!md.contains_key("tokenizer.ggml.merges"));
        let back = dir.path().join("back-again");
        import(&file, &back, DType::F32, |_, _| {}).unwrap();
        let merges = |d: &Path| -> Json {
            let tok: Json = serde_json::from_str(&std::fs::read_to_string(d.join("tokenizer.json")).unwrap()).unwrap();
            tok["model"]["merges"].clone()
        };
        assert!(merges(&model_dir).as_array().is_some_and(|m| !m.is_empty()));
        assert_eq!(merges(&back), merges(&model_dir));
        assert_eq!(ids(&back, &SENTENCEPIECE_TEXTS), ids(&model_dir, &SENTENCEPIECE_TEXTS));
    }

    /// Exports `model_dir` after `edit` of its SentencePiece-style
    /// tokenizer.json and imports it back: (add_space_prefix written, the
    /// edited tokenizer's ids of `texts`, the read-back one's).
    fn sentencepiece_variant(texts: &[&str], edit: impl FnOnce(&mut Json)) -> (bool, Vec<Vec<u32>>, Vec<Vec<u32>>) {
        let (dir, model_dir) = imported(&Fixture { sentencepiece: true, ..Fixture::default() });
        let path = model_dir.join("tokenizer.json");
        let mut json: Json = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        edit(&mut json);
        std::fs::write(&path, json.to_string()).unwrap();
        let (file, content) = export_f16(&model_dir);
        let back = dir.path().join("back");
        import(&file, &back, DType::F32, |_, _| {}).unwrap();
        let prefix = content.metadata["tokenizer.ggml.add_space_prefix"].to_bool().unwrap();
        (prefix, ids(&model_dir, texts), ids(&back, texts))
    }

    /// Gemma's tokenizer puts no `▁` before the text (its normaliser only
    /// replaces spaces): written as `add_space_prefix = false`, and read back
    /// without the prefix. Llama 2's older form (a `Prepend` normaliser, no
    /// pre-tokenizer) has the prefix; it is read back as transformers reads a
    /// GGUF file (`▁` before the first word unless the text starts with a
    /// space, none after a special token), so only such texts keep their ids.
    #[test]
    fn the_space_prefix_of_a_sentencepiece_tokenizer_survives_the_round_trip() {
        let replace = serde_json::json!({"type": "Replace", "pattern": {"String": " "}, "content": "▁"});
        let (prefix, want, got) = sentencepiece_variant(&SENTENCEPIECE_TEXTS, |t| {
            t["pre_tokenizer"] = Json::Null;
            t["normalizer"] = replace.clone();
            t["decoder"]["decoders"].as_array_mut().unwrap().retain(|d| d["type"] != "Strip");
        });
        assert!(!prefix);
        assert_eq!(got, want);
        assert_eq!(want[0][1], 263, "without the prefix \"Hello\" starts with \"H\", not the piece \"▁Hello\"");
        let texts = ["Hello world", "héllo ☃", "the world\nHello\tthe  end "];
        let (prefix, want, got) = sentencepiece_variant(&texts, |t| {
            t["pre_tokenizer"] = Json::Null;
            t["normalizer"] = serde_json::json!({"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"}, replace]});
        });
        assert!(prefix);
        assert_eq!(got, want);
        assert_eq!(want[0], [1, 273, 278]);
    }

    /// A transformers-made tiny model of the engine's tests
    /// (`engine/tests/fixtures/NAME`) with `edit` applied to its config.json,
    /// and the fixture's byte-level tokenizer cut to its vocabulary: (temp dir, model dir).
    fn transformers_model(name: &str, edit: impl FnOnce(&mut Json)) -> (tempfile::TempDir, PathBuf) {
        let (dir, tokenizer_dir) = imported(&Fixture::default());
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures").join(name);
        let model_dir = dir.path().join(name);
        std::fs::create_dir(&model_dir).unwrap();
        std::fs::copy(src.join("model.safetensors"), model_dir.join("model.safetensors")).unwrap();
        let read = |p: PathBuf| -> Json { serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap() };
        let mut config = read(src.join("config.json"));
        edit(&mut config);
        std::fs::write(model_dir.join("config.json"), config.to_string()).unwrap();
        let vocab = config["vocab_size"].as_u64().unwrap();
        let mut tok = read(tokenizer_dir.join("tokenizer.json"));
        tok["model"]["vocab"].as_object_mut().unwrap().retain(|_, id| id.as_u64().unwrap() < vocab);
        tok["model"]["merges"] = serde_json::json!([]);
        tok["added_tokens"].as_array_mut().unwrap().retain(|t| t["id"].as_u64().unwrap() < vocab);
        std::fs::write(model_dir.join("tokenizer.json"), tok.to_string()).unwrap();
        std::fs::copy(tokenizer_dir.join("tokenizer_config.json"), model_dir.join("tokenizer_config.json")).unwrap();
        (dir, model_dir)
    }

    /// Exports `model_dir` as F16 to `NAME.gguf` beside it; returns the file and what it holds.
    fn export_f16(model_dir: &Path) -> (PathBuf, Content) {
        let file = model_dir.with_extension("gguf");
        export(model_dir, &file, ExportType::F16, |_, _| {}).unwrap();
        let content = Content::read(&mut std::fs::File::open(&file).unwrap()).unwrap();
        (file, content)
    }

    /// Tensor `name` of the GGUF `file` as f32.
    fn gguf_tensor(file: &Path, content: &Content, name: &str) -> Tensor {
        let mut f = std::fs::File::open(file).unwrap();
        content.tensor(&mut f, name, &Device::Cpu).unwrap().dequantize(&Device::Cpu).unwrap()
    }

    /// Tensor `name` of the model directory's safetensors.
    fn hf_tensor(model_dir: &Path, name: &str) -> Tensor {
        candle_core::safetensors::load(model_dir.join("model.safetensors"), &Device::Cpu).unwrap()[name].to_dtype(DType::F32).unwrap()
    }

    /// The GGUF `file` imported back computes what `model_dir` computes: on
    /// every layer the same window and RoPE tables, the same rotary width,
    /// attention scale, soft caps and activation; every tensor the checkpoint's
    /// (its matrices rounded to F16, as exported); and logits within that rounding.
    fn assert_imports_back_as_the_same_model(model_dir: &Path, file: &Path) {
        let back = model_dir.with_extension("back");
        import(file, &back, DType::F32, |_, _| {}).unwrap();
        let (a, b) = (ModelConfig::load(model_dir).unwrap(), ModelConfig::load(&back).unwrap());
        for layer in 0..a.num_hidden_layers {
            assert_eq!(a.layer_window(layer), b.layer_window(layer), "layer {layer}'s window");
            assert_eq!(a.layer_rope(layer).unwrap(), b.layer_rope(layer).unwrap(), "layer {layer}'s RoPE");
        }
        let computed = |c: &ModelConfig| {
            let caps = (c.attn_logit_softcapping, c.final_logit_softcapping);
            (c.model_type.clone(), c.rotary_dim(), c.attention_scale(), caps, c.tie_word_embeddings, format!("{:?}", c.activation()))
        };
        assert_eq!(computed(&a), computed(&b));
        let load = |d: &Path| candle_core::safetensors::load(d.join("model.safetensors"), &Device::Cpu).unwrap();
        let (want, got) = (load(model_dir), load(&back));
        let mut names: Vec<&String> = want.keys().collect();
        names.sort();
        assert_eq!(names, {
            let mut n: Vec<&String> = got.keys().collect();
            n.sort();
            n
        });
        for name in names {
            let w = want[name].to_dtype(DType::F32).unwrap();
            let w = if w.rank() == 2 { w.to_dtype(DType::F16).unwrap().to_dtype(DType::F32).unwrap() } else { w };
            assert!(max_diff(&got[name], &w) < 1e-5, "{name} differs by {}", max_diff(&got[name], &w));
        }
        let ids = Tensor::new(&[[1u32, 40, 77, 20, 3, 9, 61, 2]], &Device::Cpu).unwrap();
        let logits = |d: &Path| Model::load(d, DType::F32, &Device::Cpu).unwrap().forward(&ids, Pass::Eval).unwrap();
        let want = logits(model_dir);
        let largest = want.abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap() as f64;
        let d = max_diff(&logits(&back), &want);
        assert!(d <= 1e-2 * largest, "logits differ by {d} (largest {largest})");
    }

    /// Phi-3 as llama.cpp's `phi3`: q, k, v in one `attn_qkv` and gate and
    /// up in one `ffn_up`, the rotary width, longrope's factors as tensors
    /// with the pretraining context, and the sliding window.
    #[test]
    fn phi3_exports_fused_projections_partial_rotary_and_longrope() {
        let (_dir, model_dir) = transformers_model("tiny-phi3", |_| {});
        let (file, content) = export_f16(&model_dir);
        let config = ModelConfig::load(&model_dir).unwrap();
        let md = |k: &str| content.metadata.get(k).unwrap_or_else(|| panic!("{k} missing")).to_u32().unwrap();
        assert_eq!((md("phi3.rope.dimension_count"), md("phi3.rope.scaling.original_context_length")), (6, 64));
        assert_eq!(md("phi3.attention.sliding_window"), 32);
        let dims = |n: &str| content.tensor_infos[n].shape.dims().to_vec();
        let (h, i) = (config.hidden_size, config.intermediate_size);
        assert_eq!(dims("blk.1.attn_qkv.weight"), [(config.num_attention_heads + 2 * config.kv_heads()) * config.head_dim(), h]);
        assert_eq!(dims("blk.1.ffn_up.weight"), [2 * i, h]);
        assert!(!content.tensor_infos.contains_key("blk.1.ffn_gate.weight") && content.tensor_infos.contains_key("output.weight"));
        let long = gguf_tensor(&file, &content, super::super::tensors::ROPE_FACTORS_LONG).to_vec1::<f32>().unwrap();
        assert_eq!(long, [2.0, 3.0, 5.0]);
        assert_imports_back_as_the_same_model(&model_dir, &file);
    }

    /// Gemma 2 as llama.cpp's `gemma2`: norms stored as `1 + w`, the sandwich
    /// norms under its names, no output layer, the window and both soft caps.
    #[test]
    fn gemma2_exports_norms_as_llama_cpp_stores_them_with_window_and_soft_caps() {
        let (_dir, model_dir) = transformers_model("tiny-gemma2", |c| c["query_pre_attn_scalar"] = 12.into());
        let (file, content) = export_f16(&model_dir);
        let md = |k: &str| content.metadata.get(k).unwrap_or_else(|| panic!("{k} missing"));
        assert_eq!(md("gemma2.attention.sliding_window").to_u32().unwrap(), 16);
        assert_eq!(
            (md("gemma2.attn_logit_softcapping").to_f32().unwrap(), md("gemma2.final_logit_softcapping").to_f32().unwrap()),
            (3.0, 5.0)
        );
        assert!(!content.metadata.contains_key("gemma2.attention.sliding_window_pattern"), "layer_types is gemma2's own pattern");
        assert!(!content.tensor_infos.contains_key("output.weight"));
        for (gguf, hf) in [
            ("blk.1.attn_norm.weight", "model.layers.1.input_layernorm.weight"),
            ("blk.1.post_attention_norm.weight", "model.layers.1.post_attention_layernorm.weight"),
            ("blk.1.ffn_norm.weight", "model.layers.1.pre_feedforward_layernorm.weight"),
            ("blk.1.post_ffw_norm.weight", "model.layers.1.post_feedforward_layernorm.weight"),
            ("output_norm.weight", "model.norm.weight"),
        ] {
            let want = (hf_tensor(&model_dir, hf) + 1.0).unwrap();
            assert!(max_diff(&gguf_tensor(&file, &content, gguf), &want) < 1e-6, "{gguf} is not 1 + {hf}");
        }
        assert_imports_back_as_the_same_model(&model_dir, &file);
    }

    /// Gemma 3 as llama.cpp's `gemma3`: q/k norms as `1 + w` too, the
    /// full-attention layers' base and linear scaling, the sliding layers'
    /// own base, and a window pattern other than gemma3's 6 written out.
    #[test]
    fn gemma3_exports_q_k_norms_both_rope_bases_and_its_window_pattern() {
        let (_dir, model_dir) = transformers_model("tiny-gemma3", |c| c["query_pre_attn_scalar"] = 12.into());
        let (file, content) = export_f16(&model_dir);
        let md = |k: &str| content.metadata.get(k).unwrap_or_else(|| panic!("{k} missing"));
        let f = |k: &str| md(k).to_f32().unwrap();
        assert_eq!((f("gemma3.rope.freq_base"), f("gemma3.rope.freq_base_swa"), f("gemma3.rope.scaling.factor")), (1e6, 1e4, 4.0));
        assert_eq!(md("gemma3.rope.scaling.type").to_string().unwrap(), "linear");
        assert_eq!(md("gemma3.attention.sliding_window_pattern").to_u32().unwrap(), 2);
        assert!(!content.metadata.contains_key("gemma3.attn_logit_softcapping"));
        let want = (hf_tensor(&model_dir, "model.layers.0.self_attn.q_norm.weight") + 1.0).unwrap();
        assert!(max_diff(&gguf_tensor(&file, &content, "blk.0.attn_q_norm.weight"), &want) < 1e-6);
        assert_imports_back_as_the_same_model(&model_dir, &file);
    }

    /// Windows on layers that follow no period are refused by name, nothing written.
    #[test]
    fn sliding_layers_a_gguf_file_cannot_say_are_refused_by_name() {
        let (_dir, model_dir) = transformers_model("tiny-gemma3", |c| {
            c["query_pre_attn_scalar"] = 12.into();
            c["layer_types"] = serde_json::json!(["full_attention", "sliding_attention", "sliding_attention"]);
        });
        let file = model_dir.with_extension("gguf");
        let err = export(&model_dir, &file, ExportType::F16, |_, _| {}).unwrap_err().to_string();
        assert!(err.contains("config.json") && err.contains("follow no period"), "{err}");
        assert!(!file.exists());
    }
}
