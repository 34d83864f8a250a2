//! A GGUF file's tensors as Hugging Face weights: llama.cpp's names mapped to
//! ours, the supported tensor types, dequantisation with candle's reader, and
//! the reversal of the row permutation llama.cpp's converter applies to
//! `q_proj` and `k_proj`.
//!
//! GGUF lists a tensor's dimensions fastest-varying first (`[in, out]` for a
//! weight); candle's reader reverses them, so `TensorInfo::shape` and the
//! dequantised tensor are already in Hugging Face's row-major `[out, in]` order.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read, Seek};

use candle_core::quantized::GgmlDType;
use candle_core::quantized::gguf_file::Content;
use candle_core::{DType, Device, Tensor};

use super::metadata::Meta;
use crate::error::Result;
use crate::model::ModelConfig;
use crate::model::arch::Family;
use crate::model::decoder::hf_tensor_shapes;
use crate::model::progress::Progress;

/// The tensor types the importer reads: every type llama.cpp writes in its
/// files (Q4_K_M files hold Q5_0 rows where a row is not a whole K-quant
/// block, Q2_K and Q3_K files hold Q4_K and Q5_K).
pub const SUPPORTED_TYPES: [GgmlDType; 13] = [
    GgmlDType::F32,
    GgmlDType::F16,
    GgmlDType::BF16,
    GgmlDType::Q8_0,
    GgmlDType::Q4_0,
    GgmlDType::Q4_1,
    GgmlDType::Q5_0,
    GgmlDType::Q5_1,
    GgmlDType::Q2K,
    GgmlDType::Q3K,
    GgmlDType::Q4K,
    GgmlDType::Q5K,
    GgmlDType::Q6K,
];

/// llama.cpp's name of a tensor type (`Q4_K`, `Q8_0`).
pub fn type_name(t: GgmlDType) -> &'static str {
    match t {
        GgmlDType::F32 => "F32",
        GgmlDType::F16 => "F16",
        GgmlDType::BF16 => "BF16",
        GgmlDType::Q4_0 => "Q4_0",
        GgmlDType::Q4_1 => "Q4_1",
        GgmlDType::Q5_0 => "Q5_0",
        GgmlDType::Q5_1 => "Q5_1",
        GgmlDType::Q8_0 => "Q8_0",
        GgmlDType::Q8_1 => "Q8_1",
        GgmlDType::Q2K => "Q2_K",
        GgmlDType::Q3K => "Q3_K",
        GgmlDType::Q4K => "Q4_K",
        GgmlDType::Q5K => "Q5_K",
        GgmlDType::Q6K => "Q6_K",
        GgmlDType::Q8K => "Q8_K",
    }
}

/// llama.cpp's tensor names within block `N` and ours within `model.layers.N`
/// (Phi-3's fused projections included).
const LAYER_NAMES: [(&str, &str); 13] = [
    ("attn_norm", "input_layernorm"),
    ("attn_q_norm", "self_attn.q_norm"),
    ("attn_k_norm", "self_attn.k_norm"),
    ("attn_q", "self_attn.q_proj"),
    ("attn_k", "self_attn.k_proj"),
    ("attn_v", "self_attn.v_proj"),
    ("attn_output", "self_attn.o_proj"),
    ("ffn_norm", "post_attention_layernorm"),
    ("ffn_gate", "mlp.gate_proj"),
    ("ffn_up", "mlp.up_proj"),
    ("ffn_down", "mlp.down_proj"),
    ("attn_qkv", "self_attn.qkv_proj"),
    ("ffn_up", "mlp.gate_up_proj"),
];

/// The names of a family with sandwich norms (Gemma), where llama.cpp's
/// `ffn_norm` is the MLP's input norm and the attention's output norm has a
/// name of its own.
const SANDWICH_NAMES: [(&str, &str); 3] = [
    ("post_attention_norm", "post_attention_layernorm"),
    ("ffn_norm", "pre_feedforward_layernorm"),
    ("post_ffw_norm", "post_feedforward_layernorm"),
];

/// The rotary frequency factors some converters store (Llama 3.1's scaling);
/// all ones means plain RoPE, which is what our decoder computes.
pub const ROPE_FREQS: &str = "rope_freqs.weight";

/// longrope's per-frequency divisors within the pretraining context (Phi-3), `[rotary_dim / 2]`.
pub const ROPE_FACTORS_SHORT: &str = "rope_factors_short.weight";

/// longrope's per-frequency divisors beyond the pretraining context (Phi-3), `[rotary_dim / 2]`.
pub const ROPE_FACTORS_LONG: &str = "rope_factors_long.weight";

/// What llama.cpp's converter adds to the Hugging Face tensor `hf` of a
/// `family` model: 1 to a norm of a family whose norms multiply by `1 + w`
/// (Gemma's, stored as `w`), else 0. An import subtracts it.
pub fn stored_offset(family: &Family, hf: &str) -> f64 {
    if family.unit_offset_norms && hf.ends_with("norm.weight") { 1.0 } else { 0.0 }
}

/// The GGUF name of a Hugging Face tensor name of a `family` model (the inverse of llama.cpp's mapping).
pub fn gguf_name(family: &Family, hf: &str) -> Option<String> {
    match hf {
        "model.embed_tokens.weight" => return Some("token_embd.weight".into()),
        "model.norm.weight" => return Some("output_norm.weight".into()),
        "lm_head.weight" => return Some("output.weight".into()),
        _ => {}
    }
    let rest = hf.strip_prefix("model.layers.")?;
    let (n, module) = rest.split_once('.')?;
    let (module, kind) = module.rsplit_once('.')?;
    if kind != "weight" && kind != "bias" {
        return None;
    }
    let sandwich = if family.sandwich_norms { SANDWICH_NAMES.as_slice() } else { &[] };
    let (g, _) = sandwich.iter().chain(LAYER_NAMES.iter()).find(|(_, h)| *h == module)?;
    Some(format!("blk.{n}.{g}.{kind}"))
}

/// One tensor to convert.
pub(crate) struct Item {
    /// Its name in the file.
    pub gguf: String,
    /// Its Hugging Face name.
    pub hf: String,
    /// The head count of llama.cpp's row permutation (q: attention heads, k: key/value heads).
    pub permuted_heads: Option<usize>,
    /// What the converter added to the values ([`stored_offset`]), subtracted on import.
    pub offset: f64,
}

/// What the file holds, checked against the model its metadata describes
/// before anything is dequantised: every tensor present, named, shaped and of a
/// supported type.
pub(crate) struct Plan {
    /// The tensors to convert, in a stable order.
    pub items: Vec<Item>,
    /// Tensor count per type name, over the whole file.
    pub types: BTreeMap<String, usize>,
    /// Whether the file holds `rope_freqs.weight` (checked to be all ones).
    pub rope_freqs: bool,
}

/// The tensors a file may hold beside the decoder's, read for the config or checked.
const EXTRA_TENSORS: [&str; 3] = [ROPE_FREQS, ROPE_FACTORS_SHORT, ROPE_FACTORS_LONG];

/// Checks the file's tensors against `config` and lists what to convert.
pub(crate) fn plan(content: &Content, config: &ModelConfig, meta: &Meta) -> Result<Plan> {
    let infos = &content.tensor_infos;
    let mut types = BTreeMap::new();
    let mut names: Vec<&String> = infos.keys().collect();
    names.sort();
    for name in &names {
        let t = infos[*name].ggml_dtype;
        if !SUPPORTED_TYPES.contains(&t) {
            let ok: Vec<&str> = SUPPORTED_TYPES.iter().map(|t| type_name(*t)).collect();
            return Err(meta.error(format!(
                "tensor {name} has type {}, which the importer does not read (supported: {}); \
use a GGUF quantised to one of those (llama.cpp's Q2_K to Q8_0, F16 and BF16 files are)",
                type_name(t),
                ok.join(", ")
            )));
        }
        *types.entry(type_name(t).to_string()).or_insert(0) += 1;
    }
    let mut items = Vec::new();
    let mut expected = HashSet::new();
    let family = config.family();
    for (hf, shape) in hf_tensor_shapes(config) {
        let gguf = gguf_name(family, &hf).expect("every Hugging Face tensor has a GGUF name");
        let info = infos.get(&gguf).ok_or_else(|| {
            meta.error(format!(
                "tensor {gguf} (our {hf}) is missing: the metadata describes {} layers; the file is incomplete or damaged",
                config.num_hidden_layers
            ))
        })?;
        if info.shape.dims() != shape.as_slice() {
            return Err(meta.error(format!(
                "tensor {gguf} has shape {:?} (rows, columns), but the metadata implies {shape:?} for {hf}; the file is inconsistent",
                info.shape.dims()
            )));
        }
        let permuted_heads = permuted_heads(config, &hf);
        let offset = stored_offset(family, &hf);
        expected.insert(gguf.clone());
        items.push(Item { gguf, hf, permuted_heads, offset });
    }
    let rope_freqs = infos.contains_key(ROPE_FREQS);
    let unknown: Vec<&str> = names.iter().map(|s| s.as_str()).filter(|n| !expected.contains(*n) && !EXTRA_TENSORS.contains(n)).collect();
    if let Some(first) = unknown.first() {
        return Err(meta.error(format!(
            "tensor {first} is not part of a {} decoder{}; this model is not supported (ignoring it would compute the wrong function)",
            config.model_type,
            if unknown.len() > 1 { format!(" ({} such tensors)", unknown.len()) } else { String::new() }
        )));
    }
    Ok(Plan { items, types, rope_freqs })
}

/// The head count of llama.cpp's row permutation of tensor `hf`: its converter
/// permutes the `q_proj` / `k_proj` weights of some families (Llama's and
/// Mistral's, not Qwen's: [`crate::model::arch::Gguf::permutes_qk`]).
pub fn permuted_heads(config: &ModelConfig, hf: &str) -> Option<usize> {
    if !config.family().gguf.as_ref().is_some_and(|g| g.permutes_qk) {
        None
    } else if hf.ends_with("self_attn.q_proj.weight") {
        Some(config.num_attention_heads)
    } else if hf.ends_with("self_attn.k_proj.weight") {
        Some(config.kv_heads())
    } else {
        None
    }
}

/// Reads and dequantises tensor `name` to an f32 tensor in row-major (Hugging Face) order.
pub(crate) fn read_f32<R: Read + Seek>(content: &Content, reader: &mut R, name: &str, meta: &Meta) -> Result<Tensor> {
    let device = Device::Cpu;
    content
        .tensor(reader, name, &device)
        .and_then(|q| q.dequantize(&device))
        .and_then(|t| t.to_dtype(DType::F32))
        .map_err(|e| meta.error(format!("cannot read tensor {name} ({e}); the file is truncated or damaged")))
}

/// Undoes llama.cpp's `LlamaModel.permute` on the rows of a `q_proj` / `k_proj`
/// weight. llama.cpp computes
/// `w.reshape(n_head, 2, rows / n_head / 2, cols).swapaxes(1, 2).reshape(rows, cols)`,
/// interleaving each head's two rotary halves; this is transformers'
/// `reverse_permute_weights`: `w.reshape(n_head, rows / n_head / 2, 2, cols).swapaxes(1, 2)`.
pub fn reverse_permute(w: &Tensor, n_head: usize) -> candle_core::Result<Tensor> {
    let (rows, cols) = w.dims2()?;
    let half = rows / n_head / 2;
    if half * 2 * n_head != rows {
        candle_core::bail!("{rows} rows do not split into {n_head} heads of an even width");
    }
    w.reshape((n_head, half, 2, cols))?.transpose(1, 2)?.contiguous()?.reshape((rows, cols))
}

/// llama.cpp's `LlamaModel.permute` (what its converter does to `q_proj` and
/// `k_proj`), for writing test files as llama.cpp would.
pub fn permute(w: &Tensor, n_head: usize) -> candle_core::Result<Tensor> {
    let (rows, cols) = w.dims2()?;
    let half = rows / n_head / 2;
    if half * 2 * n_head != rows {
        candle_core::bail!("{rows} rows do not split into {n_head} heads of an even width");
    }
    w.reshape((n_head, 2, half, cols))?.transpose(1, 2)?.contiguous()?.reshape((rows, cols))
}

/// longrope's per-frequency factors: (short, long).
pub type LongRopeFactors = (Vec<f64>, Vec<f64>);

/// longrope's short and long factors, where the file holds them (both or neither).
pub(crate) fn rope_factors<R: Read + Seek>(content: &Content, reader: &mut R, meta: &Meta) -> Result<Option<LongRopeFactors>> {
    let has = |name: &str| content.tensor_infos.contains_key(name);
    match (has(ROPE_FACTORS_SHORT), has(ROPE_FACTORS_LONG)) {
        (false, false) => Ok(None),
        (true, true) => {
            let mut read = |name: &str| -> Result<Vec<f64>> {
                let t = read_f32(content, reader, name, meta)?;
                let values = t.flatten_all().and_then(|t| t.to_vec1::<f32>()).map_err(|e| meta.error(format!("tensor {name}: {e}")))?;
                Ok(values.into_iter().map(f64::from).collect())
            };
            Ok(Some((read(ROPE_FACTORS_SHORT)?, read(ROPE_FACTORS_LONG)?)))
        }
        _ => Err(meta.error(format!(
            "the file holds only one of {ROPE_FACTORS_SHORT} and {ROPE_FACTORS_LONG}; longrope needs both (the file is incomplete)"
        ))),
    }
}

/// Checks that `rope_freqs.weight` is all ones (plain RoPE).
pub(crate) fn check_rope_freqs<R: Read + Seek>(content: &Content, reader: &mut R, meta: &Meta) -> Result<()> {
    let t = read_f32(content, reader, ROPE_FREQS, meta)?;
    let values = t.flatten_all().and_then(|t| t.to_vec1::<f32>()).map_err(|e| meta.error(format!("tensor {ROPE_FREQS}: {e}")))?;
    if values.iter().any(|v| *v != 1.0) {
        return Err(meta.error(format!(
            "tensor {ROPE_FREQS} holds rotary frequency factors other than 1 (a RoPE scaling such as Llama 3.1's), \
which is not supported yet"
        )));
    }
    Ok(())
}

/// Converts every planned tensor to `dtype`, telling `progress` after each
/// (which may stop the conversion).
pub(crate) fn convert<R: Read + Seek>(
    content: &Content,
    reader: &mut R,
    plan: &Plan,
    dtype: DType,
    meta: &Meta,
    progress: &mut dyn Progress,
) -> Result<HashMap<String, Tensor>> {
    let total = plan.items.len();
    let mut out = HashMap::with_capacity(total);
    for (i, item) in plan.items.iter().enumerate() {
        let mut t = read_f32(content, reader, &item.gguf, meta)?;
        if let Some(n) = item.permuted_heads {
            t = reverse_permute(&t, n).map_err(|e| meta.error(format!("tensor {}: {e}", item.gguf)))?;
        }
        if item.offset != 0.0 {
            t = (t - item.offset)?;
        }
        let t = t.to_dtype(dtype)?;
        out.insert(item.hf.clone(), t);
        progress.step(i + 1, total)?;
    }
    Ok(out)
}
