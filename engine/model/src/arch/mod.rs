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

mod llama;
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
    /// The sliding attention window in force under this config.
    pub window: fn(&ModelConfig) -> Option<usize>,
    /// What this family refuses in a config (beyond the shared checks).
    pub check: fn(&ModelConfig) -> Result<(), String>,
    /// The per-head width when `config.json` gives none, where the family
    /// fixes one (transformers' `Qwen3Config` defaults to 128); None: the
    /// hidden size over the heads.
    pub default_head_dim: Option<usize>,
}

/// A family as llama.cpp's converter writes it.
#[derive(Debug)]
pub struct Gguf {
    /// `general.architecture`.
    pub arch: &'static str,
    /// Whether the converter permutes the rows of `q_proj` and `k_proj` (Llama's `permute`).
    pub permutes_qk: bool,
}

/// Every family this engine computes.
pub const FAMILIES: [&Family; 4] = [&llama::LLAMA, &llama::MISTRAL, &qwen2::QWEN2, &qwen3::QWEN3];

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

/// The window of a Qwen config: `sliding_window` only with `use_sliding_window`.
fn qwen_window(cfg: &ModelConfig) -> Option<usize> {
    if cfg.use_sliding_window == Some(true) { cfg.sliding_window } else { None }
}

/// Qwen's per-layer sliding window (`max_window_layers`) is not computed: refused when switched on.
fn qwen_check(cfg: &ModelConfig) -> Result<(), String> {
    if cfg.use_sliding_window == Some(true) {
        return Err(format!(
            "use_sliding_window = true is not supported yet for {} (its per-layer max_window_layers rule); \
             set it to false (these models are trained without it)",
            cfg.model_type
        ));
    }
    Ok(())
}
