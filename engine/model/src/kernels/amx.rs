//! Matrix products in bfloat16 on Intel AMX (Advanced Matrix Extensions, in
//! Xeon processors since Sapphire Rapids): `C [m, n] (+)= A [m, k] B [k, n]`
//! with `A` rounded from f32 to bf16 once per operand ([`Rows`]), `B` packed
//! ([`Packed`]: a frozen weight once, an adapter factor per call) and `C`
//! accumulated in f32.
//!
//! Why: on such a CPU the tile unit multiplies bf16 several times faster
//! than AVX-512 multiplies f32 (on SmolLM2's shapes, rounding included:
//! 540-920 GFLOP/s against 200-260 for f32 `gemm`). Training with
//! `training.precision = "bf16"` runs here the frozen weights' products (the
//! forward `x W^T` and the input gradient `g W`, [`super::projection`]) and
//! the adapter's products that read the same full-width input (`x A^T`,
//! `g B`); the adapters' weight gradients, norms, attention, the loss and the
//! optimizer stay f32, as in the usual bf16 mixed precision of LoRA training.
//!
//! Layout (Intel's `TDPBF16PS`): `A` tiles are 16 rows of 32 bf16; `B`
//! tiles are 16 rows of 16 column pairs, each pair two consecutive `k` of
//! one column ("VNNI" order); `C` tiles are 16 x 16 f32. [`Packed`] stores
//! `B` as such 1 KiB tiles, zero-padded to whole tiles, the `k` tiles of one
//! 16-column strip one after the other. The kernel keeps a 32 x 32 block of
//! `C` in four tile registers and walks `k` 32 at a time.
//!
//! [`available`] is true only where the CPU has AMX-BF16 and the kernel lets
//! this process use the tile registers (Linux asks each process to request
//! them with `arch_prctl`); elsewhere nothing here runs and training stays f32.

use rayon::prelude::*;

/// Rows, and `k` values, of one tile.
const TILE_ROWS: usize = 16;
/// bf16 values in one tile row (64 bytes).
const TILE_K: usize = 32;
/// bf16 values in one packed tile.
const TILE_LEN: usize = TILE_ROWS * TILE_K;

/// For tests of the tile unit: true (skip, saying what is not checked) where
/// this CPU lacks it; a failure instead when `REQUIRE_AMX=1`, so that a run
/// on an AMX machine cannot pass by skipping.
#[cfg(test)]
pub(crate) fn skip_without_amx(what: &str) -> bool {
    if available() {
        return false;
    }
    assert!(std::env::var("REQUIRE_AMX").as_deref() != Ok("1"), "REQUIRE_AMX=1 but this CPU has no AMX-BF16 tile unit: {what}");
    eprintln!("no AMX-BF16 on this machine: {what}");
    true
}

/// Whether this machine runs [`matmul`]: AMX-BF16 present and tile data
/// granted to this process (asked once).
pub(crate) fn available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(detect)
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn detect() -> bool {
    // CPUID leaf 7: EDX bit 22 AMX-BF16, bit 24 AMX-TILE.
    let leaf = std::arch::x86_64::__cpuid_count(7, 0);
    let has = |bit: u32| leaf.edx & (1 << bit) != 0;
    if !(has(22) && has(24)) {
        return false;
    }
    // ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA: without it the first tile
    // instruction raises SIGILL. Refused where the kernel or hypervisor withholds AMX.
    const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
    const XFEATURE_XTILEDATA: libc::c_long = 18;
    // SAFETY: a plain system call with integer arguments.
    unsafe { libc::syscall(libc::SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0 }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
fn detect() -> bool {
    false
}

/// `x` rounded to the nearest bf16 (ties to even), as its bits; NaN stays NaN.
pub(crate) fn to_bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    if x.is_nan() {
        return ((bits >> 16) | 0x40) as u16;
    }
    (bits.wrapping_add(0x7FFF + ((bits >> 16) & 1)) >> 16) as u16
}

/// The f32 value of bf16 bits.
#[cfg(test)]
fn from_bf16(b: u16) -> f32 {
    f32::from_bits((b as u32) << 16)
}

/// A right operand `B [k, n]` in bf16, packed into AMX tiles.
pub(crate) struct Packed {
    k: usize,
    n: usize,
    /// Tiles, strip by strip of 16 columns, each strip's `k` tiles in order.
    tiles: Vec<u16>,
}

impl Packed {
    /// `B = W^T` for a row-major `W [rows, cols]` (`k = cols`, `n = rows`):
    /// the right operand of `x W^T`.
    pub(crate) fn transposed(w: &[f32], rows: usize, cols: usize) -> Self {
        assert_eq!(w.len(), rows * cols, "amx: weight of {} values for {rows} x {cols}", w.len());
        Self::pack(cols, rows, |k, j| w[j * cols + k], true)
    }

    /// `B = W` for a row-major `W [rows, cols]` (`k = rows`, `n = cols`):
    /// the right operand of `g W`.
    pub(crate) fn plain(w: &[f32], rows: usize, cols: usize) -> Self {
        assert_eq!(w.len(), rows * cols, "amx: weight of {} values for {rows} x {cols}", w.len());
        Self::pack(rows, cols, |k, j| w[k * cols + j], false)
    }

    /// Packs `B[k, j] = at(k, j)`, reading along `k` first when `k_inner`
    /// (the order in which the source is contiguous).
    fn pack(k: usize, n: usize, at: impl Fn(usize, usize) -> f32 + Sync, k_inner: bool) -> Self {
        let k_tiles = k.div_ceil(TILE_K);
        let mut tiles = vec![0u16; n.div_ceil(2 * TILE_ROWS) * 2 * k_tiles * TILE_LEN];
        tiles.par_chunks_mut(TILE_LEN).enumerate().for_each(|(t, tile)| {
            let (k0, j0) = ((t % k_tiles) * TILE_K, (t / k_tiles) * TILE_ROWS);
            let (ks, js) = (TILE_K.min(k.saturating_sub(k0)), TILE_ROWS.min(n.saturating_sub(j0)));
            // Row p of the tile holds k = 2p and 2p + 1 of its 16 columns, interleaved.
            let mut put = |dk: usize, dj: usize| tile[(dk / 2) * TILE_K + dj * 2 + dk % 2] = to_bf16(at(k0 + dk, j0 + dj));
            if k_inner {
                (0..js).for_each(|dj| (0..ks).for_each(|dk| put(dk, dj)));
            } else {
                (0..ks).for_each(|dk| (0..js).for_each(|dj| put(dk, dj)));
            }
        });
        Self { k, n, tiles }
    }

    /// `k` (rows of `B`).
    #[cfg(test)]
    fn k(&self) -> usize {
        self.k
    }

    /// `n` (columns of `B`).
    #[cfg(test)]
    fn n(&self) -> usize {
        self.n
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.tiles.len() * 2
    }

    /// `B[k, j]` as packed (rounded to bf16), read back from the tiles.
    #[cfg(test)]
    fn at(&self, k: usize, j: usize) -> f32 {
        let k_tiles = self.k.div_ceil(TILE_K);
        let tile = (j / TILE_ROWS) * k_tiles + k / TILE_K;
        let (p, lane, col) = ((k % TILE_K) / 2, k % 2, j % TILE_ROWS);
        from_bf16(self.tiles[tile * TILE_LEN + p * TILE_K + col * 2 + lane])
    }
}

/// `dst [m, n] = a [m, k] b` (or `dst += ...` with `accumulate`), `a` and
/// `dst` row-major f32, `a` rounded to bf16. Only where [`available`].
#[cfg(test)]
fn matmul(dst: &mut [f32], a: &[f32], m: usize, b: &Packed, accumulate: bool) {
    matmul_rows(dst, &Rows::new(a, m, b.k), b, accumulate);
}

/// [`matmul`] with the left operand already rounded (one rounding for
/// several products with the same input).
// Off x86_64 Linux the kernel is compiled out: nothing reads its operands there.
#[cfg_attr(not(all(target_arch = "x86_64", target_os = "linux")), allow(unused_variables))]
pub(crate) fn matmul_rows(dst: &mut [f32], a: &Rows, b: &Packed, accumulate: bool) {
    assert!(available(), "amx: the tile unit is not available here");
    assert!(a.k == b.k && dst.len() >= a.m * b.n, "amx: operands [{}, {}] x [{}, {}] do not fit", a.m, a.k, b.k, b.n);
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    tiles::matmul(dst, a, b, accumulate);
}

/// A left operand `[m, k]` rounded to bf16: rows of `k` rounded up to whole
/// tiles, `m` rounded up to whole 32-row blocks, padding zero.
#[cfg_attr(not(all(target_arch = "x86_64", target_os = "linux")), allow(dead_code))]
pub(crate) struct Rows {
    values: Vec<u16>,
    m: usize,
    k: usize,
    /// Row stride (`k` rounded up to whole tiles).
    kp: usize,
}

impl Rows {
    /// Rounds the row-major f32 `a [m, k]`.
    pub(crate) fn new(a: &[f32], m: usize, k: usize) -> Self {
        assert!(a.len() >= m * k, "amx: {} values for {m} x {k}", a.len());
        let (values, kp) = to_bf16_rows(a, m, k);
        Self { values, m, k, kp }
    }
}

impl std::fmt::Debug for Packed {
    /// Its shape and size, not its values (hundreds of MB for a model).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Packed {{ k: {}, n: {}, bytes: {} }}", self.k, self.n, self.bytes())
    }
}

fn to_bf16_rows(a: &[f32], m: usize, k: usize) -> (Vec<u16>, usize) {
    let kp = k.div_ceil(TILE_K) * TILE_K;
    let len = m.div_ceil(2 * TILE_ROWS) * 2 * TILE_ROWS * kp;
    // Not zero-filled first: every row is written whole below (values, then padding).
    let mut out: Vec<u16> = Vec::with_capacity(len);
    let rows = out.spare_capacity_mut();
    rows.par_chunks_mut(kp).enumerate().for_each(|(i, row)| {
        let (values, padding) = row.split_at_mut(if i < m { k } else { 0 });
        if i < m {
            round_row(values, &a[i * k..(i + 1) * k]);
        }
        padding.iter_mut().for_each(|v| {
            v.write(0);
        });
    });
    // SAFETY: every element of every row was written above.
    unsafe { out.set_len(len) };
    (out, kp)
}

/// `dst[i] = to_bf16(src[i])`, vectorised by the compiler.
fn round_row(dst: &mut [std::mem::MaybeUninit<u16>], src: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512bw") {
        // SAFETY: the CPU has the features the function is compiled for.
        return unsafe { round_row_avx512(dst, src) };
    }
    round_row_portable(dst, src);
}

#[inline]
fn round_row_portable(dst: &mut [std::mem::MaybeUninit<u16>], src: &[f32]) {
    dst.iter_mut().zip(src).for_each(|(d, &s)| {
        d.write(to_bf16(s));
    });
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
fn round_row_avx512(dst: &mut [std::mem::MaybeUninit<u16>], src: &[f32]) {
    round_row_portable(dst, src);
}

/// The tile kernel: inline assembly, since Rust's AMX intrinsics are unstable.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod tiles {
    use std::arch::asm;

    use rayon::prelude::*;

    use super::super::SharedMut;
    use super::{Packed, Rows, TILE_K, TILE_LEN, TILE_ROWS};

    /// Rows of `A` one task keeps in cache (256 rows of 1,536 bf16: 768 KiB).
    const ROW_CHUNK: usize = 256;

    /// The tile configuration: palette 1, eight tiles of 16 rows of 64 bytes
    /// (C: tmm0-3, A: tmm4-5, B: tmm6-7).
    #[repr(C, align(64))]
    struct Config([u8; 64]);

    impl Config {
        fn new() -> Self {
            let mut c = [0u8; 64];
            c[0] = 1;
            for t in 0..8 {
                c[16 + 2 * t] = 64;
                c[48 + t] = TILE_ROWS as u8;
            }
            Self(c)
        }
    }

    pub(super) fn matmul(dst: &mut [f32], a: &Rows, b: &Packed, accumulate: bool) {
        let (m, n, kp) = (a.m, b.n, a.kp);
        if m == 0 || n == 0 {
            return;
        }
        let block = 2 * TILE_ROWS;
        let (row_blocks, col_blocks) = (m.div_ceil(block), n.div_ceil(block));
        let chunk_blocks = ROW_CHUNK / block;
        let row_chunks = row_blocks.div_ceil(chunk_blocks);
        let col_parts = rayon::current_num_threads().clamp(1, col_blocks);
        let out = SharedMut::new(dst);
        (0..row_chunks * col_parts).into_par_iter().for_each(|task| {
            let (chunk, part) = (task / col_parts, task % col_parts);
            let rows = chunk * chunk_blocks..((chunk + 1) * chunk_blocks).min(row_blocks);
            let cols = part * col_blocks / col_parts..(part + 1) * col_blocks / col_parts;
            let kernel = Kernel { a: &a.values, kp, b, m, n, dst: out, accumulate };
            // SAFETY: `available()` was checked by the caller; the blocks of
            // the tasks are disjoint and inside `dst` (m x n).
            unsafe { kernel.run(rows, cols) };
        });
    }

    /// The operands of one 32 x 32 block of C.
    struct Block {
        /// C's block (row stride `ldc` bytes): its four 16 x 16 tiles are at
        /// `c`, `c + 16`, `c + 16 rows`, `c + 16 rows + 16`.
        c: *mut f32,
        ldc: usize,
        /// A's two 16-row strips (row stride `lda` bytes), bf16 pairs.
        a: [*const u16; 2],
        lda: usize,
        /// B's two column strips of tiles, `k_tiles` tiles each, 1,024 bytes a tile.
        b: [*const u16; 2],
        k_tiles: usize,
    }

    /// `C += A B` (or `C = A B` without `accumulate`) for one block: C's four
    /// tiles loaded (or zeroed), the k loop and the store in one `asm!` block,
    /// so that the tile registers (tmm0-7, which Rust cannot name as clobbers)
    /// hold values only inside it.
    ///
    /// # Safety
    /// The tile configuration of [`Config`] is loaded; every address the
    /// block reads or writes lies inside live allocations (A and B padded to
    /// whole tiles, C a whole block of the destination or the scratch block).
    unsafe fn block(o: &Block, accumulate: bool) {
        let q2 = o.c.wrapping_byte_add(16 * o.ldc);
        // SAFETY: as the function's contract says; the asm touches no stack
        // and writes memory only through the C tiles' stores.
        unsafe {
            asm!(
                "test {acc}, {acc}",
                "jz 2f",
                "tileloadd tmm0, [{q0} + {ldc}*1]",
                "tileloadd tmm1, [{q0} + {ldc}*1 + 64]",
                "tileloadd tmm2, [{q2} + {ldc}*1]",
                "tileloadd tmm3, [{q2} + {ldc}*1 + 64]",
                "jmp 3f",
                "2:",
                "tilezero tmm0",
                "tilezero tmm1",
                "tilezero tmm2",
                "tilezero tmm3",
                "3:",
                "test {k}, {k}",
                "jz 5f",
                "4:",
                "tileloadd tmm4, [{a0} + {lda}*1]",
                "tileloadd tmm5, [{a1} + {lda}*1]",
                "tileloadd tmm6, [{b0} + {row}*1]",
                "tileloadd tmm7, [{b1} + {row}*1]",
                "tdpbf16ps tmm0, tmm4, tmm6",
                "tdpbf16ps tmm1, tmm4, tmm7",
                "tdpbf16ps tmm2, tmm5, tmm6",
                "tdpbf16ps tmm3, tmm5, tmm7",
                // The next k tile: 32 bf16 values further along A's rows, the next tile of B's strips.
                "add {a0}, 64",
                "add {a1}, 64",
                "add {b0}, 1024",
                "add {b1}, 1024",
                "dec {k}",
                "jnz 4b",
                "5:",
                "tilestored [{q0} + {ldc}*1], tmm0",
                "tilestored [{q0} + {ldc}*1 + 64], tmm1",
                "tilestored [{q2} + {ldc}*1], tmm2",
                "tilestored [{q2} + {ldc}*1 + 64], tmm3",
                acc = in(reg) usize::from(accumulate),
                q0 = in(reg) o.c,
                q2 = in(reg) q2,
                ldc = in(reg) o.ldc,
                k = inout(reg) o.k_tiles => _,
                a0 = inout(reg) o.a[0] => _,
                a1 = inout(reg) o.a[1] => _,
                lda = in(reg) o.lda,
                b0 = inout(reg) o.b[0] => _,
                b1 = inout(reg) o.b[1] => _,
                row = in(reg) 64usize,
                options(nostack),
            );
        }
    }

    /// One task's view of the product.
    struct Kernel<'a> {
        a: &'a [u16],
        kp: usize,
        b: &'a Packed,
        m: usize,
        n: usize,
        dst: SharedMut<f32>,
        accumulate: bool,
    }

    impl Kernel<'_> {
        /// The 32 x 32 blocks `rows x cols` of the destination.
        ///
        /// # Safety
        /// The CPU grants the tile unit ([`super::available`]); the blocks lie
        /// inside the product and no other thread writes them meanwhile.
        unsafe fn run(&self, rows: std::ops::Range<usize>, cols: std::ops::Range<usize>) {
            let config = Config::new();
            let k_tiles = self.kp / TILE_K;
            let lda = self.kp * 2;
            // SAFETY: the caller granted the tile unit; tile loads read 16 rows
            // of 64 bytes inside `a` (padded to whole blocks) and inside `b`'s
            // tiles (padded to whole strip pairs); stores go to `dst` only for
            // blocks wholly inside it, to `scratch` otherwise.
            unsafe {
                asm!("ldtilecfg [{}]", in(reg) config.0.as_ptr(), options(nostack, readonly));
                let mut scratch = [0f32; 32 * 32];
                for cb in cols {
                    for rb in rows.clone() {
                        let (r0, c0) = (rb * 32, cb * 32);
                        let whole = r0 + 32 <= self.m && c0 + 32 <= self.n;
                        let (c, ldc) = if whole {
                            (self.dst.at(r0 * self.n + c0), self.n * 4)
                        } else {
                            if self.accumulate {
                                self.gather(&mut scratch, r0, c0);
                            }
                            (scratch.as_mut_ptr(), 32 * 4)
                        };
                        let a0 = self.a.as_ptr().add(r0 * self.kp);
                        let b0 = self.b.tiles.as_ptr().add(2 * cb * k_tiles * TILE_LEN);
                        let operands =
                            Block { c, ldc, a: [a0, a0.add(TILE_ROWS * self.kp)], lda, b: [b0, b0.add(k_tiles * TILE_LEN)], k_tiles };
                        block(&operands, self.accumulate);
                        if !whole {
                            self.scatter(&scratch, r0, c0);
                        }
                    }
                }
                asm!("tilerelease", options(nostack, nomem));
            }
        }

        /// The part of the 32 x 32 block at `(r0, c0)` inside `dst` into `scratch`.
        ///
        /// # Safety
        /// `r0 < m` and `c0 < n`; no other thread writes this block meanwhile.
        unsafe fn gather(&self, scratch: &mut [f32; 1024], r0: usize, c0: usize) {
            for r in 0..32 {
                for q in 0..32 {
                    let (i, j) = (r0 + r, c0 + q);
                    // SAFETY: (i, j) is inside dst (m x n).
                    scratch[r * 32 + q] = if i < self.m && j < self.n { unsafe { *self.dst.at(i * self.n + j) } } else { 0.0 };
                }
            }
        }

        /// `scratch` back into the part of the block at `(r0, c0)` inside `dst`.
        ///
        /// # Safety
        /// `r0 < m` and `c0 < n`; no other thread reads or writes this block meanwhile.
        unsafe fn scatter(&self, scratch: &[f32; 1024], r0: usize, c0: usize) {
            for r in 0..32.min(self.m - r0) {
                for q in 0..32.min(self.n - c0) {
                    // SAFETY: (r0 + r, c0 + q) is inside dst (m x n).
                    unsafe { *self.dst.at((r0 + r) * self.n + c0 + q) = scratch[r * 32 + q] };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(len: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        (0..len)
            .map(|_| {
                s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
            })
            .collect()
    }

    fn rounded(v: f32) -> f32 {
        from_bf16(to_bf16(v))
    }

    /// `dst (+)= a b` in f64 over the bf16-rounded operands: what the tile unit computes, up to f32 summation order.
    fn reference(dst: &mut [f32], a: &[f32], (m, k, n): (usize, usize, usize), b: impl Fn(usize, usize) -> f32, accumulate: bool) {
        for i in 0..m {
            for j in 0..n {
                let s: f64 = (0..k).map(|kk| rounded(a[i * k + kk]) as f64 * rounded(b(kk, j)) as f64).sum();
                dst[i * n + j] = s as f32 + if accumulate { dst[i * n + j] } else { 0.0 };
            }
        }
    }

    #[test]
    fn rounding_is_to_nearest_even() {
        assert_eq!(to_bf16(1.0), 0x3F80);
        // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even 1.
        assert_eq!(to_bf16(1.0 + 2f32.powi(-8)), 0x3F80);
        assert_eq!(to_bf16(1.0 + 3.0 * 2f32.powi(-8)), 0x3F82);
        assert_eq!(from_bf16(to_bf16(-2.5)), -2.5);
        assert!(from_bf16(to_bf16(f32::NAN)).is_nan());
        assert_eq!(from_bf16(to_bf16(f32::INFINITY)), f32::INFINITY);
        assert_eq!(from_bf16(to_bf16(f32::MAX)), f32::INFINITY, "f32::MAX rounds up past bf16's largest finite value");
    }

    /// Both packings put every `B[k, j]` where the reader expects it, with
    /// zero padding, on shapes that are not whole tiles.
    #[test]
    fn packing_places_every_value() {
        let (rows, cols) = (37, 70);
        let w = values(rows * cols, 1);
        let (t, p) = (Packed::transposed(&w, rows, cols), Packed::plain(&w, rows, cols));
        assert_eq!((t.k(), t.n(), p.k(), p.n()), (cols, rows, rows, cols));
        for r in 0..rows {
            for c in 0..cols {
                assert_eq!(t.at(c, r), rounded(w[r * cols + c]));
                assert_eq!(p.at(r, c), rounded(w[r * cols + c]));
            }
        }
        // 70 -> 3 k tiles, 37 -> 2 strip pairs (64 columns): padding is zero.
        assert_eq!(t.bytes(), 2 * 2 * 3 * TILE_LEN * 2);
        assert_eq!(t.at(cols + 1, rows + 3), 0.0);
    }

    /// The tile kernel against the f64 product of the rounded operands:
    /// whole and partial blocks, both packings, writing and accumulating.
    /// Runs where the CPU has AMX; elsewhere the packing test above is what
    /// can be checked, and training never calls the kernel.
    #[test]
    fn the_tile_kernel_computes_the_rounded_product() {
        if skip_without_amx("the tile kernel is not run") {
            return;
        }
        for &(m, k, n) in &[(64, 64, 64), (33, 70, 45), (1, 5, 3), (300, 96, 40), (40, 600, 130)] {
            let a = values(m * k, 2);
            let w = values(n * k, 3);
            let b = Packed::transposed(&w, n, k);
            for accumulate in [false, true] {
                let start = values(m * n, 4);
                let (mut got, mut want) = (start.clone(), start);
                matmul(&mut got, &a, m, &b, accumulate);
                reference(&mut want, &a, (m, k, n), |kk, j| w[j * k + kk], accumulate);
                let worst = got.iter().zip(&want).map(|(g, w)| (g - w).abs()).fold(0f32, f32::max);
                assert!(worst < 1e-4 * (k as f32).sqrt(), "{m} x {k} x {n}, accumulate {accumulate}: off by {worst}");
            }
            let p = Packed::plain(&w, n, k);
            let g = values(m * n, 5);
            let mut got = vec![f32::NAN; m * k];
            let mut want = vec![0f32; m * k];
            matmul(&mut got, &g, m, &p, false);
            reference(&mut want, &g, (m, n, k), |kk, j| w[kk * k + j], false);
            let worst = got.iter().zip(&want).map(|(g, w)| (g - w).abs()).fold(0f32, f32::max);
            assert!(worst < 1e-4 * (n as f32).sqrt(), "plain {m} x {n} x {k}: off by {worst}");
        }
    }
}
