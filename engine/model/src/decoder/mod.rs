//! The decoder every family shares: token embedding, `num_hidden_layers` blocks of
//! (RMSNorm, grouped-query attention with RoPE (optionally scaled), and what the
//! family's description ([`crate::arch::Family`]) adds: biases, q/k norms
//! per head, a sliding window; RMSNorm, SwiGLU MLP), final RMSNorm and the output
//! projection. Field names
//! follow the checkpoint's tensor names (`model.layers.N.self_attn.q_proj.weight`);
//! LoRA parameters are named by their module path
//! (`model.layers.N.self_attn.q_proj.lora_A.weight`).
//!
//! - [`fused_layer`]: one decoder layer for CPU LoRA training, backward written out.
//! - [`fused_head`]: the final norm, output projection and loss, the same way, in row blocks.
//! - [`kv_cache`]: the forward pass of generation, one new token at a time over cached keys and values.
//! - [`backprop`]: loss and gradients of a micro-batch, layer by layer.
//! - [`memory`]: the activation memory a layer keeps per token.
//! - `bf16`: the frozen weights packed for bf16 training products (AMX).

pub mod backprop;
mod bf16;
mod decode;
pub(crate) mod fused_head;
pub(crate) mod fused_layer;
pub mod kv_cache;
pub mod memory;
pub mod quantize;

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Result as CResult, Tensor, Var};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal};

use super::config::{LayerRope, ModelConfig};
use super::kernels::attention::{Heads, Scoring, attention, causal_mask};
use super::kernels::cross_entropy::weighted_nll_sum;
use super::kernels::gated::{Activation, gated};
use super::kernels::norm::rms_norm;
use super::kernels::projection::DropoutMask;
use super::kernels::rope::Rope;
use super::linear::{Linear, Lora, LoraSpec, seeded_rng};
use crate::error::{Error, Result};
use crate::linear::LINEAR_MODULES;

/// Whether a forward pass trains (with dropout drawn from a seed) or evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// No dropout.
    Eval,
    /// Dropout masks drawn from this seed, the same on every recomputation.
    Train {
        /// Seed of this micro-batch's dropout masks.
        seed: u64,
    },
}

impl Pass {
    /// The generator of layer `i`'s dropout masks (None when evaluating).
    pub(crate) fn layer_rng(self, i: usize) -> Option<StdRng> {
        match self {
            Pass::Eval => None,
            Pass::Train { seed } => Some(seeded_rng(seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15))),
        }
    }
}

/// A trainable parameter with the name it is saved under.
#[derive(Debug, Clone)]
pub struct Trainable {
    /// The Hugging Face module path for LoRA parameters
    /// (`model.layers.0.self_attn.q_proj.lora_A.weight`), the tensor name in
    /// full fine-tuning.
    pub name: String,
    /// The variable the optimizer updates.
    pub var: Var,
}

/// Attention projections of one layer.
#[derive(Debug, Clone)]
struct SelfAttn {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    o_proj: Linear,
    /// RMSNorm weights over each query and key head (`[head_dim]`), where the family has them.
    q_norm: Option<Tensor>,
    k_norm: Option<Tensor>,
}

/// SwiGLU MLP of one layer.
#[derive(Debug, Clone)]
struct Mlp {
    gate_proj: Linear,
    up_proj: Linear,
    down_proj: Linear,
}

/// One decoder block.
#[derive(Debug, Clone)]
struct Layer {
    input_layernorm: Tensor,
    self_attn: SelfAttn,
    /// The MLP input's norm, or under sandwich norms the attention output's.
    post_attention_layernorm: Tensor,
    /// Sandwich norms ([`crate::arch::Family::sandwich_norms`]):
    /// `pre_feedforward_layernorm` and `post_feedforward_layernorm`.
    feedforward_norms: Option<(Tensor, Tensor)>,
    mlp: Mlp,
}

/// A decoder model, frozen or with trainable parameters.
#[derive(Debug, Clone)]
pub struct Model {
    /// Architecture of the model.
    pub config: ModelConfig,
    embed_tokens: Tensor,
    layers: Vec<Layer>,
    norm: Tensor,
    lm_head: Tensor,
    /// Each layer's rotary tables (shared where layers' RoPE is the same).
    ropes: Vec<Rope>,
    /// The MLP's gate activation.
    activation: Activation,
    trainable: Vec<Trainable>,
    dtype: DType,
    device: Device,
    /// The output layer's quantized weight ([`quantize`]), if quantized.
    head_quantized: Option<std::sync::Arc<candle_core::quantized::QMatMul>>,
    /// How the weights are quantized ([`Model::quantize`]).
    quantization: Option<quantize::Quantization>,
    /// The output layer packed for bf16 training products ([`Model::use_bf16_products`]).
    head_bf16: Option<std::sync::Arc<super::kernels::projection::Bf16Weight>>,
}

/// What the fused CPU layer ([`fused_layer`]) reads of one decoder layer.
pub(crate) struct LayerView<'a> {
    /// `input_layernorm.weight`.
    pub input_norm: &'a Tensor,
    /// `post_attention_layernorm.weight`.
    pub post_norm: &'a Tensor,
    /// `pre_feedforward_layernorm.weight` and `post_feedforward_layernorm.weight` (sandwich norms).
    pub feedforward_norms: Option<(&'a Tensor, &'a Tensor)>,
    /// q, k, v, o, gate, up, down ([`LINEAR_MODULES`] order).
    pub projections: [&'a Linear; 7],
    /// `self_attn.q_norm.weight` and `self_attn.k_norm.weight`, where the family has them.
    pub qk_norms: Option<(&'a Tensor, &'a Tensor)>,
    /// The layer's rotary tables.
    pub rope: &'a Rope,
    /// The MLP's gate activation.
    pub activation: Activation,
}

impl Layer {
    /// The seven projections in [`crate::linear::LINEAR_MODULES`] order.
    fn named_linears_mut(&mut self) -> impl Iterator<Item = (&'static str, &'static str, &mut Linear)> {
        named_projections(&mut self.self_attn, &mut self.mlp)
    }
}

/// The seven projections of a layer, in [`LINEAR_MODULES`] order, with their
/// (group, module) names.
fn named_projections<'a>(a: &'a mut SelfAttn, m: &'a mut Mlp) -> impl Iterator<Item = (&'static str, &'static str, &'a mut Linear)> {
    named_parts(a, m).0
}

/// A layer's seven projections (as [`named_projections`]) and, apart, its
/// per-head norms by module name, for walking both at once.
#[allow(clippy::type_complexity)]
fn named_parts<'a>(
    a: &'a mut SelfAttn,
    m: &'a mut Mlp,
) -> (impl Iterator<Item = (&'static str, &'static str, &'a mut Linear)>, [(&'static str, &'a mut Option<Tensor>); 2]) {
    let SelfAttn { q_proj, k_proj, v_proj, o_proj, q_norm, k_norm } = a;
    let all = [q_proj, k_proj, v_proj, o_proj, &mut m.gate_proj, &mut m.up_proj, &mut m.down_proj];
    (LINEAR_MODULES.into_iter().zip(all).map(|(name, l)| (module_group(name), name, l)), [("q_norm", q_norm), ("k_norm", k_norm)])
}

/// The block a projection belongs to: `self_attn` or `mlp`.
pub fn module_group(module: &str) -> &'static str {
    if ["gate_proj", "up_proj", "down_proj", "gate_up_proj"].contains(&module) { "mlp" } else { "self_attn" }
}

/// Where projection `part` sits in its fused module's output rows (first
/// row, rows); `(0, its rows)` for a projection stored on its own.
fn fused_rows(config: &ModelConfig, part: &str) -> (usize, usize) {
    let rows = config.linear_shape(part).1;
    let Some(fused) = config.family().fused_of(part) else { return (0, rows) };
    let first = fused.parts.iter().take_while(|p| **p != part).map(|p| config.linear_shape(p).1).sum();
    (first, rows)
}

/// Replaces each fused tensor of a checkpoint (Phi-3's `qkv_proj.weight`)
/// by its parts' (`q_proj.weight`, ...), split by rows; an error names a
/// fused tensor of the wrong height.
fn split_fused(config: &ModelConfig, t: &mut HashMap<String, Tensor>) -> std::result::Result<(), String> {
    for fused in config.family().fused {
        let group = module_group(fused.module);
        let (_, height) = config.linear_shape(fused.module);
        for i in 0..config.num_hidden_layers {
            for kind in ["weight", "bias"] {
                let name = format!("model.layers.{i}.{group}.{}.{kind}", fused.module);
                let Some(all) = t.remove(&name) else { continue };
                if all.dim(0).map_err(|e| e.to_string())? != height {
                    return Err(format!("tensor {name} has shape {:?}, config.json implies {height} rows", all.dims()));
                }
                for part in fused.parts {
                    let (first, rows) = fused_rows(config, part);
                    let piece = all.narrow(0, first, rows).and_then(|p| p.contiguous()).map_err(|e| e.to_string())?;
                    t.insert(format!("model.layers.{i}.{group}.{part}.{kind}"), piece);
                }
            }
        }
    }
    Ok(())
}

/// Adds `by` to every norm weight (`...norm.weight`): Gemma's stored `w - 1`
/// becomes the `1 + w` the kernels multiply by (`by` 1), and back (`by` -1).
fn shift_norms(t: &mut HashMap<String, Tensor>, by: f64) -> CResult<()> {
    for (_, w) in t.iter_mut().filter(|(name, _)| name.ends_with("norm.weight")) {
        *w = (w.detach() + by)?;
    }
    Ok(())
}

/// The inverse of [`split_fused`]: each fused module's parts joined by rows
/// under the checkpoint's name.
fn join_fused(config: &ModelConfig, t: &mut HashMap<String, Tensor>) -> CResult<()> {
    for fused in config.family().fused {
        let group = module_group(fused.module);
        for i in 0..config.num_hidden_layers {
            for kind in ["weight", "bias"] {
                let names: Vec<String> = fused.parts.iter().map(|p| format!("model.layers.{i}.{group}.{p}.{kind}")).collect();
                let parts: Option<Vec<Tensor>> = names.iter().map(|n| t.remove(n)).collect();
                if let Some(parts) = parts {
                    t.insert(format!("model.layers.{i}.{group}.{}.{kind}", fused.module), Tensor::cat(&parts, 0)?);
                }
            }
        }
    }
    Ok(())
}

impl Model {
    /// Loads a Hugging Face model directory (config and weights) in `dtype`.
    pub fn load(dir: &Path, dtype: DType, device: &Device) -> Result<Self> {
        let config = ModelConfig::load(dir)?;
        let tensors = super::weights::load_model_dir(dir, dtype, device)?;
        Self::from_tensors(config, tensors, dtype, device).map_err(|m| Error::model(dir, m))
    }

    /// Builds a model from Hugging Face-named tensors; the error names any
    /// missing or misshapen tensor.
    pub fn from_tensors(
        config: ModelConfig,
        mut t: HashMap<String, Tensor>,
        dtype: DType,
        device: &Device,
    ) -> std::result::Result<Self, String> {
        split_fused(&config, &mut t)?;
        if config.family().unit_offset_norms {
            shift_norms(&mut t, 1.0).map_err(|e| e.to_string())?;
        }
        let mut take = |name: &str, shape: &[usize]| -> std::result::Result<Tensor, String> {
            let tensor = t.remove(name).ok_or_else(|| format!("weights lack tensor {name}"))?;
            if tensor.dims() != shape {
                return Err(format!("tensor {name} has shape {:?}, config.json implies {shape:?}", tensor.dims()));
            }
            Ok(tensor)
        };
        let (h, v) = (config.hidden_size, config.vocab_size);
        let embed_tokens = take("model.embed_tokens.weight", &[v, h])?;
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let p = format!("model.layers.{i}");
            let mut lin = |group: &str, m: &str| {
                let (fin, fout) = config.linear_shape(m);
                let weight = take(&format!("{p}.{group}.{m}.weight"), &[fout, fin])?;
                let bias = if config.has_bias(m) { Some(take(&format!("{p}.{group}.{m}.bias"), &[fout])?) } else { None };
                Ok::<_, String>(Linear::new(weight, bias))
            };
            let q_proj = lin("self_attn", "q_proj")?;
            let k_proj = lin("self_attn", "k_proj")?;
            let v_proj = lin("self_attn", "v_proj")?;
            let o_proj = lin("self_attn", "o_proj")?;
            let mlp = Mlp { gate_proj: lin("mlp", "gate_proj")?, up_proj: lin("mlp", "up_proj")?, down_proj: lin("mlp", "down_proj")? };
            let (q_norm, k_norm) = if config.family().qk_norm {
                let d = config.head_dim();
                (Some(take(&format!("{p}.self_attn.q_norm.weight"), &[d])?), Some(take(&format!("{p}.self_attn.k_norm.weight"), &[d])?))
            } else {
                (None, None)
            };
            let self_attn = SelfAttn { q_proj, k_proj, v_proj, o_proj, q_norm, k_norm };
            let feedforward_norms = if config.family().sandwich_norms {
                Some((
                    take(&format!("{p}.pre_feedforward_layernorm.weight"), &[h])?,
                    take(&format!("{p}.post_feedforward_layernorm.weight"), &[h])?,
                ))
            } else {
                None
            };
            layers.push(Layer {
                input_layernorm: take(&format!("{p}.input_layernorm.weight"), &[h])?,
                self_attn,
                post_attention_layernorm: take(&format!("{p}.post_attention_layernorm.weight"), &[h])?,
                feedforward_norms,
                mlp,
            });
        }
        let norm = take("model.norm.weight", &[h])?;
        let lm_head = if config.tie_word_embeddings {
            t.remove("lm_head.weight");
            embed_tokens.clone()
        } else {
            take("lm_head.weight", &[v, h])?
        };
        // Rotary tables are computed here; older checkpoints store them as buffers.
        t.retain(|name, _| !name.ends_with("rotary_emb.inv_freq"));
        if !t.is_empty() {
            let mut unused: Vec<&String> = t.keys().collect();
            unused.sort();
            let shown: Vec<&str> = unused.iter().take(5).map(|s| s.as_str()).collect();
            let more = if unused.len() > shown.len() { format!(" and {} more", unused.len() - shown.len()) } else { String::new() };
            return Err(format!(
                "the weights hold tensors a {} model does not use: {}{more}; this architecture is not supported (yet), \
                 and ignoring them would compute the wrong function",
                config.model_type,
                shown.join(", ")
            ));
        }
        // Layers whose RoPE is the same share one table.
        let mut ropes: Vec<(LayerRope, Rope)> = Vec::new();
        let mut layer_ropes = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let wanted = config.layer_rope(i)?;
            let rope = match ropes.iter().find(|(r, _)| *r == wanted) {
                Some((_, rope)) => rope.clone(),
                None => {
                    let tables = |freqs: &[f32], positions| {
                        Rope::new(config.head_dim(), positions, freqs, wanted.scale, dtype, device).map_err(|e| e.to_string())
                    };
                    let mut rope = tables(&wanted.inv_freq, wanted.positions)?;
                    if let Some((freqs, positions)) = &wanted.long {
                        rope = rope.with_long(tables(freqs, *positions)?);
                    }
                    ropes.push((wanted, rope.clone()));
                    rope
                }
            };
            layer_ropes.push(rope);
        }
        let activation = config.activation()?;
        Ok(Self {
            config,
            embed_tokens,
            layers,
            norm,
            lm_head,
            ropes: layer_ropes,
            activation,
            trainable: Vec::new(),
            dtype,
            device: device.clone(),
            head_quantized: None,
            quantization: None,
            head_bf16: None,
        })
    }

    /// A randomly initialised model (normal(0, 0.02) weights and biases, unit norms), for
    /// pretraining the sample model, tests and benchmarks.
    pub fn random(config: ModelConfig, seed: u64, dtype: DType, device: &Device) -> Result<Self> {
        let mut rng = StdRng::seed_from_u64(seed);
        let normal = Normal::new(0.0f32, 0.02).expect("valid normal");
        let mut tensors = HashMap::new();
        for (name, shape) in hf_tensor_shapes(&config) {
            let n: usize = shape.iter().product();
            // Unit norms: stored as zero where the family stores `w - 1`.
            let unit = if config.family().unit_offset_norms { 0.0 } else { 1.0 };
            let data: Vec<f32> =
                if name.ends_with("norm.weight") { vec![unit; n] } else { (0..n).map(|_| normal.sample(&mut rng)).collect() };
            tensors.insert(name, Tensor::from_vec(data, shape, device)?.to_dtype(dtype)?);
        }
        Self::from_tensors(config, tensors, dtype, device).map_err(Error::Other)
    }

    /// The compute dtype.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Parameters the optimizer updates (empty for a frozen model).
    pub fn trainable(&self) -> &[Trainable] {
        &self.trainable
    }

    /// Attaches fresh LoRA adapters to the targeted projections of every layer
    /// and makes them the trainable parameters.
    pub fn add_lora(&mut self, spec: &LoraSpec, seed: u64) -> Result<()> {
        let family = self.config.family();
        family.peft_targets(&spec.targets).map_err(Error::Other)?;
        let mut rng = seeded_rng(seed);
        let mut trainable = Vec::new();
        for (i, layer) in self.layers.iter_mut().enumerate() {
            // The adapter of each fused module, made at its first part.
            let mut shared: Vec<(&str, Lora)> = Vec::new();
            for (group, module, lin) in layer.named_linears_mut() {
                if !spec.targets.iter().any(|t| t == module) {
                    continue;
                }
                let fused = family.fused_of(module);
                let name = fused.map_or(module, |f| f.module);
                let (first, rows) = fused_rows(&self.config, module);
                let lora = match shared.iter().find(|(n, _)| *n == name) {
                    Some((_, lora)) => lora.clone(),
                    None => {
                        let out = self.config.linear_shape(name).1;
                        let lora = Lora::new(&lin.weight, out, spec, &mut rng)?;
                        let path = format!("model.layers.{i}.{group}.{name}");
                        trainable.push(Trainable { name: format!("{path}.lora_A.weight"), var: lora.a.clone() });
                        trainable.push(Trainable { name: format!("{path}.lora_B.weight"), var: lora.b.clone() });
                        shared.push((name, lora.clone()));
                        lora
                    }
                };
                lin.lora = Some(Lora { rows: fused.map(|_| (first, rows)), ..lora });
            }
        }
        self.trainable = trainable;
        Ok(())
    }

    /// Folds every LoRA adapter into its frozen weight, `W + scale * B A`, and
    /// drops the adapters: the model then computes base + adapter as plain
    /// weights (for a merged model directory).
    pub fn merge_lora(&mut self) -> Result<()> {
        self.full_precision("merge an adapter into the model")?;
        self.drop_bf16_products();
        for layer in &mut self.layers {
            for (_, _, lin) in layer.named_linears_mut() {
                if let Some(lora) = lin.lora.take() {
                    let update = (lora.b()?.matmul(lora.a.as_tensor())? * lora.scale)?;
                    lin.weight = (lin.weight.detach() + update.to_dtype(lin.weight.dtype())?)?;
                }
            }
        }
        self.trainable.clear();
        Ok(())
    }

    /// Makes every weight trainable (full fine-tuning).
    pub fn make_fully_trainable(&mut self) -> Result<()> {
        self.full_precision("train every weight")?;
        self.drop_bf16_products();
        let tied = self.config.tie_word_embeddings;
        let mut trainable = Vec::new();
        for (name, tensor) in self.named_weights_mut() {
            let var = Var::from_tensor(&tensor.detach())?;
            *tensor = var.as_tensor().clone();
            trainable.push(Trainable { name, var });
        }
        if tied {
            self.lm_head = self.embed_tokens.clone();
        }
        self.trainable = trainable;
        Ok(())
    }

    /// Every stored weight with its Hugging Face name (the tied output
    /// projection is not listed separately).
    fn named_weights_mut(&mut self) -> Vec<(String, &mut Tensor)> {
        let mut out: Vec<(String, &mut Tensor)> = vec![("model.embed_tokens.weight".into(), &mut self.embed_tokens)];
        for (i, layer) in self.layers.iter_mut().enumerate() {
            let p = format!("model.layers.{i}");
            let Layer { input_layernorm, self_attn, post_attention_layernorm, feedforward_norms, mlp } = layer;
            out.push((format!("{p}.input_layernorm.weight"), input_layernorm));
            out.push((format!("{p}.post_attention_layernorm.weight"), post_attention_layernorm));
            if let Some((pre, post)) = feedforward_norms {
                out.push((format!("{p}.pre_feedforward_layernorm.weight"), pre));
                out.push((format!("{p}.post_feedforward_layernorm.weight"), post));
            }
            let (projections, head_norms) = named_parts(self_attn, mlp);
            for (name, w) in head_norms {
                if let Some(w) = w {
                    out.push((format!("{p}.self_attn.{name}.weight"), w));
                }
            }
            for (group, module, lin) in projections {
                let Linear { weight, bias, .. } = lin;
                out.push((format!("{p}.{group}.{module}.weight"), weight));
                if let Some(bias) = bias {
                    out.push((format!("{p}.{group}.{module}.bias"), bias));
                }
            }
        }
        out.push(("model.norm.weight".into(), &mut self.norm));
        if !self.config.tie_word_embeddings {
            out.push(("lm_head.weight".into(), &mut self.lm_head));
        }
        out
    }

    /// All weights by Hugging Face name, for saving a full model directory.
    pub fn hf_tensors(&mut self) -> Result<HashMap<String, Tensor>> {
        let config = self.config.clone();
        let mut tensors = self.named_weights_mut().into_iter().map(|(n, t)| (n, t.detach())).collect();
        join_fused(&config, &mut tensors)?;
        if config.family().unit_offset_norms {
            shift_norms(&mut tensors, -1.0)?;
        }
        Ok(tensors)
    }

    /// Replaces the trainable parameters' values with `tensors` (by
    /// [`Trainable::name`]); every trainable parameter must be present with its shape.
    pub fn set_trainable(&self, tensors: &HashMap<String, Tensor>, source: &Path) -> Result<()> {
        for p in &self.trainable {
            let t = tensors.get(&p.name).ok_or_else(|| Error::model(source, format!("missing tensor {}", p.name)))?;
            if t.dims() != p.var.dims() {
                return Err(Error::model(source, format!("tensor {} has shape {:?}, expected {:?}", p.name, t.dims(), p.var.dims())));
            }
            p.var.set(&t.to_dtype(self.dtype)?)?;
        }
        Ok(())
    }

    /// Token embeddings of `ids [batch, seq]` -> `[batch, seq, hidden]`
    /// (times [`Model::embedding_scale`]).
    pub fn embed(&self, ids: &Tensor) -> CResult<Tensor> {
        let (b, t) = ids.dims2()?;
        let x = self.embed_tokens.index_select(&ids.flatten_all()?, 0)?.reshape((b, t, self.config.hidden_size))?;
        match self.embedding_scale() {
            Some(scale) => x * scale as f64,
            None => Ok(x),
        }
    }

    /// The factor on token embeddings where the family scales them:
    /// `sqrt(hidden_size)`, rounded to f32 as transformers does in f32.
    pub(crate) fn embedding_scale(&self) -> Option<f32> {
        self.config.family().scaled_embeddings.then(|| (self.config.hidden_size as f32).sqrt())
    }

    /// Each layer's causal (and sliding-window) mask for a sequence length
    /// (one tensor per distinct window, shared).
    pub fn masks(&self, t: usize) -> CResult<Vec<Tensor>> {
        let mut made: Vec<(Option<usize>, Tensor)> = Vec::new();
        let mut out = Vec::with_capacity(self.layers.len());
        for i in 0..self.layers.len() {
            let window = self.config.layer_window(i);
            let mask = match made.iter().find(|(w, _)| *w == window) {
                Some((_, m)) => m.clone(),
                None => {
                    let m = causal_mask(t, window, self.dtype, &self.device)?;
                    made.push((window, m.clone()));
                    m
                }
            };
            out.push(mask);
        }
        Ok(out)
    }

    /// Number of decoder layers.
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// Layer `i`'s norm weights and projections, for the fused CPU layer.
    pub(crate) fn layer_view(&self, i: usize) -> LayerView<'_> {
        let l = &self.layers[i];
        let (a, m) = (&l.self_attn, &l.mlp);
        LayerView {
            input_norm: &l.input_layernorm,
            post_norm: &l.post_attention_layernorm,
            feedforward_norms: l.feedforward_norms.as_ref().map(|(pre, post)| (pre, post)),
            projections: [&a.q_proj, &a.k_proj, &a.v_proj, &a.o_proj, &m.gate_proj, &m.up_proj, &m.down_proj],
            qk_norms: a.q_norm.as_ref().zip(a.k_norm.as_ref()),
            rope: &self.ropes[i],
            activation: self.activation,
        }
    }

    /// The dropout masks of layer `i`'s adapters for `tokens` input rows, in
    /// [`LINEAR_MODULES`] order (None for a projection without an adapter or
    /// dropout, and all None when evaluating). The one place that fixes the
    /// draw order, for [`Model::layer_forward`] and [`fused_layer`] alike.
    pub(crate) fn dropout_masks(&self, i: usize, tokens: usize, pass: Pass) -> CResult<[Option<DropoutMask>; 7]> {
        let mut rng = pass.layer_rng(i);
        let mut masks: [Option<DropoutMask>; 7] = Default::default();
        let projections = self.layer_view(i).projections;
        for (j, p) in projections.iter().enumerate() {
            // The parts of a fused module's adapter share its one dropout, as in PEFT.
            let same_adapter =
                |q: &&Linear| q.lora.as_ref().zip(p.lora.as_ref()).is_some_and(|(a, b)| a.a.as_tensor().id() == b.a.as_tensor().id());
            masks[j] = match projections[..j].iter().position(same_adapter) {
                Some(first) => masks[first].clone(),
                None => p.dropout_mask(tokens * p.weight.dim(1)?, rng.as_mut()),
            };
        }
        Ok(masks)
    }

    /// Runs decoder layer `i` on `x [batch, seq, hidden]`.
    pub fn layer_forward(&self, i: usize, x: &Tensor, mask: &Tensor, pass: Pass) -> CResult<Tensor> {
        let layer = &self.layers[i];
        let cfg = &self.config;
        let (b, t, _) = x.dims3()?;
        let [mq, mk, mv, mo, mg, mu, md] = self.dropout_masks(i, b * t, pass)?;
        let a = &layer.self_attn;
        // No reshapes: each would add a gradient copy to the backward pass.
        let hs = rms_norm(x, &layer.input_layernorm, cfg.rms_norm_eps)?;
        let (q, k, v) = self.queries_keys_values(i, &hs, [mq.as_ref(), mk.as_ref(), mv.as_ref()], None)?;
        let ctx = attention(&q, &k, &v, Heads::of(cfg), Scoring::of(cfg, i), mask)?;
        let x = self.attention_residual(layer, x, &a.o_proj.forward(&ctx, mo.as_ref())?)?;
        self.mlp_residual(layer, &x, [mg.as_ref(), mu.as_ref(), md.as_ref()])
    }

    /// `x` plus the attention's output `out` (normalised first under sandwich norms).
    fn attention_residual(&self, layer: &Layer, x: &Tensor, out: &Tensor) -> CResult<Tensor> {
        match layer.feedforward_norms {
            Some(_) => x + rms_norm(out, &layer.post_attention_layernorm, self.config.rms_norm_eps)?,
            None => x + out,
        }
    }

    /// Layer `i`'s queries and keys (normalised per head where the family
    /// does, then rotated) and values of the normalised input `hs`: positions
    /// from `cached` on (generation), else from 0 through the fused rotation.
    fn queries_keys_values(
        &self,
        i: usize,
        hs: &Tensor,
        masks: [Option<&DropoutMask>; 3],
        cached: Option<usize>,
    ) -> CResult<(Tensor, Tensor, Tensor)> {
        let eps = self.config.rms_norm_eps;
        let (a, rope) = (&self.layers[i].self_attn, &self.ropes[i]);
        let rotated = |lin: &Linear, norm: &Option<Tensor>, mask: Option<&DropoutMask>| {
            let x = lin.forward(hs, mask)?;
            let x = match norm {
                Some(w) => rms_norm(&x, w, eps)?,
                None => x,
            };
            match cached {
                Some(offset) => rope.apply_from(&x, offset),
                None => rope.apply(&x),
            }
        };
        let q = rotated(&a.q_proj, &a.q_norm, masks[0])?;
        let k = rotated(&a.k_proj, &a.k_norm, masks[1])?;
        Ok((q, k, a.v_proj.forward(hs, masks[2])?))
    }

    /// The second half of a layer: `x + down(act(gate(norm(x))) * up(norm(x)))`
    /// (under sandwich norms the MLP's own norms before and after), with the
    /// gate, up and down adapters' dropout `masks`.
    fn mlp_residual(&self, layer: &Layer, x: &Tensor, masks: [Option<&DropoutMask>; 3]) -> CResult<Tensor> {
        let (m, eps) = (&layer.mlp, self.config.rms_norm_eps);
        let pre = layer.feedforward_norms.as_ref().map_or(&layer.post_attention_layernorm, |(pre, _)| pre);
        let hs = rms_norm(x, pre, eps)?;
        let gate = m.gate_proj.forward(&hs, masks[0])?;
        let up = m.up_proj.forward(&hs, masks[1])?;
        let out = m.down_proj.forward(&gated(&gate, &up, self.activation)?, masks[2])?;
        match &layer.feedforward_norms {
            Some((_, post)) => x + rms_norm(&out, post, eps)?,
            None => x + out,
        }
    }

    /// Gemma 2's soft cap on the output logits, `cap * tanh(logit / cap)`, where the config sets one.
    pub(crate) fn cap_logits(&self, logits: Tensor) -> CResult<Tensor> {
        match self.config.final_logit_softcapping {
            Some(cap) => (logits / cap)?.tanh()? * cap,
            None => Ok(logits),
        }
    }

    /// Final norm and output projection: `[batch, seq, hidden]` -> logits `[batch * seq, vocab]`.
    pub fn head(&self, x: &Tensor) -> CResult<Tensor> {
        let (b, t, h) = x.dims3()?;
        let x = rms_norm(x, &self.norm, self.config.rms_norm_eps)?.reshape((b * t, h))?;
        self.output_logits(&x)
    }

    /// The summed weighted token loss of `ids [batch, seq]` against `targets`
    /// and `weights` (evaluation: no dropout, no gradients). Unlike
    /// [`Model::forward`] it keeps neither a graph through the adapters nor the
    /// whole `[tokens, vocab]` logits: each layer's output is detached and the
    /// head runs over blocks of rows (as the training step's fused head does).
    pub fn loss_sum(&self, ids: &Tensor, targets: &Tensor, weights: &Tensor) -> CResult<f64> {
        let (b, t) = ids.dims2()?;
        let masks = self.masks(t)?;
        let mut x = self.embed(ids)?;
        for (i, mask) in masks.iter().enumerate() {
            x = self.layer_forward(i, &x, mask, Pass::Eval)?.detach();
        }
        let n = b * t;
        let x = x.reshape((n, 1, self.config.hidden_size))?;
        let (targets, weights) = (targets.flatten_all()?, weights.flatten_all()?);
        let rows = fused_head::block_rows(self.config.vocab_size);
        let mut sum = 0.0;
        for start in (0..n).step_by(rows) {
            let len = rows.min(n - start);
            let logits = self.head(&x.narrow(0, start, len)?)?;
            let nll = weighted_nll_sum(&logits, &targets.narrow(0, start, len)?, &weights.narrow(0, start, len)?)?;
            sum += nll.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        }
        Ok(sum)
    }

    /// Logits `[batch * seq, vocab]` for `ids [batch, seq]`.
    pub fn forward(&self, ids: &Tensor, pass: Pass) -> CResult<Tensor> {
        let (_, t) = ids.dims2()?;
        let masks = self.masks(t)?;
        let mut x = self.embed(ids)?;
        for (i, mask) in masks.iter().enumerate() {
            x = self.layer_forward(i, &x, mask, pass)?;
        }
        self.head(&x)
    }
}

/// Gemma's options on a tiny test config of family `cfg.model_type`
/// (`gemma2` or `gemma3_text`): GELU-tanh, a query scale other than the
/// head width's, tied embeddings, odd layers sliding (within
/// `cfg.sliding_window`); Gemma 2's soft caps, Gemma 3's local RoPE base.
#[cfg(test)]
pub(crate) fn gemma_like(cfg: &mut ModelConfig) {
    cfg.architectures.clear();
    cfg.hidden_activation = Some("gelu_pytorch_tanh".into());
    cfg.query_pre_attn_scalar = Some(12.0);
    cfg.tie_word_embeddings = true;
    if cfg.model_type == "gemma2" {
        cfg.attn_logit_softcapping = Some(2.0);
        cfg.final_logit_softcapping = Some(4.0);
    } else {
        cfg.rope_local_base_freq = Some(100.0);
    }
    cfg.layer_types =
        Some((0..cfg.num_hidden_layers).map(|i| if i % 2 == 1 { "sliding_attention" } else { "full_attention" }.into()).collect());
}

#[cfg(test)]
impl Model {
    /// Draws every norm weight around one (normal, standard deviation `sd`)
    /// instead of all ones, so that a test notices a norm skipped or misplaced.
    pub(crate) fn perturb_norms(&mut self, sd: f64) {
        for (name, t) in self.named_weights_mut() {
            if name.ends_with("norm.weight") {
                *t = t.randn_like(1.0, sd).expect("a random tensor");
            }
        }
    }
}

/// Names and shapes of every tensor a checkpoint of `config` holds.
pub fn hf_tensor_shapes(config: &ModelConfig) -> Vec<(String, Vec<usize>)> {
    let (h, v) = (config.hidden_size, config.vocab_size);
    let mut out = vec![("model.embed_tokens.weight".to_string(), vec![v, h])];
    for i in 0..config.num_hidden_layers {
        let p = format!("model.layers.{i}");
        out.push((format!("{p}.input_layernorm.weight"), vec![h]));
        out.push((format!("{p}.post_attention_layernorm.weight"), vec![h]));
        if config.family().sandwich_norms {
            out.push((format!("{p}.pre_feedforward_layernorm.weight"), vec![h]));
            out.push((format!("{p}.post_feedforward_layernorm.weight"), vec![h]));
        }
        if config.family().qk_norm {
            out.push((format!("{p}.self_attn.q_norm.weight"), vec![config.head_dim()]));
            out.push((format!("{p}.self_attn.k_norm.weight"), vec![config.head_dim()]));
        }
        for module in config.family().modules() {
            let (fin, fout) = config.linear_shape(module);
            out.push((format!("{p}.{}.{module}.weight", module_group(module)), vec![fout, fin]));
            if config.has_bias(module) {
                out.push((format!("{p}.{}.{module}.bias", module_group(module)), vec![fout]));
            }
        }
    }
    out.push(("model.norm.weight".into(), vec![h]));
    if !config.tie_word_embeddings {
        out.push(("lm_head.weight".into(), vec![v, h]));
    }
    out
}
