//! The linear projection of every attention and MLP block, with an optional
//! LoRA adapter: `y = x W^T + (dropout(x) A^T B^T) * alpha / r`.
//!
//! This is the training hot path: on the CPU it runs as one fused kernel
//! ([`super::projection`]); other devices use candle's composed ops.

use std::sync::Arc;

use candle_core::{DType, Result, Tensor, Var};
use rand::{Rng, SeedableRng, rngs::StdRng};

use super::projection::{self, DropoutMask, LoraFactors};

/// The low-rank update of one projection.
#[derive(Debug, Clone)]
pub struct Lora {
    /// Down-projection A, `[rank, in]`, Kaiming-uniform initialised.
    pub a: Var,
    /// Up-projection B, `[out, rank]`, zero-initialised.
    pub b: Var,
    /// alpha / rank.
    pub scale: f64,
    /// Dropout probability on the adapter's input.
    pub dropout: f64,
}

impl Lora {
    /// A fresh adapter: A ~ U(-1/sqrt(in), 1/sqrt(in)) (PyTorch's
    /// `kaiming_uniform_(a=sqrt(5))`, as PEFT does), B = 0, so the adapted
    /// layer starts equal to the base layer.
    pub fn new(
        in_f: usize,
        out_f: usize,
        rank: usize,
        scale: f64,
        dropout: f64,
        rng: &mut StdRng,
        dtype: DType,
        device: &candle_core::Device,
    ) -> Result<Self> {
        let bound = 1.0 / (in_f as f64).sqrt();
        let a: Vec<f32> = (0..rank * in_f).map(|_| rng.random_range(-bound..bound) as f32).collect();
        let a = Tensor::from_vec(a, (rank, in_f), device)?.to_dtype(dtype)?;
        Ok(Self { a: Var::from_tensor(&a)?, b: Var::zeros((out_f, rank), dtype, device)?, scale, dropout })
    }
}

/// A projection `y = x W^T`, optionally LoRA-adapted.
#[derive(Debug, Clone)]
pub struct Linear {
    /// Weight `[out, in]` (a variable in full fine-tuning).
    pub weight: Tensor,
    /// The adapter, if this module is targeted.
    pub lora: Option<Lora>,
}

impl Linear {
    /// A plain projection.
    pub fn new(weight: Tensor) -> Self {
        Self { weight, lora: None }
    }

    /// Applies the projection to `x` of shape `[.., in]`. With `dropout_rng`
    /// (training) the adapter's input is dropped out; without it (evaluation)
    /// it is not. On the CPU this is one fused kernel ([`projection`]).
    pub fn forward(&self, x: &Tensor, dropout_rng: Option<&mut StdRng>) -> Result<Tensor> {
        let Some(lora) = &self.lora else { return matmul_t(x, &self.weight) };
        let mask = self.dropout_mask(x.elem_count(), dropout_rng);
        if projection::supported(x, &self.weight) {
            let factors = LoraFactors { a: lora.a.as_tensor(), b: lora.b.as_tensor(), scale: lora.scale, mask: mask.as_ref() };
            return projection::project(x, &self.weight, Some(factors));
        }
        let input = match &mask {
            Some(mask) => {
                let m: Vec<f32> = mask.keep.iter().map(|&k| if k { mask.factor as f32 } else { 0.0 }).collect();
                (x * Tensor::from_vec(m, x.shape(), x.device())?.to_dtype(x.dtype())?)?
            }
            None => x.clone(),
        };
        // Scale the rank-r intermediate, not the full-width update.
        let down = (input.broadcast_matmul(&lora.a.t()?)? * lora.scale)?;
        x.broadcast_matmul(&self.weight.t()?)? + down.broadcast_matmul(&lora.b.t()?)?
    }

    /// The adapter's dropout mask for an input of `len` elements, drawn
    /// from `rng` (training) when the adapter has dropout.
    pub(crate) fn dropout_mask(&self, len: usize, rng: Option<&mut StdRng>) -> Option<DropoutMask> {
        match (&self.lora, rng) {
            (Some(lora), Some(rng)) if lora.dropout > 0.0 => Some(dropout_mask(len, lora.dropout, rng)),
            _ => None,
        }
    }
}

/// `x W^T`: on the CPU with a frozen `W` the fused kernel, whose backward
/// computes only the input's gradient `g W` (autograd would also compute the
/// frozen weight's gradient `g^T x`, a third of a LoRA step's work).
pub fn matmul_t(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    if projection::supported(x, w) { projection::project(x, w, None) } else { x.broadcast_matmul(&w.t()?) }
}

/// An inverted-dropout mask over `len` elements drawn from `rng`
/// (deterministic per seed): kept with probability `1 - p`, scaled by `1 / (1 - p)`.
fn dropout_mask(len: usize, p: f64, rng: &mut StdRng) -> DropoutMask {
    let keep = (0..len).map(|_| rng.random::<f64>() >= p).collect();
    DropoutMask { keep: Arc::new(keep), factor: 1.0 / (1.0 - p) }
}

/// A reproducible random generator for a given seed (dropout masks, init).
pub fn seeded_rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}
