//! The linear projection of every attention and MLP block, with an optional
//! LoRA adapter: `y = x W^T + (dropout(x) A^T B^T) * alpha / r`.
//!
//! This is the training hot path: a fused or custom kernel replaces the
//! composed ops here without touching the model code.

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Result, Shape, Tensor, Var};
use rand::{Rng, SeedableRng, rngs::StdRng};

use super::kernel::contiguous;

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
    pub fn new(in_f: usize, out_f: usize, rank: usize, scale: f64, dropout: f64, rng: &mut StdRng, dtype: DType, device: &candle_core::Device) -> Result<Self> {
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

    /// Applies the projection to `x` of shape `[n, in]`. With `dropout_rng`
    /// (training) the adapter's input is dropped out; without it (evaluation)
    /// it is not.
    pub fn forward(&self, x: &Tensor, dropout_rng: Option<&mut StdRng>) -> Result<Tensor> {
        let y = matmul_t(x, &self.weight)?;
        let Some(lora) = &self.lora else { return Ok(y) };
        let input = match dropout_rng {
            Some(rng) if lora.dropout > 0.0 => dropout(x, lora.dropout, rng)?,
            _ => x.clone(),
        };
        // Scale the rank-r intermediate, not the full-width update.
        let down = (input.matmul(&lora.a.t()?)? * lora.scale)?;
        y + down.matmul(&lora.b.t()?)?
    }
}

/// `x W^T`. When `W` is frozen (not a variable) and `x` needs a gradient, the
/// product is wrapped so that the backward pass computes only the input's
/// gradient `g W`: autograd would otherwise also compute the frozen weight's
/// gradient `g^T x`, a third of a LoRA step's work and a weight-sized buffer.
pub fn matmul_t(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    if w.is_variable() || !x.track_op() || !x.device().is_cpu() {
        return x.matmul(&w.t()?);
    }
    let y = x.detach().matmul(&w.t()?)?;
    x.apply_op2(&y, FrozenWeightGrad { weight: w.clone() })
}

/// Passes `y = x W^T` through; backward returns `grad W` for `x` only.
struct FrozenWeightGrad {
    weight: Tensor,
}

impl CustomOp2 for FrozenWeightGrad {
    fn name(&self) -> &'static str {
        "frozen-weight-matmul"
    }

    fn cpu_fwd(&self, _x: &CpuStorage, _lx: &Layout, y: &CpuStorage, ly: &Layout) -> Result<(CpuStorage, Shape)> {
        const OP: &str = "frozen matmul";
        let copy = match y {
            CpuStorage::F32(v) => CpuStorage::F32(contiguous(v, ly, OP, "product")?.to_vec()),
            CpuStorage::F64(v) => CpuStorage::F64(contiguous(v, ly, OP, "product")?.to_vec()),
            CpuStorage::BF16(v) => CpuStorage::BF16(contiguous(v, ly, OP, "product")?.to_vec()),
            CpuStorage::F16(v) => CpuStorage::F16(contiguous(v, ly, OP, "product")?.to_vec()),
            _ => return Err(candle_core::Error::Msg("frozen matmul: unsupported dtype".into())),
        };
        Ok((copy, ly.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, _y: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((Some(grad.matmul(&self.weight)?), None))
    }
}

/// Inverted dropout with a mask drawn from `rng` (deterministic per seed).
fn dropout(x: &Tensor, p: f64, rng: &mut StdRng) -> Result<Tensor> {
    let keep = 1.0 / (1.0 - p);
    let mask: Vec<f32> =
        (0..x.elem_count()).map(|_| if rng.random::<f64>() >= p { keep as f32 } else { 0.0 }).collect();
    let mask = Tensor::from_vec(mask, x.shape(), x.device())?.to_dtype(x.dtype())?;
    x * mask
}

/// A reproducible random generator for a given seed (dropout masks, init).
pub fn seeded_rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}
