//! RMSNorm, `x / sqrt(mean(x^2) + eps) * weight` over the last dimension, or
//! over each group of `weight.len()` values of it (each head: Qwen3's q/k norms).
//! On the CPU (f32, f64) one fused pass per row, rows in parallel, with a
//! fused backward (`inv * gw - x * inv^3 * sum(gw * x) / n`, `gw = g * weight`)
//! instead of the six composed ops and their broadcasts; other devices and
//! dtypes use the composed ops.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, CustomOp3, D, DType, Layout, Result, Shape, Tensor};
use num_traits::Float;
use rayon::prelude::*;

use super::{Real, by_dtype, slice};

const OP: &str = "rms-norm";

/// RMSNorm of `x [.., g * n]` with `weight [n]`, over each of the `g` groups
/// of `n` values (one group: the usual norm; one per head: a q/k norm).
pub fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    let (last, n) = (x.dim(D::Minus1)?, weight.elem_count());
    if n == 0 || !last.is_multiple_of(n) {
        candle_core::bail!("{OP}: the last dimension ({last}) is not a multiple of the weight's length ({n})");
    }
    if x.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::F64) && weight.dtype() == x.dtype() {
        x.contiguous()?.apply_op2(&weight.contiguous()?, RmsNorm { eps })
    } else {
        composed(x, weight, eps)
    }
}

/// [`rms_norm`] with candle's ops.
pub(crate) fn composed(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    let (last, n) = (x.dim(D::Minus1)?, weight.elem_count());
    if last != n {
        let mut groups = x.dims().to_vec();
        groups.pop();
        groups.extend([last / n, n]);
        return composed(&x.reshape(groups)?, weight, eps)?.reshape(x.shape());
    }
    let inv = (x.sqr()?.mean_keepdim(D::Minus1)? + eps)?.sqrt()?.recip()?;
    x.broadcast_mul(&inv)?.broadcast_mul(weight)
}

struct RmsNorm {
    eps: f64,
}

/// `1 / sqrt(mean(row^2) + eps)`.
fn inv_rms<T: Float>(row: &[T], eps: f64) -> T {
    let n = T::from(row.len()).expect("length fits");
    let ss = row.iter().fold(T::zero(), |acc, &v| acc + v * v);
    (ss / n + T::from(eps).expect("eps fits")).sqrt().recip()
}

/// RMSNorm of the rows of `x` (row length `w.len()`).
pub(crate) fn forward<T: Float + Send + Sync>(x: &[T], w: &[T], eps: f64) -> Vec<T> {
    let n = w.len();
    let mut out = vec![T::zero(); x.len()];
    out.par_chunks_mut(n).zip(x.par_chunks(n)).for_each(|(o, row)| {
        let inv = inv_rms(row, eps);
        for ((dst, &v), &wi) in o.iter_mut().zip(row).zip(w) {
            *dst = v * inv * wi;
        }
    });
    out
}

/// The gradient of [`forward`] with respect to `x`, for the output gradient `g`.
pub(crate) fn grad_x<T: Float + Send + Sync>(x: &[T], w: &[T], g: &[T], eps: f64) -> Vec<T> {
    let n = w.len();
    let nf = T::from(n).expect("length fits");
    let mut out = vec![T::zero(); x.len()];
    out.par_chunks_mut(n).zip(x.par_chunks(n)).zip(g.par_chunks(n)).for_each(|((o, row), gr)| {
        let inv = inv_rms(row, eps);
        let dot = row.iter().zip(gr).zip(w).fold(T::zero(), |acc, ((&v, &gi), &wi)| acc + gi * wi * v);
        let k = inv * inv * inv * dot / nf;
        for (((dst, &v), &gi), &wi) in o.iter_mut().zip(row).zip(gr).zip(w) {
            *dst = inv * gi * wi - v * k;
        }
    });
    out
}

fn grad_w<T: Float + Send + Sync>(x: &[T], g: &[T], n: usize, eps: f64) -> Vec<T> {
    x.par_chunks(n)
        .zip(g.par_chunks(n))
        .fold(
            || vec![T::zero(); n],
            |mut acc, (row, gr)| {
                let inv = inv_rms(row, eps);
                for ((a, &v), &gi) in acc.iter_mut().zip(row).zip(gr) {
                    *a = *a + gi * v * inv;
                }
                acc
            },
        )
        .reduce(|| vec![T::zero(); n], |a, b| a.iter().zip(&b).map(|(&p, &q)| p + q).collect())
}

impl CustomOp2 for RmsNorm {
    fn name(&self) -> &'static str {
        "rms-norm"
    }

    fn cpu_fwd(&self, x: &CpuStorage, lx: &Layout, w: &CpuStorage, lw: &Layout) -> Result<(CpuStorage, Shape)> {
        fn run<T: Real>(eps: f64, x: &CpuStorage, lx: &Layout, w: &CpuStorage, lw: &Layout) -> Result<(CpuStorage, Shape)> {
            let out = forward(slice::<T>(x, lx, OP, "x")?, slice::<T>(w, lw, OP, "weight")?, eps);
            Ok((T::to_cpu_storage_owned(out), lx.shape().clone()))
        }
        by_dtype!(x.dtype(), OP, run(self.eps, x, lx, w, lw))
    }

    fn bwd(&self, x: &Tensor, w: &Tensor, _y: &Tensor, g: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let g = g.contiguous()?;
        let gx = if x.track_op() { Some(x.apply_op3_no_bwd(w, &g, &RmsNormGradX { eps: self.eps })?) } else { None };
        let gw = if w.track_op() { Some(x.apply_op2_no_bwd(&g, &RmsNormGradW { eps: self.eps, n: w.elem_count() })?) } else { None };
        Ok((gx, gw))
    }
}

/// The gradient of [`RmsNorm`] with respect to `x`.
struct RmsNormGradX {
    eps: f64,
}

impl CustomOp3 for RmsNormGradX {
    fn name(&self) -> &'static str {
        "rms-norm-grad-x"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        lx: &Layout,
        w: &CpuStorage,
        lw: &Layout,
        g: &CpuStorage,
        lg: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        fn run<T: Real>(
            eps: f64,
            x: &CpuStorage,
            lx: &Layout,
            w: &CpuStorage,
            lw: &Layout,
            g: &CpuStorage,
            lg: &Layout,
        ) -> Result<(CpuStorage, Shape)> {
            let out = grad_x(slice::<T>(x, lx, OP, "x")?, slice::<T>(w, lw, OP, "weight")?, slice::<T>(g, lg, OP, "grad")?, eps);
            Ok((T::to_cpu_storage_owned(out), lx.shape().clone()))
        }
        by_dtype!(x.dtype(), OP, run(self.eps, x, lx, w, lw, g, lg))
    }
}

/// The gradient of [`RmsNorm`] with respect to its weight (full fine-tuning).
struct RmsNormGradW {
    eps: f64,
    n: usize,
}

impl CustomOp2 for RmsNormGradW {
    fn name(&self) -> &'static str {
        "rms-norm-grad-w"
    }

    fn cpu_fwd(&self, x: &CpuStorage, lx: &Layout, g: &CpuStorage, lg: &Layout) -> Result<(CpuStorage, Shape)> {
        fn run<T: Real>(op: &RmsNormGradW, x: &CpuStorage, lx: &Layout, g: &CpuStorage, lg: &Layout) -> Result<(CpuStorage, Shape)> {
            let out = grad_w(slice::<T>(x, lx, OP, "x")?, slice::<T>(g, lg, OP, "grad")?, op.n, op.eps);
            Ok((T::to_cpu_storage_owned(out), Shape::from(op.n)))
        }
        by_dtype!(x.dtype(), OP, run(self, x, lx, g, lg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::assert_same;
    use candle_core::{Device, Var};

    #[test]
    fn fused_matches_composed_forward_and_backward() {
        let x = Var::from_tensor(&Tensor::randn(0f64, 2.0, (2, 3, 16), &Device::Cpu).unwrap()).unwrap();
        let w = Var::from_tensor(&Tensor::randn(1f64, 0.3, 16, &Device::Cpu).unwrap()).unwrap();
        assert_same(&[&x, &w], |t| rms_norm(t[0], t[1], 1e-5).unwrap(), |t| composed(t[0], t[1], 1e-5).unwrap());
    }

    /// Per-head norms (a weight of one head's width over rows of four heads).
    #[test]
    fn fused_matches_composed_over_each_head() {
        let x = Var::from_tensor(&Tensor::randn(0f64, 2.0, (2, 3, 4 * 8), &Device::Cpu).unwrap()).unwrap();
        let w = Var::from_tensor(&Tensor::randn(1f64, 0.3, 8, &Device::Cpu).unwrap()).unwrap();
        assert_same(&[&x, &w], |t| rms_norm(t[0], t[1], 1e-6).unwrap(), |t| composed(t[0], t[1], 1e-6).unwrap());
        let odd = Tensor::randn(1f64, 0.3, 7, &Device::Cpu).unwrap();
        assert!(rms_norm(x.as_tensor(), &odd, 1e-6).unwrap_err().to_string().contains("not a multiple"));
    }
}
