//! Llama (1, 2, 3, 3.x; SmolLM2) and Mistral: the plain decoder. RMSNorm, grouped-query
//! attention with RoPE (optionally scaled), SwiGLU; biases only where the config
//! asks (`attention_bias`, `mlp_bias`); Mistral's optional `sliding_window`.
//! llama.cpp writes both as `llama`, with the q/k rows permuted.

use super::{Family, Gguf, llama_biases};
use crate::config::ModelConfig;

/// `LlamaForCausalLM`.
pub(super) const LLAMA: Family = Family {
    model_type: "llama",
    class: "LlamaForCausalLM",
    gguf: Some(Gguf::plain("llama", true)),
    bias: llama_biases,
    qk_norm: false,
    window: |cfg: &ModelConfig, _| cfg.sliding_window,
    check: |_| Ok(()),
    default_head_dim: None,
    fused: &[],
    unit_offset_norms: false,
    scaled_embeddings: false,
    sandwich_norms: false,
    defaults: |_, _| {},
    chat_format: None,
};

/// `MistralForCausalLM`: Llama's layer with an optional sliding window.
pub(super) const MISTRAL: Family = Family { model_type: "mistral", class: "MistralForCausalLM", ..LLAMA };
