//! Phi-3 and Phi-4-mini: Llama's layer with q, k and v stored as one matrix
//! (`self_attn.qkv_proj`, rows q then k then v) and gate and up as another
//! (`mlp.gate_up_proj`, gate rows first), no biases, rotary embeddings on
//! the first `partial_rotary_factor` of each head (Phi-4-mini: 0.75), RoPE
//! scaled by `longrope` in the long-context models, and an optional
//! `sliding_window`. PEFT adapts `qkv_proj`, `o_proj`, `gate_up_proj` and
//! `down_proj`; a LoRA on a fused module shares one `A` across its parts.
//! llama.cpp's `phi3` keeps the fused matrices (`attn_qkv`, `ffn_up`), the
//! rotary width (`rope.dimension_count`) and longrope's factors
//! (`rope_factors_short`, `rope_factors_long`); it reads the sliding window
//! but attends over the whole context.

use super::llama::LLAMA;
use super::{Family, Fused, Gguf};

/// `Phi3ForCausalLM`.
pub(super) const PHI3: Family = Family {
    model_type: "phi3",
    class: "Phi3ForCausalLM",
    gguf: Some(Gguf { sliding_pattern: Some(0), ..Gguf::plain("phi3", false) }),
    bias: |_, _| false,
    fused: &[
        Fused { module: "qkv_proj", parts: &["q_proj", "k_proj", "v_proj"] },
        Fused { module: "gate_up_proj", parts: &["gate_proj", "up_proj"] },
    ],
    ..LLAMA
};
