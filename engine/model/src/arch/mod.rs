//! The decoder families, one file each. A family is described once, as a
//! [`Family`]: what its checkpoint holds beyond the shared decoder
//! ([`crate::decoder`]) and what it computes differently. Every path
//! reads the description instead of testing `model_type`: the composed
//! (autograd) layer GPUs run, the fused CPU training layer, the KV-cache
//! prefill and the one-row decode step, the tensor list (loading, saving,
//! merging), the memory estimate, GGUF import and export.
//!
//! Adding a family: write its file here with its `Family` constant, list it in
//! [`FAMILIES`], and where it needs an operation the decoder lacks, add the
//! flag here and the op in `model::kernels` (fused and composed forms, with a
//! test that they agree). ARCHITECTURE.md walks through it.

mod gemma;
mod llama;
mod phi3;
mod qwen2;
mod qwen3;

use super::config::ModelConfig;

/// What distinguishes one decoder family from the others.
#[derive(Debug)]
pub struct Family {
    /// `config.json`'s `model_type`.
    pub model_type: &'static str,
    /// transformers' class, the `architectures` entry.
    pub class: &'static str,
    /// How llama.cpp stores the family (None: llama.cpp has no such architecture).
    pub gguf: Option<Gguf>,
    /// Whether projection `module` (a [`crate::linear::LINEAR_MODULES`] name) has a bias under this config.
    pub bias: fn(&ModelConfig, &str) -> bool,
    /// An RMSNorm over each query and key head before the rotation
    /// (`self_attn.q_norm.weight`, `self_attn.k_norm.weight`, `[head_dim]`).
    pub qk_norm: bool,
    /// The sliding attention window of a layer (by index) under this config.
    pub window: fn(&ModelConfig, usize) -> Option<usize>,
    /// What this family refuses in a config (beyond the shared checks).
    pub check: fn(&ModelConfig) -> Result<(), String>,
    /// The per-head width when `config.json` gives none, where the family
    /// fixes one (transformers' `Qwen3Config` defaults to 128); None: the
    /// hidden size over the heads.
    pub default_head_dim: Option<usize>,
    /// Projections the checkpoint stores as one matrix (Phi-3's `qkv_proj`):
    /// the decoder computes each part as its own projection, and a LoRA
    /// adapter on the fused module is one adapter over all parts (one `A`
    /// shared, `B`'s rows split), as PEFT trains and saves it.
    pub fused: &'static [Fused],
    /// Norm weights stored as `w - 1`: Gemma's RMSNorm multiplies by `1 + w`.
    /// The decoder holds `1 + w` (added on loading, taken away on saving).
    pub unit_offset_norms: bool,
    /// Token embeddings multiplied by `sqrt(hidden_size)` (Gemma), in the weights' dtype.
    pub scaled_embeddings: bool,
    /// Gemma's sandwich norms: `post_attention_layernorm` normalises the
    /// attention's output before its residual add, `pre_feedforward_layernorm`
    /// the MLP's input and `post_feedforward_layernorm` its output.
    pub sandwich_norms: bool,
    /// Fills what this family's config may leave out, with `raw` the file as
    /// read (to tell an absent field from a default one).
    pub defaults: fn(&mut ModelConfig, &serde_json::Value),
    /// The family's own chat format, for a model directory that carries no
    /// chat template (a base model's GGUF file); None: the built-in Mistral one.
    pub chat_format: Option<ChatFormat>,
}

/// A family's chat format.
#[derive(Debug)]
pub struct ChatFormat {
    /// Its Jinja template, as Hugging Face templates are written (`messages`,
    /// `bos_token`, `add_generation_prompt`).
    pub template: &'static str,
    /// The token that ends a turn (a stop token when generating).
    pub end_of_turn: &'static str,
}

/// Projections stored as one matrix: the parts' rows stacked in order.
#[derive(Debug)]
pub struct Fused {
    /// The checkpoint's (and PEFT's) module name, `qkv_proj`.
    pub module: &'static str,
    /// The parts, [`crate::linear::LINEAR_MODULES`] names, in row order.
    pub parts: &'static [&'static str],
}

impl Family {
    /// The fused module `part` belongs to in this family's checkpoints, if any.
    pub fn fused_of(&self, part: &str) -> Option<&'static Fused> {
        self.fused.iter().find(|f| f.parts.contains(&part))
    }

    /// The checkpoint's linear module names, in [`crate::linear::LINEAR_MODULES`]
    /// order with each fused group in its first part's place.
    pub fn modules(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        for part in crate::linear::LINEAR_MODULES {
            let name = self.fused_of(part).map_or(part, |f| f.module);
            if !out.contains(&name) {
                out.push(name);
            }
        }
        out
    }

    /// PEFT's `target_modules` for the adapted projections `parts`
    /// ([`crate::linear::LINEAR_MODULES`] names), or why they cannot be adapted
    /// here: a fused module is adapted whole or not at all.
    pub fn peft_targets(&self, parts: &[String]) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        for module in self.modules() {
            let members: Vec<&str> = self.fused.iter().find(|f| f.module == module).map_or(vec![module], |f| f.parts.to_vec());
            let targeted = members.iter().filter(|m| parts.iter().any(|p| p == *m)).count();
            if targeted == members.len() {
                out.push(module.to_string());
            } else if targeted > 0 {
                return Err(format!(
                    "{} stores {} as one matrix, {module}: target {module} (or all of them), not some",
                    self.model_type,
                    members.join(", ")
                ));
            }
        }
        Ok(out)
    }
}

/// The projections a fused module name stands for in any family
/// (`qkv_proj` -> q, k, v), for reading LoRA targets before the model is known.
pub fn fused_parts(module: &str) -> Option<&'static [&'static str]> {
    FAMILIES.into_iter().flat_map(|f| f.fused).find(|f| f.module == module).map(|f| f.parts)
}

/// A family as llama.cpp's converter writes it and its loader reads it.
#[derive(Debug)]
pub struct Gguf {
    /// `general.architecture`.
    pub arch: &'static str,
    /// Whether the converter permutes the rows of `q_proj` and `k_proj` (Llama's `permute`).
    pub permutes_qk: bool,
    /// The sliding-window layers a file can say (`{arch}.attention.sliding_window`):
    /// `Some(n)`, all but every `n`-th layer (`n` in `attention.sliding_window_pattern`,
    /// or this when the file has none; 0: every layer); `None`, none.
    pub sliding_pattern: Option<usize>,
    /// The RoPE base of the sliding-window layers when a file names none
    /// (`rope.freq_base_swa`); `None`: they share the other layers' base and scaling.
    pub sliding_rope_base: Option<f64>,
    /// Layer counts at which llama.cpp scales attention scores by
    /// `(hidden / heads)^-1/2` instead of `head_dim^-1/2` (its rule for the
    /// 27B Gemma models, which reads no `query_pre_attn_scalar`).
    pub wide_query_scale_layers: &'static [usize],
    /// Whether llama.cpp reads no separate output layer for the architecture
    /// (the output layer is the embedding matrix).
    pub tied_only: bool,
}

impl Gguf {
    /// An architecture with none of the sliding-window, attention-scale and output rules.
    pub(super) const fn plain(arch: &'static str, permutes_qk: bool) -> Self {
        Self { arch, permutes_qk, sliding_pattern: None, sliding_rope_base: None, wide_query_scale_layers: &[], tied_only: false }
    }
}

/// Every family this engine computes.
pub const FAMILIES: [&Family; 7] =
    [&llama::LLAMA, &llama::MISTRAL, &qwen2::QWEN2, &qwen3::QWEN3, &phi3::PHI3, &gemma::GEMMA2, &gemma::GEMMA3];

/// The family of `model_type`, if supported.
pub fn by_model_type(model_type: &str) -> Option<&'static Family> {
    FAMILIES.into_iter().find(|f| f.model_type == model_type)
}

/// The family a GGUF file's `general.architecture` names, if supported: the
/// first written as that architecture (`llama`: Llama, which Mistral files
/// also are), else the family of that `model_type` (`mistral`, which some
/// converters write).
pub fn by_gguf_arch(arch: &str) -> Option<&'static Family> {
    FAMILIES
        .into_iter()
        .find(|f| f.gguf.as_ref().is_some_and(|g| g.arch == arch))
        .or_else(|| FAMILIES.into_iter().find(|f| f.model_type == arch && f.gguf.is_some()))
}

/// Llama's option for biases: `attention_bias` on q, k, v and o, `mlp_bias` on the MLP.
fn llama_biases(cfg: &ModelConfig, module: &str) -> bool {
    match module {
        "q_proj" | "k_proj" | "v_proj" | "o_proj" => cfg.attention_bias == Some(true),
        _ => cfg.mlp_bias == Some(true),
    }
}

/// Whether `layer` is a sliding one by the config's `layer_types`, when it lists them.
fn listed_as_sliding(cfg: &ModelConfig, layer: usize) -> Option<bool> {
    cfg.layer_types.as_ref().map(|types| types.get(layer).is_some_and(|t| t == "sliding_attention"))
}

/// Refuses a `layer_types` that does not list each layer as sliding or full attention.
fn check_layer_types(cfg: &ModelConfig) -> Result<(), String> {
    if let Some(types) = &cfg.layer_types {
        if types.len() != cfg.num_hidden_layers {
            return Err(format!("layer_types lists {} layers, num_hidden_layers is {}", types.len(), cfg.num_hidden_layers));
        }
        if let Some(other) = types.iter().find(|t| *t != "sliding_attention" && *t != "full_attention") {
            return Err(format!("layer_types: {other:?} is not supported (sliding_attention, full_attention)"));
        }
    }
    Ok(())
}

/// transformers' `max_window_layers` when a Qwen config leaves it out.
const QWEN_MAX_WINDOW_LAYERS: usize = 28;

/// The window of a Qwen layer, as transformers' `Qwen2Config` and
/// `Qwen3Config` lay it out: none unless `use_sliding_window`; then
/// `sliding_window` on the `sliding_attention` layers of `layer_types`, or,
/// without that list, on the layers from `max_window_layers` on.
fn qwen_window(cfg: &ModelConfig, layer: usize) -> Option<usize> {
    if cfg.use_sliding_window != Some(true) {
        return None;
    }
    let slides = listed_as_sliding(cfg, layer).unwrap_or(layer >= cfg.max_window_layers.unwrap_or(QWEN_MAX_WINDOW_LAYERS));
    if slides { cfg.sliding_window } else { None }
}

/// transformers' window width when a Qwen config switches the window on without one.
fn qwen_defaults(cfg: &mut ModelConfig, raw: &serde_json::Value) {
    if cfg.use_sliding_window == Some(true) && raw.get("sliding_window").is_none() {
        cfg.sliding_window = Some(4096);
    }
}
