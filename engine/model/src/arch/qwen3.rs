//! Qwen3 (dense): Llama's layer with an RMSNorm over each query and key head
//! before the rotation (`q_norm`, `k_norm`), an explicit `head_dim` (128 when
//! `config.json` omits it, as transformers' default; the query width need
//! not be the hidden size), biases only with
//! `attention_bias`. The sliding window is Qwen2's rule.
//! llama.cpp writes it as `qwen3`, without permuting q/k.

use super::llama::LLAMA;
use super::{Family, Gguf, check_layer_types, qwen_defaults, qwen_window};

/// `Qwen3ForCausalLM`.
pub(super) const QWEN3: Family = Family {
    model_type: "qwen3",
    class: "Qwen3ForCausalLM",
    gguf: Some(Gguf::plain("qwen3", false)),
    qk_norm: true,
    window: qwen_window,
    check: check_layer_types,
    defaults: qwen_defaults,
    default_head_dim: Some(128),
    ..LLAMA
};
