//! Composed tensor operations with backward passes: RMSNorm, rotary position
//! embeddings, causal masks and the masked token cross-entropy. These are the
//! places where fused kernels can later replace composed ops.

use candle_core::{D, DType, Device, Result, Tensor};

/// RMSNorm: `x / sqrt(mean(x^2) + eps) * weight`, over the last dimension.
pub fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    let inv = (x.sqr()?.mean_keepdim(D::Minus1)? + eps)?.sqrt()?.recip()?;
    x.broadcast_mul(&inv)?.broadcast_mul(weight)
}

/// Precomputed cosine and sine tables of the rotary embedding, `[positions, head_dim]`,
/// in Hugging Face's "rotate half" layout (frequencies repeated twice).
#[derive(Debug, Clone)]
pub struct Rope {
    cos: Tensor,
    sin: Tensor,
}

impl Rope {
    /// Builds tables for `positions` positions.
    pub fn new(head_dim: usize, positions: usize, theta: f64, dtype: DType, device: &Device) -> Result<Self> {
        let half = head_dim / 2;
        let inv_freq: Vec<f32> =
            (0..half).map(|i| 1.0 / theta.powf(2.0 * i as f64 / head_dim as f64) as f32).collect();
        let mut cos = Vec::with_capacity(positions * head_dim);
        let mut sin = Vec::with_capacity(positions * head_dim);
        for p in 0..positions {
            for _half in 0..2 {
                for f in &inv_freq {
                    let angle = p as f32 * f;
                    cos.push(angle.cos());
                    sin.push(angle.sin());
                }
            }
        }
        let cos = Tensor::from_vec(cos, (positions, head_dim), device)?.to_dtype(dtype)?;
        let sin = Tensor::from_vec(sin, (positions, head_dim), device)?.to_dtype(dtype)?;
        Ok(Self { cos, sin })
    }

    /// Rotates `x` of shape `[batch, heads, seq, head_dim]` (positions 0..seq).
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        let (_, _, t, d) = x.dims4()?;
        let cos = self.cos.narrow(0, 0, t)?;
        let sin = self.sin.narrow(0, 0, t)?;
        let x1 = x.narrow(D::Minus1, 0, d / 2)?;
        let x2 = x.narrow(D::Minus1, d / 2, d / 2)?;
        let rotated = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
        x.broadcast_mul(&cos)?.add(&rotated.broadcast_mul(&sin)?)
    }
}

/// Additive attention mask `[seq, seq]`: 0 where key j is visible from query i
/// (j <= i, and i - j < window when a sliding window is set), -inf elsewhere.
pub fn causal_mask(t: usize, window: Option<usize>, dtype: DType, device: &Device) -> Result<Tensor> {
    let mask: Vec<f32> = (0..t)
        .flat_map(|i| {
            (0..t).map(move |j| {
                let visible = j <= i && window.is_none_or(|w| i - j < w);
                if visible { 0.0 } else { f32::NEG_INFINITY }
            })
        })
        .collect();
    Tensor::from_vec(mask, (t, t), device)?.to_dtype(dtype)
}

/// Sum over tokens of `weight * -log p(target)`, for `logits [n, vocab]`,
/// `targets [n]` (u32) and `weights [n]` (0 for tokens without loss).
pub fn weighted_nll_sum(logits: &Tensor, targets: &Tensor, weights: &Tensor) -> Result<Tensor> {
    let logp = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    let picked = logp.gather(&targets.unsqueeze(1)?, 1)?.squeeze(1)?;
    (picked * weights.to_dtype(logits.dtype())?)?.sum_all()?.neg()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_hides_future_and_outside_window() {
        let m = causal_mask(4, Some(2), DType::F32, &Device::Cpu).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(m[0][1], f32::NEG_INFINITY);
        assert_eq!(m[3][3], 0.0);
        assert_eq!(m[3][2], 0.0);
        assert_eq!(m[3][1], f32::NEG_INFINITY);
    }

    #[test]
    fn nll_of_uniform_logits_is_log_vocab() {
        let logits = Tensor::zeros((3, 8), DType::F32, &Device::Cpu).unwrap();
        let targets = Tensor::new(&[1u32, 2, 3], &Device::Cpu).unwrap();
        let weights = Tensor::new(&[1f32, 1.0, 0.0], &Device::Cpu).unwrap();
        let s = weighted_nll_sum(&logits, &targets, &weights).unwrap().to_scalar::<f32>().unwrap();
        assert!((s - 2.0 * 8f32.ln()).abs() < 1e-5);
    }

    #[test]
    fn rope_at_position_zero_is_identity() {
        let rope = Rope::new(4, 8, 10000.0, DType::F32, &Device::Cpu).unwrap();
        let x = Tensor::arange(0f32, 4.0, &Device::Cpu).unwrap().reshape((1, 1, 1, 4)).unwrap();
        let y = rope.apply(&x).unwrap();
        let diff = (y - &x).unwrap().abs().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(diff < 1e-6);
    }
}
