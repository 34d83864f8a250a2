//! Token rows as the tensors a forward pass reads: inputs, next-token targets
//! and loss weights, padded to the longest row.

use candle_core::{Device, Result, Tensor};

/// A padded micro-batch: inputs and next-token targets, `[batch, seq]`.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Input ids (u32).
    pub inputs: Tensor,
    /// Target ids (u32): the next token of each input position.
    pub targets: Tensor,
    /// Loss weight per target (f32: 1 trained, 0 prompt or padding).
    pub weights: Tensor,
    /// Number of trained targets.
    pub n_targets: usize,
    /// Number of real (non-padding) tokens.
    pub n_tokens: usize,
}

impl Batch {
    /// The batch of `rows`, each a token sequence and whether each token is
    /// trained (a target's weight is 1 where its token is trained); shorter
    /// rows are padded with weight 0.
    pub fn new(rows: &[(&[u32], &[bool])], device: &Device) -> Result<Self> {
        let t = rows.iter().map(|(ids, _)| ids.len().saturating_sub(1)).max().unwrap_or(0);
        let b = rows.len();
        let (mut inputs, mut targets, mut weights) = (vec![0u32; b * t], vec![0u32; b * t], vec![0f32; b * t]);
        let (mut n_targets, mut n_tokens) = (0, 0);
        for (row, (ids, trained)) in rows.iter().enumerate() {
            let len = ids.len().saturating_sub(1);
            n_tokens += len;
            for p in 0..len {
                inputs[row * t + p] = ids[p];
                targets[row * t + p] = ids[p + 1];
                if trained[p + 1] {
                    weights[row * t + p] = 1.0;
                    n_targets += 1;
                }
            }
        }
        Ok(Self {
            inputs: Tensor::from_vec(inputs, (b, t), device)?,
            targets: Tensor::from_vec(targets, (b * t,), device)?,
            weights: Tensor::from_vec(weights, (b * t,), device)?,
            n_targets,
            n_tokens,
        })
    }
}
