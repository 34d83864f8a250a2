//! The kernels of the decoder's operations. Each module exposes one
//! operation that picks its fused CPU kernel (f32, f64) or candle's composed
//! ops (other devices and dtypes) itself, keeps the composed form callable
//! (`pub(crate)`, so tests compare the two), and offers the slice functions
//! the fused decoder layer (`model::decoder::fused_layer`) calls.
//!
//! - [`projection`]: a frozen-weight projection with its optional LoRA update.
//! - [`attention`]: grouped-query causal attention, and the causal /
//!   sliding-window mask.
//! - [`norm`]: RMSNorm over the last dimension.
//! - [`rope`]: rotary position embeddings.
//! - [`gated`]: the MLP's gated activation (SwiGLU, GELU-tanh).
//! - [`cross_entropy`]: the fused weighted token cross-entropy.
//! - [`matvec`]: a few rows times a weight's transpose (decoding's projections).
//! - [`amx`]: bf16 products with a packed frozen weight on Intel AMX (bf16 training).
//!
//! This module holds what the fused kernels share: an input's storage read as
//! one contiguous typed slice (and a tensor an op holds read the same way),
//! the dtype dispatch [`by_dtype!`], the error for a dtype they do not
//! implement, f32 views of generic slices, the matrix product they call and
//! a vectorisable f32 `exp`.

pub(crate) mod amx;
pub(crate) mod attention;
pub mod cross_entropy;
pub mod gated;
pub(crate) mod matvec;
pub(crate) mod norm;
pub(crate) mod projection;
pub(crate) mod rope;

use candle_core::{CpuStorage, Layout, Result, Storage, StorageRef, WithDType};
use gemm::{Parallelism, gemm};

/// The elements of CPU storage `s` (an input of kernel `op`, named `what`)
/// as `T`, laid out by `l`: an error for another dtype or a non-contiguous
/// layout (the callers make their inputs contiguous).
pub(crate) fn slice<'a, T: WithDType>(s: &'a CpuStorage, l: &Layout, op: &str, what: &str) -> Result<&'a [T]> {
    let (start, end) = l.contiguous_offsets().ok_or_else(|| candle_core::Error::Msg(format!("{op}: non-contiguous {what}")))?;
    Ok(&T::cpu_storage_as_slice(s)?[start..end])
}

/// [`slice`] for a tensor that an op holds (rather than receives as an
/// argument), such as a frozen weight, under its read guard
/// (`tensor.storage_and_layout()`): an error unless it is on the CPU.
pub(crate) fn held<'g, T: WithDType>((guard, layout): &'g (StorageRef<'_>, &Layout), op: &str, what: &str) -> Result<&'g [T]> {
    match &**guard {
        Storage::Cpu(s) => slice(s, layout, op, what),
        _ => Err(candle_core::Error::Msg(format!("{op}: {what} is not on the CPU"))),
    }
}

/// The element types of the fused kernels (f32 and f64).
pub(crate) trait Real: WithDType + num_traits::Float + KernelExp + Send + Sync {}

impl<T: WithDType + num_traits::Float + KernelExp + Send + Sync> Real for T {}

/// The error of kernel `op` for a dtype other than f32 and f64.
pub(crate) fn only_f32_f64<T>(op: &str) -> Result<T> {
    Err(candle_core::Error::Msg(format!("{op}: only f32 and f64 on the CPU")))
}

/// Calls `run::<f32>(args)` or `run::<f64>(args)` for a storage's `dtype`;
/// other dtypes are kernel `op`'s "only f32 and f64" error. Every fused
/// op's `cpu_fwd` dispatches through it.
macro_rules! by_dtype {
    ($dtype:expr, $op:expr, $run:ident ( $($arg:expr),* )) => {
        match $dtype {
            candle_core::DType::F32 => $run::<f32>($($arg),*),
            candle_core::DType::F64 => $run::<f64>($($arg),*),
            _ => $crate::kernels::only_f32_f64($op),
        }
    };
}
pub(crate) use by_dtype;

/// `s` as f32 values when `T` is f32 (for kernels written for f32 only).
pub(crate) fn as_f32<T: WithDType>(s: &[T]) -> Option<&[f32]> {
    // SAFETY: T is f32 (same size, alignment and bit validity).
    (T::DTYPE == candle_core::DType::F32).then(|| unsafe { std::slice::from_raw_parts(s.as_ptr().cast::<f32>(), s.len()) })
}

/// [`as_f32`] for a destination.
pub(crate) fn as_f32_mut<T: WithDType>(s: &mut [T]) -> Option<&mut [f32]> {
    // SAFETY: T is f32 (same size, alignment and bit validity); the borrow is moved into the result.
    (T::DTYPE == candle_core::DType::F32).then(|| unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr().cast::<f32>(), s.len()) })
}

/// A buffer of `len` elements for a kernel that writes every one of them
/// (with [`gemm_raw`] without `accumulate`, or otherwise) before anything reads it.
///
/// The storage is allocated as `MaybeUninit` and handed to `fill` as
/// `&mut [T]`: `fill` must write every element before reading any (reading
/// one first would be undefined behaviour). Every caller passes a kernel
/// that writes its whole output without reading it; the returned `Vec` is
/// made only after `fill` returns.
pub(crate) fn uninit_output<T: WithDType>(len: usize, fill: impl FnOnce(&mut [T])) -> Vec<T> {
    let mut out: Vec<std::mem::MaybeUninit<T>> = Vec::with_capacity(len);
    // SAFETY: MaybeUninit<T> needs no initialisation; the capacity is `len`.
    unsafe { out.set_len(len) };
    // SAFETY: MaybeUninit<T> has T's layout, and T (f32, f64) has no drop; the
    // slice is only written before `fill` returns (its contract above), so no
    // uninitialised element is read.
    fill(unsafe { std::slice::from_raw_parts_mut(out.as_mut_ptr().cast::<T>(), len) });
    let mut out = std::mem::ManuallyDrop::new(out);
    // SAFETY: `fill` wrote every element; same allocation, length, capacity and layout.
    unsafe { Vec::from_raw_parts(out.as_mut_ptr().cast::<T>(), out.len(), out.capacity()) }
}

/// A destination that parallel work items write through, each to its own
/// elements (the one way the kernels share an output across threads).
#[derive(Clone, Copy)]
pub(crate) struct SharedMut<T>(*mut T);
// SAFETY: the kernels give every work item disjoint elements of the destination.
unsafe impl<T> Send for SharedMut<T> {}
// SAFETY: as above; no two items touch one element.
unsafe impl<T> Sync for SharedMut<T> {}

impl<T> SharedMut<T> {
    /// Shares `dst` for the time of one parallel region.
    pub(crate) fn new(dst: &mut [T]) -> Self {
        Self(dst.as_mut_ptr())
    }

    /// The element `offset` past the start.
    ///
    /// # Safety
    /// `offset` must lie inside the destination, and no other work item may
    /// touch that element meanwhile.
    pub(crate) unsafe fn at(&self, offset: usize) -> *mut T {
        // SAFETY: upheld by the caller.
        unsafe { self.0.add(offset) }
    }
}

/// A matrix operand of [`gemm_raw`]: its first element and its row and column strides.
#[derive(Clone, Copy)]
pub(crate) struct Operand<T> {
    pub ptr: *const T,
    pub rs: isize,
    pub cs: isize,
}

/// `dst[m, n] = scale * lhs[m, k] rhs[k, n]`, or `dst += ...` with
/// `accumulate`; `dst` has row stride `dst_rs` and column stride 1. Without
/// `accumulate` `dst` is written and never read. `parallel` splits the
/// product over rayon's pool; kernels that already run in parallel pass false.
///
/// # Safety
/// Every element the strides address must lie in live allocations, and `dst`
/// must not overlap the operands or be written by another thread meanwhile.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm_raw<T: WithDType>(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut T,
    dst_rs: isize,
    lhs: Operand<T>,
    rhs: Operand<T>,
    scale: T,
    accumulate: bool,
    parallel: bool,
) {
    // Not candle's `get_num_threads`, which reads /proc/cpuinfo on every call.
    let threads = rayon::current_num_threads();
    let parallelism = if parallel && threads > 1 { Parallelism::Rayon(threads) } else { Parallelism::None };
    // SAFETY: upheld by the caller; gemm's `alpha` multiplies the old `dst`
    // (read only when `accumulate`), `beta` the product.
    unsafe {
        gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_rs,
            accumulate,
            lhs.ptr,
            lhs.cs,
            lhs.rs,
            rhs.ptr,
            rhs.cs,
            rhs.rs,
            T::one(),
            scale,
            false,
            false,
            false,
            parallelism,
        )
    }
}

/// `exp` for the fused kernels. For f32 a branch-free polynomial (Cephes
/// `expf`: within a few ulp; inputs are clamped to [-87.3, 88], so results
/// stay normal and finite) that the compiler vectorises, where the C
/// library's `expf` is one call per element; f64 keeps the exact `exp`.
pub(crate) trait KernelExp: Copy {
    /// `e^self`.
    fn kexp(self) -> Self;
}

impl KernelExp for f64 {
    fn kexp(self) -> f64 {
        self.exp()
    }
}

impl KernelExp for f32 {
    fn kexp(self) -> f32 {
        const LOG2E: f32 = std::f32::consts::LOG2_E;
        // ln 2 split so that n * LN2_HI is exact.
        const LN2_HI: f32 = 0.693_359_4;
        const LN2_LO: f32 = -2.121_944_4e-4;
        // Adding and subtracting 1.5 * 2^23 rounds to the nearest integer.
        const ROUND: f32 = 12_582_912.0;
        let x = self.clamp(-87.33654, 88.0);
        let n = (x * LOG2E + ROUND) - ROUND;
        let r = x - n * LN2_HI - n * LN2_LO;
        let p = 1.987_569_1e-4_f32;
        let p = p * r + 1.398_199_9e-3;
        let p = p * r + 8.333_452e-3;
        let p = p * r + 4.166_579_6e-2;
        let p = p * r + 1.666_666_5e-1;
        let p = p * r + 0.5;
        let e = p * r * r + r + 1.0;
        // 2^n through the exponent bits (n is in -126..=127 after the clamp).
        e * f32::from_bits(((n as i32 + 127) as u32) << 23)
    }
}

#[cfg(test)]
mod tests {
    use super::KernelExp;

    #[test]
    fn f32_exp_is_within_a_few_ulp_of_the_library() {
        let mut worst = 0f64;
        for i in -873_000..=880_000 {
            let x = i as f32 * 1e-4;
            let (fast, exact) = (x.kexp() as f64, (x as f64).exp());
            worst = worst.max(((fast - exact) / exact).abs());
        }
        assert!(worst < 4.0 * f32::EPSILON as f64, "relative error {worst:e}");
        assert_eq!(0f32.kexp(), 1.0);
        assert!((-1000f32).kexp() < 1e-37 && (-1000f32).kexp() > 0.0);
        assert!(f32::NAN.kexp().is_nan());
        assert!(1000f32.kexp() > 1e38 && 1000f32.kexp().is_finite());
    }
}
