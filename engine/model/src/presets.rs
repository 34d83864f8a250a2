//! Architectures the workbench makes itself: the shipped sample model's
//! (built by the engine's `sample_build`) and the tiny one tests and quick
//! experiments use.

use crate::config::ModelConfig;

/// The sample model's architecture for a vocabulary of `vocab_size`.
pub fn sample_model_config(vocab_size: usize) -> ModelConfig {
    let mistral = crate::arch::by_model_type("mistral").expect("Mistral is a family");
    ModelConfig {
        num_key_value_heads: Some(2),
        head_dim: Some(32),
        max_position_embeddings: 512,
        rms_norm_eps: 1e-5,
        rope_theta: 10_000.0,
        tie_word_embeddings: false,
        bos_token_id: Some(1),
        eos_token_id: Some(2),
        torch_dtype: Some("float32".into()),
        ..ModelConfig::new(mistral, vocab_size, 192, 512, 4, 6)
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
