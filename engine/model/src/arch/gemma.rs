//! Gemma 2 and Gemma 3 (text): RMSNorms that multiply by `1 + w` (weights
//! stored as `w - 1`), token embeddings scaled by `sqrt(hidden_size)`, a
//! GELU-tanh gated MLP, "sandwich" norms (the attention's and the MLP's
//! outputs normalised before each residual add, the MLP's input by
//! `pre_feedforward_layernorm`), attention scores scaled by
//! `query_pre_attn_scalar^-1/2`, sliding-window and full layers in a pattern
//! (`layer_types`), tied embeddings. Gemma 2 soft-caps attention scores and
//! final logits (`cap * tanh(x / cap)`); Gemma 3 instead normalises each query
//! and key head (`q_norm`, `k_norm`) and gives its sliding layers their own
//! RoPE base. In llama.cpp's files (`gemma2`, `gemma3`) the norms are stored
//! as `1 + w`, the sandwich norms are `post_attention_norm`, `ffn_norm` and
//! `post_ffw_norm`, the window pattern is fixed unless the file gives one, and
//! the attention scale follows from the model's size, not from
//! `query_pre_attn_scalar`.

use serde_json::Value;

use super::llama::LLAMA;
use super::{ChatFormat, Family, Gguf, check_layer_types, listed_as_sliding};
use crate::config::ModelConfig;

/// Gemma's turns (`<start_of_turn>user` / `model`, a system message put
/// before the first user message), as Google's Gemma 2 and 3 templates write
/// text-only conversations.
const GEMMA_CHAT: ChatFormat = ChatFormat {
    template: "{{ bos_token }}\
{%- if messages[0]['role'] == 'system' -%}\
{%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}{%- set loop_messages = messages[1:] -%}\
{%- else -%}{%- set first_user_prefix = '' -%}{%- set loop_messages = messages -%}{%- endif -%}\
{%- for message in loop_messages -%}\
{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}\
{{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else '') }}\
{{- message['content'] | trim }}{{ '<end_of_turn>\\n' }}\
{%- endfor -%}\
{%- if add_generation_prompt -%}{{ '<start_of_turn>model\\n' }}{%- endif -%}",
    end_of_turn: "<end_of_turn>",
};

/// `Gemma2ForCausalLM`.
pub(super) const GEMMA2: Family = Family {
    model_type: "gemma2",
    class: "Gemma2ForCausalLM",
    gguf: Some(Gguf {
        arch: "gemma2",
        permutes_qk: false,
        sliding_pattern: Some(2),
        sliding_rope_base: None,
        wide_query_scale_layers: &[46],
        tied_only: true,
    }),
    bias: |_, _| false,
    window: |cfg, layer| sliding(cfg, layer, 2),
    check: gemma_check,
    default_head_dim: Some(256),
    unit_offset_norms: true,
    scaled_embeddings: true,
    sandwich_norms: true,
    chat_format: Some(GEMMA_CHAT),
    defaults: |cfg, raw| {
        gemma_defaults(cfg, raw);
        // transformers' Gemma2Config defaults.
        if raw.get("final_logit_softcapping").is_none() {
            cfg.final_logit_softcapping = Some(30.0);
        }
        if raw.get("attn_logit_softcapping").is_none() {
            cfg.attn_logit_softcapping = Some(50.0);
        }
    },
    ..LLAMA
};

/// `Gemma3ForCausalLM` (`gemma3_text`: Gemma 3 270M and 1B, and the language
/// model of the larger ones saved on its own).
pub(super) const GEMMA3: Family = Family {
    model_type: "gemma3_text",
    class: "Gemma3ForCausalLM",
    gguf: Some(Gguf {
        arch: "gemma3",
        permutes_qk: false,
        sliding_pattern: Some(6),
        sliding_rope_base: Some(10_000.0),
        wide_query_scale_layers: &[62],
        tied_only: true,
    }),
    qk_norm: true,
    window: |cfg, layer| sliding(cfg, layer, cfg.sliding_window_pattern.unwrap_or(6)),
    defaults: gemma_defaults,
    ..GEMMA2
};

/// The window of `layer`: `sliding_window` on a `sliding_attention` layer of
/// `layer_types`, else (no list) on all but every `pattern`-th layer.
fn sliding(cfg: &ModelConfig, layer: usize, pattern: usize) -> Option<usize> {
    let slides = listed_as_sliding(cfg, layer).unwrap_or(!(layer + 1).is_multiple_of(pattern.max(1)));
    if slides { cfg.sliding_window } else { None }
}

/// What a Gemma config may leave out: transformers' defaults for the
/// activation, the query scale and tied embeddings.
fn gemma_defaults(cfg: &mut ModelConfig, raw: &Value) {
    if cfg.hidden_activation.is_none() && raw.get("hidden_act").is_none() {
        cfg.hidden_activation = Some("gelu_pytorch_tanh".into());
    }
    if cfg.query_pre_attn_scalar.is_none() {
        cfg.query_pre_attn_scalar = Some(256.0);
    }
    if raw.get("tie_word_embeddings").is_none() {
        cfg.tie_word_embeddings = true;
    }
}

/// Refuses what Gemma configs can ask for and the decoder does not compute.
fn gemma_check(cfg: &ModelConfig) -> Result<(), String> {
    check_layer_types(cfg)?;
    if cfg.attention_bias == Some(true) {
        return Err("attention_bias = true is not supported for Gemma (its checkpoints have none)".into());
    }
    Ok(())
}
