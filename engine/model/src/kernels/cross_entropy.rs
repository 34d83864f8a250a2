//! The weighted token cross-entropy, `sum(weight * -log softmax(logits)[target])`.
//! On the CPU (f32, f64) one fused pass per row (rows without loss skipped),
//! with the backward `w * (softmax - onehot)`; other devices and dtypes use
//! the composed log-softmax and gather.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, D, DType, Layout, Result, Shape, Tensor};
use num_traits::Float;
use rayon::prelude::*;

use super::{Real, by_dtype, slice};

/// Sum over tokens of `weight * -log p(target)`, for `logits [n, vocab]`,
/// `targets [n]` (u32) and `weights [n]` (0 for tokens without loss). On the
/// CPU one fused pass per row (rows without loss are skipped), with the
/// backward `w * (softmax - onehot)`; composed ops elsewhere.
pub fn weighted_nll_sum(logits: &Tensor, targets: &Tensor, weights: &Tensor) -> Result<Tensor> {
    if logits.device().is_cpu() && matches!(logits.dtype(), DType::F32 | DType::F64) {
        let op = WeightedNll { targets: targets.to_vec1()?, weights: weights.to_dtype(DType::F64)?.to_vec1()? };
        return logits.contiguous()?.apply_op1(op)?.sum_all();
    }
    composed(logits, targets, weights)
}

/// [`weighted_nll_sum`] with candle's ops.
pub(crate) fn composed(logits: &Tensor, targets: &Tensor, weights: &Tensor) -> Result<Tensor> {
    let logp = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    let picked = logp.gather(&targets.unsqueeze(1)?, 1)?.squeeze(1)?;
    (picked * weights.to_dtype(logits.dtype())?)?.sum_all()?.neg()
}

/// Per-row weighted negative log-likelihood of the target token.
#[derive(Clone)]
struct WeightedNll {
    targets: Vec<u32>,
    weights: Vec<f64>,
}

impl WeightedNll {
    fn rows<T: Real>(&self, x: &[T], v: usize) -> Vec<T> {
        x.par_chunks(v)
            .enumerate()
            .map(|(r, row)| {
                let w = self.weights[r];
                if w == 0.0 { T::zero() } else { row_nll(row, self.targets[r] as usize) * T::from(w).expect("weight fits") }
            })
            .collect()
    }

    fn grad_rows<T: Real>(&self, x: &[T], g: &[T], v: usize) -> Vec<T> {
        let mut out = vec![T::zero(); x.len()];
        out.par_chunks_mut(v).zip(x.par_chunks(v)).enumerate().for_each(|(r, (o, row))| {
            let w = self.weights[r];
            if w == 0.0 {
                return;
            }
            o.copy_from_slice(row);
            row_grad_in_place(o, self.targets[r] as usize, g[r] * T::from(w).expect("weight fits"));
        });
        out
    }
}

/// `-log softmax(row)[target]`, the token's loss.
pub(crate) fn row_nll<T: Real>(row: &[T], target: usize) -> T {
    let max = row.iter().copied().fold(T::neg_infinity(), Float::max);
    let sum = row.iter().fold(T::zero(), |acc, &z| acc + (z - max).kexp());
    max + sum.ln() - row[target]
}

/// Replaces the logits `row` with the gradient of `factor * row_nll(row, target)`:
/// `factor * (softmax(row) - onehot(target))`.
pub(crate) fn row_grad_in_place<T: Real>(row: &mut [T], target: usize, factor: T) {
    let max = row.iter().copied().fold(T::neg_infinity(), Float::max);
    for z in row.iter_mut() {
        *z = (*z - max).kexp();
    }
    let norm = factor / row.iter().fold(T::zero(), |acc, &e| acc + e);
    for z in row.iter_mut() {
        *z *= norm;
    }
    row[target] -= factor;
}

impl CustomOp1 for WeightedNll {
    fn name(&self) -> &'static str {
        "weighted-nll"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        fn run<T: Real>(op: &WeightedNll, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
            let (n, v) = l.shape().dims2()?;
            Ok((T::to_cpu_storage_owned(op.rows(slice::<T>(s, l, "cross-entropy", "logits")?, v)), Shape::from(n)))
        }
        by_dtype!(s.dtype(), "cross-entropy", run(self, s, l))
    }

    fn bwd(&self, logits: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(logits.apply_op2_no_bwd(&grad.contiguous()?, &WeightedNllGrad(self.clone()))?))
    }
}

/// Backward of [`WeightedNll`]: `grad_r * w_r * (softmax(row) - onehot(target_r))`.
struct WeightedNllGrad(WeightedNll);

impl CustomOp2 for WeightedNllGrad {
    fn name(&self) -> &'static str {
        "weighted-nll-grad"
    }

    fn cpu_fwd(&self, x: &CpuStorage, lx: &Layout, g: &CpuStorage, lg: &Layout) -> Result<(CpuStorage, Shape)> {
        const OP: &str = "cross-entropy grad";
        fn run<T: Real>(op: &WeightedNll, x: &CpuStorage, lx: &Layout, g: &CpuStorage, lg: &Layout) -> Result<(CpuStorage, Shape)> {
            let (_, v) = lx.shape().dims2()?;
            let out = op.grad_rows(slice::<T>(x, lx, OP, "logits")?, slice::<T>(g, lg, OP, "grad")?, v);
            Ok((T::to_cpu_storage_owned(out), lx.shape().clone()))
        }
        by_dtype!(x.dtype(), OP, run(&self.0, x, lx, g, lg))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    #[test]
    fn fused_cross_entropy_matches_composed_forward_and_backward() {
        let logits = candle_core::Var::from_tensor(&Tensor::randn(0f64, 3.0, (5, 11), &Device::Cpu).unwrap()).unwrap();
        let targets = Tensor::new(&[1u32, 0, 10, 4, 7], &Device::Cpu).unwrap();
        let weights = Tensor::new(&[1f32, 0.0, 1.0, 0.5, 1.0], &Device::Cpu).unwrap();
        let fused = weighted_nll_sum(logits.as_tensor(), &targets, &weights).unwrap();
        let composed = composed(logits.as_tensor(), &targets, &weights).unwrap();
        let (a, b) = (fused.to_scalar::<f64>().unwrap(), composed.to_scalar::<f64>().unwrap());
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        let (g1, g2) = ((fused * 0.7).unwrap().backward().unwrap(), (composed * 0.7).unwrap().backward().unwrap());
        let d = (g1.get(logits.as_tensor()).unwrap() - g2.get(logits.as_tensor()).unwrap())
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f64>()
            .unwrap();
        assert!(d < 1e-12, "gradient differs by {d}");
    }

    #[test]
    fn nll_of_uniform_logits_is_log_vocab() {
        let logits = Tensor::zeros((3, 8), DType::F32, &Device::Cpu).unwrap();
        let targets = Tensor::new(&[1u32, 2, 3], &Device::Cpu).unwrap();
        let weights = Tensor::new(&[1f32, 1.0, 0.0], &Device::Cpu).unwrap();
        let s = weighted_nll_sum(&logits, &targets, &weights).unwrap().to_scalar::<f32>().unwrap();
        assert!((s - 2.0 * 8f32.ln()).abs() < 1e-5);
    }
}
