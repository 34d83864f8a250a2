//! What the fused CPU kernels (in `attention`, `linear`, `norm`, `ops`,
//! `rope` and `swiglu`) share: an input's storage read as one contiguous
//! slice, and the error for a dtype they do not implement.

use candle_core::{Layout, Result};

/// The elements of `op`'s input `what`, laid out by `l`, which must be
/// contiguous (the callers make their inputs so).
pub(crate) fn contiguous<'a, T>(v: &'a [T], l: &Layout, op: &str, what: &str) -> Result<&'a [T]> {
    let (start, end) = l.contiguous_offsets().ok_or_else(|| candle_core::Error::Msg(format!("{op}: non-contiguous {what}")))?;
    Ok(&v[start..end])
}

/// The error of kernel `op` for a dtype other than f32 and f64.
pub(crate) fn only_f32_f64<T>(op: &str) -> Result<T> {
    Err(candle_core::Error::Msg(format!("{op}: only f32 and f64 on the CPU")))
}
