//! The linear projection of every attention and MLP block, with an optional
//! frozen bias (Qwen2's q, k, v) and an optional LoRA adapter:
//! `y = x W^T + b + (dropout(x) A^T B^T) * alpha / r`, and the adapter's
//! dropout masks.
//!
//! This is the training hot path; [`projection::project`] runs it (one fused
//! kernel on the CPU, candle's composed ops on other devices).

use std::sync::Arc;

use candle_core::{Result, Tensor, Var};
use rand::{Rng, SeedableRng, rngs::StdRng};

use super::kernels::projection::{self, Bf16Weight, DropoutMask, LoraFactors};

/// The seven linear projections LoRA can adapt, in Hugging Face names.
pub const LINEAR_MODULES: [&str; 7] = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

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
    /// Where this projection's rows sit in `b` when the adapter is one over a
    /// fused module (Phi-3's `qkv_proj`: `A` shared by q, k and v, `B`'s
    /// rows split among them): (first row, rows). None: all of `b`.
    pub rows: Option<(usize, usize)>,
}

impl Lora {
    /// A fresh adapter of shape `spec` for the frozen `weight [out, in]` (same
    /// dtype and device): A ~ U(-1/sqrt(in), 1/sqrt(in)) (PyTorch's
    /// `kaiming_uniform_(a=sqrt(5))`, as PEFT does), B = 0, so the adapted
    /// layer starts equal to the base layer.
    /// The adapter of a fused module with `out_f` output rows in all and
    /// `weight`'s input width, dtype and device.
    pub fn new(weight: &Tensor, out_f: usize, spec: &LoraSpec, rng: &mut StdRng) -> Result<Self> {
        let ((_, in_f), rank) = (weight.dims2()?, spec.rank);
        let (dtype, device) = (weight.dtype(), weight.device());
        let bound = 1.0 / (in_f as f64).sqrt();
        let a: Vec<f32> = (0..rank * in_f).map(|_| rng.random_range(-bound..bound) as f32).collect();
        let a = Tensor::from_vec(a, (rank, in_f), device)?.to_dtype(dtype)?;
        let scale = spec.alpha / rank as f64;
        Ok(Self { a: Var::from_tensor(&a)?, b: Var::zeros((out_f, rank), dtype, device)?, scale, dropout: spec.dropout, rows: None })
    }

    /// This projection's part of `B`, `[out, rank]` (a view, no copy).
    pub fn b(&self) -> Result<Tensor> {
        match self.rows {
            Some((first, rows)) => self.b.as_tensor().narrow(0, first, rows),
            None => Ok(self.b.as_tensor().clone()),
        }
    }

    /// A gradient of this projection's part of `B` (row-major) as one of all
    /// of `B`: zeros in the other parts' rows.
    pub(crate) fn b_grad_in_full<T: Copy + num_traits::Zero>(&self, g: Vec<T>) -> Vec<T> {
        let Some((first, _)) = self.rows else { return g };
        let rank = self.b.dims()[1];
        let mut full = vec![T::zero(); self.b.elem_count()];
        full[first * rank..first * rank + g.len()].copy_from_slice(&g);
        full
    }
}

/// The shape of a LoRA adapter to attach.
#[derive(Debug, Clone, PartialEq)]
pub struct LoraSpec {
    /// Rank r.
    pub rank: usize,
    /// alpha (scale alpha / r).
    pub alpha: f64,
    /// Dropout on the adapter input.
    pub dropout: f64,
    /// Targeted projections (Hugging Face names).
    pub targets: Vec<String>,
}

/// A projection `y = x W^T + b`, optionally LoRA-adapted.
#[derive(Debug, Clone)]
pub struct Linear {
    /// Weight `[out, in]` (a variable in full fine-tuning).
    pub weight: Tensor,
    /// Bias `[out]`, if the architecture has one here (a variable in full fine-tuning).
    pub bias: Option<Tensor>,
    /// The adapter, if this module is targeted.
    pub lora: Option<Lora>,
    /// The weight quantized for inference ([`crate::decoder::quantize`]);
    /// `weight` is then a stand-in of its shape.
    pub quantized: Option<Arc<candle_core::quantized::QMatMul>>,
    /// The frozen weight packed for bf16 training products
    /// ([`crate::Model::use_bf16_products`]).
    pub(crate) bf16: Option<Arc<Bf16Weight>>,
}

impl Linear {
    /// A plain projection, with a bias or without.
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Self {
        Self { weight, bias, lora: None, quantized: None, bf16: None }
    }

    /// Applies the projection to `x` of shape `[.., in]`, with `mask` (drawn
    /// by [`Linear::dropout_mask`] when training) on the adapter's input.
    pub fn forward(&self, x: &Tensor, mask: Option<&DropoutMask>) -> Result<Tensor> {
        let y = match &self.quantized {
            Some(q) => self.forward_quantized(q, x)?,
            None => {
                let b = self.lora.as_ref().map(Lora::b).transpose()?;
                let lora = self.lora.as_ref().zip(b.as_ref()).map(|(l, b)| LoraFactors { a: l.a.as_tensor(), b, scale: l.scale, mask });
                projection::project(x, &self.weight, lora)?
            }
        };
        match &self.bias {
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        }
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
