//! The MLP's gated activation `silu(gate) * up`. On the CPU (f32, f64) one
//! fused pass forward and one per input backward, instead of the composed
//! sigmoid, products and sums; other devices and dtypes use composed ops.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, CustomOp3, DType, Layout, Result, Shape, Tensor};
use num_traits::Float;
use rayon::prelude::*;

use super::{KernelExp, Real, by_dtype, slice};

const OP: &str = "swiglu";

/// `silu(gate) * up` for two tensors of the same shape.
pub fn swiglu(gate: &Tensor, up: &Tensor) -> Result<Tensor> {
    if gate.device().is_cpu() && matches!(gate.dtype(), DType::F32 | DType::F64) && up.dtype() == gate.dtype() {
        gate.contiguous()?.apply_op2(&up.contiguous()?, Swiglu)
    } else {
        composed(gate, up)
    }
}

/// [`swiglu`] with candle's ops.
pub(crate) fn composed(gate: &Tensor, up: &Tensor) -> Result<Tensor> {
    gate.silu()? * up
}

struct Swiglu;

/// Elements per parallel task: large enough to amortise scheduling.
const CHUNK: usize = 1 << 14;

fn sigmoid<T: Float + KernelExp>(v: T) -> T {
    (T::one() + (-v).kexp()).recip()
}

/// `silu(g) * u` elementwise.
pub(crate) fn forward<T: Float + KernelExp + Send + Sync>(g: &[T], u: &[T]) -> Vec<T> {
    let mut out = vec![T::zero(); g.len()];
    out.par_chunks_mut(CHUNK).zip(g.par_chunks(CHUNK)).zip(u.par_chunks(CHUNK)).for_each(|((o, g), u)| {
        for ((dst, &gi), &ui) in o.iter_mut().zip(g).zip(u) {
            *dst = gi * sigmoid(gi) * ui;
        }
    });
    out
}

/// `d/d gate = grad * up * s * (1 + gate * (1 - s))`, `d/d up = grad * gate * s`, with `s = sigmoid(gate)`.
pub(crate) fn backward<T: Float + KernelExp + Send + Sync>(g: &[T], u: &[T], grad: &[T], wrt_gate: bool) -> Vec<T> {
    let mut out = vec![T::zero(); g.len()];
    let chunks = out.par_chunks_mut(CHUNK).zip(g.par_chunks(CHUNK)).zip(u.par_chunks(CHUNK)).zip(grad.par_chunks(CHUNK));
    // Two loops, not a branch inside one, so that each vectorises.
    chunks.for_each(|(((o, g), u), d)| {
        let items = o.iter_mut().zip(g).zip(u).zip(d);
        if wrt_gate {
            items.for_each(|(((dst, &gi), &ui), &di)| {
                let s = sigmoid(gi);
                *dst = di * ui * s * (T::one() + gi * (T::one() - s));
            });
        } else {
            items.for_each(|(((dst, &gi), _), &di)| *dst = di * gi * sigmoid(gi));
        }
    });
    out
}

impl CustomOp2 for Swiglu {
    fn name(&self) -> &'static str {
        "swiglu"
    }

    fn cpu_fwd(&self, g: &CpuStorage, lg: &Layout, u: &CpuStorage, lu: &Layout) -> Result<(CpuStorage, Shape)> {
        if lg.shape() != lu.shape() {
            return Err(candle_core::Error::Msg(format!("swiglu: gate {:?} and up {:?} differ", lg.shape(), lu.shape())));
        }
        fn run<T: Real>(g: &CpuStorage, lg: &Layout, u: &CpuStorage, lu: &Layout) -> Result<(CpuStorage, Shape)> {
            let out = forward(slice::<T>(g, lg, OP, "input")?, slice::<T>(u, lu, OP, "input")?);
            Ok((T::to_cpu_storage_owned(out), lg.shape().clone()))
        }
        by_dtype!(g.dtype(), OP, run(g, lg, u, lu))
    }

    fn bwd(&self, g: &Tensor, u: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let wrt = |wrt_gate: bool| g.apply_op3_no_bwd(u, &grad, &SwigluGrad { wrt_gate });
        Ok((if g.track_op() { Some(wrt(true)?) } else { None }, if u.track_op() { Some(wrt(false)?) } else { None }))
    }
}

/// The gradient of [`Swiglu`] with respect to the gate or to up.
struct SwigluGrad {
    wrt_gate: bool,
}

impl CustomOp3 for SwigluGrad {
    fn name(&self) -> &'static str {
        "swiglu-grad"
    }

    fn cpu_fwd(
        &self,
        g: &CpuStorage,
        lg: &Layout,
        u: &CpuStorage,
        lu: &Layout,
        d: &CpuStorage,
        ld: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        fn run<T: Real>(
            wrt_gate: bool,
            g: &CpuStorage,
            lg: &Layout,
            u: &CpuStorage,
            lu: &Layout,
            d: &CpuStorage,
            ld: &Layout,
        ) -> Result<(CpuStorage, Shape)> {
            let out = backward(slice::<T>(g, lg, OP, "input")?, slice::<T>(u, lu, OP, "input")?, slice::<T>(d, ld, OP, "input")?, wrt_gate);
            Ok((T::to_cpu_storage_owned(out), lg.shape().clone()))
        }
        by_dtype!(g.dtype(), OP, run(self.wrt_gate, g, lg, u, lu, d, ld))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::assert_same;
    use candle_core::{Device, Var};

    #[test]
    fn fused_matches_composed_forward_and_backward() {
        // Several parallel chunks, and gates far into both tails of the sigmoid.
        let g = Var::from_tensor(&Tensor::randn(0f64, 3.0, (7, 40_000), &Device::Cpu).unwrap()).unwrap();
        let u = Var::from_tensor(&Tensor::randn(0f64, 1.0, (7, 40_000), &Device::Cpu).unwrap()).unwrap();
        assert_same(&[&g, &u], |t| swiglu(t[0], t[1]).unwrap(), |t| composed(t[0], t[1]).unwrap());
    }
}
