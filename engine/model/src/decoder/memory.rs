//! The activation memory one decoder layer keeps per token while training,
//! and what the head needs, for the engine's memory estimate.

use crate::ModelConfig;

/// What a training setup decides about the activations kept.
#[derive(Debug, Clone)]
pub struct Training<'a> {
    /// Whether the CPU trains (the fused layer and head); else the composed ops.
    pub cpu: bool,
    /// The LoRA adapters' target projections and rank, and whether dropout is on;
    /// None in full fine-tuning.
    pub lora: Option<(&'a [String], usize, bool)>,
}

/// Values kept per token in one layer (f32 count), as this engine's autograd
/// holds them. On the CPU the fused layer ([`super::fused_layer`]) keeps the
/// layer input, both norms' outputs, the residual sum, q, k (rotated), v,
/// the attention output, gate, up and the gated product (and where the family
/// normalises each q/k head, the q and k projections before the norm; under
/// sandwich norms the attention's and the MLP's outputs), each adapter's
/// rank-r input product, and nothing per key position (attention
/// probabilities are recomputed in the backward pass); LoRA dropout adds a
/// one-byte mask per adapter input. Other devices run the
/// composed ops, which also keep the transposed and repeated heads, the
/// attention scores and softmax (per key position) and the LoRA
/// intermediates.
pub fn layer_floats_per_token(m: &ModelConfig, t: &Training<'_>, seq: usize) -> u64 {
    let h = m.hidden_size as u64;
    let i = m.intermediate_size as u64;
    let q = (m.num_attention_heads * m.head_dim()) as u64;
    let kv = (m.kv_heads() * m.head_dim()) as u64;
    let (targets, rank, dropout): (&[String], usize, bool) = t.lora.unwrap_or((&[], 0, false));
    let qk_norm = m.family().qk_norm;
    let sandwich = m.family().sandwich_norms;
    if t.cpu {
        let masks: u64 = if dropout { targets.iter().map(|t| m.linear_shape(t).0 as u64).sum::<u64>().div_ceil(4) } else { 0 };
        let downs = (targets.len() * rank) as u64;
        let head_norm_inputs = if qk_norm { q + kv } else { 0 };
        // The attention's and the MLP's outputs before their sandwich norms.
        let sandwich_inputs = if sandwich { 2 * h } else { 0 };
        return 4 * h + 2 * q + 2 * kv + 3 * i + masks + downs + head_norm_inputs + sandwich_inputs;
    }
    let heads = m.num_attention_heads as u64;
    let norms = if sandwich { 4 } else { 2 } * 4 * h;
    let projections = (q + 2 * kv) * 2 + q * 2 + 2 * h + 4 * i + 2 * h;
    let rope = 5 * (q + kv);
    // The composed per-head norm keeps its input, the normalised values and the product with its weight.
    let head_norms = if qk_norm { 3 * (q + kv) } else { 0 };
    let repeat = 2 * q;
    let attention = 6 * heads * seq as u64;
    let adapters: u64 = targets
        .iter()
        .map(|t| {
            let (fin, fout) = m.linear_shape(t);
            rank as u64 + 3 * fout as u64 + if dropout { 2 * fin as u64 } else { 0 }
        })
        .sum();
    norms + projections + rope + head_norms + repeat + attention + adapters
}

/// Values the head (final norm, output projection, loss) holds at its peak
/// for `tokens` tokens (f32 count). On the CPU with LoRA ([`super::fused_head`]):
/// the normalised input and its gradient, and one block of logits. Elsewhere
/// candle's autograd keeps the logits, their log-softmax and gradients.
pub fn head_floats(m: &ModelConfig, t: &Training<'_>, tokens: u64) -> u64 {
    let (h, v) = (m.hidden_size as u64, m.vocab_size as u64);
    if t.cpu && t.lora.is_some() {
        let block = (super::fused_head::block_rows(m.vocab_size) as u64).min(tokens);
        return 3 * h * tokens + block * (v + h);
    }
    (4 * h + 4 * v) * tokens
}
