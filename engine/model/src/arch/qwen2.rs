//! Qwen2 and Qwen2.5: Llama's layer with biases on q, k and v (never on o or the
//! MLP). Its sliding window applies only with `use_sliding_window`, on the
//! layers from `max_window_layers` on (or those `layer_types` lists).
//! llama.cpp writes it as `qwen2`, without permuting q/k (and has no window).

use super::llama::LLAMA;
use super::{Family, Gguf, check_layer_types, qwen_defaults, qwen_window};
use crate::config::ModelConfig;

/// `Qwen2ForCausalLM`.
pub(super) const QWEN2: Family = Family {
    model_type: "qwen2",
    class: "Qwen2ForCausalLM",
    gguf: Some(Gguf::plain("qwen2", false)),
    bias: |_: &ModelConfig, module: &str| matches!(module, "q_proj" | "k_proj" | "v_proj"),
    window: qwen_window,
    check: check_layer_types,
    defaults: qwen_defaults,
    ..LLAMA
};
