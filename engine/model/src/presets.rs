//! Architectures the workbench makes itself: the shipped sample model's
//! (built by the engine's `sample_build`) and the tiny one tests and quick
//! experiments use.

use crate::config::ModelConfig;

/// The sample model's architecture for a vocabulary of `vocab_size`.
pub fn sample_model_config(vocab_size: usize) -> ModelConfig {
    ModelConfig {
        architectures: vec!["MistralForCausalLM".into()],
        model_type: "mistral".into(),
        vocab_size,
        hidden_size: 192,
        intermediate_size: 512,
        num_hidden_layers: 4,
        num_attention_heads: 6,
        num_key_value_heads: Some(2),
        head_dim: Some(32),
        hidden_act: "silu".into(),
        max_position_embeddings: 512,
        rms_norm_eps: 1e-5,
        rope_theta: 10_000.0,
        sliding_window: None,
        tie_word_embeddings: false,
        bos_token_id: Some(1),
        eos_token_id: Some(2),
        torch_dtype: Some("float32".into()),
        rope_scaling: None,
        rope_parameters: None,
        attention_bias: None,
        mlp_bias: None,
        use_sliding_window: None,
        partial_rotary_factor: None,
        original_max_position_embeddings: None,
        hidden_activation: None,
        query_pre_attn_scalar: None,
        attn_logit_softcapping: None,
        final_logit_softcapping: None,
        layer_types: None,
        rope_local_base_freq: None,
        sliding_window_pattern: None,
        use_bidirectional_attention: None,
    }
}

/// The tiny architecture used by tests and quick experiments: the sample
/// tokenizer's vocabulary, width 32, two layers, grouped-query attention.
pub fn tiny_model_config(vocab_size: usize) -> ModelConfig {
    ModelConfig {
        hidden_size: 32,
        intermediate_size: 64,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: Some(2),
        head_dim: Some(8),
        max_position_embeddings: 256,
        ..sample_model_config(vocab_size)
    }
}
