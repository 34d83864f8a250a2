//! The fused CPU kernel of a projection with a frozen weight `W [out, in]`
//! and an optional LoRA adapter `A [r, in]`, `B [out, r]`, scale `s` and
//! dropout mask `m` on the adapter's input:
//!
//! `y = x W^T + s ((m ⊙ x) A^T) B^T`
//!
//! Forward: the base product is written straight into an uninitialised output
//! and the low-rank update is accumulated into it by the same matrix kernel
//! (no zero-filled buffer, no separate `[n, out]` update and add).
//! Backward: `W` gets no gradient (it is frozen); the input gradient
//! `g W + s ((g B) A) ⊙ m` is one output buffer in the same way; A's and B's
//! gradients are small (`[r, in]`, `[out, r]`) and use candle's matmul.
//! Matrix products run on `gemm` (the crate candle uses) in rayon's pool, the
//! pool the other fused kernels use too.

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp2, CustomOp3, DType, Layout, Result, Shape, Tensor, WithDType};
use candle_core::backend::BackendStorage;
use super::kernel::{Operand, by_dtype, gemm_raw, typed, uninit_output, with_held};

/// A dropout mask: which inputs of the adapter are kept, and the factor
/// `1 / (1 - p)` the kept ones are scaled by.
#[derive(Debug, Clone)]
pub struct DropoutMask {
    /// One flag per element of the input, row-major.
    pub keep: Arc<Vec<bool>>,
    /// Scale of the kept elements.
    pub factor: f64,
}

/// The adapter half of a fused projection.
#[derive(Debug, Clone, Copy)]
pub struct LoraFactors<'a> {
    /// `A [r, in]`.
    pub a: &'a Tensor,
    /// `B [out, r]`.
    pub b: &'a Tensor,
    /// alpha / r.
    pub scale: f64,
    /// Dropout on the adapter's input (training only).
    pub mask: Option<&'a DropoutMask>,
}

/// Whether the fused kernel handles `x [.., in]` times frozen `w`: CPU, f32
/// or f64, and a weight that is not trained.
pub fn supported(x: &Tensor, w: &Tensor) -> bool {
    x.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::F64) && w.dtype() == x.dtype() && x.rank() >= 1 && !w.is_variable()
}

/// `x W^T [+ s ((m ⊙ x) A^T) B^T]` for `x [.., in]` -> `[.., out]`; call
/// only when [`supported`].
pub fn project(x: &Tensor, w: &Tensor, lora: Option<LoraFactors<'_>>) -> Result<Tensor> {
    let x = x.contiguous()?;
    let w = w.contiguous()?;
    match lora {
        None => x.apply_op2(&w, Frozen),
        Some(l) => {
            if let Some(m) = l.mask
                && m.keep.len() != x.elem_count()
            {
                return Err(candle_core::Error::Msg(format!("{OP}: dropout mask of {} for an input of {}", m.keep.len(), x.elem_count())));
            }
            let op = Adapted { w, scale: l.scale, mask: l.mask.cloned() };
            x.apply_op3(&l.a.contiguous()?, &l.b.contiguous()?, op)
        }
    }
}

const OP: &str = "fused projection";

/// A matrix operand: its elements and its row and column strides.
#[derive(Clone, Copy)]
struct Mat<'a, T> {
    data: &'a [T],
    rs: isize,
    cs: isize,
}

impl<'a, T> Mat<'a, T> {
    /// A row-major `[rows, cols]` matrix.
    fn rows(data: &'a [T], cols: usize) -> Self {
        Self { data, rs: cols as isize, cs: 1 }
    }

    /// The transpose of a row-major `[rows, cols]` matrix.
    fn transposed(data: &'a [T], cols: usize) -> Self {
        Self { data, rs: 1, cs: cols as isize }
    }
}

/// `dst[m, n] (+)= scale * lhs[m, k] rhs[k, n]` into a row-major `dst`, on
/// rayon's pool; with `accumulate` false `dst` is only written, never read.
fn matmul_into<T: WithDType>(dst: &mut [T], m: usize, n: usize, k: usize, lhs: Mat<'_, T>, rhs: Mat<'_, T>, scale: T, accumulate: bool) {
    let last = |mat: &Mat<'_, T>, rows: usize, cols: usize| (rows as isize - 1) * mat.rs + (cols as isize - 1) * mat.cs;
    assert!(dst.len() >= m * n, "{OP}: output buffer too small");
    assert!(m == 0 || k == 0 || (lhs.data.len() as isize) > last(&lhs, m, k), "{OP}: left operand too small");
    assert!(n == 0 || k == 0 || (rhs.data.len() as isize) > last(&rhs, k, n), "{OP}: right operand too small");
    let operand = |mat: Mat<'_, T>| Operand { ptr: mat.data.as_ptr(), rs: mat.rs, cs: mat.cs };
    // SAFETY: the asserts keep every addressed element inside the slices;
    // `dst` is a distinct, exclusively borrowed buffer.
    unsafe { gemm_raw(m, n, k, dst.as_mut_ptr(), n as isize, operand(lhs), operand(rhs), scale, accumulate, true) }
}

/// The elements of CPU storage `s` as `T`, contiguous.
fn slice<'a, T: WithDType>(s: &'a CpuStorage, l: &Layout, what: &str) -> Result<&'a [T]> {
    typed(s, l, OP, what)
}

/// `m ⊙ x * factor`: the adapter's input under dropout.
fn masked<T: WithDType>(x: &[T], mask: &DropoutMask) -> Vec<T> {
    let factor = T::from_f64(mask.factor);
    x.iter().zip(mask.keep.iter()).map(|(&v, &k)| if k { v * factor } else { T::zero() }).collect()
}

/// `x W^T` with a frozen `W`.
struct Frozen;

impl CustomOp2 for Frozen {
    fn name(&self) -> &'static str {
        "frozen-projection"
    }

    fn cpu_fwd(&self, x: &CpuStorage, lx: &Layout, w: &CpuStorage, lw: &Layout) -> Result<(CpuStorage, Shape)> {
        fn run<T: WithDType>(x: &CpuStorage, lx: &Layout, w: &CpuStorage, lw: &Layout) -> Result<(CpuStorage, Shape)> {
            let ((n, fin), (fout, _)) = (matrix(lx)?, lw.shape().dims2()?);
            let (x, w) = (slice::<T>(x, lx, "x")?, slice::<T>(w, lw, "weight")?);
            let y = uninit_output(n * fout, |y| matmul_into(y, n, fout, fin, Mat::rows(x, fin), Mat::transposed(w, fin), T::one(), false));
            Ok((T::to_cpu_storage_owned(y), with_last(lx, fout)))
        }
        check_shapes(lx, lw)?;
        by_dtype!(x.dtype(), OP, run(x, lx, w, lw))
    }

    fn bwd(&self, x: &Tensor, w: &Tensor, _y: &Tensor, g: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let gx = if x.track_op() { Some(g.contiguous()?.apply_op2_no_bwd(w, &InputGrad { lora: None })?) } else { None };
        Ok((gx, None))
    }
}

/// A tensor `[.., cols]` seen as the matrix `[rows, cols]`.
fn matrix(l: &Layout) -> Result<(usize, usize)> {
    let cols = *l.dims().last().ok_or_else(|| candle_core::Error::Msg(format!("{OP}: a scalar input")))?;
    Ok((l.shape().elem_count() / cols.max(1), cols))
}

/// The shape of `l` with its last dimension replaced by `last`.
fn with_last(l: &Layout, last: usize) -> Shape {
    let mut dims = l.dims().to_vec();
    *dims.last_mut().expect("checked by `matrix`") = last;
    Shape::from(dims)
}

/// `x [.., in]` against `w [out, in]`.
fn check_shapes(lx: &Layout, lw: &Layout) -> Result<()> {
    let ((_, fin), (_, win)) = (matrix(lx)?, lw.shape().dims2()?);
    if fin != win {
        return Err(candle_core::Error::Msg(format!("{OP}: input width {fin} does not match weight width {win}")));
    }
    Ok(())
}

/// `x W^T + s ((m ⊙ x) A^T) B^T`; the arguments are `x`, `A`, `B`.
struct Adapted {
    w: Tensor,
    scale: f64,
    mask: Option<DropoutMask>,
}

impl CustomOp3 for Adapted {
    fn name(&self) -> &'static str {
        "lora-projection"
    }

    fn cpu_fwd(&self, x: &CpuStorage, lx: &Layout, a: &CpuStorage, la: &Layout, b: &CpuStorage, lb: &Layout) -> Result<(CpuStorage, Shape)> {
        fn run<T: WithDType>(op: &Adapted, x: &CpuStorage, lx: &Layout, a: &CpuStorage, la: &Layout, b: &CpuStorage, lb: &Layout) -> Result<(CpuStorage, Shape)> {
            let ((n, fin), (r, _), (fout, _)) = (matrix(lx)?, la.shape().dims2()?, lb.shape().dims2()?);
            let (x, a, b) = (slice::<T>(x, lx, "x")?, slice::<T>(a, la, "lora_A")?, slice::<T>(b, lb, "lora_B")?);
            let dropped = op.mask.as_ref().map(|m| masked(x, m));
            let xd = dropped.as_deref().unwrap_or(x);
            let scale = T::from_f64(op.scale);
            let down = uninit_output(n * r, |d| matmul_into(d, n, r, fin, Mat::rows(xd, fin), Mat::transposed(a, fin), scale, false));
            let y = with_held::<T, _>(&op.w, OP, "weight", |w| {
                Ok(uninit_output(n * fout, |y| {
                    matmul_into(y, n, fout, fin, Mat::rows(x, fin), Mat::transposed(w, fin), T::one(), false);
                    matmul_into(y, n, fout, r, Mat::rows(&down, r), Mat::transposed(b, r), T::one(), true);
                }))
            })?;
            Ok((T::to_cpu_storage_owned(y), with_last(lx, fout)))
        }
        check_shapes(lx, la)?;
        by_dtype!(x.dtype(), OP, run(self, x, lx, a, la, b, lb))
    }

    fn bwd(&self, x: &Tensor, a: &Tensor, b: &Tensor, _y: &Tensor, g: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (needs_x, needs_a, needs_b) = (x.track_op(), a.track_op(), b.track_op());
        let shape = x.shape().clone();
        // As matrices; detached, so these reshapes add nothing to the graph.
        let (fin, fout) = (a.dim(1)?, b.dim(0)?);
        let (x, a, b) = (x.detach().reshape(((), fin))?, a.detach(), b.detach());
        let g = g.detach().contiguous()?.reshape(((), fout))?;
        let xd = match &self.mask {
            Some(mask) => x.apply_op1_no_bwd(&ApplyMask(mask.clone()))?,
            None => x.clone(),
        };
        let gb = g.matmul(&b)?; // [n, r]
        let grad_b = if needs_b { Some(g.t()?.matmul(&(xd.matmul(&a.t()?)? * self.scale)?)?) } else { None };
        let grad_a = if needs_a { Some((gb.t()?.matmul(&xd)? * self.scale)?) } else { None };
        let grad_x = if needs_x {
            let lora = HeldLora { gb, a: a.clone(), scale: self.scale, mask: self.mask.clone() };
            Some(g.apply_op2_no_bwd(&self.w, &InputGrad { lora: Some(lora) })?.reshape(shape)?)
        } else {
            None
        };
        Ok((grad_x, grad_a, grad_b))
    }
}

/// The adapter's share of the input gradient: `s ((g B) A) ⊙ m`.
struct HeldLora {
    /// `g B`, `[n, r]`.
    gb: Tensor,
    /// `A [r, in]`.
    a: Tensor,
    scale: f64,
    mask: Option<DropoutMask>,
}

/// The input gradient `g W [+ s ((g B) A) ⊙ m]`; the arguments are `g`, `W`.
struct InputGrad {
    lora: Option<HeldLora>,
}

impl CustomOp2 for InputGrad {
    fn name(&self) -> &'static str {
        "projection-input-grad"
    }

    fn cpu_fwd(&self, g: &CpuStorage, lg: &Layout, w: &CpuStorage, lw: &Layout) -> Result<(CpuStorage, Shape)> {
        fn run<T: WithDType>(op: &InputGrad, g: &CpuStorage, lg: &Layout, w: &CpuStorage, lw: &Layout) -> Result<(CpuStorage, Shape)> {
            let ((n, fout), (_, fin)) = (matrix(lg)?, lw.shape().dims2()?);
            let (g, w) = (slice::<T>(g, lg, "grad")?, slice::<T>(w, lw, "weight")?);
            let mut gx = uninit_output(n * fin, |gx| matmul_into(gx, n, fin, fout, Mat::rows(g, fout), Mat::rows(w, fin), T::one(), false));
            if let Some(l) = &op.lora {
                let r = l.a.dim(0)?;
                let scale = T::from_f64(l.scale);
                with_held::<T, _>(&l.gb, OP, "g B", |gb| {
                    with_held::<T, _>(&l.a, OP, "lora_A", |a| {
                        match &l.mask {
                            None => matmul_into(&mut gx, n, fin, r, Mat::rows(gb, r), Mat::rows(a, fin), scale, true),
                            Some(mask) => {
                                let factor = scale * T::from_f64(mask.factor);
                                let low = uninit_output(n * fin, |t| matmul_into(t, n, fin, r, Mat::rows(gb, r), Mat::rows(a, fin), factor, false));
                                for ((dst, &v), &keep) in gx.iter_mut().zip(&low).zip(mask.keep.iter()) {
                                    if keep {
                                        *dst += v;
                                    }
                                }
                            }
                        }
                        Ok(())
                    })
                })?;
            }
            Ok((T::to_cpu_storage_owned(gx), with_last(lg, fin)))
        }
        if matrix(lg)?.1 != lw.shape().dims2()?.0 {
            return Err(candle_core::Error::Msg(format!("{OP}: gradient width does not match the weight")));
        }
        by_dtype!(g.dtype(), OP, run(self, g, lg, w, lw))
    }
}

/// `m ⊙ x * factor` as an op (the backward recomputes the adapter's input).
struct ApplyMask(DropoutMask);

impl candle_core::CustomOp1 for ApplyMask {
    fn name(&self) -> &'static str {
        "dropout-mask"
    }

    fn cpu_fwd(&self, x: &CpuStorage, lx: &Layout) -> Result<(CpuStorage, Shape)> {
        fn run<T: WithDType>(mask: &DropoutMask, x: &CpuStorage, lx: &Layout) -> Result<(CpuStorage, Shape)> {
            Ok((T::to_cpu_storage_owned(masked(slice::<T>(x, lx, "x")?, mask)), lx.shape().clone()))
        }
        by_dtype!(x.dtype(), OP, run(&self.0, x, lx))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;
    use crate::model::fused_check::assert_same;

    fn randn(shape: (usize, usize)) -> Tensor {
        Tensor::randn(0f64, 1.0, shape, &Device::Cpu).unwrap()
    }

    /// The composed reference: `x W^T + s ((m ⊙ x) A^T) B^T`.
    fn composed(x: &Tensor, w: &Tensor, a: &Tensor, b: &Tensor, scale: f64, mask: Option<&DropoutMask>) -> Tensor {
        let input = match mask {
            Some(m) => {
                let values: Vec<f64> = m.keep.iter().map(|&k| if k { m.factor } else { 0.0 }).collect();
                (x * Tensor::from_vec(values, x.shape(), x.device()).unwrap()).unwrap()
            }
            None => x.clone(),
        };
        let low = (input.matmul(&a.t().unwrap()).unwrap() * scale).unwrap().matmul(&b.t().unwrap()).unwrap();
        (x.matmul(&w.t().unwrap()).unwrap() + low).unwrap()
    }

    #[test]
    fn fused_matches_composed_with_and_without_dropout() {
        let (n, fin, fout, r) = (7, 12, 10, 3);
        let w = randn((fout, fin));
        let (x, a, b) = (Var::from_tensor(&randn((n, fin))).unwrap(), Var::from_tensor(&randn((r, fin))).unwrap(), Var::from_tensor(&randn((fout, r))).unwrap());
        let keep: Vec<bool> = (0..n * fin).map(|i| i % 3 != 0).collect();
        let mask = DropoutMask { keep: Arc::new(keep), factor: 1.5 };
        for m in [None, Some(&mask)] {
            assert_same(
                &[&x, &a, &b],
                |t| project(t[0], &w, Some(LoraFactors { a: t[1], b: t[2], scale: 0.7, mask: m })).unwrap(),
                |t| composed(t[0], &w, t[1], t[2], 0.7, m),
            );
        }
    }

    #[test]
    fn frozen_projection_matches_matmul() {
        let w = randn((5, 4));
        let x = Var::from_tensor(&randn((3, 4))).unwrap();
        assert_same(&[&x], |t| project(t[0], &w, None).unwrap(), |t| t[0].matmul(&w.t().unwrap()).unwrap());
    }

    #[test]
    fn a_mask_of_the_wrong_size_is_an_error() {
        let (x, w, a, b) = (randn((2, 4)), randn((3, 4)), randn((1, 4)), randn((3, 1)));
        let mask = DropoutMask { keep: Arc::new(vec![true; 5]), factor: 2.0 };
        let err = project(&x, &w, Some(LoraFactors { a: &a, b: &b, scale: 1.0, mask: Some(&mask) })).unwrap_err().to_string();
        assert!(err.contains("dropout mask of 5 for an input of 8"), "{err}");
    }
}
