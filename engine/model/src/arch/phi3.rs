//! Phi-3 and Phi-4-mini: Llama's layer with q, k and v stored as one matrix
//! (`self_attn.qkv_proj`, rows q then k then v) and gate and up as another
//! (`mlp.gate_up_proj`, gate rows first), no biases, rotary embeddings on
//! the first `partial_rotary_factor` of each head (Phi-4-mini: 0.75), RoPE
//! scaled by `longrope` in the long-context models, and an optional
//! `sliding_window`. PEFT adapts `qkv_proj`, `o_proj`, `gate_up_proj` and
//! `down_proj`; a LoRA on a fused module shares one `A` across its parts.

use super::llama::LLAMA;
use super::{Family, Fused};

/// `Phi3ForCausalLM`.
pub(super) const PHI3: Family = Family {
    model_type: "phi3",
    class: "Phi3ForCausalLM",
    gguf: None,
    bias: |_, _| false,
    fused: &[
        Fused { module: "qkv_proj", parts: &["q_proj", "k_proj", "v_proj"] },
        Fused { module: "gate_up_proj", parts: &["gate_proj", "up_proj"] },
    ],
    ..LLAMA
};
