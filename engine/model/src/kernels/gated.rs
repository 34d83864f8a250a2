//! The MLP's gated activation `act(gate) * up`, with `act` SiLU (SwiGLU:
//! Llama, Qwen, Phi-3) or GELU's tanh approximation (GeGLU: Gemma). On the
//! CPU (f32, f64) one fused pass forward and one per input backward, instead
//! of the composed activation, products and sums; other devices and dtypes
//! use composed ops.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, CustomOp3, DType, Layout, Result, Shape, Tensor};
use num_traits::Float;
use rayon::prelude::*;

use super::{KernelExp, Real, by_dtype, slice};

const OP: &str = "gated activation";

/// The activation of the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `x * sigmoid(x)` (`silu`).
    Silu,
    /// `x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))` (`gelu_pytorch_tanh`).
    GeluTanh,
}

/// `act(gate) * up` for two tensors of the same shape.
pub fn gated(gate: &Tensor, up: &Tensor, act: Activation) -> Result<Tensor> {
    if gate.device().is_cpu() && matches!(gate.dtype(), DType::F32 | DType::F64) && up.dtype() == gate.dtype() {
        gate.contiguous()?.apply_op2(&up.contiguous()?, Gated(act))
    } else {
        composed(gate, up, act)
    }
}

/// [`gated`] with candle's ops.
pub(crate) fn composed(gate: &Tensor, up: &Tensor, act: Activation) -> Result<Tensor> {
    match act {
        Activation::Silu => gate.silu()? * up,
        // Written out rather than candle's `gelu` (the same tanh approximation),
        // whose backward pass rounds the constants to six digits.
        Activation::GeluTanh => {
            let inner = ((((gate.sqr()? * gate)? * GELU_A)? + gate)? * GELU_C)?.tanh()?;
            ((gate * 0.5)? * (inner + 1.0)?)? * up
        }
    }
}

struct Gated(Activation);

/// Elements per parallel task: large enough to amortise scheduling.
const CHUNK: usize = 1 << 14;

fn sigmoid<T: Float + KernelExp>(v: T) -> T {
    (T::one() + (-v).kexp()).recip()
}

/// `sqrt(2 / pi)` and the cubic coefficient of GELU's tanh approximation.
const GELU_C: f64 = 0.797_884_560_802_865_4;
const GELU_A: f64 = 0.044_715;

/// `tanh(sqrt(2/pi) (x + a x^3))`, through `exp` as `1 - 2 / (e^2y + 1)`.
fn gelu_tanh_inner<T: Float + KernelExp>(x: T) -> T {
    let (c, a) = (T::from(GELU_C).expect("fits"), T::from(GELU_A).expect("fits"));
    let y = c * (x + a * x * x * x);
    let two = T::one() + T::one();
    T::one() - two / ((two * y).kexp() + T::one())
}

impl Activation {
    /// `act(x)`.
    fn value<T: Float + KernelExp>(self, x: T) -> T {
        match self {
            Self::Silu => x * sigmoid(x),
            Self::GeluTanh => {
                let half = T::from(0.5).expect("fits");
                half * x * (T::one() + gelu_tanh_inner(x))
            }
        }
    }

    /// `act'(x)`.
    fn derivative<T: Float + KernelExp>(self, x: T) -> T {
        match self {
            Self::Silu => {
                let s = sigmoid(x);
                s * (T::one() + x * (T::one() - s))
            }
            Self::GeluTanh => {
                let (c, a) = (T::from(GELU_C).expect("fits"), T::from(GELU_A).expect("fits"));
                let half = T::from(0.5).expect("fits");
                let th = gelu_tanh_inner(x);
                let three = T::from(3.0).expect("fits");
                half * (T::one() + th) + half * x * (T::one() - th * th) * c * (T::one() + three * a * x * x)
            }
        }
    }
}

/// `act(g) * u` elementwise.
pub(crate) fn forward<T: Float + KernelExp + Send + Sync>(g: &[T], u: &[T], act: Activation) -> Vec<T> {
    // One loop per activation, so that each vectorises.
    match act {
        Activation::Silu => zip_map(g, u, |gi, ui| Activation::Silu.value(gi) * ui),
        Activation::GeluTanh => zip_map(g, u, |gi, ui| Activation::GeluTanh.value(gi) * ui),
    }
}

/// `d/d gate = grad * up * act'(gate)`, `d/d up = grad * act(gate)`.
pub(crate) fn backward<T: Float + KernelExp + Send + Sync>(g: &[T], u: &[T], grad: &[T], wrt_gate: bool, act: Activation) -> Vec<T> {
    match (act, wrt_gate) {
        (Activation::Silu, true) => zip_map3(g, u, grad, |gi, ui, di| di * ui * Activation::Silu.derivative(gi)),
        (Activation::GeluTanh, true) => zip_map3(g, u, grad, |gi, ui, di| di * ui * Activation::GeluTanh.derivative(gi)),
        (Activation::Silu, false) => zip_map(g, grad, |gi, di| di * Activation::Silu.value(gi)),
        (Activation::GeluTanh, false) => zip_map(g, grad, |gi, di| di * Activation::GeluTanh.value(gi)),
    }
}

/// `f(a, b)` elementwise, in parallel chunks.
fn zip_map<T: Float + Send + Sync>(a: &[T], b: &[T], f: impl Fn(T, T) -> T + Sync) -> Vec<T> {
    let mut out = vec![T::zero(); a.len()];
    out.par_chunks_mut(CHUNK).zip(a.par_chunks(CHUNK)).zip(b.par_chunks(CHUNK)).for_each(|((o, a), b)| {
        o.iter_mut().zip(a).zip(b).for_each(|((dst, &x), &y)| *dst = f(x, y));
    });
    out
}

/// `f(a, b, c)` elementwise, in parallel chunks.
fn zip_map3<T: Float + Send + Sync>(a: &[T], b: &[T], c: &[T], f: impl Fn(T, T, T) -> T + Sync) -> Vec<T> {
    let mut out = vec![T::zero(); a.len()];
    let chunks = out.par_chunks_mut(CHUNK).zip(a.par_chunks(CHUNK)).zip(b.par_chunks(CHUNK)).zip(c.par_chunks(CHUNK));
    chunks.for_each(|(((o, a), b), c)| o.iter_mut().zip(a).zip(b).zip(c).for_each(|(((dst, &x), &y), &z)| *dst = f(x, y, z)));
    out
}

impl CustomOp2 for Gated {
    fn name(&self) -> &'static str {
        "gated-activation"
    }

    fn cpu_fwd(&self, g: &CpuStorage, lg: &Layout, u: &CpuStorage, lu: &Layout) -> Result<(CpuStorage, Shape)> {
        if lg.shape() != lu.shape() {
            return Err(candle_core::Error::Msg(format!("{OP}: gate {:?} and up {:?} differ", lg.shape(), lu.shape())));
        }
        fn run<T: Real>(act: Activation, g: &CpuStorage, lg: &Layout, u: &CpuStorage, lu: &Layout) -> Result<(CpuStorage, Shape)> {
            let out = forward(slice::<T>(g, lg, OP, "input")?, slice::<T>(u, lu, OP, "input")?, act);
            Ok((T::to_cpu_storage_owned(out), lg.shape().clone()))
        }
        by_dtype!(g.dtype(), OP, run(self.0, g, lg, u, lu))
    }

    fn bwd(&self, g: &Tensor, u: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let wrt = |wrt_gate: bool| g.apply_op3_no_bwd(u, &grad, &GatedGrad { wrt_gate, act: self.0 });
        Ok((if g.track_op() { Some(wrt(true)?) } else { None }, if u.track_op() { Some(wrt(false)?) } else { None }))
    }
}

/// The gradient of [`Gated`] with respect to the gate or to up.
struct GatedGrad {
    wrt_gate: bool,
    act: Activation,
}

impl CustomOp3 for GatedGrad {
    fn name(&self) -> &'static str {
        "gated-activation-grad"
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
            op: &GatedGrad,
            g: &CpuStorage,
            lg: &Layout,
            u: &CpuStorage,
            lu: &Layout,
            d: &CpuStorage,
            ld: &Layout,
        ) -> Result<(CpuStorage, Shape)> {
            let (g, u, d) = (slice::<T>(g, lg, OP, "input")?, slice::<T>(u, lu, OP, "input")?, slice::<T>(d, ld, OP, "input")?);
            Ok((T::to_cpu_storage_owned(backward(g, u, d, op.wrt_gate, op.act)), lg.shape().clone()))
        }
        by_dtype!(g.dtype(), OP, run(self, g, lg, u, lu, d, ld))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::assert_same;
    use candle_core::{Device, Var};

    /// Fused and composed agree, value and both gradients, for each
    /// activation: several parallel chunks, gates far into both tails.
    #[test]
    fn fused_matches_composed_forward_and_backward() {
        for act in [Activation::Silu, Activation::GeluTanh] {
            let g = Var::from_tensor(&Tensor::randn(0f64, 3.0, (7, 40_000), &Device::Cpu).unwrap()).unwrap();
            let u = Var::from_tensor(&Tensor::randn(0f64, 1.0, (7, 40_000), &Device::Cpu).unwrap()).unwrap();
            assert_same(&[&g, &u], |t| gated(t[0], t[1], act).unwrap(), |t| composed(t[0], t[1], act).unwrap());
        }
    }

    /// GELU-tanh against its formula at a few points, computed here with `tanh`.
    #[test]
    fn gelu_tanh_is_the_tanh_approximation() {
        for x in [-6.0f64, -1.3, -0.2, 0.0, 0.7, 2.5, 9.0] {
            let want = 0.5 * x * (1.0 + (GELU_C * (x + GELU_A * x.powi(3))).tanh());
            let got = Activation::GeluTanh.value(x);
            assert!((got - want).abs() < 1e-12, "gelu_tanh({x}) = {got}, want {want}");
        }
    }
}
