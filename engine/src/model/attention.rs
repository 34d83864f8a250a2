//! Attention probabilities: softmax of the scaled scores under the causal
//! (and sliding-window) mask. On the CPU this is one fused pass per row, rows
//! in parallel, with masked positions never computed; the backward pass is
//! `p * (g - sum(g * p))`. Other devices use the composed ops with an
//! additive mask.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, D, Layout, Result, Shape, Tensor};
use num_traits::Float;
use rayon::prelude::*;

use super::kernel::{contiguous, only_f32_f64};

/// `softmax(scores + mask)` over the last dimension for `scores [.., t, t]`
/// (already scaled); `mask` is the additive mask used off the CPU.
pub fn causal_softmax(scores: &Tensor, mask: &Tensor, window: Option<usize>) -> Result<Tensor> {
    if scores.device().is_cpu() {
        scores.contiguous()?.apply_op1(CausalSoftmax { window })
    } else {
        candle_nn::ops::softmax(&scores.broadcast_add(mask)?, D::Minus1)
    }
}

struct CausalSoftmax {
    window: Option<usize>,
}

impl CustomOp1 for CausalSoftmax {
    fn name(&self) -> &'static str {
        "causal-softmax"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let dims = layout.dims();
        let t = dims[dims.len() - 1];
        if dims.len() < 2 || dims[dims.len() - 2] != t {
            return Err(candle_core::Error::Msg(format!("causal softmax: scores must be [.., t, t], got {dims:?}")));
        }
        let out = match storage {
            CpuStorage::F32(v) => CpuStorage::F32(softmax_rows(contiguous(v, layout, "causal softmax", "scores")?, t, self.window)),
            CpuStorage::F64(v) => CpuStorage::F64(softmax_rows(contiguous(v, layout, "causal softmax", "scores")?, t, self.window)),
            _ => return only_f32_f64("causal softmax"),
        };
        Ok((out, layout.shape().clone()))
    }

    fn bwd(&self, _scores: &Tensor, probs: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(probs.apply_op2_no_bwd(&grad.contiguous()?, &CausalSoftmaxGrad { window: self.window })?))
    }
}

/// Backward of [`CausalSoftmax`]: `p * (g - sum(g * p))` per row, in one pass
/// over the visible keys of each row.
struct CausalSoftmaxGrad {
    window: Option<usize>,
}

impl CustomOp2 for CausalSoftmaxGrad {
    fn name(&self) -> &'static str {
        "causal-softmax-grad"
    }

    fn cpu_fwd(&self, p: &CpuStorage, lp: &Layout, g: &CpuStorage, lg: &Layout) -> Result<(CpuStorage, Shape)> {
        const OP: &str = "causal softmax grad";
        let t = lp.dims()[lp.dims().len() - 1];
        let out = match (p, g) {
            (CpuStorage::F32(p), CpuStorage::F32(g)) => {
                CpuStorage::F32(softmax_grad_rows(contiguous(p, lp, OP, "probabilities")?, contiguous(g, lg, OP, "grad")?, t, self.window))
            }
            (CpuStorage::F64(p), CpuStorage::F64(g)) => {
                CpuStorage::F64(softmax_grad_rows(contiguous(p, lp, OP, "probabilities")?, contiguous(g, lg, OP, "grad")?, t, self.window))
            }
            _ => return only_f32_f64(OP),
        };
        Ok((out, lp.shape().clone()))
    }
}

fn softmax_grad_rows<T: Float + Send + Sync>(p: &[T], g: &[T], t: usize, window: Option<usize>) -> Vec<T> {
    let mut out = vec![T::zero(); p.len()];
    out.par_chunks_mut(t).zip(p.par_chunks(t).zip(g.par_chunks(t))).enumerate().for_each(|(r, (o, (pr, gr)))| {
        let i = r % t;
        let lo = window.map_or(0, |w| (i + 1).saturating_sub(w));
        let dot = (lo..=i).fold(T::zero(), |acc, j| acc + pr[j] * gr[j]);
        for j in lo..=i {
            o[j] = pr[j] * (gr[j] - dot);
        }
    });
    out
}

/// Row-wise masked softmax: row `r` is query position `r % t`, which sees keys
/// `max(0, i + 1 - window) ..= i`.
fn softmax_rows<T: Float + Send + Sync>(x: &[T], t: usize, window: Option<usize>) -> Vec<T> {
    let mut out = vec![T::zero(); x.len()];
    out.par_chunks_mut(t).zip(x.par_chunks(t)).enumerate().for_each(|(r, (o, row))| {
        let i = r % t;
        let lo = window.map_or(0, |w| (i + 1).saturating_sub(w));
        let visible = &row[lo..=i];
        let max = visible.iter().copied().fold(T::neg_infinity(), T::max);
        let mut sum = T::zero();
        for (dst, &v) in o[lo..=i].iter_mut().zip(visible) {
            *dst = (v - max).exp();
            sum = sum + *dst;
        }
        for dst in &mut o[lo..=i] {
            *dst = *dst / sum;
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Var};

    use super::*;
    use crate::model::ops::causal_mask;

    fn composed(scores: &Tensor, window: Option<usize>) -> Tensor {
        let mask = causal_mask(5, window, scores.dtype(), &Device::Cpu).unwrap();
        candle_nn::ops::softmax(&scores.broadcast_add(&mask).unwrap(), D::Minus1).unwrap()
    }

    #[test]
    fn fused_equals_composed_forward_and_backward() {
        for window in [None, Some(2)] {
            let x = Var::from_tensor(&Tensor::randn(0f64, 2.0, (2, 3, 5, 5), &Device::Cpu).unwrap()).unwrap();
            let weights = Tensor::randn(0f64, 1.0, (2, 3, 5, 5), &Device::Cpu).unwrap();
            let mask = causal_mask(5, window, DType::F64, &Device::Cpu).unwrap();
            let fused = causal_softmax(x.as_tensor(), &mask, window).unwrap();
            let reference = composed(x.as_tensor(), window);
            let diff = (&fused - &reference).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f64>().unwrap();
            assert!(diff < 1e-12, "forward differs by {diff}");
            let g1 = (fused * &weights).unwrap().sum_all().unwrap().backward().unwrap();
            let g2 = (reference * &weights).unwrap().sum_all().unwrap().backward().unwrap();
            let (a, b) = (g1.get(x.as_tensor()).unwrap(), g2.get(x.as_tensor()).unwrap());
            let diff = (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f64>().unwrap();
            assert!(diff < 1e-12, "backward differs by {diff}");
        }
    }
}
