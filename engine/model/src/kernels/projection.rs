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
//! `g W + s ((g B) A) ⊙ m` is one output buffer in the same way, beside A's
//! and B's small gradients (`[r, in]`, `[out, r]`).
//! Matrix products run on `gemm` (the crate candle uses) in rayon's pool, the
//! pool the other fused kernels use too. [`forward_into`] and
//! [`backward_into`] work on slices, for the candle ops here and for the
//! fused decoder layer (`model::decoder::fused_layer`).
//!
//! [`project`] is the one entry point: the fused kernel on the CPU in f32 or
//! f64 with a frozen weight, candle's composed ops ([`composed`]) elsewhere
//! (GPUs, other dtypes, full fine-tuning).

use std::sync::Arc;

use super::amx::{self, Packed};
use super::{Operand, as_f32, as_f32_mut, by_dtype, gemm_raw, held, slice, uninit_output};
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, CustomOp3, DType, Layout, Result, Shape, Tensor, WithDType};

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

/// `x W^T [+ s ((m ⊙ x) A^T) B^T]` for `x [.., in]` -> `[.., out]`: the fused
/// kernel when it handles the operands (CPU, f32 or f64, a weight that is not
/// trained), candle's composed ops otherwise.
pub fn project(x: &Tensor, w: &Tensor, lora: Option<LoraFactors<'_>>) -> Result<Tensor> {
    if supported(x, w) { fused(x, w, lora) } else { composed(x, w, lora) }
}

/// Whether the fused kernel handles `x [.., in]` times frozen `w`: CPU, f32
/// or f64, and a weight that is not trained.
fn supported(x: &Tensor, w: &Tensor) -> bool {
    x.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::F64) && w.dtype() == x.dtype() && x.rank() >= 1 && !w.is_variable()
}

/// [`project`] with candle's ops (what GPUs run): the dropout mask becomes a
/// tensor of 0 and `factor` (through f32), the rank-r intermediate is scaled.
pub(crate) fn composed(x: &Tensor, w: &Tensor, lora: Option<LoraFactors<'_>>) -> Result<Tensor> {
    let Some(lora) = lora else { return x.broadcast_matmul(&w.t()?) };
    let input = match lora.mask {
        Some(mask) => {
            let m: Vec<f32> = mask.keep.iter().map(|&k| if k { mask.factor as f32 } else { 0.0 }).collect();
            (x * Tensor::from_vec(m, x.shape(), x.device())?.to_dtype(x.dtype())?)?
        }
        None => x.clone(),
    };
    // Scale the rank-r intermediate, not the full-width update.
    let down = (input.broadcast_matmul(&lora.a.t()?)? * lora.scale)?;
    x.broadcast_matmul(&w.t()?)? + down.broadcast_matmul(&lora.b.t()?)?
}

/// [`project`] with the fused kernel; only for operands it handles (CPU, f32
/// or f64, a frozen weight).
pub(crate) fn fused(x: &Tensor, w: &Tensor, lora: Option<LoraFactors<'_>>) -> Result<Tensor> {
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

/// Rows up to which [`matmul_into`] streams a row-major weight instead of
/// calling gemm (a prompt of a few dozen tokens goes through gemm, which is
/// faster there on the layers' weights).
const STREAMED_ROWS: usize = 4;

/// `dst[m, n] (+)= scale * lhs[m, k] rhs[k, n]` into a row-major `dst`, on
/// rayon's pool; with `accumulate` false `dst` is only written, never read.
#[allow(clippy::too_many_arguments)]
fn matmul_into<T: WithDType>(dst: &mut [T], m: usize, n: usize, k: usize, lhs: Mat<'_, T>, rhs: Mat<'_, T>, scale: T, accumulate: bool) {
    let last = |mat: &Mat<'_, T>, rows: usize, cols: usize| (rows as isize - 1) * mat.rs + (cols as isize - 1) * mat.cs;
    assert!(dst.len() >= m * n, "{OP}: output buffer too small");
    assert!(m == 0 || k == 0 || (lhs.data.len() as isize) > last(&lhs, m, k), "{OP}: left operand too small");
    assert!(n == 0 || k == 0 || (rhs.data.len() as isize) > last(&rhs, k, n), "{OP}: right operand too small");
    // A token or a few (decoding) times a row-major weight: stream the weight once.
    if m <= STREAMED_ROWS && lhs.cs == 1 && lhs.rs == k as isize && rhs.rs == 1 && rhs.cs == k as isize {
        return super::matvec::matvec(dst, lhs.data, rhs.data, (m, k, n), scale, accumulate);
    }
    let operand = |mat: Mat<'_, T>| Operand { ptr: mat.data.as_ptr(), rs: mat.rs, cs: mat.cs };
    // SAFETY: the asserts keep every addressed element inside the slices;
    // `dst` is a distinct, exclusively borrowed buffer.
    unsafe { gemm_raw(m, n, k, dst.as_mut_ptr(), n as isize, operand(lhs), operand(rhs), scale, accumulate, true) }
}

/// A frozen weight `W [out, in]` packed for bf16 products on AMX
/// ([`amx`], `training.precision = "bf16"`): `W^T` for the forward product,
/// `W` for the input gradient.
#[derive(Debug)]
pub struct Bf16Weight {
    forward: Packed,
    backward: Packed,
}

impl Bf16Weight {
    /// Packs the f32 weight `w [out, in]`; None unless the tile unit is
    /// [`amx::available`] here.
    pub(crate) fn pack(w: &Tensor) -> Result<Option<Self>> {
        if !amx::available() {
            return Ok(None);
        }
        let (out, inp) = w.dims2()?;
        let w = w.contiguous()?;
        let guard = w.storage_and_layout();
        let values = held::<f32>(&guard, "bf16 packing", "weight")?;
        Ok(Some(Self { forward: Packed::transposed(values, out, inp), backward: Packed::plain(values, out, inp) }))
    }

    /// Bytes held (both packings).
    pub fn bytes(&self) -> usize {
        self.forward.bytes() + self.backward.bytes()
    }
}

/// A frozen weight `W [out, in]` as the kernels read it: its values, and
/// its bf16 packing when the products run in bf16.
#[derive(Clone, Copy)]
pub(crate) struct FrozenWeight<'a, T> {
    /// `W`, row-major.
    pub values: &'a [T],
    /// `W` packed for bf16 products (f32 models only).
    pub bf16: Option<&'a Bf16Weight>,
}

impl<'a, T> FrozenWeight<'a, T> {
    /// A weight whose products run in `T`.
    pub(crate) fn plain(values: &'a [T]) -> Self {
        Self { values, bf16: None }
    }
}

/// `lhs [m, k]` rounded for bf16 products when the weight has a bf16
/// packing (then `T` is f32); None when the products run in `T`.
fn bf16_rows<T: WithDType>(packed: Option<&Bf16Weight>, lhs: &[T], m: usize, k: usize) -> Option<amx::Rows> {
    packed.and_then(|_| as_f32(lhs)).map(|l| amx::Rows::new(l, m, k))
}

/// `dst (+)= rows B` on AMX, `dst` `T` = f32 (as [`bf16_rows`] made sure).
fn bf16_product<T: WithDType>(dst: &mut [T], rows: &amx::Rows, b: &Packed, accumulate: bool) {
    amx::matmul_rows(as_f32_mut(dst).expect("bf16 rows come from f32 inputs"), rows, b, accumulate);
}

/// `m ⊙ x * factor`: the adapter's input under dropout.
fn masked<T: WithDType>(x: &[T], mask: &DropoutMask) -> Vec<T> {
    let factor = T::from_f64(mask.factor);
    x.iter().zip(mask.keep.iter()).map(|(&v, &k)| if k { v * factor } else { T::zero() }).collect()
}

/// A projection's adapter as slices, for [`forward_into`] and [`backward_into`].
pub(crate) struct AdapterSlices<'a, T> {
    /// `A [r, in]`.
    pub a: &'a [T],
    /// `B [out, r]`.
    pub b: &'a [T],
    /// The rank r.
    pub r: usize,
    /// alpha / r.
    pub scale: f64,
    /// Dropout on the adapter's input.
    pub mask: Option<&'a DropoutMask>,
}

impl<T: WithDType> AdapterSlices<'_, T> {
    /// The adapter's input `m ⊙ x` (or `x` itself without dropout).
    fn input<'x>(&self, x: &'x [T]) -> std::borrow::Cow<'x, [T]> {
        match self.mask {
            Some(m) => std::borrow::Cow::Owned(masked(x, m)),
            None => std::borrow::Cow::Borrowed(x),
        }
    }

    /// `s (m ⊙ x) A^T`, `[n, r]`, in bf16 from `rows` (the rounded `m ⊙ x`) when given.
    fn down(&self, xd: &[T], n: usize, fin: usize, rows: Option<&amx::Rows>) -> Vec<T> {
        let scale = T::from_f64(self.scale);
        let a = as_f32(self.a);
        uninit_output(n * self.r, |d| match (rows, a) {
            (Some(rows), Some(a)) => {
                bf16_product(d, rows, &Packed::transposed(a, self.r, fin), false);
                d.iter_mut().for_each(|v| *v *= scale);
            }
            _ => matmul_into(d, n, self.r, fin, Mat::rows(xd, fin), Mat::transposed(self.a, fin), scale, false),
        })
    }
}

/// `m` (`[cols, rows]`, row-major) transposed into `[rows, cols]`.
fn transpose<T: Copy>(m: &[T], rows: usize, cols: usize) -> Vec<T> {
    (0..rows * cols).map(|i| m[(i % cols) * rows + i / cols]).collect()
}

/// `dst [m, n] (+)= scale * x [m, k] w [n, k]^T` for row-major `x` and `w`:
/// decoding one token of each of `m` sequences streams each weight once for
/// up to [`super::matvec::MAX_ROWS`] rows (gemm would pack each whole weight,
/// the output layer's too, on every step), more go through gemm.
pub(crate) fn rows_times_weight<T: WithDType>(
    dst: &mut [T],
    x: &[T],
    w: &[T],
    (m, k, n): (usize, usize, usize),
    scale: T,
    accumulate: bool,
) {
    if m <= super::matvec::MAX_ROWS {
        super::matvec::matvec(dst, x, w, (m, k, n), scale, accumulate);
    } else {
        matmul_into(dst, m, n, k, Mat::rows(x, k), Mat::transposed(w, k), scale, accumulate);
    }
}

/// `dst (+)= x W^T + s ((m ⊙ x) A^T) B^T` for `x [n, fin]`, `W [fout, fin]`,
/// `dst [n, fout]`; without `accumulate` `dst` is only written. Returns the
/// adapter's `s (m ⊙ x) A^T` (`[n, r]`), which [`backward_into`] can reuse.
/// With a bf16 weight, `x W^T` and `x A^T` are bf16 products of one rounded `x`.
pub(crate) fn forward_into<T: WithDType>(
    dst: &mut [T],
    x: &[T],
    w: FrozenWeight<'_, T>,
    (n, fin, fout): (usize, usize, usize),
    lora: Option<&AdapterSlices<'_, T>>,
    accumulate: bool,
) -> Option<Vec<T>> {
    let rows = bf16_rows(w.bf16, x, n, fin);
    match (&rows, w.bf16) {
        (Some(rows), Some(b)) => bf16_product(dst, rows, &b.forward, accumulate),
        _ => matmul_into(dst, n, fout, fin, Mat::rows(x, fin), Mat::transposed(w.values, fin), T::one(), accumulate),
    }
    let l = lora?;
    let down = match l.mask {
        None => l.down(x, n, fin, rows.as_ref()),
        Some(_) => {
            let xd = l.input(x);
            l.down(&xd, n, fin, bf16_rows(w.bf16, &xd, n, fin).as_ref())
        }
    };
    matmul_into(dst, n, fout, l.r, Mat::rows(&down, l.r), Mat::transposed(l.b, l.r), T::one(), true);
    Some(down)
}

/// The backward pass of [`forward_into`] for the output gradient `g [n, fout]`:
/// `gx (+)= g W + s ((g B) A) ⊙ m` (only written without `accumulate`), and
/// the adapter's gradients `(dA [r, fin], dB [fout, r])`. `down` is what
/// [`forward_into`] returned (recomputed when None). With a bf16 weight, `g W`
/// and `g B` are bf16 products of one rounded `g`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward_into<T: WithDType>(
    gx: &mut [T],
    x: &[T],
    w: FrozenWeight<'_, T>,
    g: &[T],
    (n, fin, fout): (usize, usize, usize),
    lora: Option<&AdapterSlices<'_, T>>,
    down: Option<&[T]>,
    accumulate: bool,
) -> Option<(Vec<T>, Vec<T>)> {
    let rows = bf16_rows(w.bf16, g, n, fout);
    match (&rows, w.bf16) {
        (Some(rows), Some(b)) => bf16_product(gx, rows, &b.backward, accumulate),
        _ => matmul_into(gx, n, fin, fout, Mat::rows(g, fout), Mat::rows(w.values, fin), T::one(), accumulate),
    }
    let l = lora?;
    let (r, scale) = (l.r, T::from_f64(l.scale));
    // The layouts of these low-rank products were chosen by timing them
    // (gemm's speed depends on which side is narrow and which operand it
    // must gather): dB and dA are computed transposed, then copied.
    let gb = uninit_output(n * r, |d| match (&rows, as_f32(l.b)) {
        (Some(rows), Some(b)) => bf16_product(d, rows, &Packed::plain(b, fout, r), false),
        _ => matmul_into(d, n, r, fout, Mat::rows(g, fout), Mat::rows(l.b, r), T::one(), false),
    });
    let xd = l.input(x);
    let down = match down {
        Some(d) => std::borrow::Cow::Borrowed(d),
        None => std::borrow::Cow::Owned(l.down(&xd, n, fin, bf16_rows(w.bf16, &xd, n, fin).as_ref())),
    };
    let grad_bt = uninit_output(r * fout, |d| matmul_into(d, r, fout, n, Mat::transposed(&down, r), Mat::rows(g, fout), T::one(), false));
    let grad_at = uninit_output(fin * r, |d| matmul_into(d, fin, r, n, Mat::transposed(&xd, fin), Mat::rows(&gb, r), scale, false));
    let (grad_a, grad_b) = (transpose(&grad_at, r, fin), transpose(&grad_bt, fout, r));
    match l.mask {
        None => matmul_into(gx, n, fin, r, Mat::rows(&gb, r), Mat::rows(l.a, fin), scale, true),
        Some(mask) => {
            let factor = scale * T::from_f64(mask.factor);
            let low = uninit_output(n * fin, |t| matmul_into(t, n, fin, r, Mat::rows(&gb, r), Mat::rows(l.a, fin), factor, false));
            for ((dst, &v), &keep) in gx.iter_mut().zip(&low).zip(mask.keep.iter()) {
                if keep {
                    *dst += v;
                }
            }
        }
    }
    Some((grad_a, grad_b))
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
            let (x, w) = (slice::<T>(x, lx, OP, "x")?, slice::<T>(w, lw, OP, "weight")?);
            let y = uninit_output(n * fout, |y| {
                forward_into(y, x, FrozenWeight::plain(w), (n, fin, fout), None, false);
            });
            Ok((T::to_cpu_storage_owned(y), with_last(lx, fout)))
        }
        check_shapes(lx, lw)?;
        by_dtype!(x.dtype(), OP, run(x, lx, w, lw))
    }

    fn bwd(&self, x: &Tensor, w: &Tensor, _y: &Tensor, g: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let gx = if x.track_op() { Some(g.contiguous()?.apply_op2_no_bwd(w, &FrozenGrad)?) } else { None };
        Ok((gx, None))
    }
}

/// The input gradient `g W` of [`Frozen`]; the arguments are `g`, `W`.
struct FrozenGrad;

impl CustomOp2 for FrozenGrad {
    fn name(&self) -> &'static str {
        "frozen-projection-grad"
    }

    fn cpu_fwd(&self, g: &CpuStorage, lg: &Layout, w: &CpuStorage, lw: &Layout) -> Result<(CpuStorage, Shape)> {
        fn run<T: WithDType>(g: &CpuStorage, lg: &Layout, w: &CpuStorage, lw: &Layout) -> Result<(CpuStorage, Shape)> {
            let ((n, fout), (_, fin)) = (matrix(lg)?, lw.shape().dims2()?);
            let (g, w) = (slice::<T>(g, lg, OP, "grad")?, slice::<T>(w, lw, OP, "weight")?);
            let gx = uninit_output(n * fin, |gx| {
                backward_into(gx, &[], FrozenWeight::plain(w), g, (n, fin, fout), None, None, false);
            });
            Ok((T::to_cpu_storage_owned(gx), with_last(lg, fin)))
        }
        if matrix(lg)?.1 != lw.shape().dims2()?.0 {
            return Err(candle_core::Error::Msg(format!("{OP}: gradient width does not match the weight")));
        }
        by_dtype!(g.dtype(), OP, run(g, lg, w, lw))
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

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        lx: &Layout,
        a: &CpuStorage,
        la: &Layout,
        b: &CpuStorage,
        lb: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        fn run<T: WithDType>(
            op: &Adapted,
            x: &CpuStorage,
            lx: &Layout,
            a: &CpuStorage,
            la: &Layout,
            b: &CpuStorage,
            lb: &Layout,
        ) -> Result<(CpuStorage, Shape)> {
            let ((n, fin), (r, _), (fout, _)) = (matrix(lx)?, la.shape().dims2()?, lb.shape().dims2()?);
            let (x, a, b) = (slice::<T>(x, lx, OP, "x")?, slice::<T>(a, la, OP, "lora_A")?, slice::<T>(b, lb, OP, "lora_B")?);
            let lora = AdapterSlices { a, b, r, scale: op.scale, mask: op.mask.as_ref() };
            let w = op.w.storage_and_layout();
            let w = held::<T>(&w, OP, "weight")?;
            let y = uninit_output(n * fout, |y| {
                forward_into(y, x, FrozenWeight::plain(w), (n, fin, fout), Some(&lora), false);
            });
            Ok((T::to_cpu_storage_owned(y), with_last(lx, fout)))
        }
        check_shapes(lx, la)?;
        by_dtype!(x.dtype(), OP, run(self, x, lx, a, la, b, lb))
    }

    fn bwd(&self, x: &Tensor, a: &Tensor, b: &Tensor, _y: &Tensor, g: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = AdaptedGrad { w: self.w.clone(), b: b.detach(), scale: self.scale, mask: self.mask.clone() };
        let all = g.detach().contiguous()?.apply_op3_no_bwd(&x.detach(), &a.detach(), &grad)?;
        let (nx, na) = (x.elem_count(), a.elem_count());
        let part = |start: usize, like: &Tensor| all.narrow(0, start, like.elem_count())?.reshape(like.shape());
        let wanted = |t: &Tensor, g: Result<Tensor>| if t.track_op() { g.map(Some) } else { Ok(None) };
        Ok((wanted(x, part(0, x))?, wanted(a, part(nx, a))?, wanted(b, part(nx + na, b))?))
    }
}

/// The backward pass of [`Adapted`]; the arguments are `g`, `x`, `A`; the
/// output is `dx`, `dA`, `dB` flattened one after the other.
struct AdaptedGrad {
    w: Tensor,
    b: Tensor,
    scale: f64,
    mask: Option<DropoutMask>,
}

impl CustomOp3 for AdaptedGrad {
    fn name(&self) -> &'static str {
        "lora-projection-grad"
    }

    fn cpu_fwd(
        &self,
        g: &CpuStorage,
        lg: &Layout,
        x: &CpuStorage,
        lx: &Layout,
        a: &CpuStorage,
        la: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        fn run<T: WithDType>(
            op: &AdaptedGrad,
            g: &CpuStorage,
            lg: &Layout,
            x: &CpuStorage,
            lx: &Layout,
            a: &CpuStorage,
            la: &Layout,
        ) -> Result<(CpuStorage, Shape)> {
            let ((n, fin), (r, _), (_, fout)) = (matrix(lx)?, la.shape().dims2()?, matrix(lg)?);
            let (g, x, a) = (slice::<T>(g, lg, OP, "grad")?, slice::<T>(x, lx, OP, "x")?, slice::<T>(a, la, OP, "lora_A")?);
            let (w, b) = (op.w.storage_and_layout(), op.b.storage_and_layout());
            let (w, b) = (held::<T>(&w, OP, "weight")?, held::<T>(&b, OP, "lora_B")?);
            let lora = AdapterSlices { a, b, r, scale: op.scale, mask: op.mask.as_ref() };
            let mut grads = None;
            let mut all = uninit_output(n * fin, |gx| {
                grads = backward_into(gx, x, FrozenWeight::plain(w), g, (n, fin, fout), Some(&lora), None, false)
            });
            let (ga, gb) = grads.expect("an adapter has gradients");
            all.extend(ga);
            all.extend(gb);
            let len = all.len();
            Ok((T::to_cpu_storage_owned(all), Shape::from(len)))
        }
        by_dtype!(g.dtype(), OP, run(self, g, lg, x, lx, a, la))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;
    use crate::testing::{assert_same, max_diff};

    fn randn(shape: (usize, usize)) -> Tensor {
        Tensor::randn(0f64, 1.0, shape, &Device::Cpu).unwrap()
    }

    /// An independent reference: `x W^T + s ((m ⊙ x) A^T) B^T` with plain matmuls.
    fn reference(x: &Tensor, w: &Tensor, a: &Tensor, b: &Tensor, scale: f64, mask: Option<&DropoutMask>) -> Tensor {
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
        let (x, a, b) = (
            Var::from_tensor(&randn((n, fin))).unwrap(),
            Var::from_tensor(&randn((r, fin))).unwrap(),
            Var::from_tensor(&randn((fout, r))).unwrap(),
        );
        let keep: Vec<bool> = (0..n * fin).map(|i| i % 3 != 0).collect();
        let mask = DropoutMask { keep: Arc::new(keep), factor: 1.5 };
        for m in [None, Some(&mask)] {
            assert_same(
                &[&x, &a, &b],
                |t| project(t[0], &w, Some(LoraFactors { a: t[1], b: t[2], scale: 0.7, mask: m })).unwrap(),
                |t| reference(t[0], &w, t[1], t[2], 0.7, m),
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

    /// The largest difference between `composed` and `fused` in `dtype`,
    /// relative to the largest magnitude of each compared tensor: the output
    /// and, through candle's autograd, the gradients of x, A and B, with
    /// dropout and a non-zero B.
    fn composed_vs_fused(dtype: DType) -> f64 {
        let (n, fin, fout, r) = (9, 16, 12, 4);
        let rand = |shape| randn(shape).to_dtype(dtype).unwrap();
        let w = rand((fout, fin));
        let var = |shape| Var::from_tensor(&rand(shape)).unwrap();
        let (x, a, b) = (var((n, fin)), var((r, fin)), var((fout, r)));
        // Factor 1.25 (p = 0.2) is exact in f32, through which the composed form passes it.
        let mask = DropoutMask { keep: Arc::new((0..n * fin).map(|i| i % 4 != 1).collect()), factor: 1.25 };
        let lora = LoraFactors { a: a.as_tensor(), b: b.as_tensor(), scale: 0.5, mask: Some(&mask) };
        let (f, c) = (fused(x.as_tensor(), &w, Some(lora)).unwrap(), composed(x.as_tensor(), &w, Some(lora)).unwrap());
        let largest = |t: &Tensor| t.abs().unwrap().max_all().unwrap().to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap();
        let relative = |p: &Tensor, q: &Tensor| max_diff(p, q) / largest(q);
        let mut worst = relative(&f, &c);
        let up = rand((n, fout));
        let gf = (f * &up).unwrap().sum_all().unwrap().backward().unwrap();
        let gc = (c * &up).unwrap().sum_all().unwrap().backward().unwrap();
        for v in [&x, &a, &b] {
            worst = worst.max(relative(gf.get(v.as_tensor()).unwrap(), gc.get(v.as_tensor()).unwrap()));
        }
        worst
    }

    #[test]
    fn composed_matches_fused_in_f64() {
        let d = composed_vs_fused(DType::F64);
        assert!(d < 1e-12, "relative difference {d:e}");
    }

    /// With a bf16 packing (AMX), one projection's output, adapter input,
    /// input gradient and adapter gradients equal the f32 kernel's within
    /// bf16 rounding (1e-2 of the largest value), with and without dropout,
    /// writing and accumulating, on shapes that are not whole tiles.
    #[test]
    fn bf16_projection_matches_f32_within_rounding() {
        let (n, fin, fout, r) = (40, 48, 36, 3);
        let values = |len: usize, seed: usize| -> Vec<f32> {
            (0..len).map(|i| ((i * 7919 + seed * 104_729) % 1000) as f32 / 1000.0 - 0.5).collect()
        };
        let (x, w, a, b, g) = (values(n * fin, 1), values(fout * fin, 2), values(r * fin, 3), values(fout * r, 4), values(n * fout, 5));
        let packed = Bf16Weight::pack(&Tensor::from_vec(w.clone(), (fout, fin), &Device::Cpu).unwrap()).unwrap();
        assert_eq!(packed.is_some(), amx::available());
        if amx::skip_without_amx("nothing packed, the f32 kernel runs") {
            return;
        }
        let packed = packed.expect("packed where AMX is available");
        let mask = DropoutMask { keep: Arc::new((0..n * fin).map(|i| i % 3 != 0).collect()), factor: 1.5 };
        for (m, accumulate) in [(None, false), (Some(&mask), true)] {
            let lora = AdapterSlices { a: &a, b: &b, r, scale: 0.5, mask: m };
            let run = |bf16: Option<&Bf16Weight>| {
                let w = FrozenWeight { values: &w[..], bf16 };
                let mut y = vec![0.25f32; n * fout];
                let down = forward_into(&mut y, &x, w, (n, fin, fout), Some(&lora), accumulate).unwrap();
                let mut gx = vec![0.25f32; n * fin];
                let (ga, gb) = backward_into(&mut gx, &x, w, &g, (n, fin, fout), Some(&lora), Some(&down), accumulate).unwrap();
                [y, down, gx, ga, gb]
            };
            for (name, (f, h)) in
                ["output", "adapter input", "input gradient", "dA", "dB"].iter().zip(run(None).iter().zip(&run(Some(&packed))))
            {
                let largest = f.iter().fold(0f32, |m, v| m.max(v.abs()));
                let worst = f.iter().zip(h).fold(0f32, |m, (p, q)| m.max((p - q).abs())) / largest;
                assert!(worst < 1e-2 && worst > 1e-7, "{name} (dropout {}): relative difference {worst:e}", m.is_some());
            }
        }
    }

    /// f32: a relative tolerance of 1e-4 (products of 16 terms summed in a
    /// different order; f32's epsilon is 1.2e-7).
    #[test]
    fn composed_matches_fused_in_f32() {
        let d = composed_vs_fused(DType::F32);
        assert!(d < 1e-4, "relative difference {d:e}");
    }
}
