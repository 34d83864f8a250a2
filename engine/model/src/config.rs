//! `config.json` of a Hugging Face decoder model (the families in
//! [`super::arch`]). Field names are Hugging Face's, so the file is read and
//! written unchanged.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::arch::{self, Family};
use super::kernels::gated::Activation;
use super::rope_scaling::RopeScaling;
use crate::error::{Error, Result};

/// Architecture hyper-parameters of a decoder model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// e.g. `["MistralForCausalLM"]`.
    #[serde(default)]
    pub architectures: Vec<String>,
    /// `mistral` or `llama`.
    #[serde(default = "default_model_type")]
    pub model_type: String,
    /// Number of token embeddings.
    pub vocab_size: usize,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the SwiGLU MLP.
    pub intermediate_size: usize,
    /// Decoder layers.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads (grouped-query attention); defaults to the query heads.
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    /// Per-head width; defaults to the family's ([`Family::default_head_dim`]),
    /// else hidden_size / num_attention_heads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_dim: Option<usize>,
    /// Activation of the MLP: `silu`, or GELU's tanh form ([`ModelConfig::activation`]).
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// Longest position the rotary embedding is built for.
    #[serde(default = "default_max_pos")]
    pub max_position_embeddings: usize,
    /// RMSNorm epsilon.
    #[serde(default = "default_eps")]
    pub rms_norm_eps: f64,
    /// RoPE base.
    #[serde(default = "default_theta")]
    pub rope_theta: f64,
    /// Attention window (Mistral); `null` means full causal attention.
    #[serde(default)]
    pub sliding_window: Option<usize>,
    /// Whether the output projection shares the embedding matrix.
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// Beginning-of-sequence token id.
    #[serde(default)]
    pub bos_token_id: Option<u32>,
    /// End-of-sequence token id.
    #[serde(default)]
    pub eos_token_id: Option<u32>,
    /// Stored weight dtype (`float32`, `bfloat16`, `float16`); transformers 5 calls it `dtype`.
    #[serde(default, alias = "dtype")]
    pub torch_dtype: Option<String>,
    /// transformers 5 keeps the RoPE base here (`{"rope_theta": ..., "rope_type": "default"}`)
    /// instead of in `rope_theta`; it wins when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_parameters: Option<serde_json::Value>,
    /// RoPE scaling (transformers 4 layout): `linear` and `llama3` are
    /// supported ([`RopeScaling`]); in transformers 5 the same fields sit in
    /// `rope_parameters`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_scaling: Option<serde_json::Value>,
    /// Whether the attention projections (q, k, v, o) have biases (Llama's
    /// option); Qwen2 always has q, k and v biases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention_bias: Option<bool>,
    /// Whether the MLP projections have biases (Llama's option).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mlp_bias: Option<bool>,
    /// The share of each head that RoPE rotates (Phi-4-mini: 0.75); all of it when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial_rotary_factor: Option<f64>,
    /// The pretraining context of a `longrope` model (Phi-3), when the config keeps it here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_max_position_embeddings: Option<usize>,
    /// Gemma's name for the MLP activation (`gelu_pytorch_tanh`); wins over `hidden_act` when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden_activation: Option<String>,
    /// Gemma: the attention scores' factor is `query_pre_attn_scalar^-1/2` instead of `head_dim^-1/2`.
    /// Written as an integer where it is one (transformers' Gemma configs take only integers).
    #[serde(default, skip_serializing_if = "Option::is_none", serialize_with = "whole_as_integer")]
    pub query_pre_attn_scalar: Option<f64>,
    /// Gemma 2: attention scores become `cap * tanh(score / cap)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attn_logit_softcapping: Option<f64>,
    /// Gemma 2: output logits become `cap * tanh(logit / cap)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_logit_softcapping: Option<f64>,
    /// Gemma, Qwen: each layer's attention, `sliding_attention` or `full_attention`
    /// (absent: the family's pattern).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer_types: Option<Vec<String>>,
    /// Gemma 3: the RoPE base of the sliding-window layers (`rope_theta` is the full layers').
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_local_base_freq: Option<f64>,
    /// Gemma 3 (older configs): every this-many-th layer attends fully, the others in the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sliding_window_pattern: Option<usize>,
    /// Gemma 3: bidirectional attention (an embedding model's setting); refused when true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_bidirectional_attention: Option<bool>,
    /// Qwen2: whether `sliding_window` applies at all (false by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_sliding_window: Option<bool>,
    /// Qwen: the layers before this one attend fully, the others in the window
    /// (with `use_sliding_window`; 28 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_window_layers: Option<usize>,
}

/// `Some(256.0)` written as `256`; other values as they are.
fn whole_as_integer<S: serde::Serializer>(value: &Option<f64>, s: S) -> std::result::Result<S::Ok, S::Error> {
    match value {
        Some(v) if v.fract() == 0.0 && v.abs() < 1e15 => s.serialize_i64(*v as i64),
        Some(v) => s.serialize_f64(*v),
        None => s.serialize_none(),
    }
}

fn default_model_type() -> String {
    "mistral".into()
}
fn default_act() -> String {
    "silu".into()
}
fn default_max_pos() -> usize {
    4096
}
fn default_eps() -> f64 {
    1e-5
}
fn default_theta() -> f64 {
    10_000.0
}

impl ModelConfig {
    /// A config of `family` with these sizes and every other field at the
    /// default a `config.json` that leaves it out gets: the base of the
    /// configs the engine writes itself.
    pub fn new(family: &Family, vocab_size: usize, hidden_size: usize, intermediate_size: usize, layers: usize, heads: usize) -> Self {
        let sizes = serde_json::json!({
            "model_type": family.model_type, "architectures": [family.class], "vocab_size": vocab_size,
            "hidden_size": hidden_size, "intermediate_size": intermediate_size, "num_hidden_layers": layers,
            "num_attention_heads": heads,
        });
        let mut config: Self = serde_json::from_value(sizes.clone()).expect("a config of sizes alone is read");
        (family.defaults)(&mut config, &sizes);
        config
    }

    /// Reads and checks `DIR/config.json`.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join("config.json");
        let text = std::fs::read_to_string(&path).map_err(|e| {
            Error::model(dir, format!("cannot read config.json ({e}); a model directory needs the Hugging Face config.json"))
        })?;
        let raw: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::model(&path, format!("invalid config.json: {e}")))?;
        let mut cfg: Self = serde_json::from_value(raw.clone()).map_err(|e| Error::model(&path, format!("invalid config.json: {e}")))?;
        if let Some(family) = arch::by_model_type(&cfg.model_type) {
            (family.defaults)(&mut cfg, &raw);
        }
        cfg.apply_rope_parameters().map_err(|m| Error::model(&path, m))?;
        cfg.check().map_err(|m| Error::model(&path, m))?;
        Ok(cfg)
    }

    /// Takes `rope_parameters.rope_theta` (transformers 5 layout) as the RoPE
    /// base; its scaling fields are read by [`ModelConfig::rope_scaling`].
    fn apply_rope_parameters(&mut self) -> std::result::Result<(), String> {
        let Some(params) = &self.rope_parameters else { return Ok(()) };
        if let Some(theta) = params.get("rope_theta").and_then(|t| t.as_f64()) {
            self.rope_theta = theta;
        }
        Ok(())
    }

    /// The RoPE variant: `rope_scaling` (transformers 4) or
    /// `rope_parameters` (transformers 5); an error names the field and the
    /// unsupported type.
    pub fn rope_scaling(&self) -> std::result::Result<RopeScaling, String> {
        match (&self.rope_scaling, &self.rope_parameters) {
            (Some(v), _) if !v.is_null() => RopeScaling::parse(v, "rope_scaling"),
            (_, Some(v)) => RopeScaling::parse(v, "rope_parameters"),
            _ => Ok(RopeScaling::Default),
        }
    }

    /// The values of each head that RoPE rotates: `partial_rotary_factor` of
    /// `head_dim` (`partial_rotary_factor` in the config's top level or in
    /// `rope_parameters`), rounded down as transformers does.
    pub fn rotary_dim(&self) -> usize {
        let in_parameters = self.rope_parameters.as_ref().and_then(|p| p.get("partial_rotary_factor")).and_then(|f| f.as_f64());
        let factor = self.partial_rotary_factor.or(in_parameters).unwrap_or(1.0);
        (self.head_dim() as f64 * factor) as usize
    }

    /// The RoPE base and variant of layer `layer`: a sliding-window layer's
    /// own where the config gives one (transformers 5's `rope_parameters`
    /// keyed by `sliding_attention` / `full_attention`, or Gemma 3's
    /// `rope_local_base_freq`), else the model's.
    pub fn layer_rope_parameters(&self, layer: usize) -> std::result::Result<(f64, RopeScaling), String> {
        let kind = if self.layer_window(layer).is_some() { "sliding_attention" } else { "full_attention" };
        if let Some(own) = self.rope_parameters.as_ref().and_then(|p| p.get(kind)).filter(|v| v.is_object()) {
            let theta = own.get("rope_theta").and_then(|t| t.as_f64()).unwrap_or(self.rope_theta);
            return Ok((theta, RopeScaling::parse(own, &format!("rope_parameters.{kind}"))?));
        }
        match self.rope_local_base_freq {
            Some(base) if kind == "sliding_attention" => Ok((base, RopeScaling::Default)),
            _ => Ok((self.rope_theta, self.rope_scaling()?)),
        }
    }

    /// Layer `layer`'s rotary tables: the inverse frequencies over
    /// `max_position_embeddings` positions with a factor of 1 on cosines and
    /// sines, except under `longrope`: the short factors' frequencies up to
    /// the pretraining context, the long factors' up to
    /// `max_position_embeddings` (for a pass reaching beyond it), and
    /// `attention_factor`, else `sqrt(1 + ln(s) / ln(original))` for the
    /// scaling `s` (`factor`, else `max_position_embeddings / original`), as
    /// transformers computes them.
    pub fn layer_rope(&self, layer: usize) -> std::result::Result<LayerRope, String> {
        let (theta, scaling) = self.layer_rope_parameters(layer)?;
        let (rotary_dim, max) = (self.rotary_dim(), self.max_position_embeddings);
        let inv_freq = scaling.inv_freq(rotary_dim, theta);
        let RopeScaling::LongRope { attention_factor, factor, original_max_position_embeddings, .. } = scaling else {
            return Ok(LayerRope { inv_freq, positions: max, scale: 1.0, long: None });
        };
        let original = original_max_position_embeddings.or(self.original_max_position_embeddings.map(|o| o as f64)).unwrap_or(max as f64);
        let factor = factor.unwrap_or(max as f64 / original);
        let scale = attention_factor.unwrap_or(if factor <= 1.0 { 1.0 } else { (1.0 + factor.ln() / original.ln()).sqrt() });
        let positions = original.min(max as f64) as usize;
        let long = scaling.long_inv_freq(rotary_dim, theta).filter(|_| positions < max).map(|f| (f, max));
        Ok(LayerRope { inv_freq, positions, scale: scale as f32, long })
    }

    /// The MLP's activation: `hidden_activation` (Gemma) or `hidden_act`.
    pub fn activation(&self) -> std::result::Result<Activation, String> {
        let (field, name) = match &self.hidden_activation {
            Some(name) => ("hidden_activation", name),
            None => ("hidden_act", &self.hidden_act),
        };
        match name.as_str() {
            "silu" | "swish" => Ok(Activation::Silu),
            "gelu_pytorch_tanh" | "gelu_new" => Ok(Activation::GeluTanh),
            other => Err(format!("{field} {other:?} is not supported (silu, gelu_pytorch_tanh)")),
        }
    }

    /// The decoder family ([`arch`]) this config describes. A config that
    /// passed [`ModelConfig::check`] always has one.
    ///
    /// # Panics
    /// On an unsupported `model_type` (configs from files are checked first).
    pub fn family(&self) -> &'static Family {
        arch::by_model_type(&self.model_type).unwrap_or_else(|| panic!("model_type {:?} was not checked", self.model_type))
    }

    /// The sliding attention window of layer `layer`, as the family reads the config.
    pub fn layer_window(&self, layer: usize) -> Option<usize> {
        (self.family().window)(self, layer)
    }

    /// Whether projection `module` (a [`crate::linear::LINEAR_MODULES`] name) has a bias.
    pub fn has_bias(&self, module: &str) -> bool {
        (self.family().bias)(self, module)
    }

    /// Checks internal consistency and support.
    pub fn check(&self) -> std::result::Result<(), String> {
        let supported = || arch::FAMILIES.iter().map(|f| f.model_type).collect::<Vec<_>>().join(", ");
        let Some(family) = arch::by_model_type(&self.model_type) else {
            return Err(format!(
                "model_type {:?} is not supported yet (supported: {}); its weights would be read wrongly",
                self.model_type,
                supported()
            ));
        };
        // The weights are read as `model_type` says (as transformers' AutoModel does);
        // a class no family has means a checkpoint of some other design.
        if let Some(other) = self.architectures.iter().find(|a| !arch::FAMILIES.iter().any(|f| f.class == a.as_str())) {
            let classes: Vec<&str> = arch::FAMILIES.iter().map(|f| f.class).collect();
            return Err(format!("architectures names {other:?}, which is not supported yet (supported: {})", classes.join(", ")));
        }
        self.activation()?;
        if self.use_bidirectional_attention == Some(true) {
            return Err("use_bidirectional_attention = true (an embedding model) is not supported: this is a causal decoder".into());
        }
        (family.check)(self)?;
        if self.num_attention_heads == 0 || !self.num_attention_heads.is_multiple_of(self.kv_heads()) {
            return Err("num_attention_heads must be a positive multiple of num_key_value_heads".into());
        }
        if self.head_dim.is_none() && family.default_head_dim.is_none() && !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err("hidden_size must be divisible by num_attention_heads".into());
        }
        if !self.rotary_dim().is_multiple_of(2) || self.rotary_dim() == 0 || self.rotary_dim() > self.head_dim() {
            return Err(format!(
                "the rotary width ({} of head_dim {}, partial_rotary_factor) must be even and in 2..=head_dim",
                self.rotary_dim(),
                self.head_dim()
            ));
        }
        for layer in 0..self.num_hidden_layers {
            if let (_, RopeScaling::LongRope { short_factor, long_factor, .. }) = self.layer_rope_parameters(layer)? {
                let want = self.rotary_dim() / 2;
                if short_factor.len() != want || long_factor.len() != want {
                    return Err(format!(
                        "rope_scaling: longrope needs {want} short_factor and long_factor values (rotary_dim / 2), \
                         got {} and {}",
                        short_factor.len(),
                        long_factor.len()
                    ));
                }
            }
        }
        Ok(())
    }

    /// Key/value heads.
    pub fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    /// Per-head width: `head_dim`, else the family's default, else the hidden size over the heads.
    pub fn head_dim(&self) -> usize {
        let family_default = arch::by_model_type(&self.model_type).and_then(|f| f.default_head_dim);
        self.head_dim.or(family_default).unwrap_or(self.hidden_size / self.num_attention_heads)
    }

    /// The factor on the attention scores: `1 / sqrt(head_dim)`, or Gemma's
    /// `1 / sqrt(query_pre_attn_scalar)`.
    pub fn attention_scale(&self) -> f64 {
        1.0 / self.query_pre_attn_scalar.unwrap_or(self.head_dim() as f64).sqrt()
    }

    /// (input features, output features) of a linear projection by its name
    /// (a fused module's: all its parts' rows).
    pub fn linear_shape(&self, module: &str) -> (usize, usize) {
        let (h, i) = (self.hidden_size, self.intermediate_size);
        let q = self.num_attention_heads * self.head_dim();
        let kv = self.kv_heads() * self.head_dim();
        match module {
            "q_proj" => (h, q),
            "k_proj" | "v_proj" => (h, kv),
            "o_proj" => (q, h),
            "gate_proj" | "up_proj" => (h, i),
            "down_proj" => (i, h),
            fused => match arch::fused_parts(fused) {
                Some(parts) => (h, parts.iter().map(|p| self.linear_shape(p).1).sum()),
                None => panic!("unknown linear module {fused}"),
            },
        }
    }

    /// Weight values of one layer's seven projections (biases and norms not counted).
    pub fn projection_weights_per_layer(&self) -> usize {
        crate::linear::LINEAR_MODULES
            .iter()
            .map(|m| {
                let (i, o) = self.linear_shape(m);
                i * o
            })
            .sum()
    }

    /// The parameters of a LoRA adapter of `rank` on the projections
    /// `targets` ([`crate::linear::LINEAR_MODULES`] names) of every layer: one
    /// adapter per checkpoint module (a fused module's parts share one).
    pub fn lora_parameters(&self, targets: &[String], rank: usize) -> usize {
        let family = self.family();
        let per_layer: usize = family
            .modules()
            .into_iter()
            .filter(|m| targets.iter().any(|t| t == m || family.fused_of(t).is_some_and(|f| f.module == *m)))
            .map(|m| {
                let (fin, fout) = self.linear_shape(m);
                rank * (fin + fout)
            })
            .sum();
        per_layer * self.num_hidden_layers
    }

    /// Total parameter count.
    pub fn num_parameters(&self) -> usize {
        let biases: usize = crate::linear::LINEAR_MODULES.iter().filter(|m| self.has_bias(m)).map(|m| self.linear_shape(m).1).sum();
        let qk_norms = if self.family().qk_norm { 2 * self.head_dim() } else { 0 };
        let norms = if self.family().sandwich_norms { 4 } else { 2 };
        let per_layer = self.projection_weights_per_layer() + biases + norms * self.hidden_size + qk_norms;
        let embed = self.vocab_size * self.hidden_size;
        let head = if self.tie_word_embeddings { 0 } else { embed };
        embed + head + self.hidden_size + per_layer * self.num_hidden_layers
    }
}

/// A layer's rotary tables, as [`crate::kernels::rope::Rope`] is built from them.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerRope {
    /// The inverse frequencies (`rotary_dim / 2`).
    pub inv_freq: Vec<f32>,
    /// The positions they cover.
    pub positions: usize,
    /// The factor on cosines and sines (`longrope`'s attention factor; 1 elsewhere).
    pub scale: f32,
    /// `longrope`: the long factors' frequencies and the positions they
    /// cover, for a pass whose positions reach beyond `positions`.
    pub long: Option<(Vec<f32>, usize)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_architectures_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let base = r#""vocab_size":64,"hidden_size":32,"intermediate_size":64,"num_hidden_layers":1,"num_attention_heads":4"#;
        std::fs::write(dir.path().join("config.json"), format!(r#"{{{base},"model_type":"olmo2","architectures":["Olmo2ForCausalLM"]}}"#))
            .unwrap();
        let err = ModelConfig::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("config.json") && err.contains("model_type \"olmo2\""), "{err}");
        let qwen = |extra: &str| format!(r#"{{{base},"model_type":"qwen2","architectures":["Qwen2ForCausalLM"],{extra}}}"#);
        std::fs::write(dir.path().join("config.json"), qwen(r#""use_sliding_window":true,"max_window_layers":0"#)).unwrap();
        assert_eq!(ModelConfig::load(dir.path()).unwrap().layer_window(0), Some(4096), "transformers' default window");
        std::fs::write(dir.path().join("config.json"), qwen(r#""layer_types":["chunked_attention"]"#)).unwrap();
        let err = ModelConfig::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("layer_types") && err.contains("chunked_attention"), "{err}");
        std::fs::write(dir.path().join("config.json"), format!(r#"{{{base},"model_type":"llama","architectures":["GemmaForCausalLM"]}}"#))
            .unwrap();
        let err = ModelConfig::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("GemmaForCausalLM"), "{err}");
        std::fs::write(dir.path().join("config.json"), format!(r#"{{{base},"model_type":"llama","architectures":["LlamaForCausalLM"]}}"#))
            .unwrap();
        assert!(ModelConfig::load(dir.path()).is_ok());
    }

    /// A Qwen3 config without `head_dim` has transformers' default of 128, not
    /// hidden / heads; a written config leaves out a `head_dim` it does not have.
    #[test]
    fn qwen3_head_dim_defaults_as_transformers_does() {
        let json = r#"{"vocab_size":64,"hidden_size":1024,"intermediate_size":64,"num_hidden_layers":1,"num_attention_heads":16,
            "num_key_value_heads":8,"model_type":"qwen3","architectures":["Qwen3ForCausalLM"]}"#;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), json).unwrap();
        let qwen3 = ModelConfig::load(dir.path()).unwrap();
        assert_eq!(qwen3.head_dim(), 128);
        assert_eq!(qwen3.linear_shape("q_proj"), (1024, 16 * 128));
        std::fs::write(dir.path().join("config.json"), json.replace("qwen3", "qwen2").replace("Qwen3", "Qwen2")).unwrap();
        let qwen2 = ModelConfig::load(dir.path()).unwrap();
        assert_eq!(qwen2.head_dim(), 64);
        assert!(!serde_json::to_string(&qwen2).unwrap().contains("head_dim"));
    }

    /// transformers' Gemma configs refuse a float `query_pre_attn_scalar`: a whole one is written as an integer.
    #[test]
    fn a_whole_query_pre_attn_scalar_is_written_as_an_integer() {
        let mut cfg = crate::presets::tiny_model_config(64);
        cfg.query_pre_attn_scalar = Some(256.0);
        let written = serde_json::to_value(&cfg).unwrap();
        assert_eq!(written["query_pre_attn_scalar"].as_i64(), Some(256), "{written}");
        cfg.query_pre_attn_scalar = Some(20.5);
        assert_eq!(serde_json::to_value(&cfg).unwrap()["query_pre_attn_scalar"].as_f64(), Some(20.5));
        let back: ModelConfig = serde_json::from_value(written).unwrap();
        assert_eq!(back.query_pre_attn_scalar, Some(256.0));
    }

    #[test]
    fn reads_transformers_5_rope_parameters_and_dtype() {
        let dir = tempfile::tempdir().unwrap();
        let json = r#"{"vocab_size":64,"hidden_size":32,"intermediate_size":64,"num_hidden_layers":1,"num_attention_heads":4,
            "rope_parameters":{"rope_theta":1000000.0,"rope_type":"default"},"dtype":"bfloat16"}"#;
        std::fs::write(dir.path().join("config.json"), json).unwrap();
        let cfg = ModelConfig::load(dir.path()).unwrap();
        assert_eq!(cfg.rope_theta, 1e6);
        assert_eq!(cfg.torch_dtype.as_deref(), Some("bfloat16"));
        let yarn = json.replace("\"default\"", "\"yarn\"");
        std::fs::write(dir.path().join("config.json"), yarn).unwrap();
        assert!(ModelConfig::load(dir.path()).unwrap_err().to_string().contains("yarn"));
    }
}
