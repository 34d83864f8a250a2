//! A few rows times a row-major weight's transpose, `dst[i, j] (+)= scale *
//! x_i . w_j`: the projections of decoding, where one token's activations
//! (or one token of each of a batch of sequences) meet every weight once and
//! the product is bound by memory bandwidth, not arithmetic. gemm packs the
//! whole weight for reuse before it starts; here each block of 32 weight rows
//! is read from memory once and then, while it is in cache, multiplied by
//! every row of `x`, in AVX-512 or AVX2 when the CPU has it, blocks shared
//! among candle's barrier pool.

use candle_core::WithDType;

/// The most rows of `x` this kernel takes (the rows of a decoding step of
/// many sequences). Measured with `workbench bench decode-rows` on SmolLM2
/// (docs/BENCHMARKS.md): at 8 to 32 rows a decoding step through this kernel
/// is 1.4x to 2.9x faster than through gemm, which packs each weight (the
/// 113 MB output layer too) on every call.
pub(crate) const MAX_ROWS: usize = 64;

/// Weight rows per work item: items are handed out from a shared cursor, so
/// a thread that finishes early takes more.
const ROWS_PER_ITEM: usize = 32;

/// `dst [m, n] (+)= scale * x [m, k] w [n, k]^T` for `m <= MAX_ROWS`, with
/// `dst` row-major; without `accumulate` `dst` is only written. Runs on
/// candle's barrier pool (its workers spin briefly between calls instead of
/// sleeping, which a decoding step's hundreds of short products need).
pub(crate) fn matvec<T: WithDType>(dst: &mut [T], x: &[T], w: &[T], (m, k, n): (usize, usize, usize), scale: T, accumulate: bool) {
    assert!(m <= MAX_ROWS && x.len() >= m * k && w.len() >= n * k && dst.len() >= m * n, "matvec: operands too small");
    let shared = super::SharedMut::new(dst);
    let item = |range: std::ops::Range<usize>| {
        let mut out = [T::zero(); ROWS_PER_ITEM];
        for block in range {
            let (j0, j1) = (block * ROWS_PER_ITEM, ((block + 1) * ROWS_PER_ITEM).min(n));
            let out = &mut out[..j1 - j0];
            for i in 0..m {
                dots(&x[i * k..(i + 1) * k], &w[j0 * k..j1 * k], k, out);
                // SAFETY: each block writes only its own columns j0..j1 of each row, inside `dst` (asserted above).
                let d = unsafe { std::slice::from_raw_parts_mut(shared.at(i * n + j0), j1 - j0) };
                for (d, &v) in d.iter_mut().zip(out.iter()) {
                    *d = if accumulate { *d + scale * v } else { scale * v };
                }
            }
        }
    };
    candle_core::utils::barrier_pool().execute_chunked(n.div_ceil(ROWS_PER_ITEM), item);
}

/// `out[j] = x . rows[j]` for the `k`-long rows of `rows`: f32 with AVX-512
/// or AVX2 + FMA where the CPU has them, else plain loops.
fn dots<T: WithDType>(x: &[T], rows: &[T], k: usize, out: &mut [T]) {
    #[cfg(target_arch = "x86_64")]
    if let (Some(x), Some(rows), Some(o)) = (super::as_f32(x), super::as_f32(rows), super::as_f32_mut(out)) {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has the features the function is compiled for.
            return unsafe { x86::dots_avx512(x, rows, k, o) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: as above.
            return unsafe { x86::dots_avx2(x, rows, k, o) };
        }
    }
    for (o, row) in out.iter_mut().zip(rows.chunks_exact(k)) {
        *o = x.iter().zip(row).fold(T::zero(), |s, (&a, &b)| s + a * b);
    }
}

/// The f32 kernels: four weight rows at a time (four memory streams in
/// flight, four independent fused multiply-add chains), the rest one by one.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// Weight rows read together.
    const ROWS: usize = 8;

    /// One vector's worth of lanes, its zero, load, fused multiply-add and horizontal sum.
    macro_rules! kernel {
        ($name:ident, $feature:literal, $lanes:expr, $zero:ident, $load:ident, $fma:ident, $sum:ident) => {
            #[target_feature(enable = $feature)]
            pub(super) unsafe fn $name(x: &[f32], rows: &[f32], k: usize, out: &mut [f32]) {
                assert!(x.len() >= k && rows.len() >= out.len() * k);
                let body = k - k % $lanes;
                let tail = |row: &[f32]| x[body..k].iter().zip(&row[body..k]).map(|(a, b)| a * b).sum::<f32>();
                let (xp, n) = (x.as_ptr(), out.len());
                let mut j = 0;
                // The pointer reads below: rows j..j+ROWS and columns c..c+lanes <= body <= k lie inside the asserted lengths.
                while j + ROWS <= n {
                    // SAFETY: row j + q < n starts inside `rows` (asserted above).
                    let p: [*const f32; ROWS] = std::array::from_fn(|q| unsafe { rows.as_ptr().add((j + q) * k) });
                    let mut a = [$zero(); ROWS];
                    let mut c = 0;
                    while c < body {
                        // SAFETY: columns c..c + lanes <= k of `x` (asserted above); the CPU has the feature.
                        let xv = unsafe { $load(xp.add(c)) };
                        for q in 0..ROWS {
                            // SAFETY: as above, of row j + q.
                            a[q] = $fma(xv, unsafe { $load(p[q].add(c)) }, a[q]);
                        }
                        c += $lanes;
                    }
                    for (q, a) in a.into_iter().enumerate() {
                        out[j + q] = $sum(a) + tail(&rows[(j + q) * k..(j + q + 1) * k]);
                    }
                    j += ROWS;
                }
                for (jj, o) in out.iter_mut().enumerate().skip(j) {
                    // SAFETY: row jj < n starts inside `rows` (asserted above).
                    let row = unsafe { rows.as_ptr().add(jj * k) };
                    let mut a = $zero();
                    let mut c = 0;
                    while c < body {
                        // SAFETY: columns c..c + lanes <= k of `x` and of row jj (asserted above).
                        let (xv, wv) = unsafe { ($load(xp.add(c)), $load(row.add(c))) };
                        a = $fma(xv, wv, a);
                        c += $lanes;
                    }
                    *o = $sum(a) + tail(&rows[jj * k..(jj + 1) * k]);
                }
            }
        };
    }

    /// The sum of the eight lanes.
    #[target_feature(enable = "avx")]
    fn sum8(a: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)))
    }

    kernel!(dots_avx512, "avx512f", 16, _mm512_setzero_ps, _mm512_loadu_ps, _mm512_fmadd_ps, _mm512_reduce_add_ps);
    kernel!(dots_avx2, "avx2,fma", 8, _mm256_setzero_ps, _mm256_loadu_ps, _mm256_fmadd_ps, sum8);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equals_the_plain_product_written_and_accumulated() {
        let (k, n) = (70, 150);
        let w: Vec<f64> = (0..n * k).map(|i| ((i * 7919) % 97) as f64 / 50.0 - 1.0).collect();
        for m in 1..=MAX_ROWS {
            let x: Vec<f64> = (0..m * k).map(|i| ((i * 31) % 13) as f64 / 7.0 - 0.9).collect();
            let want: Vec<f64> =
                (0..m * n).map(|p| (0..k).map(|kk| x[(p / n) * k + kk] * w[(p % n) * k + kk]).sum::<f64>() * 0.5).collect();
            let mut got = vec![f64::NAN; m * n];
            matvec(&mut got, &x, &w, (m, k, n), 0.5, false);
            assert!(got.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-12), "m = {m}");
            let mut acc = vec![1.0; m * n];
            matvec(&mut acc, &x, &w, (m, k, n), 0.5, true);
            assert!(acc.iter().zip(&want).all(|(a, b)| (a - 1.0 - b).abs() < 1e-12), "m = {m}, accumulated");
        }
        let (x32, w32): (Vec<f32>, Vec<f32>) = ((0..k).map(|i| i as f32 / 70.0).collect(), w.iter().map(|&v| v as f32).collect());
        let mut got = vec![0f32; n];
        matvec(&mut got, &x32, &w32, (1, k, n), 1.0, false);
        for j in 0..n {
            let want: f32 = (0..k).map(|kk| x32[kk] * w32[j * k + kk]).sum();
            assert!((got[j] - want).abs() < 1e-4, "f32 row {j}: {} vs {want}", got[j]);
        }
    }
}
